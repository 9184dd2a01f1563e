//go:build linux

package chunkmap_test

// Full disks: small tmpfs mounts filled by a file of their own, with too
// few blocks or too few inodes at the moment of growth, of a store into a
// sparse chunk, of Sync, Truncate and DropBefore. The README's error table:
// ErrNoSpace is returned when "the disk (or a quota, or the file size
// limit) has no room for a write that needs new blocks: the call that
// writes, grows or pins writable fails, never a store through a mapping
// (the operating system's ENOSPC, EDQUOT or EFBIG stays in the chain);
// also growth by many chunks that the free space cannot hold, refused
// before any file is created", and then "the dataset is left as it was and
// the Manager is fine: free space (Truncate and DropBefore work on a full
// disk) and retry".

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// fzChunkFiles returns the names of the chunk files in dir, sorted.
func fzChunkFiles(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".chunk") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// fzCheckNoSpace checks err as a full disk's error of a call named op: it
// matches ErrNoSpace with the system's ENOSPC (or EFBIG) in the chain, and
// names the operation, the file and the offset once.
func fzCheckNoSpace(t *testing.T, what string, err error, sys syscall.Errno, m fzMsg) {
	if fzCheck(t, what, err, chunkmap.ErrNoSpace, m) && sys != 0 && !errors.Is(err, sys) {
		t.Errorf("%s: the system's %v is not in the chain: %v", what, sys, err)
	}
}

