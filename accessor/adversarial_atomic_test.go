package accessor_test

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestAdversarialAtomicsRefuse proves that every atomic refuses an
// unaligned offset with ErrUnaligned, a word past Size (also one ending
// exactly past it), below Start, negative or near math.MaxInt64 with
// ErrOutOfRange (or ErrUnaligned where the offset is also unaligned), that
// none of them extends Size or changes a byte, and that each error names
// the offset.
func TestAdversarialAtomicsRefuse(t *testing.T) {
	dir := t.TempDir()
	m := advOpen(t, dir, nil)
	va := accessor.New(m, nil)
	md := &advModel{}
	p := make([]byte, 3*advCS+4) // Size ends on a 4-byte word, not an 8-byte one
	for i := range p {
		p[i] = byte(i * 3)
	}
	m.WriteAt(p, 0)
	md.put(0, p)
	if err := m.DropBefore(advCS); err != nil {
		t.Fatal(err)
	}
	size := m.Size()
	type op struct {
		name string
		w    int64
		f    func(off int64) error
	}
	ops := []op{
		{"LoadUint32", 4, func(off int64) error { _, err := va.LoadUint32(off); return err }},
		{"StoreUint32", 4, func(off int64) error { return va.StoreUint32(off, 0xffffffff) }},
		{"AddUint32", 4, func(off int64) error { _, err := va.AddUint32(off, 1); return err }},
		{"CompareAndSwapUint32", 4, func(off int64) error { _, err := va.CompareAndSwapUint32(off, 0, 1); return err }},
		{"LoadUint64", 8, func(off int64) error { _, err := va.LoadUint64(off); return err }},
		{"StoreUint64", 8, func(off int64) error { return va.StoreUint64(off, math.MaxUint64) }},
		{"AddUint64", 8, func(off int64) error { _, err := va.AddUint64(off, 1); return err }},
		{"CompareAndSwapUint64", 8, func(off int64) error { _, err := va.CompareAndSwapUint64(off, 0, 1); return err }},
	}
	for _, o := range ops {
		for _, d := range []int64{1, 2, 3, 5, 6, 7} {
			if d >= o.w {
				continue
			}
			off := 2*advCS - d // unaligned, straddling a chunk boundary
			advIsErr(t, fmt.Sprintf("%s(%d)", o.name, off), o.f(off), chunkmap.ErrUnaligned, fmt.Sprint(off))
			off = advCS + 8 + d
			advIsErr(t, fmt.Sprintf("%s(%d)", o.name, off), o.f(off), chunkmap.ErrUnaligned, fmt.Sprint(off))
		}
		al := (size + o.w - 1) &^ (o.w - 1) // the first aligned word at or past Size
		bad := []int64{al, al + o.w, advCS - o.w, 0, -o.w, math.MaxInt64 &^ (o.w - 1), math.MinInt64}
		if o.w == 8 {
			bad = append(bad, size-4) // aligned, but the word ends 4 bytes past Size
		}
		for _, off := range bad {
			var err error
			advTimeout(t, 10*time.Second, o.name, func() { err = o.f(off) })
			advIsErr(t, fmt.Sprintf("%s(%d)", o.name, off), err, chunkmap.ErrOutOfRange, fmt.Sprint(off))
		}
		advIsErr(t, o.name+"(-3)", o.f(-3), chunkmap.ErrOutOfRange)
	}
	if m.Size() != size {
		t.Fatalf("Size changed from %d to %d", size, m.Size())
	}
	advCheck(t, m, md, "after refused atomics")
	// Read-only and closed Managers.
	m.Close()
	for _, o := range ops {
		advIsErr(t, o.name+" after Close", o.f(advCS), chunkmap.ErrClosed)
	}
	ro := advOpen(t, dir, &chunkmap.Options{ReadOnly: true})
	vr := accessor.New(ro, nil)
	if _, err := vr.LoadUint64(advCS); err != nil {
		t.Errorf("LoadUint64 on a read-only Manager: %v", err)
	}
	_, err := vr.AddUint64(advCS, 1)
	advIsErr(t, "AddUint64 read-only", err, chunkmap.ErrReadOnly)
	advIsErr(t, "StoreUint32 read-only", vr.StoreUint32(advCS, 1), chunkmap.ErrReadOnly)
	_, err = vr.CompareAndSwapUint64(advCS, 0, 1)
	advIsErr(t, "CompareAndSwapUint64 read-only", err, chunkmap.ErrReadOnly)
	advCheck(t, ro, md, "read-only")
}

