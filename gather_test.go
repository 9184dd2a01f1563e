package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestManager_GatherScatter stores and loads values at random offsets
// (boundaries included) with Scatter and Gather while other goroutines
// churn the LRU, so that mappings are retired under the copy loops, and
// checks every value.
func TestManager_GatherScatter(t *testing.T) {
	const (
		chunkSize = 64 << 10
		nchunks   = 12
		size      = nchunks * chunkSize
	)
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: chunkSize, MaxMapped: 2, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(size); err != nil {
		t.Fatal(err)
	}
	// Slot k of writer w is at offset (k*4+w)*8 + shift: writers never
	// overlap, and a shift of 3 makes some values straddle boundaries.
	const writers, slots = 4, size/8/4 - 1
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() { // LRU churn
			buf := make([]byte, 8)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := m.ReadAt(buf, int64(i%nchunks)*chunkSize+100); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var workers sync.WaitGroup
	for w := range writers {
		workers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			offs := make([]int64, 400)
			vals := make([]byte, 8*len(offs))
			got := make([]byte, len(vals))
			rounds := 8
			if testing.Short() || raceEnabled {
				rounds = 3
			}
			for round := range rounds {
				perm := r.Perm(slots)
				for i := range offs {
					offs[i] = int64(perm[i]*4+w)*8 + 3
				}
				for i := range len(offs) {
					binary.LittleEndian.PutUint64(vals[i*8:], uint64(round)<<32|uint64(offs[i]))
				}
				if err := m.Scatter(vals, offs, 8); err != nil {
					t.Errorf("writer %d: Scatter: %v", w, err)
					return
				}
				if err := m.Gather(got, offs, 8); err != nil {
					t.Errorf("writer %d: Gather: %v", w, err)
					return
				}
				for i := range offs {
					if g, want := binary.LittleEndian.Uint64(got[i*8:]), binary.LittleEndian.Uint64(vals[i*8:]); g != want {
						t.Errorf("writer %d round %d: value at %d = %#x, want %#x", w, round, offs[i], g, want)
						return
					}
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	if st := m.Stats(); st.Evictions == 0 {
		t.Errorf("no evictions happened: %+v", st)
	}
}

func TestManager_GatherErrors(t *testing.T) {
	m := newBenchlessManager(t)
	buf := make([]byte, 64)
	for _, tc := range []struct {
		name string
		buf  []byte
		offs []int64
		n    int
		says string // in the message, if not ""
	}{
		{"past size", buf, []int64{0, 996}, 8, ""},
		{"negative", buf, []int64{-1}, 8, ""},
		{"huge", buf, []int64{1 << 62}, 4, ""},
		{"overflow", buf, []int64{1<<63 - 2}, 8, ""},
		{"zero size", buf, []int64{0}, 0, ""},
		{"buffer too small", buf, []int64{0, 8, 16, 24, 32, 40, 48, 56, 64}, 8, "9 values of 8 bytes do not fit a 64-byte buffer"},
		{"buffer too small for one", buf[:4], []int64{0}, 8, "1 value of 8 bytes does not fit a 4-byte buffer"},
	} {
		for _, call := range []struct {
			name string
			fn   func([]byte, []int64, int) error
		}{{"Gather", m.Gather}, {"Scatter", m.Scatter}} {
			err := call.fn(tc.buf, tc.offs, tc.n)
			if !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Errorf("%s: %s = %v, want ErrOutOfRange", tc.name, call.name, err)
			} else if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s: %s = %q, want it to say %q", tc.name, call.name, err, tc.says)
			}
		}
	}
	if m.Size() != 1000 {
		t.Errorf("Size = %d after refused scatters, want 1000", m.Size())
	}
}

// newBenchlessManager returns an open Manager of 1000 zero bytes.
func newBenchlessManager(t *testing.T) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Truncate(1000); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGatherScatter_ManyChunksMapped gathers and scatters blocks whose
// values fall in far more chunks than one block checks at once
// (gatherDistinct), with every chunk mapped, so that the lock-free passes do
// the work: blocks end early when their table of chunks is full, chunks
// collide in the table of recent ones, and every value must still come
// from, and go to, its own offset.
func TestGatherScatter_ManyChunksMapped(t *testing.T) {
	const (
		chunkSize = 64 << 10
		nchunks   = 200
		size      = nchunks * chunkSize
	)
	seed := testSeed(t, "CHUNKMAP_SEED")
	for _, n := range []int{3, 4, 8} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: chunkSize, MaxMapped: nchunks, NoAdmission: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			model := make([]byte, size)
			r := rand.New(rand.NewPCG(seed, uint64(n)))
			fillRandom(r, model)
			if _, err := m.WriteAt(model, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := m.ReadAt(make([]byte, size), 0); err != nil { // maps every chunk
				t.Fatal(err)
			}
			offs := make([]int64, 1000)
			buf := make([]byte, n*len(offs))
			rounds := 10
			if testing.Short() || raceEnabled {
				rounds = 4 // two gathers and two scatters
			}
			for round := range rounds {
				// Distinct slots of n bytes, so that a scatter's values
				// never overlap and the model is exact.
				taken := make(map[int]bool, len(offs))
				for i := range offs {
					k := r.IntN(size / n)
					for taken[k] {
						k = r.IntN(size / n)
					}
					taken[k] = true
					offs[i] = int64(k * n)
				}
				if round%2 == 0 {
					if err := m.Gather(buf, offs, n); err != nil {
						t.Fatalf("round %d: Gather: %v", round, err)
					}
					for i, off := range offs {
						if got, want := buf[i*n:(i+1)*n], model[off:off+int64(n)]; !bytes.Equal(got, want) {
							t.Fatalf("round %d: value %d at %d = %x, want %x", round, i, off, got, want)
						}
					}
					continue
				}
				fillRandom(r, buf)
				if err := m.Scatter(buf, offs, n); err != nil {
					t.Fatalf("round %d: Scatter: %v", round, err)
				}
				for i, off := range offs {
					copy(model[off:], buf[i*n:(i+1)*n])
				}
				got := make([]byte, size)
				if _, err := m.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, model) { // (firstDiff, a loop, is slow under -race)
					i := firstDiff(got, model)
					t.Fatalf("round %d: byte %d = %#x after Scatter, want %#x", round, i, got[i], model[i])
				}
			}
			if st := m.Stats(); st.Mapped != nchunks {
				t.Errorf("Stats().Mapped = %d, want all %d chunks mapped (so that the lock-free passes can serve every value)", st.Mapped, nchunks)
			}
		})
	}
}

