package chunkmap_test

// Tests of eviction: which chunks stay mapped.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestManager_Eviction runs random reads and writes over 40 chunks with two
// mapped at a time, against the model, and checks the bound after every
// operation.
func TestManager_Eviction(t *testing.T) {
	const nchunks = 40
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, NoAdmission: true})
	var md model
	md.writeAt(pattern(1, nchunks*cs), 0)
	writeAt(t, m, md.data, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 1500 {
		off := rng.Int64N(nchunks * cs)
		n := 1 + rng.IntN(min(int(nchunks*cs-off), 2*cs))
		if i%3 == 0 {
			p := pattern(uint64(i), n)
			writeAt(t, m, p, off)
			md.writeAt(p, off)
		} else if got := readAt(t, m, off, n); !bytes.Equal(got, md.data[off:off+int64(n)]) {
			t.Fatalf("op %d: ReadAt(%d bytes, %d) differs from the model at byte %d", i, n, off, firstDiff(got, md.data[off:]))
		}
		if s := m.Stats(); s.Mapped > 2 {
			t.Fatalf("op %d: Stats().Mapped = %d, want at most 2", i, s.Mapped)
		}
		if live, _, _ := m.Mappings(); live > 2 {
			t.Fatalf("op %d: %d live mappings, want at most 2", i, live)
		}
	}
	s := m.Stats()
	if s.Evictions < nchunks || s.Maps-s.Unmaps != int64(s.Mapped) {
		t.Errorf("Stats() = %+v: want at least %d evictions and Maps - Unmaps == Mapped", s, nchunks)
	}
	md.check(t, m)
	m = reopen(t, m, &chunkmap.Options{MaxMapped: 2})
	md.check(t, m)
	if s := m.Stats(); s.Mapped > 2 {
		t.Errorf("after a full scan Stats().Mapped = %d, want at most 2", s.Mapped)
	}
}

// TestManager_EvictionOrder follows which chunks stay mapped through a
// sequence of reads, by watching Stats().Maps: a chunk used since the last
// eviction is kept over one that was not, even if it was mapped earlier.
func TestManager_EvictionOrder(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 3, NoAdmission: true})
	writeAt(t, m, pattern(1, 6*cs), 0)
	m = reopen(t, m, &chunkmap.Options{MaxMapped: 3, NoAdmission: true})
	var trace strings.Builder
	for _, idx := range []int64{0, 1, 2, 3, 1, 4, 1, 3, 4, 2, 0} {
		before := m.Stats().Maps
		readAt(t, m, idx*cs+7, 1)
		what := "hit"
		if m.Stats().Maps != before {
			what = "miss"
		}
		fmt.Fprintf(&trace, "read %d: %s\n", idx, what)
	}
	const want = `read 0: miss
read 1: miss
read 2: miss
read 3: miss
read 1: hit
read 4: miss
read 1: hit
read 3: hit
read 4: hit
read 2: miss
read 0: miss
`
	if got := trace.String(); got != want {
		t.Errorf("trace:\n%s\nwant:\n%s", got, want)
	}
}
