//go:build linux

package chunkmap_test

// A power cut on a real kernel's file system. TestPowerLoss rebuilds disk
// images from the file operations the Manager makes through its vfs seam,
// so it trusts that every fsync goes through that seam and models what
// the kernel keeps. Here the kernel itself decides: a seeded random
// workload runs on a dataset in a fresh ext4 (or xfs) image on a loop
// device, and at a random moment the test shuts the file system down with
// the ioctl xfstests uses for the same purpose (EXT4_IOC_SHUTDOWN,
// XFS_IOC_GOINGDOWN) and the flag NOLOGFLUSH: the file system stops at
// once, writes neither dirty pages nor its journal, and fails every later
// operation with EIO (a store to a mapped page that needs I/O raises
// SIGBUS). The loop device has no volatile cache, so after umount and a
// new mount (journal recovery) the image is what a power loss at that
// instant leaves.
//
// What the test asks of the Manager:
//
//   - After the cut every call returns an error matching a sentinel, or
//     succeeds; none panics or hangs (each is given a minute). Close
//     returns and lets go of every descriptor and mapping of the file
//     system, so that it can be unmounted.
//   - After the new mount the dataset opens, read-only and read-write, as
//     after a reboot (another boot ID: the power loss the README's
//     Durability table describes), and read-only as in the same boot
//     (where the state page on disk is taken for one a crashed process
//     left, a file system that died under a live machine). What it holds
//     is judged against the acknowledged window below.
//
// The acknowledged window. Let A be the model (Start, Size and every byte)
// as of the last Sync that returned nil, before or after the cut (one
// that returns nil after it must have had nothing new to make durable),
// and let L be the calls made after that Sync was called (all of them
// with a workload on one goroutine: the one in flight at the cut, those
// that returned before it, those after it, failed or not). The reopened
// dataset may have:
//
//   - as Start, A's Start or the Start a DropBefore in L asked for;
//   - as Size, A's Size or the Size some call in L set or asked for (the
//     end of a WriteAt or Append, the size of a Truncate): never an
//     intermediate value, and never less than A's unless a Truncate in L
//     asked for less; or, after a DropBefore in L, its Start (the record
//     it writes says an empty dataset there where its Start is past what
//     was known durable: recordBaseLocked);
//   - at each offset in its [Start, Size): A's byte there (zero past A's
//     Size), or a byte a call in L wrote there (the bytes of a WriteAt,
//     Append, Scatter, Batch or pin, the word of an atomic), or zero where
//     a Truncate in L cut or extended over it.
//
// So every byte A holds in the reopened range survives unless a call
// after A's Sync wrote or cut it: a lost acknowledged byte, or a byte a
// truncation cut before A that comes back, fails the test. In the same
// boot two things more are allowed, which the README's Durability states
// for a file system that fails under a running machine: past A's Size the
// bytes are not checked (the state page on disk may be newer than the
// data, and cover bytes that read as what the chunk held before), and
// where L holds a Truncate or DropBefore, Open may fail with ErrCorrupt
// (the page may name the chunk files it deleted). Calls that
// failed since A stay in L when a later Sync returns nil (they may or may
// not have happened). The workload is determined by the seed (printed);
// where the cut lands inside a call in flight on another goroutine is up
// to the scheduler.
//
// Each cut takes a second or less; CHUNKMAP_POWERCUT_ITER raises the
// number of cuts per file system for a soak run.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

const (
	pcChunk = chunkmap.MinChunkSize
	// pcLimit bounds the workload's offsets.
	pcLimit = 24 * pcChunk
	// pcShutdown is EXT4_IOC_SHUTDOWN, which is XFS_IOC_GOINGDOWN:
	// _IOR('X', 125, __u32).
	pcShutdown = 0x8004587D
	// pcNoLogFlush is EXT4_GOING_FLAGS_NOLOGFLUSH and
	// XFS_FSOP_GOING_FLAGS_NOLOGFLUSH: stop without writing the journal
	// or dirty pages.
	pcNoLogFlush = 2
	// pcCalls is how long any one call may take before the test calls it
	// hung.
	pcCalls = time.Minute
	// pcAfter is how many calls the workload makes after the cut.
	pcAfter = 14
)

// pcFileSystems are the file systems the test cuts, each where its mkfs
// exists. xfs needs 300 MiB at least; the images are sparse, and each cut
// writes a few MiB.
var pcFileSystems = []pcFS{
	{"ext4", "mkfs.ext4", 64 << 20, []string{"-q", "-F", "-E", "nodiscard"}},
	{"xfs", "mkfs.xfs", 300 << 20, []string{"-q", "-f", "-K"}},
}

