package chunkmap_test

// Tests of the process's share of the system's mappings (mapBudget): every
// Manager holding an arena counts against it, on every way in and out, and
// Managers opened, used and closed by many goroutines under a tiny budget
// stay right.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

const shareChunk = chunkmap.MinChunkSize

// shareOpen opens dir with o, in chunks of shareChunk unless o says.
func shareOpen(t *testing.T, dir string, o chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	if o.ChunkSize == 0 {
		o.ChunkSize = shareChunk
	}
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// wantHeld checks what the Managers of the process hold against the
// budget (chunkmap.MapsHeld).
func wantHeld(t *testing.T, what string, want int64) {
	t.Helper()
	if got := chunkmap.MapsHeld(); got != want {
		t.Errorf("%s: MapsHeld = %d, want %d", what, got, want)
	}
}

// retiredHeld lets the garbage collector take the state pages of Managers
// closed before, which Open counts against the budget beside what MapsHeld
// returns, and returns what those left count for in the budget's units (two
// pages a unit): none, unless a closed Manager is still reachable. A test
// adds it to a budget it sets from MapsHeld, so that its own Managers open.
func retiredHeld() int64 {
	for range 200 {
		if chunkmap.RetiredPages() == 0 {
			return 0
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // the cleanups run on a goroutine of the runtime
	}
	return (chunkmap.RetiredPages() + 1) / 2
}

// TestMapShare_BalancedPaths: every way in and out of a Manager gives back
// what it counted.
func TestMapShare_BalancedPaths(t *testing.T) {
	start := chunkmap.MapsHeld()
	root := t.TempDir()

	// Plain open/write/close, close twice.
	d := filepath.Join(root, "a")
	m := shareOpen(t, d, chunkmap.Options{NoAdmission: true})
	if _, err := m.WriteAt(chunkPattern(0, 3*shareChunk), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); !errors.Is(err, chunkmap.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	wantHeld(t, "after open/close/close", start)

	// Close with a pin held, then release.
	m = shareOpen(t, d, chunkmap.Options{NoAdmission: true})
	p, err := m.Pin(shareChunk+10, 100)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := m.PinWritable(2*shareChunk-50, 100) // across two chunks: a private view
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if chunkmap.MapsHeld() == start {
		t.Errorf("pins held after Close count nothing")
	}
	p.Release()
	pw.Release()
	wantHeld(t, "after Close with pins, then Release", start)

	// Close from inside a Batch, and from outside while another goroutine's
	// batch is open.
	m = shareOpen(t, d, chunkmap.Options{NoAdmission: true})
	err = m.Batch(func(b *chunkmap.Batch) error {
		if _, err := b.Bytes(0, 10); err != nil {
			return err
		}
		if _, err := b.WritableBytes(shareChunk-5, 10); err != nil {
			return err
		}
		return m.Close()
	})
	if !errors.Is(err, chunkmap.ErrBusy) {
		t.Errorf("Close inside Batch = %v, want ErrBusy", err)
	}
	wantHeld(t, "after Close inside Batch", start)

	m = shareOpen(t, d, chunkmap.Options{NoAdmission: true})
	in, out := make(chan struct{}), make(chan struct{})
	go func() {
		m.Batch(func(b *chunkmap.Batch) error {
			b.Hold(0, 3*shareChunk)
			close(in)
			<-out
			return nil
		})
		close(out)
	}()
	<-in
	if err := m.Close(); !errors.Is(err, chunkmap.ErrBusy) {
		t.Errorf("Close beside a batch = %v", err)
	}
	out <- struct{}{}
	<-out
	wantHeld(t, "after Close beside a batch", start)

	// Scratch.
	s := shareOpen(t, filepath.Join(root, "s"), chunkmap.Options{Scratch: true})
	s.WriteAt(chunkPattern(0, 2*shareChunk), 0)
	if chunkmap.MapsHeld() <= start {
		t.Errorf("Scratch counts nothing")
	}
	s.Close()
	s.Close()
	wantHeld(t, "after Scratch", start)

	// ReadOnly beside a writer, and after it.
	w := shareOpen(t, d, chunkmap.Options{})
	r := shareOpen(t, d, chunkmap.Options{ReadOnly: true})
	buf := make([]byte, 100)
	if _, err := r.ReadAt(buf, shareChunk); err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()
	r = shareOpen(t, d, chunkmap.Options{ReadOnly: true})
	r.ReadAt(buf, 0)
	r.Close()
	wantHeld(t, "after ReadOnly", start)

	// Open failures.
	bad := filepath.Join(root, "bad")
	m = shareOpen(t, bad, chunkmap.Options{})
	m.WriteAt(chunkPattern(0, 3*shareChunk), 0)
	m.Close()
	orig, _ := os.ReadFile(filepath.Join(bad, chunkmap.ManifestName))
	for _, name := range []string{"manifest short", "manifest garbage", "state page garbage", "chunk missing", "chunk short"} {
		dir := filepath.Join(root, "bad-"+name)
		copyDir(t, bad, dir)
		applyOn(t, dir, name, orig)
		for _, ro := range []bool{false, true} {
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: shareChunk, ReadOnly: ro})
			if err == nil {
				t.Logf("%s (ReadOnly %v): opened", name, ro)
				m.Close()
			} else {
				t.Logf("%s (ReadOnly %v): %v", name, ro, err)
			}
			wantHeld(t, "after Open of "+name, start)
		}
	}

	// A refused Open: the budget is set, once one more Manager is open,
	// to where the next one would take the Managers past three quarters
	// of four budgets (what other tests left held counts too).
	m1, err := chunkmap.Open(filepath.Join(root, "r1"), &chunkmap.Options{ChunkSize: shareChunk})
	if err != nil {
		t.Fatal(err)
	}
	restore := chunkmap.SetMapBudget((2*(chunkmap.MapsHeld()+retiredHeld()+1) - 1) / 3)
	_, err2 := chunkmap.Open(filepath.Join(root, "r2"), &chunkmap.Options{ChunkSize: shareChunk})
	restore()
	if err2 == nil || !errors.Is(err2, chunkmap.ErrIO) || !errors.Is(err2, syscall.ENOMEM) {
		t.Errorf("second Open = %v, want ErrIO/ENOMEM", err2)
	}
	m1.Close()
	wantHeld(t, "after refused Open", start)
}

// shareChunkName returns the name of the i-th chunk file in dir.
func shareChunkName(t *testing.T, dir string, i int) string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		if e.Name() != chunkmap.ManifestName && e.Type().IsRegular() && e.Name()[0] != '.' && e.Name() != "LOCK" {
			names = append(names, e.Name())
		}
	}
	if i >= len(names) {
		t.Fatalf("no chunk %d in %v", i, names)
	}
	return names[i]
}

