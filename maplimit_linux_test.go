package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/arena"
	"golang.org/x/sys/unix"
)

// mapLimitChunk is the chunk size of these tests.
const mapLimitChunk = chunkmap.MinChunkSize

// chunkPattern returns n bytes of chunks' content from offset off: each
// byte says its offset, so a byte read from the wrong chunk or place shows.
func chunkPattern(off, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		o := off + int64(i)
		b[i] = byte(o>>16) ^ byte(o*7)
	}
	return b
}

// openPattern opens a Manager of chunks of mapLimitChunk bytes in dir, with
// maxMapped and admission off, and appends n chunks of chunkPattern, which
// it returns as the model.
func openPattern(t *testing.T, dir string, n int64, maxMapped int) (*chunkmap.Manager, []byte) {
	t.Helper()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: mapLimitChunk, MaxMapped: maxMapped, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	model := chunkPattern(0, n*mapLimitChunk)
	if _, err := m.Append(model); err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, model
}

// loseSlotZero runs evict, which must evict the chunk in arena slot 0,
// with the kernel refusing to reserve that slot again and another mapping
// (one page, holding 'F') taking its range meanwhile, so that the slot is
// lost; it returns that mapping, which the test's cleanup unmaps.
func loseSlotZero(t *testing.T, evict func()) unsafe.Pointer {
	t.Helper()
	page := os.Getpagesize()
	var foreign unsafe.Pointer
	t.Cleanup(func() {
		arena.SetLimitHooks(nil, nil, nil)
		if foreign != nil {
			unix.MunmapPtr(foreign, uintptr(page))
		}
	})
	arena.SetLimitHooks(nil, func(k int) bool { return k == 0 }, func(p unsafe.Pointer, n uintptr) {
		q, err := unix.MmapPtr(-1, 0, p, uintptr(page), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED_NOREPLACE)
		if err == nil && q == p {
			foreign = q
			*(*byte)(q) = 'F'
		}
	})
	evict()
	arena.SetLimitHooks(nil, nil, nil)
	if foreign == nil {
		t.Fatal("slot 0 was not lost")
	}
	return foreign
}

// modelReader returns a function that checks the 8 bytes m reads at an
// offset against model.
func modelReader(t *testing.T, m *chunkmap.Manager, model []byte) func(off int64) {
	buf := make([]byte, 8)
	return func(off int64) {
		t.Helper()
		if _, err := m.ReadAt(buf, off); err != nil || !bytes.Equal(buf, model[off:off+8]) {
			t.Fatalf("ReadAt(%d) = %x, %v; want %x", off, buf, err, model[off:off+8])
		}
	}
}

// pinUntilRefused pins the first 8 bytes of each of m's chunks from the
// first, holding every pin, until a Pin fails or n are held; it releases
// them all and returns how many it held and the error that stopped it.
func pinUntilRefused(m *chunkmap.Manager, n int64) (int, error) {
	var pins []*chunkmap.Pinned
	var refusal error
	for c := int64(0); c < n; c++ {
		p, err := m.Pin(c*mapLimitChunk, 8)
		if err != nil {
			refusal = err
			break
		}
		pins = append(pins, p)
	}
	for _, p := range pins {
		p.Release()
	}
	return len(pins), refusal
}

// wantRefusal checks that err, of the call what, is a mapping the system
// refused: ErrIO, matching ENOMEM, naming vm.max_map_count and the bound
// now in force.
func wantRefusal(t *testing.T, what string, err error, bound int) {
	t.Helper()
	if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.ENOMEM) ||
		!strings.Contains(err.Error(), "vm.max_map_count") || !strings.Contains(err.Error(), fmt.Sprintf("MaxMapped is now %d", bound)) {
		t.Errorf("%s with mappings refused = %v; want ErrIO naming ENOMEM, vm.max_map_count and MaxMapped %d", what, err, bound)
	}
}

// wantReopened checks that the dataset in dir, opened anew, holds model.
func wantReopened(t *testing.T, dir string, model []byte) {
	t.Helper()
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, len(model))
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, model) {
		t.Fatalf("reopened dataset differs from the model (%v)", err)
	}
}