type pcKind int

const (
	pcWrite pcKind = iota
	pcAppend
	pcTruncate
	pcDrop
	pcGrow
	pcStore
	pcAdd
	pcCAS
	pcScatter
	pcBatch
	pcPin
	pcSync
)

var pcKindNames = [...]string{"WriteAt", "Append", "Truncate", "DropBefore", "Grow", "StoreUint64", "AddUint64", "CompareAndSwapUint64", "Scatter", "Batch", "PinWritable", "Sync"}

// pcOp is one call of a workload.
type pcOp struct {
	kind pcKind
	off  int64   // WriteAt, atomics, Batch, PinWritable: offset; Truncate: size; DropBefore: offset
	n    int64   // WriteAt, Append, Batch, PinWritable: length; Grow: bytes
	offs []int64 // Scatter: offsets of 8-byte words
	gen  int     // seeds the bytes it writes (plByte)
	x    uint64  // AddUint64: delta; CompareAndSwapUint64: new
	old  uint64  // CompareAndSwapUint64: old
}

func (o pcOp) String() string {
	switch o.kind {
	case pcWrite, pcBatch, pcPin:
		return fmt.Sprintf("#%d %s(%d bytes at %d)", o.gen, pcKindNames[o.kind], o.n, o.off)
	case pcAppend:
		return fmt.Sprintf("#%d Append(%d bytes)", o.gen, o.n)
	case pcTruncate, pcDrop, pcStore, pcAdd, pcCAS:
		return fmt.Sprintf("#%d %s(%d)", o.gen, pcKindNames[o.kind], o.off)
	case pcGrow:
		return fmt.Sprintf("#%d Grow(%d)", o.gen, o.n)
	case pcScatter:
		return fmt.Sprintf("#%d Scatter(%d words from %d)", o.gen, len(o.offs), o.offs[0])
	}
	return fmt.Sprintf("#%d %s", o.gen, pcKindNames[o.kind])
}

// pcTouch is what a call after the acknowledged Sync may have left in
// [lo, hi): the bytes plByte(gen, x), the bytes val (an atomic's word), or
// zeros.
type pcTouch struct {
	lo, hi int64
	gen    int
	val    []byte
	zero   bool
	by     string
}

func (tc pcTouch) allows(x int64, b byte) bool {
	switch {
	case x < tc.lo || x >= tc.hi:
		return false
	case tc.zero:
		return b == 0
	case tc.val != nil:
		return tc.val[x-tc.lo] == b
	}
	return plByte(tc.gen, x) == b
}

// pcWindow is what the reopened dataset may hold (see the top of the
// file).
type pcWindow struct {
	ack     plModel
	ackedBy string
	touches []pcTouch
	starts  map[int64]bool
	sizes   map[int64]bool
	// shrunk says a Truncate or DropBefore was called since.
	shrunk bool
	// failed are the touches and extents of calls that failed since the
	// acknowledged Sync, which a later one carries over.
	failed       []pcTouch
	failedStarts []int64
	failedSizes  []int64
}

func newPCWindow(ack plModel, by string) *pcWindow {
	return &pcWindow{ack: ack.clone(), ackedBy: by,
		starts: map[int64]bool{ack.start: true}, sizes: map[int64]bool{ack.size(): true}}
}

// acked starts a new window at a Sync that returned nil with model s.
func (w *pcWindow) acked(s *plModel, by string) *pcWindow {
	n := newPCWindow(*s, by)
	n.touches = slices.Clone(w.failed)
	n.failed = slices.Clone(w.failed)
	for _, v := range w.failedStarts {
		n.starts[v] = true
	}
	for _, v := range w.failedSizes {
		n.sizes[v] = true
	}
	n.failedStarts, n.failedSizes = slices.Clone(w.failedStarts), slices.Clone(w.failedSizes)
	return n
}