// TestGatherScatter_SharedSlot gathers and scatters, in one block, a value
// of a mapped chunk and one of a chunk that shares its slot (chunks 0 and
// 204 of a 4-slot arena, which also fall in the same bucket of a block's
// table of recent chunks): the second value must come from, and go to, its
// own chunk, never the one mapped in the slot. It fails if the table
// answers "checked" for a chunk it does not hold.
func TestGatherScatter_SharedSlot(t *testing.T) {
	const other = 204 // 204 mod 4 = 0
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, ArenaSize: 4 * cs, MaxMapped: 4, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Slots() != 4 {
		t.Fatalf("%d slots, want 4", m.Slots())
	}
	aa, bb, cc := bytes.Repeat([]byte{0xAA}, 16), bytes.Repeat([]byte{0xBB}, 8), bytes.Repeat([]byte{0xCC}, 16)
	if _, err := m.WriteAt(bb, other*cs+8); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(aa, 0); err != nil {
		t.Fatal(err)
	}
	mapChunk0 := func() {
		t.Helper()
		if _, err := m.ReadAt(make([]byte, 1), 0); err != nil { // chunk 0 into slot 0
			t.Fatal(err)
		}
	}
	offs := []int64{0, other*cs + 8}
	mapChunk0()
	got := make([]byte, 16)
	if err := m.Gather(got, offs, 8); err != nil {
		t.Fatal(err)
	}
	if want := append(aa[:8:8], bb...); !bytes.Equal(got, want) {
		t.Fatalf("Gather = %x, want %x", got, want)
	}
	mapChunk0()
	if err := m.Scatter(cc, offs, 8); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off  int64
		want []byte
	}{{0, cc[:8]}, {8, aa[8:]}, {other*cs + 8, cc[8:]}} {
		b := make([]byte, 8)
		if _, err := m.ReadAt(b, c.off); err != nil || !bytes.Equal(b, c.want) {
			t.Errorf("after Scatter, ReadAt(%d) = %x, %v; want %x", c.off, b, err, c.want)
		}
	}
}