// TestMapLimit_LostSlot checks a Manager whose arena loses a slot: evicting
// the chunk there meets the kernel's refusal (more mappings than
// vm.max_map_count), the slot is emptied by munmap, and another mapping
// takes its range before the reservation is back. The chunks of that slot
// must then be served without it (pread, private views) by every call, and
// nothing the Manager does, Close included, may touch the other mapping.
func TestMapLimit_LostSlot(t *testing.T) {
	const cs, n = mapLimitChunk, 6
	// Close gives the arena back at once, so that the check after it
	// sees the lost slot's range left alone.
	defer chunkmap.SetReleaseAtClose(true)()
	dir := t.TempDir()
	m, model := openPattern(t, dir, n, 2)
	defer m.Close()
	read := modelReader(t, m, model)
	read(0) // chunk 0, slot 0
	read(cs)
	// Mapping chunk 2 evicts chunk 0, whose slot the kernel refuses to
	// reserve again, and whose range another mapping takes.
	foreign := loseSlotZero(t, func() { read(2 * cs) })

	// Every call reaches chunk 0 all the same.
	for _, off := range []int64{0, 100, cs - 8} {
		read(off)
	}
	w := []byte("rewrite!")
	if _, err := m.WriteAt(w, 200); err != nil {
		t.Fatal(err)
	}
	copy(model[200:], w)
	read(200)
	p, err := m.PinWritable(cs-300, 600) // across chunks 0 and 1
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Bytes(), model[cs-300:cs+300]) {
		t.Error("pin across the lost slot's chunk and the next reads wrong bytes")
	}
	copy(p.Bytes()[:4], "pin!")
	copy(model[cs-300:], "pin!")
	p.Release()
	err = m.Batch(func(b *chunkmap.Batch) error {
		for _, off := range []int64{8, cs / 2, cs - 300} {
			q, err := b.Bytes(off, 8)
			if err != nil {
				return err
			}
			if !bytes.Equal(q, model[off:off+8]) {
				return fmt.Errorf("batch at %d read %x, want %x", off, q, model[off:off+8])
			}
		}
		q, err := b.WritableBytes(16, 4)
		if err != nil {
			return err
		}
		copy(q, "btch")
		copy(model[16:], "btch")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	// A lost slot's chunk is pinned in a private view, which the system
	// may refuse too: the Manager gives back its chunks and says why.
	arena.SetLimitHooks(func(int) bool { return true }, nil, nil)
	_, err = m.Pin(100, 8)
	arena.SetLimitHooks(nil, nil, nil)
	wantRefusal(t, "Pin of the lost slot's chunk", err, 1)
	if st := m.Stats(); st.Mapped != 0 {
		t.Errorf("after a refused view: %d chunks mapped, want every unheld one given back", st.Mapped)
	}
	read(cs + 8)
	if *(*byte)(foreign) != 'F' {
		t.Fatal("the Manager wrote into the mapping that took its lost slot")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if *(*byte)(foreign) != 'F' {
		t.Fatal("the mapping in the lost slot changed after Close")
	}
	wantReopened(t, dir, model)
}

// TestMapLimit_LostSlotEvictsNothing checks that a miss on a lost slot's
// chunk, which pread serves, evicts no mapped chunk to make room it will
// not use: reads cycling over that chunk and two mapped ones, with
// MaxMapped 2, evict nothing.
func TestMapLimit_LostSlotEvictsNothing(t *testing.T) {
	const cs = mapLimitChunk
	m, model := openPattern(t, t.TempDir(), 4, 2)
	defer m.Close()
	read := modelReader(t, m, model)
	read(0)
	read(cs)
	loseSlotZero(t, func() { read(2 * cs) }) // evicts chunk 0
	read(cs)
	before := m.Stats()
	for range 10 {
		for _, c := range []int64{0, 1, 2} {
			read(c * cs)
		}
	}
	if d := m.Stats().Evictions - before.Evictions; d != 0 {
		t.Errorf("reads of a lost slot's chunk beside 2 mapped chunks evicted %d times, want 0", d)
	}
}

// TestMapLimit_Unmappable checks a Manager whose every mapping the system
// refuses (as over its limit of mappings): ReadAt and WriteAt go on by
// pread and pwrite, the chunks mapped before are given back, Pin and Batch
// fail with ErrIO naming ENOMEM, the cause and the bound now in force, and
// once mappings are to be had again every call works as before.
func TestMapLimit_Unmappable(t *testing.T) {
	const cs, n = mapLimitChunk, 8
	dir := t.TempDir()
	m, model := openPattern(t, dir, n, 4)
	defer m.Close()
	buf := make([]byte, 8)
	for c := range int64(3) {
		if _, err := m.ReadAt(buf, c*cs); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { arena.SetLimitHooks(nil, nil, nil) })
	arena.SetLimitHooks(func(int) bool { return true }, nil, nil)
	for c := range int64(n) {
		off := c*cs + 40
		w := []byte{'u', byte(c)}
		if _, err := m.WriteAt(w, off); err != nil {
			t.Fatalf("WriteAt(%d) with mappings refused: %v", off, err)
		}
		copy(model[off:], w)
		for _, o := range []int64{off, c*cs + cs - 8} {
			if _, err := m.ReadAt(buf, o); err != nil || !bytes.Equal(buf, model[o:o+8]) {
				t.Fatalf("ReadAt(%d) with mappings refused = %x, %v; want %x", o, buf, err, model[o:o+8])
			}
		}
	}
	if st := m.Stats(); st.Mapped != 0 {
		t.Errorf("with mappings refused: %d chunks still mapped, want every unheld one given back", st.Mapped)
	}
	_, err := m.Pin(5*cs, 16)
	wantRefusal(t, "Pin", err, 1)
	wantRefusal(t, "Batch", m.Batch(func(b *chunkmap.Batch) error {
		_, err := b.Bytes(6*cs, 8)
		return err
	}), 1)

	arena.SetLimitHooks(nil, nil, nil)
	p, err := m.Pin(5*cs, 64)
	if err != nil {
		t.Fatalf("Pin once mappings are to be had: %v", err)
	}
	if !bytes.Equal(p.Bytes(), model[5*cs:5*cs+64]) {
		t.Error("Pin once mappings are to be had reads wrong bytes")
	}
	p.Release()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wantReopened(t, dir, model)
}

// TestMapLimit_Budget checks the share of the system's mappings the
// Managers of a process keep between them: with a budget of 8, two Managers
// whose MaxMapped allows 64 each stay within 9 mapped chunks together (the
// second maps its first chunk beyond the budget, having none to give back),
// and read right throughout.
func TestMapLimit_Budget(t *testing.T) {
	const cs, n, budget = mapLimitChunk, 24, 8
	// Over what other tests left held (Managers dropped unclosed).
	defer chunkmap.SetMapBudget(chunkmap.MapsHeld() + retiredHeld() + budget)()
	var ms [2]*chunkmap.Manager
	var models [2][]byte
	for i := range ms {
		m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 64, NoAdmission: true})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		models[i] = chunkPattern(int64(i)<<20, n*cs)
		if _, err := m.Append(models[i]); err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	buf := make([]byte, 8)
	for round := range 3 {
		for c := range int64(n) {
			for i, m := range ms {
				off := c*cs + int64(round)*100
				if _, err := m.ReadAt(buf, off); err != nil || !bytes.Equal(buf, models[i][off:off+8]) {
					t.Fatalf("Manager %d ReadAt(%d) = %x, %v", i, off, buf, err)
				}
				a, b := ms[0].Stats(), ms[1].Stats()
				if a.Mapped+b.Mapped > budget+1 {
					t.Fatalf("round %d, chunk %d: %d + %d chunks mapped, budget %d", round, c, a.Mapped, b.Mapped, budget)
				}
			}
		}
	}
	if a, b := ms[0].Stats(), ms[1].Stats(); a.Mapped == 0 || b.Mapped == 0 {
		t.Errorf("%d and %d chunks mapped; want some in each Manager", a.Mapped, b.Mapped)
	}
}

// TestMapLimit_Refused runs a process at its real limit of mappings
// (vm.max_map_count, reached by splitting an anonymous mapping into pages)
// in a child, and checks that a Manager there loses nothing and keeps the
// process alive: every ReadAt and WriteAt succeeds (by pread and pwrite
// where no mapping can be had), a Pin either succeeds or fails with ErrIO
// that names the cause and the fix, the Manager lowers its bound and gives
// mappings back, and once the process has mappings again every call works
// and the dataset reopens as written.
func TestMapLimit_Refused(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's own mappings need room that this test takes away")
	}
	if os.Getenv("CHUNKMAP_MAPLIMIT_CHILD") != "" {
		mapLimitChild(t, os.Getenv("CHUNKMAP_MAPLIMIT_DIR"))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMapLimit_Refused$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CHUNKMAP_MAPLIMIT_CHILD=1", "CHUNKMAP_MAPLIMIT_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("maplimit: done")) {
		if i := bytes.Index(out, []byte("fatal error")); i >= 0 {
			out = out[max(0, i-500):min(len(out), i+3000)]
		}
		t.Fatalf("child at the limit of mappings: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "maplimit:") {
			t.Log(l)
		}
	}
}