// pcNext draws a call for model s.
func pcNext(r *rand.Rand, s *plModel, gen int) pcOp {
	op := pcOp{gen: gen}
	size := s.size()
	room := pcLimit - size
	lo := (s.start + 7) &^ 7
	words := max(0, (size-lo)/8)
	switch k := r.IntN(100); {
	case k < 12:
		op.kind = pcSync
	case k < 26 && room > 4096:
		op.kind = pcWrite // small, inside, across chunks or past Size
		op.n = 1 + r.Int64N(6000)
		op.off = s.start + r.Int64N(min(size-s.start+pcChunk, pcLimit-op.n-s.start))
	case k < 34 && room > 3*pcChunk:
		op.kind = pcWrite // bulk: pwrite
		op.n = pcChunk + r.Int64N(pcChunk)
		op.off = s.start + r.Int64N(min(size-s.start+pcChunk, pcLimit-op.n-s.start))
	case k < 44 && room > 3*pcChunk:
		op.kind = pcAppend
		op.n = 1 + r.Int64N(5000)
		if r.IntN(3) == 0 {
			op.n = pcChunk + r.Int64N(pcChunk)
		}
	case k < 50 && words > 0:
		op.kind = pcStore
		op.off = lo + 8*r.Int64N(words)
	case k < 54 && words > 0:
		op.kind = pcAdd
		op.off = lo + 8*r.Int64N(words)
		op.x = r.Uint64()
	case k < 58 && words > 0:
		op.kind = pcCAS
		op.off = lo + 8*r.Int64N(words)
		op.x = r.Uint64()
		old := binary.NativeEndian.Uint64(s.data[op.off:])
		op.old = old
		if r.IntN(4) == 0 {
			op.old = old + 1 // fails to swap
		}
	case k < 62 && words > 0:
		op.kind = pcScatter
		n := 1 + r.IntN(int(min(words, 64)))
		for _, w := range r.Perm(int(words))[:n] {
			op.offs = append(op.offs, lo+8*int64(w))
		}
	case k < 70 && size > s.start:
		op.kind = pcBatch
		if k >= 66 {
			op.kind = pcPin
		}
		op.off = s.start + r.Int64N(size-s.start)
		op.n = 1 + r.Int64N(min(3*pcChunk/2, size-op.off))
	case k < 82:
		op.kind = pcTruncate
		if size > s.start && r.IntN(3) != 0 {
			op.off = s.start + r.Int64N(size-s.start+1)
		} else {
			op.off = size + r.Int64N(min(2*pcChunk, pcLimit-size)+1)
		}
	case k < 88 && size > s.start:
		op.kind = pcDrop
		op.off = s.start + r.Int64N(min(size-s.start+1, 2*pcChunk))
	case k < 94:
		op.kind = pcGrow
		op.n = r.Int64N(min(3*pcChunk, pcLimit-size) + 1)
	default:
		op.kind = pcSync
	}
	return op
}

// pcEffects returns what op may leave, on model s, and the Start and Size
// it may set.
func pcEffects(s *plModel, op pcOp) (touches []pcTouch, starts, sizes []int64) {
	by := op.String()
	size := s.size()
	switch op.kind {
	case pcWrite:
		touches = append(touches, pcTouch{lo: op.off, hi: op.off + op.n, gen: op.gen, by: by})
		sizes = append(sizes, max(size, op.off+op.n))
	case pcAppend:
		touches = append(touches, pcTouch{lo: size, hi: size + op.n, gen: op.gen, by: by})
		sizes = append(sizes, size+op.n)
	case pcTruncate:
		touches = append(touches, pcTouch{lo: min(op.off, size), hi: max(op.off, size), zero: true, by: by})
		sizes = append(sizes, op.off)
	case pcDrop:
		starts = append(starts, max(s.start, op.off/pcChunk*pcChunk))
	case pcStore, pcAdd, pcCAS:
		touches = append(touches, pcTouch{lo: op.off, hi: op.off + 8, val: pcWord(s, op), by: by})
	case pcScatter:
		for _, off := range op.offs {
			touches = append(touches, pcTouch{lo: off, hi: off + 8, gen: op.gen, by: by})
		}
	case pcBatch, pcPin:
		touches = append(touches, pcTouch{lo: op.off, hi: op.off + op.n, gen: op.gen, by: by})
	}
	return touches, starts, sizes
}

// pcWord is the word an atomic op leaves on model s.
func pcWord(s *plModel, op pcOp) []byte {
	var b [8]byte
	old := binary.NativeEndian.Uint64(s.data[op.off:])
	switch op.kind {
	case pcStore:
		for i := range b {
			b[i] = plByte(op.gen, op.off+int64(i))
		}
		return b[:]
	case pcAdd:
		binary.NativeEndian.PutUint64(b[:], old+op.x)
	case pcCAS:
		binary.NativeEndian.PutUint64(b[:], old)
		if old == op.old {
			binary.NativeEndian.PutUint64(b[:], op.x)
		}
	}
	return b[:]
}