// TestFaultz_FullDiskFailsEveryWritingCallAsNoSpace fills a tmpfs under a
// dataset whose Size covers sparse chunks, and checks that every call that
// stores into them (writes of every kind, scatters, atomics, writable pins,
// views and batches) and every call that grows the dataset fails with
// ErrNoSpace and ENOSPC, naming the call, the chunk file and the offset
// once, changing neither Size nor a byte nor the set of chunk files; that
// reads, Sync, Truncate and DropBefore work on the full disk; and that once
// the filler is removed every call works, and the dataset reopens with
// every byte.
func TestFaultz_FullDiskFailsEveryWritingCallAsNoSpace(t *testing.T) {
	fzNeedRoot(t)
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	for _, noAdm := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoAdmission=%v", noAdm), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 5))
			mnt := fzMount(t, "size=1m")
			dir := filepath.Join(mnt, "ds")
			// Sparse chunks below Size, as a file system that keeps holes
			// has them; on tmpfs a Manager allocates them (see holesFault).
			was := chunkmap.SetKeepHoles(true)
			m := fzOpen(t, dir, chunkmap.Options{MaxMapped: 8, NoAdmission: noAdm})
			chunkmap.SetKeepHoles(was)
			real := fzRealDir(t, dir)
			model := fzRandom(r, int(2*fzCS))
			if _, err := m.WriteAt(model, 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			// Chunks 2 and 3 exist, sparse: Size covers them, no block does.
			if err := m.Truncate(4 * fzCS); err != nil {
				t.Fatal(err)
			}
			model = append(model, make([]byte, 2*fzCS)...)
			filler := fzFill(t, mnt)
			files := fzChunkFiles(t, real)
			ops := fzOps()
			slot := func(i int) int64 { return 2*fzCS + 4096 + int64(i)*64 }
			for i, op := range ops {
				if !op.write {
					continue
				}
				off := slot(i)
				what := fmt.Sprintf("%s into a sparse chunk on a full disk", op.name)
				var err error
				fzDo(t, what, func() { err = op.run(m, accessor.New(m, nil), off) })
				fzCheckNoSpace(t, what, err, syscall.ENOSPC, fzMsg{op: op.op, files: []string{fzChunk(real, 2)}, names: []string{fmt.Sprintf("offset %d", off)}})
				if m.Size() != int64(len(model)) {
					t.Errorf("%s: Size moved to %d from %d", what, m.Size(), len(model))
				}
			}
			size := m.Size()
			grows := []struct {
				name, op string
				run      func() error
			}{
				{"Append", "append", func() error { _, err := m.Append(fzRandom(r, 100)); return err }},
				{"Grow", "grow", func() error { return m.Grow(fzCS) }},
				{"ViewAccessor.WriteUint64 at Size", "write", func() error { return accessor.New(m, nil).WriteUint64(size, 1) }},
				{"ViewAccessor.WriteUint64s past Size", "write", func() error {
					return accessor.New(m, nil).WriteUint64s(size+8, []uint64{1, 2, 3})
				}},
				{"WriteAt past Size", "write", func() error { _, err := m.WriteAt(fzRandom(r, 100), size+fzCS+10); return err }},
			}
			if got := fzChunkFiles(t, real); strings.Join(got, " ") != strings.Join(files, " ") {
				t.Errorf("the failed stores changed the chunk files: %v, were %v", got, files)
			}
			for _, g := range grows {
				what := g.name + " on a full disk"
				before := fzChunkFiles(t, real)
				var err error
				fzDo(t, what, func() { err = g.run() })
				fzCheckNoSpace(t, what, err, syscall.ENOSPC, fzMsg{op: g.op, anyChunk: true})
				if m.Size() != size {
					t.Errorf("%s: Size moved to %d from %d", what, m.Size(), size)
				}
				if got := fzChunkFiles(t, real); strings.Join(got, " ") != strings.Join(before, " ") {
					t.Errorf("%s: failed with %v but left the chunk files %v, were %v (\"leaves the dataset as it was\")", what, err, got, before)
				}
			}
			fzExpect(t, "every byte on the full disk", m, 0, model)
			// Sync, Truncate and DropBefore work on a full disk.
			if err := m.Sync(); err != nil {
				t.Errorf("Sync on a full disk: %v", err)
			}
			if err := m.Truncate(4*fzCS - 100); err != nil {
				t.Errorf("Truncate on a full disk: %v", err)
			}
			model = model[:4*fzCS-100]
			if err := m.Sync(); err != nil {
				t.Errorf("Sync after Truncate on a full disk: %v", err)
			}
			if fzFreeBytes(t, mnt) > 0 {
				fzFill(t, mnt) // stay full for DropBefore
			}
			if err := m.DropBefore(fzCS / 2); err != nil {
				t.Errorf("DropBefore (deleting nothing) on a full disk: %v", err)
			}
			if err := m.DropBefore(fzCS); err != nil {
				t.Errorf("DropBefore on a full disk: %v", err)
			}
			if err := m.Sync(); err != nil {
				t.Errorf("Sync after DropBefore on a full disk: %v", err)
			}
			// Free the space: every call works again.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			for i, op := range ops {
				if !op.write {
					continue
				}
				var err error
				fzDo(t, op.name, func() { err = op.run(m, accessor.New(m, nil), slot(i)) })
				if err != nil {
					t.Errorf("%s once space was freed: %v", op.name, err)
				}
			}
			// Rewrite what the calls stored with known bytes.
			end := slot(len(ops)) + 64
			patch := fzRandom(r, int(end-2*fzCS))
			if _, err := m.WriteAt(patch, 2*fzCS); err != nil {
				t.Fatal(err)
			}
			copy(model[2*fzCS:], patch)
			for _, g := range grows {
				var err error
				fzDo(t, g.name, func() { err = g.run() })
				if err != nil {
					t.Errorf("%s once space was freed: %v", g.name, err)
				}
			}
			// Bring the model up to the grown dataset: read what the
			// growth calls wrote only where they wrote it, and check the
			// rest against the model.
			if m.Size() < int64(len(model)) {
				t.Fatalf("Size %d after the growth calls, below %d", m.Size(), len(model))
			}
			fzExpect(t, "every byte before the growth calls", m, fzCS, model[fzCS:])
			grown := make([]byte, m.Size()-int64(len(model)))
			if _, err := m.ReadAt(grown, int64(len(model))); err != nil {
				t.Fatal(err)
			}
			model = append(model, grown...)
			model = fzAppend(t, "Append", m, model, fzRandom(r, 5000))
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			m2, err := chunkmap.Open(dir, nil)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer m2.Close()
			fzHolds(t, "reopened", m2, fzCS, model)
		})
	}
}

