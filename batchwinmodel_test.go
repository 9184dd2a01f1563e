package chunkmap

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"
)

// checkWinModel checks one fast-path window of b against the invariants of
// batch.go: each byte lies in a chunk the batch holds (writably, and
// allocated as far as the window reaches, for the writable one), in its
// own slot, at its slot's address, within [Start, Size), and the window
// never wraps the arena or spans more than len(slots) chunks.
func checkWinModel(m *Manager, b *Batch, lo int64, n uint64, p unsafe.Pointer, write bool) error {
	// lim (wlim) is what the accessor's typed calls check: n-7, or 0.
	lim, wantLim := b.lim, uint64(0)
	if write {
		lim = b.wlim
	}
	if n >= 8 {
		wantLim = n - 7
	}
	if lim != wantLim {
		return fmt.Errorf("window of %d bytes (write %v) has lim %d, want %d", n, write, lim, wantLim)
	}
	if n == 0 {
		return nil
	}
	if b.epoch != m.shrinks.Load() {
		return nil // the fast path will not use it
	}
	hi := lo + int64(n)
	if lo < m.state().start.Load() || hi > m.state().size.Load() {
		return fmt.Errorf("window [%d,%d) (write %v) outside [Start %d, Size %d)", lo, hi, write, m.state().start.Load(), m.state().size.Load())
	}
	first, last := lo>>m.shift, (hi-1)>>m.shift
	if last-first >= int64(len(m.slots)) {
		return fmt.Errorf("window [%d,%d) spans %d chunks, arena has %d slots", lo, hi, last-first+1, len(m.slots))
	}
	for idx := first; idx <= last; idx++ {
		if idx > first && m.slotNum(idx) == 0 {
			return fmt.Errorf("window [%d,%d) wraps the arena at chunk %d", lo, hi, idx)
		}
		var h *batchChunk
		for i := range b.st.held {
			if b.st.held[i].idx == idx {
				h = &b.st.held[i]
			}
		}
		if h == nil {
			return fmt.Errorf("window [%d,%d) (write %v) covers chunk %d, not held", lo, hi, write, idx)
		}
		if write && !h.write {
			return fmt.Errorf("writable window [%d,%d) covers chunk %d held read-only", lo, hi, idx)
		}
		if h.s != m.slot(idx) || m.slot(idx).own.Load() != idx+1 {
			return fmt.Errorf("window [%d,%d) covers chunk %d, not in its slot", lo, hi, idx)
		}
		cl := max(lo, idx<<m.shift)
		ce := min(hi, chunkOffset(idx+1, m.shift))
		if got, want := unsafe.Add(p, cl-lo), unsafe.Add(m.slotAddr(int64(m.slotNum(idx))), cl&m.mask); got != want {
			return fmt.Errorf("window [%d,%d) maps %d at %p, slot has it at %p", lo, hi, cl, got, want)
		}
		if write {
			if a := m.slot(idx).alloc.Load(); a < (ce-1)&m.mask+1 {
				return fmt.Errorf("writable window [%d,%d) reaches %d in chunk %d, allocated to %d", lo, hi, (ce-1)&m.mask+1, idx, a)
			}
		}
	}
	return nil
}