// pcApply runs op on m, and on the model s if it succeeds; a store
// through a pin's bytes that faults (SIGBUS after the cut) is returned as
// errPCPinFault.
func pcApply(m *chunkmap.Manager, s *plModel, op pcOp) (err error) {
	fill := func(off, n int64) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = plByte(op.gen, off+int64(i))
		}
		return p
	}
	switch op.kind {
	case pcWrite, pcAppend:
		off := op.off
		if op.kind == pcAppend {
			off = s.size()
		}
		p := fill(off, op.n)
		if op.kind == pcAppend {
			var got int64
			if got, err = m.Append(p); err == nil && got != off {
				return pcWrong{fmt.Sprintf("returned offset %d, want %d", got, off)}
			}
		} else {
			_, err = m.WriteAt(p, off)
		}
		if err == nil {
			s.resize(max(s.size(), off+op.n))
			copy(s.data[off:], p)
		}
	case pcTruncate:
		if err = m.Truncate(op.off); err == nil {
			s.resize(op.off)
		}
	case pcDrop:
		if err = m.DropBefore(op.off); err == nil {
			s.start = max(s.start, op.off/pcChunk*pcChunk)
		}
	case pcGrow:
		err = m.Grow(op.n)
	case pcStore, pcAdd, pcCAS:
		want := pcWord(s, op)
		switch op.kind {
		case pcStore:
			err = m.StoreUint64(op.off, binary.NativeEndian.Uint64(want))
		case pcAdd:
			var got uint64
			if got, err = m.AddUint64(op.off, op.x); err == nil && got != binary.NativeEndian.Uint64(want) {
				return pcWrong{fmt.Sprintf("returned %#x, want %#x", got, binary.NativeEndian.Uint64(want))}
			}
		case pcCAS:
			var swapped bool
			old := binary.NativeEndian.Uint64(s.data[op.off:])
			if swapped, err = m.CompareAndSwapUint64(op.off, op.old, op.x); err == nil && swapped != (old == op.old) {
				return pcWrong{fmt.Sprintf("swapped = %v, want %v", swapped, old == op.old)}
			}
		}
		if err == nil {
			copy(s.data[op.off:], want)
		}
	case pcScatter:
		src := make([]byte, 0, 8*len(op.offs))
		for _, off := range op.offs {
			src = append(src, fill(off, 8)...)
		}
		if err = m.Scatter(src, op.offs, 8); err == nil {
			for k, off := range op.offs {
				copy(s.data[off:], src[8*k:8*k+8])
			}
		}
	case pcBatch:
		p := fill(op.off, op.n)
		err = m.Batch(func(b *chunkmap.Batch) error {
			q, err := b.WritableBytes(op.off, int(op.n))
			copy(q, p)
			return err
		})
		if err == nil {
			copy(s.data[op.off:], p)
		}
	case pcPin:
		p := fill(op.off, op.n)
		var pin *chunkmap.Pinned
		if pin, err = m.PinWritable(op.off, int(op.n)); err != nil {
			break
		}
		err = pcStorePinned(pin.Bytes(), p)
		pin.Release()
		if err == nil {
			copy(s.data[op.off:], p)
		}
	case pcSync:
		err = m.Sync()
	}
	return err
}

// pcWrong is a result that differs from the model's: a bug before the
// cut; after it, the model may not know what a failed call did.
type pcWrong struct{ msg string }

func (w pcWrong) Error() string { return w.msg }

// errPCPinFault is a store through a pin's bytes that faulted: the
// README's SIGBUS "through a pin's bytes" on a file system that failed,
// which the caller's store meets, not the Manager.
var errPCPinFault = errors.New("store through the pinned bytes faulted")

func pcStorePinned(dst, src []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// SetPanicOnFault's panics carry the faulting address.
			if _, ok := r.(interface{ Addr() uintptr }); ok {
				err = errPCPinFault
				return
			}
			panic(r)
		}
	}()
	copy(dst, src)
	return nil
}

// pcCall runs fn on a goroutine of its own and fails t (fatally) if it
// does not return within pcCalls, or panics.
func pcCall[T any](t *testing.T, what string, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	panicked := make(chan any, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				panicked <- fmt.Sprintf("%v\n%s", r, debug.Stack())
			}
		}()
		done <- fn()
	}()
	select {
	case v := <-done:
		return v
	case p := <-panicked:
		t.Fatalf("%s panicked: %v", what, p)
	case <-time.After(pcCalls):
		buf := make([]byte, 1<<20)
		t.Fatalf("%s did not return within %v:\n%s", what, pcCalls, buf[:runtime.Stack(buf, true)])
	}
	panic("unreachable")
}