// TestFaultz_InodeExhaustionAtGrowthIsNoSpace leaves a tmpfs no inode for a
// new chunk file and checks that writes, appends and growth that need new
// chunks fail with ErrNoSpace and ENOSPC naming the chunk file once, leave
// Size, the bytes and the chunk files as they were (also a write that
// spans several new chunks), and work once inodes are freed; the dataset
// reopens with every byte.
func TestFaultz_InodeExhaustionAtGrowthIsNoSpace(t *testing.T) {
	fzNeedRoot(t)
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	r := rand.New(rand.NewPCG(seed, 6))
	mnt := fzMount(t, "size=4m,nr_inodes=64")
	dir := filepath.Join(mnt, "ds")
	m := fzOpen(t, dir, chunkmap.Options{})
	real := fzRealDir(t, dir)
	model := fzRandom(r, int(fzCS+fzCS/2))
	if _, err := m.WriteAt(model, 0); err != nil {
		t.Fatal(err)
	}
	// Use up every inode.
	spare := fzUseInodes(t, mnt)
	files := fzChunkFiles(t, real)
	calls := []struct {
		name, op string
		run      func() error
	}{
		{"WriteAt spanning three new chunks", "write", func() error {
			_, err := m.WriteAt(fzRandom(r, int(3*fzCS)), 2*fzCS-100)
			return err
		}},
		{"WriteAt past Size", "write", func() error { _, err := m.WriteAt([]byte("x"), 3*fzCS); return err }},
		{"Append", "append", func() error { _, err := m.Append(fzRandom(r, int(fzCS))); return err }},
		{"Grow", "grow", func() error { return m.Grow(2 * fzCS) }},
		{"Truncate up", "truncate", func() error { return m.Truncate(5 * fzCS) }},
		{"ViewAccessor.WriteFloat64s past Size", "write", func() error {
			return accessor.New(m, nil).WriteFloat64s(2*fzCS+8, []float64{1, 2, 3})
		}},
	}
	for _, c := range calls {
		what := c.name + " with no inode left"
		var err error
		fzDo(t, what, func() { err = c.run() })
		fzCheckNoSpace(t, what, err, syscall.ENOSPC, fzMsg{op: c.op, anyChunk: true})
		if m.Size() != int64(len(model)) {
			t.Errorf("%s: Size moved to %d from %d", what, m.Size(), len(model))
		}
		if got := fzChunkFiles(t, real); strings.Join(got, " ") != strings.Join(files, " ") {
			t.Errorf("%s: the chunk files changed: %v, were %v", what, got, files)
		}
	}
	fzExpect(t, "every byte with no inode left", m, 0, model)
	if err := m.Sync(); err != nil {
		t.Errorf("Sync with no inode left: %v", err)
	}
	for _, p := range spare[:4] {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	more := fzRandom(r, int(2*fzCS))
	if _, err := m.WriteAt(more, int64(len(model))); err != nil {
		t.Fatalf("WriteAt once inodes were freed: %v", err)
	}
	model = append(model, more...)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	fzHolds(t, "reopened", fzOpen(t, dir, chunkmap.Options{}), 0, model)
}

// TestFaultz_AbsurdGrowthRefusedUpFront checks the last clause of
// ErrNoSpace: growth by many chunks that the free space cannot hold is
// refused "before any file is created (an absurd offset fails at once
// instead of filling the disk)", by every call that grows.
func TestFaultz_AbsurdGrowthRefusedUpFront(t *testing.T) {
	fzNeedRoot(t)
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	mnt := fzMount(t, "size=1m")
	dir := filepath.Join(mnt, "ds")
	creates := &fzCreateCounter{FS: vfs.OS}
	opts := chunkmap.Options{}
	chunkmap.SetFS(&opts, creates)
	m := fzOpen(t, dir, opts)
	if _, err := m.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	real := fzRealDir(t, dir)
	before := fzSnapshot(t, real)
	va := accessor.New(m, nil)
	calls := []struct {
		name, op string
		run      func() error
	}{
		{"WriteAt at 1 TiB", "write", func() error { _, err := m.WriteAt([]byte("x"), 1<<40); return err }},
		{"Grow by 1 TiB", "grow", func() error { return m.Grow(1 << 40) }},
		{"Truncate to 1 GiB", "truncate", func() error { return m.Truncate(1 << 30) }},
		{"ViewAccessor.WriteUint64 at 1 TiB", "write", func() error { return va.WriteUint64(1<<40, 1) }},
		{"ViewAccessor.WriteUint32s at 1 TiB", "write", func() error { return va.WriteUint32s(1<<40, []uint32{1, 2}) }},
	}
	for _, c := range calls {
		var err error
		creates.n.Store(0)
		fzDo(t, c.name, func() { err = c.run() })
		fzCheckNoSpace(t, c.name, err, 0, fzMsg{op: c.op})
		// Refused before any file is created; files created and then
		// removed leave the same snapshot, so they are counted.
		if n := creates.n.Load(); n != 0 {
			t.Errorf("%s opened %d files to create them: not refused up front", c.name, n)
		}
		if m.Size() != 5 {
			t.Errorf("%s: Size %d, want 5", c.name, m.Size())
		}
		fzSameSnapshot(t, c.name, before, fzSnapshot(t, real))
	}
	fzExpect(t, "after the refused calls", m, 0, []byte("hello"))
}

// fzCreateCounter is an FS that counts the files it is asked to create
// (OpenFile with O_CREATE).
type fzCreateCounter struct {
	vfs.FS
	n atomic.Int64
}

func (c *fzCreateCounter) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if flag&os.O_CREATE != 0 {
		c.n.Add(1)
	}
	return c.FS.OpenFile(name, flag, perm)
}

