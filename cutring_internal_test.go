package chunkmap

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLowestCut checks the state page's record of cuts (cutLows) against
// the cuts themselves: the lowest Size that the cuts from number c0 on
// left, answered exactly or not at all.
func TestLowestCut(t *testing.T) {
	const none = math.MaxInt64
	tests := []struct {
		name  string
		cuts  []int64 // the Sizes the cuts left, from number 0 on
		reset int     // resetCuts before cut number reset (-1: never)
		c0    uint64
		low   int64
		ok    bool
	}{
		{"no cuts", nil, -1, 0, none, true},
		{"none since c0", []int64{10, 20}, -1, 2, none, true},
		{"the last", []int64{10, 20}, -1, 1, 20, true},
		{"lower before c0", []int64{5, 30, 20, 40}, -1, 1, 20, true},
		{"lowest since c0 is older", []int64{50, 10, 30, 20}, -1, 0, 10, true},
		{"equal cuts", cutSizes(4000, 1000), -1, 3, 4000, true},
		{"c0 past the count", []int64{10}, -1, 2, 0, false},
		{"before a reset", []int64{10, 20, 30}, 2, 1, 0, false},
		{"at a reset", []int64{10, 20, 30}, 2, 2, 30, true},
		// Each cut above the last keeps an entry: the oldest go once
		// there are more than the page holds.
		{"rising, all held", rising(cutLowsCap), -1, 0, 0, true},
		{"rising, oldest gone", rising(cutLowsCap + 1), -1, 0, 0, false},
		{"rising, past the gone", rising(cutLowsCap + 1), -1, 1, 1, true},
		{"rising, then one low", append(rising(3*cutLowsCap), 2), -1, 0, 0, false},
		{"rising, then one low, late c0", append(rising(3*cutLowsCap), 2), -1, 2*cutLowsCap + 1, 2, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &statePage{}
			s := &sharedPage{p: p}
			for i, size := range tc.cuts {
				if i == tc.reset {
					p.resetCuts()
				}
				p.recordCut(size)
			}
			low, ok := s.lowestCut(tc.c0)
			if ok != tc.ok || ok && low != tc.low {
				t.Errorf("lowestCut(%d) after cuts to %v = %d, %v; want %d, %v", tc.c0, tc.cuts, low, ok, tc.low, tc.ok)
			}
		})
	}
}

// TestLowestCutRandom checks every answer of cutLows against the minimum
// of the cuts themselves, over random runs of cuts that rise, fall and
// repeat, and that a question reaching back fewer cuts than the page holds
// is always answered.
func TestLowestCutRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	p := &statePage{}
	s := &sharedPage{p: p}
	var sizes []int64
	for range 3000 {
		var size int64
		switch rng.IntN(4) {
		case 0:
			size = rng.Int64N(1 << 20)
		case 1: // rising: keeps every entry
			size = 1<<20 + int64(len(sizes))
		case 2: // repeats the last
			if len(sizes) > 0 {
				size = sizes[len(sizes)-1]
			}
		case 3:
			size = rng.Int64N(64)
		}
		p.recordCut(size)
		sizes = append(sizes, size)
		c1 := uint64(len(sizes))
		for range 8 {
			back := uint64(rng.IntN(2 * cutLowsCap))
			c0 := c1 - min(back, c1)
			want := int64(math.MaxInt64)
			for _, v := range sizes[c0:] {
				want = min(want, v)
			}
			low, ok := s.lowestCut(c0)
			if ok && low != want {
				t.Fatalf("seed %d: lowestCut(%d) after %d cuts = %d, want %d", seed, c0, c1, low, want)
			}
			if !ok && c1-c0 <= cutLowsCap {
				t.Fatalf("seed %d: lowestCut(%d) after %d cuts has no answer, reaching back %d cuts", seed, c0, c1, c1-c0)
			}
		}
	}
}

// TestLowestCutInFlight checks that a reader never takes a half-recorded
// cut: while one goroutine records cuts whose Sizes follow from their
// numbers, others ask and check each answer against the cuts counted just
// before and just after the question.
func TestLowestCutInFlight(t *testing.T) {
	p := &statePage{}
	s := &sharedPage{p: p}
	// Runs that rise past what the page holds (entries move down), then
	// fall (entries go): every change recordCut makes.
	size := func(c uint64) int64 { return int64(c%(cutLowsCap+9)) * 3 % 101 }
	var stop atomic.Bool
	var wg sync.WaitGroup
	var answered, asked atomic.Int64
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				before := p.cuts.Load()
				c0 := before - min(before, uint64(rand.IntN(cutLowsCap)))
				low, ok := s.lowestCut(c0)
				after := p.cuts.Load()
				asked.Add(1)
				if !ok {
					continue
				}
				answered.Add(1)
				// The answer is the minimum over [c0, c1) for some c1
				// counted between the two loads.
				want := int64(math.MaxInt64)
				match := false
				for c := c0; c <= after; c++ {
					if c >= before && low == want {
						match = true
					}
					if c < after {
						want = min(want, size(c))
					}
				}
				if !match {
					t.Errorf("lowestCut(%d) between %d and %d cuts = %d: not the lowest of any of them", c0, before, after, low)
					return
				}
			}
		})
	}
	for c := uint64(0); c < 200000 && !t.Failed(); c++ {
		p.recordCut(size(c))
	}
	stop.Store(true)
	wg.Wait()
	if answered.Load() == 0 {
		t.Errorf("none of %d questions answered", asked.Load())
	}
	t.Logf("%d of %d questions answered", answered.Load(), asked.Load())

	// A writer that stopped inside recordCut (it died there) leaves the
	// record unanswerable until the next one resets it.
	p.lows.seq.Add(1)
	if low, ok := s.lowestCut(p.cuts.Load()); ok {
		t.Errorf("lowestCut with a cut half recorded = %d, true; want no answer", low)
	}
	p.resetCuts()
	p.recordCut(5)
	if low, ok := s.lowestCut(p.cuts.Load() - 1); !ok || low != 5 {
		t.Errorf("lowestCut after a reset and a cut = %d, %v; want 5, true", low, ok)
	}
}

// cutSizes returns k cuts that each left Size size.
func cutSizes(size int64, k int) []int64 {
	r := make([]int64, k)
	for i := range r {
		r[i] = size
	}
	return r
}

// rising returns k cuts, each to a Size above the last: 0, 1, 2, ...
func rising(k int) []int64 {
	r := make([]int64, k)
	for i := range r {
		r[i] = int64(i)
	}
	return r
}