// pcCloseAtEnd closes m and files when t ends, unless the test closed
// them itself: a t.Fatal part way through a test skips its own Close, and
// the Manager's descriptors and mappings would then stay open beside every
// later test, some of which count the process's descriptors. A Close still
// stuck after pcCalls is left running; the test has failed already.
func pcCloseAtEnd(t *testing.T, m *chunkmap.Manager, files ...*os.File) {
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if m != nil {
				m.Close() // ErrClosed if the test closed it
			}
		}()
		select {
		case <-done:
		case <-time.After(pcCalls):
			t.Errorf("Close at the end of the test did not return within %v", pcCalls)
		}
		for _, f := range files {
			f.Close()
		}
	})
}

// pcCut shuts down the file system of f with NOLOGFLUSH.
func pcCut(f *os.File) error {
	flag := uint32(pcNoLogFlush)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), pcShutdown, uintptr(unsafe.Pointer(&flag))); e != 0 {
		return fmt.Errorf("shutdown ioctl: %w", e)
	}
	return nil
}

func pcMount(t *testing.T, img, mnt string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v: %s", img, err, out)
	}
	// After a failure that skipped pcUnmount (EINVAL where it did not).
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
}

// pcHolders lists the descriptors and mappings of this process under mnt.
func pcHolders(mnt string) []string {
	var held []string
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range fds {
			if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(p, mnt+"/") {
				held = append(held, "fd "+e.Name()+": "+p)
			}
		}
	}
	if maps, err := os.ReadFile("/proc/self/maps"); err == nil {
		for line := range strings.SplitSeq(string(maps), "\n") {
			if i := strings.Index(line, mnt+"/"); i >= 0 {
				held = append(held, "mapping: "+line)
			}
		}
	}
	return held
}

// pcUnmount unmounts mnt, failing t if anything of this process still
// holds it.
func pcUnmount(t *testing.T, mnt, when string) {
	t.Helper()
	if held := pcHolders(mnt); len(held) > 0 {
		t.Errorf("%s: the process still holds files of the file system:\n%s", when, strings.Join(held, "\n"))
	}
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Errorf("%s: unmount: %v", when, err)
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Fatalf("lazy unmount: %v", err)
		}
	}
}

func pcIters() int {
	if s := os.Getenv("CHUNKMAP_POWERCUT_ITER"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	if testing.Short() {
		return 4
	}
	return 8
}

// pcFS is a file system the tests cut.
type pcFS struct {
	name string
	mkfs string
	size int64
	args []string
}

// pcImage makes an image of fs and returns it with a directory to mount
// it on; it skips t in a race build, and where this process is not root,
// fs's mkfs is missing, or a loop device cannot be mounted.
func pcImage(t *testing.T, fs pcFS) (img, mnt string) {
	t.Helper()
	if raceEnabled {
		// The state page's atomics run inside the detector there, where
		// the SIGBUS of a store to a file system shut down ends the
		// process instead of failing the call (see the README's
		// Durability).
		t.Skip("a fault in the state page ends a race build")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to mount file system images")
	}
	if _, err := exec.LookPath(fs.mkfs); err != nil {
		t.Skipf("needs %s", fs.mkfs)
	}
	img = filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, fs.size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(fs.mkfs, append(fs.args, img)...).CombinedOutput(); err != nil {
		t.Skipf("%s: %v: %s", fs.mkfs, err, out)
	}
	mnt = t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop device: %v: %s", err, out)
	}
	pcUnmount(t, mnt, "after mkfs")
	return img, mnt
}

// TestPowerCut_RealKernel: see the top of this file.
// CHUNKMAP_POWERCUT_SEED=S starts from seed S (cut i has seed S+i).
func TestPowerCut_RealKernel(t *testing.T) {
	base := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("CHUNKMAP_POWERCUT_SEED"), 10, 64); err == nil {
		base = v
	}
	for _, fs := range pcFileSystems {
		t.Run(fs.name, func(t *testing.T) {
			img, mnt := pcImage(t, fs)
			for i := range pcIters() {
				seed := base + uint64(i)
				if !pcRun(t, img, mnt, seed) {
					t.Fatalf("seed %d failed (CHUNKMAP_POWERCUT_SEED=%d reruns it first)", seed, seed)
				}
			}
		})
	}
}