// fzCrashRole is the child role of TestFaultz_FullDiskThenCrashKeepsAcknowledged.
const fzCrashRole = "fullcrash"

// TestFaultz_FullDiskThenCrashKeepsAcknowledged runs a writer in a child
// process on a small tmpfs that fills and empties under it: it writes,
// appends and syncs, reports every call that returned nil, and is killed
// with SIGKILL. The dataset must then open (not ErrCorrupt), and every
// byte of every call that returned must be there: "A crash of the process
// loses nothing that a call returned", full disk or not, and the failed
// calls left "the dataset ... as it was".
func TestFaultz_FullDiskThenCrashKeepsAcknowledged(t *testing.T) {
	fzNeedRoot(t)
	if fzIsChild(fzCrashRole) {
		fzFullDiskWriter(t)
		return
	}
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	mnt := fzMount(t, "size=768k")
	dir := filepath.Join(mnt, "ds")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestFaultz_FullDiskThenCrashKeepsAcknowledged$", "-test.count=1", "-test.v", "-test.timeout=20s")
	cmd.Env = append(os.Environ(), fzChildEnv+"="+fzCrashRole, fzGorace(), "FAULTZ_DIR="+dir, "FAULTZ_MNT="+mnt, fmt.Sprintf("%s=%d", fzSeedEnv, seed))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		off  int64
		n    int
		seed uint64
	}
	var acks []ack
	var log strings.Builder
	ready := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		if f := strings.Fields(line); len(f) == 4 && f[0] == "FAULTZ-ACK" {
			off, _ := strconv.ParseInt(f[1], 10, 64)
			n, _ := strconv.Atoi(f[2])
			s, _ := strconv.ParseUint(f[3], 10, 64)
			acks = append(acks, ack{off, n, s})
		}
		if strings.TrimSpace(line) == "FAULTZ-READY" {
			ready = true
			break
		}
	}
	cmd.Process.Kill()
	go func() { // drain
		for sc.Scan() {
		}
	}()
	cmd.Wait()
	if !ready {
		t.Fatalf("the writer did not get ready:\n%s\n%s", log.String(), stderr.String())
	}
	t.Logf("%d calls acknowledged before the kill", len(acks))
	// The filler may still be there: the reopen must not need space.
	var m *chunkmap.Manager
	fzDo(t, "Open after the crash", func() { m, err = chunkmap.Open(dir, nil) })
	if err != nil {
		if errors.Is(err, chunkmap.ErrCorrupt) {
			t.Fatalf("the dataset is corrupt after a crash on a full disk: %v\n%s", err, log.String())
		}
		os.Remove(filepath.Join(mnt, "filler"))
		if m, err = chunkmap.Open(dir, nil); err != nil {
			t.Fatalf("Open after the crash, with space freed: %v", err)
		}
	}
	defer m.Close()
	for _, a := range acks {
		want := fzRandom(rand.New(rand.NewPCG(a.seed, 0)), a.n)
		fzExpect(t, fmt.Sprintf("call of %d bytes at %d acknowledged before the crash", a.n, a.off), m, a.off, want)
		if t.Failed() {
			t.Fatalf("writer's log:\n%s", log.String())
		}
	}
}