// applyOn damages the dataset in dir as the case name says; orig is its
// manifest.
func applyOn(t *testing.T, dir, name string, orig []byte) {
	mf := filepath.Join(dir, chunkmap.ManifestName)
	switch name {
	case "manifest short":
		os.WriteFile(mf, orig[:100], 0o644)
	case "manifest garbage":
		b := bytes.Clone(orig)
		for i := range 64 {
			b[i] ^= 0xff
		}
		os.WriteFile(mf, b, 0o644)
	case "state page garbage":
		b := bytes.Clone(orig)
		for i := len(b) - 512; i < len(b); i++ {
			b[i] = 0xff
		}
		os.WriteFile(mf, b, 0o644)
	case "chunk missing":
		os.Remove(filepath.Join(dir, shareChunkName(t, dir, 1)))
	case "chunk short":
		os.Truncate(filepath.Join(dir, shareChunkName(t, dir, 0)), 100)
	}
}

// TestMapShare_CloseRace: Close racing every other call leaves the count
// balanced.
func TestMapShare_CloseRace(t *testing.T) {
	start := chunkmap.MapsHeld()
	root := t.TempDir()
	for round := range 30 {
		m := shareOpen(t, filepath.Join(root, fmt.Sprint(round%3)), chunkmap.Options{NoAdmission: round%2 == 0, MaxMapped: 2})
		m.WriteAt(chunkPattern(0, 6*shareChunk), 0)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var pins []*chunkmap.Pinned
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(g)))
				buf := make([]byte, 200)
				for range 200 {
					off := rng.Int64N(6*shareChunk - 200)
					switch rng.IntN(7) {
					case 0:
						m.ReadAt(buf, off)
					case 1:
						m.WriteAt(chunkPattern(off, 200), off)
					case 2:
						if p, err := m.Pin(off, 200); err == nil {
							mu.Lock()
							pins = append(pins, p)
							mu.Unlock()
						}
					case 3:
						m.Batch(func(b *chunkmap.Batch) error {
							b.Bytes(off, 200)
							b.WritableBytes(rng.Int64N(6*shareChunk-200), 200)
							return nil
						})
					case 4:
						m.AddUint64(off&^7, 0)
					case 5:
						m.Gather(buf[:8], []int64{off, rng.Int64N(6 * shareChunk)}, 4)
					case 6:
						if g == 0 {
							m.Close()
						}
					}
				}
			}()
		}
		wg.Wait()
		m.Close()
		for _, p := range pins {
			p.Release()
		}
	}
	wantHeld(t, "after Close races", start)
}