// pcRun makes one cut of the workload of seed in a new dataset on the
// image img mounted at mnt, and checks the dataset afterwards. It
// reports whether everything held.
func pcRun(t *testing.T, img, mnt string, seed uint64) bool {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 0x9c7))
	o := chunkmap.Options{
		ChunkSize:   pcChunk,
		MaxMapped:   []int{1, 2, 3, 8}[r.IntN(4)],
		ArenaSize:   []int64{4, 8, 64}[r.IntN(3)] * pcChunk,
		NoAdmission: r.IntN(2) == 0,
	}
	// mode 0: cut right after a Sync returns; 1: cut between two calls;
	// 2: cut from another goroutine during a call, after a delay.
	mode := r.IntN(3)
	cutAt := 4 + r.IntN(40)
	delay := time.Duration(r.IntN(3000)) * time.Microsecond
	desc := fmt.Sprintf("seed %d (MaxMapped %d, ArenaSize %d chunks, NoAdmission %v, cut mode %d at call %d, delay %v)",
		seed, o.MaxMapped, o.ArenaSize/pcChunk, o.NoAdmission, mode, cutAt, delay)
	t.Log(desc)
	failed := false
	fail := func(format string, args ...any) {
		t.Helper()
		failed = true
		t.Errorf("%s: %s", desc, fmt.Sprintf(format, args...))
	}

	pcMount(t, img, mnt)
	name := fmt.Sprintf("ds%d", seed)
	dir := filepath.Join(mnt, name)
	root, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		root.Close()
		t.Fatalf("%s: Open: %v", desc, err)
	}
	pcCloseAtEnd(t, m, root)

	var model plModel
	win := newPCWindow(model, "Open")
	var cutStarted atomic.Bool
	cutErr := make(chan error, 1)
	cutDone := make(chan struct{})
	cut := func() {
		cutStarted.Store(true)
		cutErr <- pcCut(root)
		close(cutDone)
	}
	var log []string
	end := cutAt + pcAfter
	for gen := 0; gen < end; gen++ {
		if gen == end-1 && mode == 2 {
			// The calls after the cut must come after it.
			select {
			case <-cutDone:
			default:
				select {
				case <-cutDone:
				case <-time.After(pcCalls):
					t.Fatalf("%s: the shutdown ioctl did not return within %v", desc, pcCalls)
				}
				end = gen + pcAfter
			}
		}
		op := pcNext(r, &model, gen)
		if mode == 0 && gen == cutAt {
			op = pcOp{kind: pcSync, gen: gen}
		}
		if mode == 2 && gen == cutAt {
			go func() { time.Sleep(delay); cut() }()
		}
		touches, starts, sizes := pcEffects(&model, op)
		win.shrunk = win.shrunk || op.kind == pcTruncate || op.kind == pcDrop
		win.touches = append(win.touches, touches...)
		for _, v := range starts {
			win.starts[v] = true
		}
		for _, v := range sizes {
			win.sizes[v] = true
		}
		err := pcCall(t, desc+": "+op.String(), func() error { return pcApply(m, &model, op) })
		before := !cutStarted.Load()
		log = append(log, fmt.Sprintf("%s: %v", op, err))
		switch {
		case err == nil && op.kind == pcSync:
			win = win.acked(&model, op.String())
		case err == nil:
		case before:
			fail("%s before the cut: %v", op, err)
		case errors.Is(err, errPCPinFault), errors.As(err, new(pcWrong)):
		case !matchesSentinel(err):
			fail("%s after the cut: error matches no sentinel: %v", op, err)
		}
		if err != nil {
			win.failed = append(win.failed, touches...)
			win.failedStarts = append(win.failedStarts, starts...)
			win.failedSizes = append(win.failedSizes, sizes...)
			// The Manager's extent after a failed call is its own to
			// say (it is what later calls are drawn against).
			if st, sz := m.Start(), m.Size(); st != model.start || sz != model.size() {
				model.start = st
				model.resize(sz)
			}
		}
		if gen == cutAt && mode != 2 {
			cut()
		}
	}
	if err := <-cutErr; err != nil {
		t.Fatalf("%s: %v", desc, err)
	}
	err = pcCall(t, desc+": Close", m.Close)
	if err != nil && !matchesSentinel(err) {
		fail("Close after the cut: error matches no sentinel: %v", err)
	}
	if err == nil {
		// A Close that returns nil acknowledges as a Sync does.
		win = win.acked(&model, "Close")
	}
	root.Close()
	pcUnmount(t, mnt, desc+": after Close")

	pcMount(t, img, mnt)
	onDisk := pcDescribe(dir)
	reboot := vfstest.WithBootID(vfs.OS, "powercut-reboot")
	for _, c := range []struct {
		name     string
		readOnly bool
		fsys     vfs.FS
	}{
		{"read-only, same boot", true, nil},
		{"read-only, after a reboot", true, reboot},
		{"read-write, after a reboot", false, reboot},
	} {
		ro := chunkmap.Options{ChunkSize: pcChunk, ReadOnly: c.readOnly}
		if c.fsys != nil {
			chunkmap.SetFS(&ro, c.fsys)
		}
		sameBoot := c.fsys == nil
		m := pcCall(t, desc+": Open "+c.name, func() *chunkmap.Manager {
			m, err := chunkmap.Open(dir, &ro)
			// In the same boot, a state page written out with a Start or
			// Size from after a Truncate's or DropBefore's record (its
			// own fsync, or a later one's) may name the chunk files that
			// it deleted (see the README's Durability).
			if err != nil && !(sameBoot && win.shrunk && errors.Is(err, chunkmap.ErrCorrupt)) {
				fail("Open %s after the cut: %v\non disk after the cut: %s\ncalls:\n%s", c.name, err, onDisk, strings.Join(log, "\n"))
			}
			return m
		})
		if m == nil {
			continue
		}
		pcCloseAtEnd(t, m)
		if msg := pcJudge(m, win, sameBoot); msg != "" {
			fail("Open %s: %s\nlast acknowledged by %s: Start %d, Size %d\non disk after the cut: %s\ncalls:\n%s",
				c.name, msg, win.ackedBy, win.ack.start, win.ack.size(), onDisk, strings.Join(log, "\n"))
		}
		if err := m.Close(); err != nil {
			fail("Close of the %s Manager: %v", c.name, err)
		}
	}
	pcUnmount(t, mnt, desc+": after the checks")
	return !failed
}