// fzFullDiskWriter is the child of TestFaultz_FullDiskThenCrashKeepsAcknowledged.
func fzFullDiskWriter(t *testing.T) {
	dir, mnt := os.Getenv("FAULTZ_DIR"), os.Getenv("FAULTZ_MNT")
	seed := fzSeed(t)
	r := rand.New(rand.NewPCG(seed, 7))
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: fzCS, MaxMapped: 4})
	if err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	out := bufio.NewWriter(os.Stdout)
	var ranges [][2]int64 // acknowledged ranges, to keep later writes off them
	overlaps := func(off, n int64) bool {
		for _, rg := range ranges {
			if off < rg[1] && rg[0] < off+n {
				return true
			}
		}
		return false
	}
	acked := func(off int64, n int, s uint64) {
		ranges = append(ranges, [2]int64{off, off + int64(n)})
		fmt.Fprintf(out, "FAULTZ-ACK %d %d %d\n", off, n, s)
	}
	full := false
	for i := 0; i < 120; i++ {
		switch {
		case i%15 == 7 && !full:
			fzFill(t, mnt)
			full = true
		case i%15 == 13 && full:
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			full = false
		}
		s := r.Uint64()
		n := 1 + r.IntN(int(fzCS/3))
		data := fzRandom(rand.New(rand.NewPCG(s, 0)), n)
		switch r.IntN(4) {
		case 0, 1:
			off, err := m.Append(data)
			if err == nil {
				acked(off, n, s)
			} else if !errors.Is(err, chunkmap.ErrNoSpace) {
				t.Errorf("Append: %v", err)
			}
		case 2:
			off := int64(r.IntN(int(m.Size() + fzCS)))
			if overlaps(off, int64(n)) {
				continue
			}
			if _, err := m.WriteAt(data, off); err == nil {
				acked(off, n, s)
			} else if !errors.Is(err, chunkmap.ErrNoSpace) {
				t.Errorf("WriteAt: %v", err)
			}
		case 3:
			if err := m.Sync(); err != nil {
				t.Errorf("Sync (full disk: %v): %v", full, err)
			}
		}
	}
	out.Flush()
	if t.Failed() {
		return
	}
	if !full {
		fzFill(t, mnt) // the parent reopens on a full disk
	}
	fmt.Println("FAULTZ-READY")
	time.Sleep(30 * time.Second) // killed by the parent
}