// TestBatchWindowModel walks, jumps and spans (up to past batchRuns
// chunks, and across the arena's wrap) with Bytes and WritableBytes, and
// holds ranges with Hold and HoldWritable, while the batch function itself
// grows Size (so runs end mid-chunk and later reach the end) and sometimes
// truncates; after every call both windows are
// checked, and every byte handed out is checked against a model.
func TestBatchWindowModel(t *testing.T) {
	const cs = MinChunkSize
	for i, arena := range []int64{cs, 2 * cs, 4 * cs, 8 * cs, 16 * cs, 128 * cs, 8 * cs} {
		if i == 6 {
			was := scatteredArena
			scatteredArena = true
			defer func() { scatteredArena = was }()
		}
		deadline := time.Now().Add(250 * time.Millisecond)
		widest, rounds := int64(0), 0
		seed := uint64(time.Now().UnixNano())
		r := rand.New(rand.NewPCG(seed, uint64(arena)))
		m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 3, ArenaSize: arena, NoAdmission: true})
		if err != nil {
			t.Fatal(err)
		}
		skipNoSideBySide(t, m)
		size := int64(20*cs + 333)
		model := make([]byte, size)
		for i := range model {
			model[i] = byte(i * 13)
		}
		if _, err := m.WriteAt(model, 0); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 200 && time.Now().Before(deadline); round++ {
			err := m.Batch(func(b *Batch) error {
				cur := r.Int64N(int64(len(model)))
				for step := range 80 {
					switch r.IntN(12) {
					case 0: // grow Size by a bit, from inside the batch
						add := 1 + r.IntN(int(cs))
						p := make([]byte, add)
						for i := range p {
							p[i] = byte(r.Uint32())
						}
						off, err := m.Append(p)
						if err != nil {
							return err
						}
						if off != int64(len(model)) {
							return fmt.Errorf("append at %d, model %d", off, len(model))
						}
						model = append(model, p...)
						continue
					case 1:
						if r.IntN(8) == 0 && len(model) > 8*cs {
							ns := int64(len(model)) - r.Int64N(3*cs)
							if err := m.Truncate(ns); err != nil {
								return err
							}
							model = model[:ns]
							cur = min(cur, ns-1)
							continue
						}
					case 2: // hold a range, which sets the windows over it
						off := r.Int64N(int64(len(model)))
						n := r.Int64N(int64(len(model)) - off + 1)
						write := r.IntN(2) == 0
						hold := b.Hold
						if write {
							hold = b.HoldWritable
						}
						if err := hold(off, n); err != nil {
							return fmt.Errorf("step %d: hold [%d,%d) write %v: %v", step, off, off+n, write, err)
						}
						if err := checkWinModel(m, b, b.lo, b.n, b.p, false); err != nil {
							return fmt.Errorf("step %d after hold [%d,%d) write %v: %v", step, off, off+n, write, err)
						}
						if err := checkWinModel(m, b, b.wlo, b.wn, b.wp, true); err != nil {
							return fmt.Errorf("step %d after hold [%d,%d) write %v: %v", step, off, off+n, write, err)
						}
						continue
					}
					size := int64(len(model))
					var n int64
					switch r.IntN(6) {
					case 0:
						n = 1 + r.Int64N(3*cs)
					case 1:
						n = 1 + r.Int64N(min(size, 70*cs))
					default:
						n = 1 + r.Int64N(64)
					}
					switch r.IntN(4) {
					case 0:
						cur = r.Int64N(size)
					case 1:
						cur += cs
					case 2:
						cur -= cs
					}
					cur = max(0, min(cur, size-1))
					off := cur
					n = min(n, size-off)
					write := r.IntN(3) == 0
					var p []byte
					var err error
					if write {
						p, err = b.WritableBytes(off, int(n))
					} else {
						p, err = b.Bytes(off, int(n))
					}
					if err != nil {
						return fmt.Errorf("step %d: %v", step, err)
					}
					if !bytes.Equal(p, model[off:off+n]) {
						return fmt.Errorf("step %d: bytes [%d,%d) (write %v) differ from the model", step, off, off+n, write)
					}
					if write {
						for i := range p {
							v := byte(r.Uint32())
							p[i] = v
							model[off+int64(i)] = v
						}
					}
					if b.n > 0 {
						widest = max(widest, (b.lo+int64(b.n)-1)>>m.shift-b.lo>>m.shift+1)
					}
					if err := checkWinModel(m, b, b.lo, b.n, b.p, false); err != nil {
						return fmt.Errorf("step %d after [%d,%d) write %v: %v", step, off, off+n, write, err)
					}
					if err := checkWinModel(m, b, b.wlo, b.wn, b.wp, true); err != nil {
						return fmt.Errorf("step %d after [%d,%d) write %v: %v", step, off, off+n, write, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("arena %d seed %d round %d: %v", arena, seed, round, err)
			}
			rounds++
			got := make([]byte, len(model))
			if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, model) {
				t.Fatalf("arena %d seed %d round %d: dataset differs from model (%v)", arena, seed, round, err)
			}
			if int64(len(model)) > 60*cs {
				if err := m.Truncate(20 * cs); err != nil {
					t.Fatal(err)
				}
				model = model[:20*cs]
			}
		}
		t.Logf("arena %d: %d rounds, widest read window %d chunks", arena, rounds, widest)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