// pcJudge checks what m holds against window w, and says what is wrong,
// or "".
func pcJudge(m *chunkmap.Manager, w *pcWindow, sameBoot bool) string {
	start, size := m.Start(), m.Size()
	if !w.starts[start] {
		return fmt.Sprintf("Start %d, want one of %v", start, slices.Sorted(maps.Keys(w.starts)))
	}
	// A DropBefore's record past the acknowledged Size says an empty
	// dataset at its Start: nothing from there on was known durable
	// (recordBaseLocked).
	if !w.sizes[size] && (size != start || start == w.ack.start) {
		return fmt.Sprintf("Size %d, want one of %v", size, slices.Sorted(maps.Keys(w.sizes)))
	}
	if size <= start {
		return ""
	}
	got := make([]byte, size-start)
	if _, err := m.ReadAt(got, start); err != nil {
		return fmt.Sprintf("ReadAt %d bytes at %d: %v", len(got), start, err)
	}
	var bad []string
	nbad := 0
	for i, b := range got {
		x := start + int64(i)
		if sameBoot && x >= w.ack.size() {
			// The state page may cover bytes whose writes never reached
			// the disk, which read as what the chunk held before: even
			// bytes that a Truncate before the acknowledged Sync cut
			// (see the README's Durability).
			break
		}
		var want byte
		if x >= w.ack.start && x < w.ack.size() {
			want = w.ack.data[x]
		}
		if b == want {
			continue
		}
		ok := false
		for _, tc := range w.touches {
			if tc.allows(x, b) {
				ok = true
				break
			}
		}
		if ok {
			continue
		}
		if nbad++; nbad <= 8 {
			var by []string
			for _, tc := range w.touches {
				if x >= tc.lo && x < tc.hi {
					by = append(by, tc.by)
				}
			}
			bad = append(bad, fmt.Sprintf("offset %d (chunk %d + %d) = %#02x, acknowledged %#02x; touched since by %v",
				x, x/pcChunk, x%pcChunk, b, want, by))
		}
	}
	if nbad > 0 {
		return fmt.Sprintf("Start %d, Size %d: %d bytes neither acknowledged nor written since, the first:\n%s", start, size, nbad, strings.Join(bad, "\n"))
	}
	return ""
}