// TestFaultz_AppendsUnderFlappingFullDiskKeepAcknowledged appends from
// several goroutines while the tmpfs fills and empties: every Append fails
// with ErrNoSpace or returns an offset whose bytes read back, no two
// acknowledged appends overlap, and after Sync and reopen every
// acknowledged append is still there.
func TestFaultz_AppendsUnderFlappingFullDiskKeepAcknowledged(t *testing.T) {
	fzNeedRoot(t)
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	mnt := fzMount(t, "size=2m")
	dir := filepath.Join(mnt, "ds")
	m := fzOpen(t, dir, chunkmap.Options{MaxMapped: 4})
	type rec struct {
		off  int64
		data []byte
	}
	var (
		mu      sync.Mutex
		recs    []rec
		fails   int
		badErrs []error
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)+20))
			for {
				select {
				case <-stop:
					return
				default:
				}
				data := fzRandom(r, 1+r.IntN(9000))
				off, err := m.Append(data)
				mu.Lock()
				switch {
				case err == nil:
					recs = append(recs, rec{off, data})
				case errors.Is(err, chunkmap.ErrNoSpace):
					fails++
				default:
					badErrs = append(badErrs, err)
				}
				n := len(recs)
				mu.Unlock()
				if n > 120 {
					return
				}
			}
		}(w)
	}
	filler := filepath.Join(mnt, "filler")
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		fzFill(t, mnt)
		time.Sleep(5 * time.Millisecond)
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(fzCallLimit):
		panic("faultz: appenders did not stop; goroutines:\n" + fzStacks())
	}
	os.Remove(filler)
	for _, err := range badErrs {
		t.Errorf("Append on a filling disk: %v (want nil or ErrNoSpace)", err)
	}
	t.Logf("%d appends acknowledged, %d failed with ErrNoSpace", len(recs), fails)
	sort.Slice(recs, func(i, j int) bool { return recs[i].off < recs[j].off })
	for i := 1; i < len(recs); i++ {
		if recs[i].off < recs[i-1].off+int64(len(recs[i-1].data)) {
			t.Fatalf("acknowledged appends overlap: %d+%d and %d", recs[i-1].off, len(recs[i-1].data), recs[i].off)
		}
	}
	check := func(what string, m *chunkmap.Manager) {
		for _, rc := range recs {
			fzExpect(t, fmt.Sprintf("%s: append of %d bytes at %d", what, len(rc.data), rc.off), m, rc.off, rc.data)
		}
		if len(recs) > 0 {
			last := recs[len(recs)-1]
			if end := last.off + int64(len(last.data)); m.Size() < end {
				t.Errorf("%s: Size %d below the end %d of an acknowledged append", what, m.Size(), end)
			}
		}
	}
	check("live", m)
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	m2 := fzOpen(t, dir, chunkmap.Options{})
	check("reopened", m2)
}