// mapLimitChild is TestMapLimit_Refused's child.
func mapLimitChild(t *testing.T, dir string) {
	const cs, n = mapLimitChunk, 800
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4096, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	model := chunkPattern(0, n*cs)
	if _, err := m.Append(model); err != nil {
		t.Fatal(err)
	}
	// Grow the heap first, stop the collector and the memory profiler
	// (whose records the runtime maps apart from the heap), so that the
	// runtime maps nothing more while the process is at its limit: a Go
	// program whose runtime cannot map memory dies, whatever the library
	// does.
	runtime.MemProfileRate = 0
	ballast := make([][]byte, 64)
	for i := range ballast {
		ballast[i] = make([]byte, 4<<20)
	}
	runtime.KeepAlive(ballast)
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// Take all but 300 of the process's mappings: every other page of one
	// anonymous mapping made readable is a mapping of its own.
	limitb, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err != nil {
		t.Skip(err)
	}
	var limit int
	fmt.Sscan(string(limitb), &limit)
	maps, _ := os.ReadFile("/proc/self/maps")
	take := limit - bytes.Count(maps, []byte("\n")) - 300
	page := os.Getpagesize()
	region, err := unix.Mmap(-1, 0, 2*take*page, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	for i := range take / 2 {
		if err := unix.Mprotect(region[2*i*page:2*i*page+page], unix.PROT_READ); err != nil {
			t.Fatalf("taking mapping %d of %d: %v", i, take/2, err)
		}
	}
	buf := make([]byte, 16)
	pinErrs := 0
	for round := range 2 {
		for c := range int64(n) {
			off := c*cs + cs - 8 - int64(round)*8
			if _, err := m.ReadAt(buf[:8], off); err != nil || !bytes.Equal(buf[:8], model[off:off+8]) {
				t.Fatalf("at the limit: ReadAt(%d) = %x, %v", off, buf[:8], err)
			}
			w := []byte{byte(c), byte(round), 'w'}
			if _, err := m.WriteAt(w, off); err != nil {
				t.Fatalf("at the limit: WriteAt(%d): %v", off, err)
			}
			copy(model[off:], w)
			if c%50 == 0 {
				p, err := m.Pin(c*cs, 64)
				switch {
				case err == nil:
					if !bytes.Equal(p.Bytes(), model[c*cs:c*cs+64]) {
						t.Fatalf("at the limit: Pin(%d) reads wrong bytes", c*cs)
					}
					p.Release()
				case errors.Is(err, chunkmap.ErrIO) && errors.Is(err, syscall.ENOMEM) && strings.Contains(err.Error(), "vm.max_map_count"):
					pinErrs++
				default:
					t.Fatalf("at the limit: Pin(%d) = %v; want success, or ErrIO naming ENOMEM and vm.max_map_count", c*cs, err)
				}
			}
		}
	}
	// 300 spare mappings cannot hold all n chunks: only a Manager that
	// gave mappings back and lowered its bound got this far.
	st := m.Stats()
	if st.Mapped >= n || st.Evictions == 0 {
		t.Errorf("at the limit: Stats %+v; want fewer than %d chunks mapped, and evictions", st, n)
	}
	fmt.Printf("maplimit: at the limit: %d pins refused of %d, Stats %+v\n", pinErrs, 2*n/50, st)
	// Pins hold their chunks, and held chunks cannot be given back: pin
	// chunks until a Pin is refused, which must say why and what to do.
	// The process is then at its limit with nothing the Manager may give
	// back, where any allocation of the runtime's may need a mapping and
	// kill it: the pins go at once.
	pinned, refusal := pinUntilRefused(m, n)
	if !errors.Is(refusal, chunkmap.ErrIO) || !errors.Is(refusal, syscall.ENOMEM) ||
		!strings.Contains(refusal.Error(), "vm.max_map_count") || !strings.Contains(refusal.Error(), "MaxMapped is now") {
		t.Fatalf("at the limit with every mapped chunk pinned: after %d pins, Pin = %v; want ErrIO naming ENOMEM, vm.max_map_count and the bound", pinned, refusal)
	}
	fmt.Printf("maplimit: refused after %d pins: %v\n", pinned, refusal)
	if err := unix.Munmap(region); err != nil {
		t.Fatal(err)
	}
	for c := int64(0); c < n; c += 37 {
		p, err := m.Pin(c*cs, 64)
		if err != nil {
			t.Fatalf("with mappings to spare again: Pin(%d): %v", c*cs, err)
		}
		if !bytes.Equal(p.Bytes(), model[c*cs:c*cs+64]) {
			t.Fatalf("with mappings to spare again: Pin(%d) reads wrong bytes", c*cs)
		}
		p.Release()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wantReopened(t, dir, model)
	fmt.Println("maplimit: done")
}

// TestMapLimit_ManyManagers checks how many Managers share the system's
// mappings: each open one counts as a chunk mapping against the budget
// (its arena and state page take as many), so chunks give way to Managers
// (one over the budget with no chunk of its own to unmap serves ReadAt and
// WriteAt by pread and pwrite, and reads right), and Open refuses a Manager
// with ErrIO matching ENOMEM and naming vm.max_map_count once the Managers
// would hold more than three quarters of the system's mappings (about four
// budgets). Before, every Manager mapped its chunk all the same, and past
// the system's limit the process died at its runtime's next mapping.
func TestMapLimit_ManyManagers(t *testing.T) {
	const cs = mapLimitChunk
	// Over what other tests left held (Managers dropped unclosed), which
	// counts as the Managers here do.
	base := chunkmap.MapsHeld() + retiredHeld()
	budget := base + 8
	defer chunkmap.SetMapBudget(budget)()
	root := t.TempDir()
	var ms []*chunkmap.Manager
	var models [][]byte
	defer func() {
		for _, m := range ms {
			m.Close()
		}
	}()
	mapped := func() (n int64) {
		for _, m := range ms {
			n += int64(m.Stats().Mapped)
		}
		return n
	}
	var refused error
	var refusedDir string
	for i := range int(4 * budget) {
		dir := fmt.Sprintf("%s/%d", root, i)
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, NoAdmission: true})
		if err != nil {
			refused, refusedDir = err, dir
			break
		}
		ms = append(ms, m)
		models = append(models, chunkPattern(int64(i)<<20, 2*cs))
		if _, err := m.WriteAt(models[i], 0); err != nil {
			t.Fatalf("WriteAt of Manager %d: %v", i, err)
		}
		for j, m := range ms {
			buf := make([]byte, 64)
			off := int64(cs + 100*j)
			if _, err := m.ReadAt(buf, off); err != nil || !bytes.Equal(buf, models[j][off:off+64]) {
				t.Fatalf("with %d Managers open, ReadAt of Manager %d = %v, or wrong bytes", i+1, j, err)
			}
		}
		// Open refuses a Manager before the Managers hold more than
		// three quarters of four budgets.
		if got := chunkmap.MapsHeld(); got > 3*budget/2+1 {
			t.Fatalf("%d Managers open hold %d chunks mapped: %d held against a budget of %d", len(ms), mapped(), got, budget)
		}
	}
	if refused == nil || len(ms) == 0 {
		t.Fatalf("%d Managers opened under a budget of %d chunk mappings (%d held before), then %v", len(ms), budget, base, refused)
	}
	if !errors.Is(refused, chunkmap.ErrIO) || !errors.Is(refused, syscall.ENOMEM) || !strings.Contains(refused.Error(), "vm.max_map_count") {
		t.Fatalf("Open over the share of mappings = %v; want ErrIO, ENOMEM, naming vm.max_map_count", refused)
	}
	if _, err := os.Stat(refusedDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused Open left %s behind (stat: %v)", refusedDir, err)
	}
	if got := ms[len(ms)-1].Stats().Mapped; got != 0 {
		t.Errorf("the last Manager opened, over the budget, mapped %d chunks", got)
	}
	t.Logf("%d Managers opened, %d chunks mapped; then: %v", len(ms), mapped(), refused)

	// Closing Managers makes room for another.
	for _, m := range ms[:len(ms)/2] {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ms = ms[len(ms)/2:]
	m, err := chunkmap.Open(fmt.Sprintf("%s/again", root), &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatalf("Open once half the Managers closed: %v", err)
	}
	ms = append(ms, m)
}