// pcDescribe says what the dataset's directory holds, for reports.
func pcDescribe(dir string) string {
	var parts []string
	if b, err := os.ReadFile(filepath.Join(dir, chunkmap.ManifestName)); err != nil {
		parts = append(parts, err.Error())
	} else {
		parts = append(parts, plDescribeManifest(b))
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		parts = append(parts, err.Error())
	}
	for _, e := range es {
		if fi, err := e.Info(); err == nil && e.Name() != chunkmap.ManifestName {
			parts = append(parts, fmt.Sprintf("%s %d bytes", e.Name(), fi.Size()))
		}
	}
	return strings.Join(parts, "; ")
}

// TestPowerCut_SyncAfterShrink: a Sync after a Truncate or DropBefore must
// leave on disk, in the state page as in the record, the Start and Size it
// acknowledged. A file system that fails under a live machine (a device
// error, a disk pulled out) and is mounted again leaves a state page of
// this boot, which Open takes for the page of a crashed process and
// follows.
func TestPowerCut_SyncAfterShrink(t *testing.T) {
	for _, fs := range pcFileSystems {
		t.Run(fs.name, func(t *testing.T) {
			img, mnt := pcImage(t, fs)
			for _, c := range []struct {
				name       string
				size       int64 // appended, then synced
				shrink     func(*chunkmap.Manager) error
				start, end int64 // the dataset after the shrink
			}{
				{"Truncate within a chunk", 1000,
					func(m *chunkmap.Manager) error { return m.Truncate(100) }, 0, 100},
				{"Truncate deleting a chunk", 3 * pcChunk,
					func(m *chunkmap.Manager) error { return m.Truncate(pcChunk + pcChunk/2) }, 0, pcChunk + pcChunk/2},
				{"DropBefore", 3 * pcChunk,
					func(m *chunkmap.Manager) error { return m.DropBefore(2 * pcChunk) }, 2 * pcChunk, 3 * pcChunk},
			} {
				t.Run(c.name, func(t *testing.T) {
					pcMount(t, img, mnt)
					dir := filepath.Join(mnt, strings.ReplaceAll(c.name, " ", "_"))
					root, err := os.Open(mnt)
					if err != nil {
						t.Fatal(err)
					}
					m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: pcChunk})
					if err != nil {
						root.Close()
						t.Fatal(err)
					}
					pcCloseAtEnd(t, m, root)
					p := make([]byte, c.size)
					for i := range p {
						p[i] = plByte(1, int64(i))
					}
					if _, err := m.Append(p); err != nil {
						t.Fatal(err)
					}
					if err := m.Sync(); err != nil {
						t.Fatal(err)
					}
					if err := c.shrink(m); err != nil {
						t.Fatal(err)
					}
					if err := m.Sync(); err != nil {
						t.Fatal(err)
					}
					if err := pcCut(root); err != nil {
						t.Fatal(err)
					}
					m.Close() // fails: the file system is down
					root.Close()
					pcUnmount(t, mnt, "after the cut")

					pcMount(t, img, mnt)
					defer pcUnmount(t, mnt, "after the checks")
					reboot := vfstest.WithBootID(vfs.OS, "powercut-reboot")
					for _, o := range []struct {
						name     string
						readOnly bool
						fsys     vfs.FS
					}{
						{"read-only, same boot", true, nil},
						{"read-only, after a reboot", true, reboot},
						{"read-write, same boot", false, nil},
					} {
						opts := chunkmap.Options{ReadOnly: o.readOnly}
						if o.fsys != nil {
							chunkmap.SetFS(&opts, o.fsys)
						}
						m, err := chunkmap.Open(dir, &opts)
						if err != nil {
							t.Errorf("Open %s: %v\non disk: %s", o.name, err, pcDescribe(dir))
							continue
						}
						pcCloseAtEnd(t, m)
						if start, size := m.Start(), m.Size(); start != c.start || size != c.end {
							t.Errorf("Open %s: Start %d, Size %d; the last Sync acknowledged %d, %d\non disk: %s",
								o.name, start, size, c.start, c.end, pcDescribe(dir))
						} else {
							got := make([]byte, size-start)
							if _, err := m.ReadAt(got, start); err != nil {
								t.Errorf("Open %s: ReadAt: %v", o.name, err)
							} else if i := plFirstDiff(got, p[start:size]); i >= 0 {
								t.Errorf("Open %s: offset %d = %#02x, want %#02x", o.name, start+int64(i), got[i], p[start+int64(i)])
							}
						}
						if err := m.Close(); err != nil {
							t.Errorf("Close of the %s Manager: %v", o.name, err)
						}
					}
				})
			}
		})
	}
}