// TestFaultz_FullDiskAtSyncIsStickySyncFailed puts a dataset on an ext4
// file system whose loop device's backing tmpfs is full, so that writes are
// accepted (the file system has free blocks) but their writeback, and so
// Sync's fsync, fails. The docs: "If an fsync ... fails, Sync returns an
// error matching ErrSyncFailed, and so does every later Sync and write";
// "reads still work"; and after a reopen what the last successful Sync
// acknowledged is intact.
func TestFaultz_FullDiskAtSyncIsStickySyncFailed(t *testing.T) {
	fzNeedRoot(t)
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	r := rand.New(rand.NewPCG(seed, 8))
	back := fzMount(t, "size=3m")
	mnt := fzMountExt4(t, back, 16<<20, 0)
	dir := filepath.Join(mnt, "ds")
	m := fzOpen(t, dir, chunkmap.Options{})
	real := fzRealDir(t, dir)
	acked := fzRandom(r, int(2*fzCS))
	if _, err := m.WriteAt(acked, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync with room: %v", err)
	}
	filler := fzFill(t, back)
	// New chunks: accepted by ext4, lost on the way to the device.
	if _, err := m.WriteAt(fzRandom(r, int(2*fzCS)), 2*fzCS); err != nil {
		t.Fatalf("WriteAt (the file system has room): %v", err)
	}
	var err error
	fzDo(t, "Sync", func() { err = m.Sync() })
	// Chunks 2 and 3 are fsynced side by side: the error names each whose
	// fsync failed, once (one of them, or both).
	if !fzCheck(t, "Sync whose writeback fails", err, chunkmap.ErrSyncFailed, fzMsg{op: "sync"}) {
		t.FailNow()
	}
	named := 0
	for _, c := range []string{fzChunk(real, 2), fzChunk(real, 3)} {
		n := strings.Count(err.Error(), c)
		if n > 1 {
			t.Errorf("Sync whose writeback fails: message names %s %d times: %v", c, n, err)
		}
		named += n
	}
	if named == 0 || strings.Count(err.Error(), ".chunk") != named {
		t.Errorf("Sync whose writeback fails: message names no chunk written, or another: %v", err)
	}
	// Freeing space does not clear it: the pages may be gone.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	va := accessor.New(m, nil)
	sticky := []struct {
		name, op string
		run      func() error
	}{
		{"Sync", "sync", m.Sync},
		{"WriteAt", "write", func() error { _, err := m.WriteAt([]byte("later"), 100); return err }},
		{"Append", "append", func() error { _, err := m.Append([]byte("later")); return err }},
		{"Scatter", "scatter", func() error { return m.Scatter([]byte("12345678"), []int64{200}, 8) }},
		{"StoreUint64", "atomic", func() error { return m.StoreUint64(256, 1) }},
		{"ViewAccessor.WriteUint64", "write", func() error { return va.WriteUint64(300, 1) }},
		{"Sync again", "sync", m.Sync},
	}
	for _, c := range sticky {
		var err error
		fzDo(t, c.name, func() { err = c.run() })
		fzCheck(t, c.name+" after a failed fsync", err, chunkmap.ErrSyncFailed, fzMsg{op: c.op})
	}
	fzExpect(t, "reads after a failed fsync", m, 0, acked)
	fzDo(t, "Close", func() { err = m.Close() })
	fzCheck(t, "Close after a failed fsync", err, chunkmap.ErrSyncFailed, fzMsg{op: "close"})
	var m2 *chunkmap.Manager
	fzDo(t, "Open", func() { m2, err = chunkmap.Open(dir, nil) })
	if err != nil {
		t.Fatalf("reopen after a failed fsync: %v", err)
	}
	defer m2.Close()
	fzExpect(t, "acknowledged bytes after reopen", m2, 0, acked)
	if _, err := m2.WriteAt([]byte("fresh"), 10); err != nil {
		t.Errorf("WriteAt after reopen: %v", err)
	}
	if err := m2.Sync(); err != nil {
		t.Errorf("Sync after reopen: %v", err)
	}
}

// TestFaultz_CreateOnFullDiskFailsCleanly opens a new dataset on a tmpfs
// with no block, or no inode, left: Open must fail with ErrNoSpace and
// ENOSPC naming the operation, leave no MANIFEST or temporary file behind
// ("Either way the dataset is left as it was"), and succeed once space is
// freed.
func TestFaultz_CreateOnFullDiskFailsCleanly(t *testing.T) {
	fzNeedRoot(t)
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	for _, full := range []string{"blocks", "inodes"} {
		t.Run(full, func(t *testing.T) {
			mnt := fzMount(t, "size=256k,nr_inodes=32")
			dir := filepath.Join(mnt, "ds")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			var spare []string
			if full == "blocks" {
				spare = append(spare, fzFill(t, mnt))
			} else {
				spare = fzUseInodes(t, mnt)
			}
			var m *chunkmap.Manager
			var err error
			fzDo(t, "Open", func() { m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: fzCS}) })
			if m != nil {
				m.Close()
			}
			fzCheckNoSpace(t, "creating a dataset with no "+full+" left", err, syscall.ENOSPC, fzMsg{op: "open"})
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("the failed Open left %v behind", names)
			}
			for _, p := range spare {
				os.Remove(p)
			}
			m = fzOpen(t, dir, chunkmap.Options{})
			if _, err := m.Append([]byte("created")); err != nil {
				t.Fatalf("Append once space was freed: %v", err)
			}
			fzExpect(t, "created", m, 0, []byte("created"))
		})
	}
}