// TestAdversarialAtomicsConcurrentAdds proves that AddUint64, AddUint32
// and CompareAndSwap loops from many goroutines on counters at the last and
// first words of chunks (in a dataset with fewer mapped chunks than it has,
// so that chunks are evicted and remapped meanwhile) lose no update, that
// the totals are right, and that they are still right after Close and
// reopen.
func TestAdversarialAtomicsConcurrentAdds(t *testing.T) {
	const (
		chunks = 6
		gs     = 8
		iters  = 400
	)
	dir := t.TempDir()
	m := advOpen(t, dir, &chunkmap.Options{MaxMapped: 2, NoAdmission: true})
	va := accessor.New(m, nil)
	if _, err := m.WriteAt(make([]byte, chunks*advCS), 0); err != nil {
		t.Fatal(err)
	}
	var offs64, offs32 []int64
	for c := int64(1); c < chunks; c++ {
		offs64 = append(offs64, c*advCS-8, c*advCS)
		offs32 = append(offs32, c*advCS-12, c*advCS+12)
	}
	var wg sync.WaitGroup
	for g := 0; g < gs; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				off := offs64[(g+i)%len(offs64)]
				if _, err := va.AddUint64(off, 1<<33+1); err != nil {
					t.Errorf("AddUint64(%d): %v", off, err)
					return
				}
				off = offs32[(g+i)%len(offs32)]
				if _, err := va.AddUint32(off, 3); err != nil {
					t.Errorf("AddUint32(%d): %v", off, err)
					return
				}
				// A CAS loop on the 32-bit word just before the 64-bit
				// counter of chunk 1, increments of 1.
				for {
					x, err := va.LoadUint32(advCS - 16)
					if err != nil {
						t.Errorf("LoadUint32: %v", err)
						return
					}
					ok, err := va.CompareAndSwapUint32(advCS-16, x, x+1)
					if err != nil {
						t.Errorf("CompareAndSwapUint32: %v", err)
						return
					}
					if ok {
						break
					}
				}
				// Touch other chunks to force evictions.
				if _, err := va.ReadUint8(int64((g*iters+i)%chunks)*advCS + 100); err != nil {
					t.Errorf("ReadUint8: %v", err)
					return
				}
			}
		}()
	}
	advTimeout(t, 20*time.Second, "concurrent atomics", wg.Wait)
	verify := func(va *accessor.ViewAccessor, what string) {
		var sum64 uint64
		var sum32 uint32
		for _, off := range offs64 {
			x, err := va.LoadUint64(off)
			if err != nil {
				t.Fatal(err)
			}
			sum64 += x
		}
		for _, off := range offs32 {
			x, err := va.LoadUint32(off)
			if err != nil {
				t.Fatal(err)
			}
			sum32 += x
		}
		if want := uint64(gs*iters) * (1<<33 + 1); sum64 != want {
			t.Errorf("%s: 64-bit counters total %d, want %d", what, sum64, want)
		}
		if want := uint32(gs * iters * 3); sum32 != want {
			t.Errorf("%s: 32-bit counters total %d, want %d", what, sum32, want)
		}
		if x, err := va.LoadUint32(advCS - 16); err != nil || x != gs*iters {
			t.Errorf("%s: CAS counter %d, %v; want %d", what, x, err, gs*iters)
		}
	}
	verify(va, "live")
	advPinned(t, m, "after atomics")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := advOpen(t, dir, nil)
	verify(accessor.New(m2, nil), "after reopen")
}