// TestMapShare_Storm: many goroutines open, use and close Managers under a
// tiny budget, each against its model.
func TestMapShare_Storm(t *testing.T) {
	start := chunkmap.MapsHeld()
	restore := chunkmap.SetMapBudget(start + retiredHeld() + 3)
	defer restore()
	root := t.TempDir()
	const workers = 10
	deadline := time.Now().Add(stormFor(8 * time.Second))
	if testing.Short() {
		deadline = time.Now().Add(3 * time.Second)
	}
	var wg sync.WaitGroup
	var refusals, opens, overOps [workers]int
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 77))
			dir := filepath.Join(root, fmt.Sprint(w))
			var model []byte // from offset 0; bytes below startOff are gone
			var startOff int64
			fail := func(f string, a ...any) {
				errs <- fmt.Errorf("worker %d: "+f, append([]any{w}, a...)...)
			}
			for time.Now().Before(deadline) {
				o := &chunkmap.Options{ChunkSize: shareChunk, NoAdmission: rng.IntN(2) == 0, MaxMapped: 1 + rng.IntN(4)}
				m, err := chunkmap.Open(dir, o)
				if err != nil {
					if errors.Is(err, chunkmap.ErrIO) && errors.Is(err, syscall.ENOMEM) {
						refusals[w]++
						time.Sleep(time.Millisecond)
						continue
					}
					fail("Open: %v", err)
					return
				}
				opens[w]++
				// the whole content first
				if sz := m.Size(); sz != int64(len(model)) || m.Start() != startOff {
					fail("reopen: size %d start %d, model %d %d", sz, m.Start(), len(model), startOff)
					m.Close()
					return
				}
				if len(model) > int(startOff) {
					got := make([]byte, int64(len(model))-startOff)
					if _, err := m.ReadAt(got, startOff); err != nil || !bytes.Equal(got, model[startOff:]) {
						fail("reopen: ReadAt whole = %v, equal %v", err, bytes.Equal(got, model[startOff:]))
						m.Close()
						return
					}
				}
				for range 20 + rng.IntN(60) {
					if chunkmap.MapsHeld() >= start+3 {
						overOps[w]++
					}
					size := int64(len(model))
					rnd := func(n int64) int64 {
						if size-startOff-n <= 0 {
							return -1
						}
						return startOff + rng.Int64N(size-startOff-n)
					}
					switch op := rng.IntN(12); op {
					case 0, 1: // WriteAt, maybe past size
						n := 1 + rng.Int64N(2*shareChunk)
						off := startOff + rng.Int64N(max(1, size-startOff+shareChunk))
						if size > 6*shareChunk {
							off = startOff + rng.Int64N(max(1, size-startOff-n))
						}
						p := make([]byte, n)
						for i := range p {
							p[i] = byte(rng.Uint32())
						}
						if _, err := m.WriteAt(p, off); err != nil {
							fail("WriteAt(%d, %d): %v", n, off, err)
							m.Close()
							return
						}
						if off+n > int64(len(model)) {
							model = append(model, make([]byte, off+n-int64(len(model)))...)
						}
						copy(model[off:], p)
					case 2: // Append
						p := make([]byte, 1+rng.IntN(int(shareChunk)))
						for i := range p {
							p[i] = byte(rng.Uint32())
						}
						at, err := m.Append(p)
						if err != nil || at != size {
							fail("Append at %d: %d, %v", size, at, err)
							m.Close()
							return
						}
						model = append(model, p...)
					case 3, 4: // ReadAt
						n := 1 + rng.Int64N(2*shareChunk)
						off := rnd(n)
						if off < 0 {
							continue
						}
						got := make([]byte, n)
						if _, err := m.ReadAt(got, off); err != nil || !bytes.Equal(got, model[off:off+n]) {
							fail("ReadAt(%d, %d) = %v, equal %v", n, off, err, err == nil && bytes.Equal(got, model[off:off+n]))
							m.Close()
							return
						}
					case 5: // Pin
						off := rnd(300)
						if off < 0 {
							continue
						}
						p, err := m.Pin(off, 300)
						if err != nil || !bytes.Equal(p.Bytes(), model[off:off+300]) {
							fail("Pin(%d) = %v", off, err)
							m.Close()
							return
						}
						p.Release()
						pw, err := m.PinWritable(off, 8)
						if err != nil {
							fail("PinWritable: %v", err)
							m.Close()
							return
						}
						copy(pw.Bytes(), "pinnedXX")
						copy(model[off:], "pinnedXX")
						pw.Release()
					case 6: // Batch
						o1, o2 := rnd(100), rnd(100)
						if o1 < 0 {
							continue
						}
						err := m.Batch(func(b *chunkmap.Batch) error {
							r, err := b.Bytes(o1, 100)
							if err != nil {
								return err
							}
							if !bytes.Equal(r, model[o1:o1+100]) {
								return fmt.Errorf("batch bytes at %d wrong", o1)
							}
							wb, err := b.WritableBytes(o2, 100)
							if err != nil {
								return err
							}
							for i := range wb {
								wb[i] = byte(i + 3)
							}
							return nil
						})
						if err != nil {
							fail("Batch: %v", err)
							m.Close()
							return
						}
						for i := range 100 {
							model[o2+int64(i)] = byte(i + 3)
						}
					case 7: // Gather
						if rnd(8) < 0 {
							continue
						}
						offs := make([]int64, 20)
						for i := range offs {
							offs[i] = rnd(8)
						}
						dst := make([]byte, 8*len(offs))
						if err := m.Gather(dst, offs, 8); err != nil {
							fail("Gather: %v", err)
							m.Close()
							return
						}
						for i, off := range offs {
							if !bytes.Equal(dst[8*i:8*i+8], model[off:off+8]) {
								fail("Gather at %d wrong", off)
								m.Close()
								return
							}
						}
					case 8: // atomics
						off := rnd(8)
						if off < 0 {
							continue
						}
						off &^= 7
						if off < startOff {
							continue
						}
						if _, err := m.AddUint64(off, 1); err != nil {
							fail("AddUint64: %v", err)
							m.Close()
							return
						}
						// AddUint64 adds in the machine's byte order.
						binary.NativeEndian.PutUint64(model[off:], binary.NativeEndian.Uint64(model[off:])+1)
					case 9: // Truncate
						if size-startOff < 2*shareChunk {
							continue
						}
						ns := startOff + rng.Int64N(size-startOff)
						if err := m.Truncate(ns); err != nil {
							fail("Truncate(%d): %v", ns, err)
							m.Close()
							return
						}
						model = model[:ns]
					case 10: // DropBefore
						if size-startOff < 8*shareChunk {
							continue
						}
						off := startOff + rng.Int64N(size-startOff)
						if err := m.DropBefore(off); err != nil {
							fail("DropBefore(%d): %v", off, err)
							m.Close()
							return
						}
						startOff = max(startOff, off&^(shareChunk-1))
					case 11:
						if err := m.Sync(); err != nil {
							fail("Sync: %v", err)
						}
					}
				}
				if err := m.Close(); err != nil {
					fail("Close: %v", err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline) + 60*time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("deadlock? stacks:\n%s", buf[:runtime.Stack(buf, true)])
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("opens %v refusals %v overOps %v", opens, refusals, overOps)
	wantHeld(t, "after storm", start)
}

// TestMapShare_ClosedManagersCount: each closed Manager keeps its state page,
// a mapping of its own, until the garbage collector finds it unreachable.
// A program that keeps closed Managers reachable, or whose collector seldom
// runs, and opens and closes Managers in a loop, piled them up past the
// system's limit of mappings, and its runtime died at its next mapping.
// They now count against the chunks' share, so that an open Manager maps
// fewer chunks beside them (reading right all the same), and Open refuses
// a Manager with ErrIO matching ENOMEM, naming them, before the Managers
// hold more than three quarters of the mappings. Once the closed Managers
// are collected, Open succeeds again.
func TestMapShare_ClosedManagersCount(t *testing.T) {
	start := chunkmap.MapsHeld() + retiredHeld()
	budget := start + 8
	restore := chunkmap.SetMapBudget(budget)
	defer restore()
	root := t.TempDir()
	var closed []*chunkmap.Manager // kept reachable
	openClose := func(i int) error {
		m, err := chunkmap.Open(filepath.Join(root, fmt.Sprint(i%4)), &chunkmap.Options{ChunkSize: shareChunk})
		if err != nil {
			return err
		}
		if _, err := m.WriteAt([]byte("x"), 0); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		closed = append(closed, m)
		return nil
	}
	// Pages for 8 chunks: the share, with what the process held before.
	for i := range 16 {
		if err := openClose(i); err != nil {
			t.Fatalf("Open %d, with %d state pages waiting: %v", i, chunkmap.RetiredPages(), err)
		}
	}
	m, err := chunkmap.Open(filepath.Join(root, "open"), &chunkmap.Options{ChunkSize: shareChunk, NoAdmission: true, MaxMapped: 64})
	if err != nil {
		t.Fatal(err)
	}
	model := chunkPattern(0, 8*shareChunk)
	if _, err := m.WriteAt(model, 0); err != nil {
		t.Fatal(err)
	}
	for i := range int64(8) {
		got := make([]byte, shareChunk)
		if _, err := m.ReadAt(got, i*shareChunk); err != nil || !bytes.Equal(got, model[i*shareChunk:(i+1)*shareChunk]) {
			t.Fatalf("ReadAt of chunk %d = %v, or wrong bytes", i, err)
		}
	}
	if got := m.Stats().Mapped; got > 1 {
		t.Errorf("with %d state pages of closed Managers waiting (%d chunks' worth) against a share of %d with %d held, an open Manager mapped %d chunks, want at most its first", chunkmap.RetiredPages(), (chunkmap.RetiredPages()+1)/2, budget, chunkmap.MapsHeld(), got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	closed = append(closed, m)
	var refused error
	for i := range int(20 * budget) {
		if refused = openClose(i); refused != nil {
			break
		}
	}
	switch {
	case refused == nil:
		t.Fatalf("%d Managers opened and closed, kept reachable (%d state pages retired) under a budget of %d: Open never refused one", len(closed), chunkmap.RetiredPages(), budget)
	case !errors.Is(refused, chunkmap.ErrIO) || !errors.Is(refused, syscall.ENOMEM) || !strings.Contains(refused.Error(), "closed Managers"):
		t.Fatalf("Open after %d Managers closed: %v, want ErrIO matching ENOMEM, naming the closed Managers", len(closed), refused)
	}
	if held := 2*(chunkmap.MapsHeld()+1) + chunkmap.RetiredPages(); held <= 3*budget {
		t.Errorf("Open refused with %d mappings counted, within three quarters of %d", held, 4*budget)
	}
	t.Logf("refused after %d: %v", len(closed), refused)

	closed = nil
	for try := 0; ; try++ {
		runtime.GC()
		m, err := chunkmap.Open(filepath.Join(root, "again"), &chunkmap.Options{ChunkSize: shareChunk})
		if err == nil {
			m.Close()
			break
		}
		if try == 1000 {
			t.Fatalf("Open after the closed Managers were dropped and %d collections: %v", try+1, err)
		}
		runtime.Gosched() // the cleanups that unmap the pages run on a goroutine of the runtime
	}
}
