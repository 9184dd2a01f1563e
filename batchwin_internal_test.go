package chunkmap

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// TestBatchWindowCoversOnlyHeldChunks touches chunks in random orders
// (walks up and down, jumps, reads and writes mixed) on arenas that wrap
// and arenas that do not, and checks after every call that each fast-path
// window lies in chunks the batch holds (writably, for the writable one),
// side by side in the arena, each byte at its own chunk's address, and
// contains the range just handed out when that range's chunk has a run.
func TestBatchWindowCoversOnlyHeldChunks(t *testing.T) {
	const cs, chunks = 64 << 10, 40
	for _, arena := range []int64{0, 16 * cs, 7 * cs} {
		seed := uint64(time.Now().UnixNano())
		t.Logf("arena %d: seed %d", arena, seed)
		r := rand.New(rand.NewPCG(seed, uint64(arena)))
		m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 4, ArenaSize: arena, NoAdmission: true})
		if err != nil {
			t.Fatal(err)
		}
		skipNoSideBySide(t, m)
		if err := m.Truncate(chunks*cs - 100); err != nil {
			t.Fatal(err)
		}
		widest := int64(0)
		for round := range 30 {
			err := m.Batch(func(b *Batch) error {
				idx := r.Int64N(chunks)
				for range 60 {
					switch r.IntN(4) {
					case 0:
						idx = r.Int64N(chunks)
					case 1:
						idx = min(idx+1, chunks-1)
					case 2:
						idx = max(idx-1, 0)
					}
					write := r.IntN(3) == 0
					off := idx*cs + r.Int64N(cs-16)
					if off+16 > chunks*cs-100 {
						off = chunks*cs - 116
					}
					var p []byte
					var err error
					if write {
						p, err = b.WritableBytes(off, 16)
					} else {
						p, err = b.Bytes(off, 16)
					}
					if err != nil {
						return err
					}
					if want := m.slotAddr(int64(m.slotNum(off >> m.shift))); m.slot(off>>m.shift).own.Load() == off>>m.shift+1 && unsafe.Pointer(unsafe.SliceData(p)) != unsafe.Add(want, off&m.mask) {
						t.Fatalf("round %d: bytes at %d are not in their chunk's slot", round, off)
					}
					if b.n > 0 {
						widest = max(widest, (b.lo+int64(b.n)-1)>>m.shift-b.lo>>m.shift+1)
					}
					checkWindow(t, m, b, b.lo, b.n, b.p, false)
					checkWindow(t, m, b, b.wlo, b.wn, b.wp, true)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		// Walks of 60 steps over 40 chunks join windows of several chunks
		// where the arena lets them.
		if widest < 4 {
			t.Errorf("arena %d: the widest read window spanned %d chunks", arena, widest)
		}
	}
}

// checkWindow checks one window of b: [lo, lo+n) mapped at p.
func checkWindow(t *testing.T, m *Manager, b *Batch, lo int64, n uint64, p unsafe.Pointer, write bool) {
	t.Helper()
	if n == 0 {
		return
	}
	hi := lo + int64(n)
	if lo < m.state().start.Load() || hi > m.state().size.Load() {
		t.Fatalf("window [%d,%d) outside [Start, Size)", lo, hi)
	}
	first, last := lo>>m.shift, (hi-1)>>m.shift
	for idx := first; idx <= last; idx++ {
		i := slices.IndexFunc(b.st.held, func(c batchChunk) bool { return c.idx == idx })
		if i < 0 {
			t.Fatalf("window [%d,%d) (write %v) covers chunk %d, which the batch does not hold", lo, hi, write, idx)
		}
		if write && !b.st.held[i].write {
			t.Fatalf("writable window [%d,%d) covers chunk %d, held for reading only", lo, hi, idx)
		}
		if m.slot(idx).own.Load() != idx+1 {
			t.Fatalf("window [%d,%d) covers chunk %d, which is not in its slot", lo, hi, idx)
		}
		cl := max(lo, idx<<m.shift)
		if got, want := unsafe.Add(p, cl-lo), unsafe.Add(m.slotAddr(int64(m.slotNum(idx))), cl&m.mask); got != want {
			t.Fatalf("window [%d,%d) maps offset %d at %p, its slot has it at %p", lo, hi, cl, got, want)
		}
	}
}

// TestHeldIndexAgainstMap puts chunk indexes (runs, strides, far apart and
// near the top of the range) into a heldIndex and checks every lookup,
// present and absent, against a map, through resets that clear a few
// entries or all of them.
func TestHeldIndexAgainstMap(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	var ix heldIndex
	for round := range 40 {
		n := r.IntN(3000)
		if round%3 == 0 {
			n = r.IntN(20)
		}
		want := make(map[int64]int)
		var held []batchChunk
		base := r.Int64N(math.MaxInt64 >> 16)
		for len(held) < n {
			var idx int64
			switch r.IntN(3) {
			case 0:
				idx = base + int64(len(held))
			case 1:
				idx = base + 64*r.Int64N(1<<20)
			default:
				idx = math.MaxInt64>>16 - r.Int64N(1<<12)
			}
			if _, ok := want[idx]; ok {
				continue
			}
			want[idx] = len(held)
			ix.put(idx, len(held))
			held = append(held, batchChunk{idx: idx})
		}
		for idx, p := range want {
			if got := ix.get(idx); got != p {
				t.Fatalf("round %d: get(%d) = %d, want %d", round, idx, got, p)
			}
			if _, ok := want[idx+1]; !ok && ix.get(idx+1) != -1 {
				t.Fatalf("round %d: get(%d) found an index never put", round, idx+1)
			}
		}
		ix.reset(held)
		for _, c := range held {
			if ix.get(c.idx) != -1 {
				t.Fatalf("round %d: chunk %d still found after reset", round, c.idx)
			}
		}
		for i := range ix.keys {
			if ix.keys[i] != 0 {
				t.Fatalf("round %d: entry %d not cleared by reset", round, i)
			}
		}
	}
}
