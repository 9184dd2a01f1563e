package chunkmap

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLowestCut checks the state page's record of cuts (cutLows) against
// the cuts themselves: the lowest Size that the cuts from number c0 on
// left, exactly, or a bound below it flagged as one, or no answer. Each
// answer is pinned, and checked against the cuts' own minimum too.
func TestLowestCut(t *testing.T) {
	const none = math.MaxInt64
	tests := []struct {
		name  string
		cuts  []int64 // the Sizes the cuts left, numbered from 1 (0 sets the page up)
		reset int     // cuts[reset] begins a new numbering (0: none)
		c0    uint64
		low   int64 // the answer: the lowest Size, or a bound below it
		exact bool  // it is the lowest Size
		ok    bool
	}{
		{"no cuts", nil, 0, 1, none, true, true},
		{"none since c0", []int64{10, 20}, 0, 3, none, true, true},
		{"the last", []int64{10, 20}, 0, 2, 20, true, true},
		{"lower before c0", []int64{5, 30, 20, 40}, 0, 2, 20, true, true},
		{"lowest since c0 is older", []int64{50, 10, 30, 20}, 0, 1, 10, true, true},
		{"equal cuts", cutSizes(4000, 1000), 0, 4, 4000, true, true},
		{"c0 past the count", []int64{10}, 0, 3, 0, false, false},
		{"before a new numbering", []int64{10, 20, 30}, 2, 2, 0, false, false},
		{"at a new numbering", []int64{10, 20, 30}, 2, 3, 30, true, true},
		// Each cut above the last keeps an entry: once there are more
		// than the stack holds, the oldest move to the older entries,
		// which merge the closest two once they are full too, and
		// answers for c0 up to the later of them are bounds.
		{"rising, all held", rising(cutLowsCap), 0, 1, 0, true, true},
		{"rising, oldest moved", rising(cutLowsCap + 1), 0, 1, 0, true, true},
		{"rising, past the moved", rising(cutLowsCap + 1), 0, 2, 1, true, true},
		{"rising long, in the stack", rising(3 * cutLowsCap), 0, 2*cutLowsCap + 1, 2 * cutLowsCap, true, true},
		{"rising long, below the stack", rising(3 * cutLowsCap), 0, 40, 36, false, true},
		{"rising long, older but unmerged", rising(3 * cutLowsCap), 0, 1, 0, true, true},
		{"rising, then one low", append(rising(3*cutLowsCap), 2), 0, 1, 0, true, true},
		// The cut to 2 went below the whole stack and the older entries
		// above it: they go, and an answer below from is 2, exactly.
		{"rising, then one low, c0 below from", append(rising(3*cutLowsCap), 2), 0, 40, 2, true, true},
		{"rising, then one low, late c0", append(rising(3*cutLowsCap), 2), 0, 2*cutLowsCap + 2, 2, true, true},
		{"rising, then one lowest", append(rising(3*cutLowsCap), 0), 0, 1, 0, true, true},
		// A close pair across c0 (cuts 14 and 15, 16 bytes apart, the
		// closest of all), the stack full and one entry moved to the
		// older ones: a question within the stack's reach is exact.
		{"a close pair across c0", slices.Concat(risingBy(100, 100, 13), []int64{1992}, risingBy(2008, 1000, 19)), 0, 15, 2008, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, s := newCutPage()
			for i, size := range tc.cuts {
				if i == tc.reset && i > 0 {
					p.restartCuts(size)
				} else {
					p.recordCut(size)
				}
			}
			low, exact, ok := s.lowestCut(p.lows.id.Load(), tc.c0)
			if ok != tc.ok || ok && (exact != tc.exact || low != tc.low) {
				t.Errorf("lowestCut(%d) after cuts to %v = %d, exact %v, %v; want %d, exact %v, %v", tc.c0, tc.cuts, low, exact, ok, tc.low, tc.exact, tc.ok)
			}
			truth := int64(none)
			for _, size := range tc.cuts[min(int(tc.c0), len(tc.cuts)+1)-1:] {
				truth = min(truth, size)
			}
			if ok && (low > truth || exact && low != truth) {
				t.Errorf("lowestCut(%d) = %d, exact %v; the cuts' own minimum is %d", tc.c0, low, exact, truth)
			}
		})
	}
	// A writer that truncated to 0 once, then cut the end many times,
	// each above the last (a log rolling back torn tails): the merges
	// keep to the close cuts, and a reader that began after the cut to 0
	// is told the Size of the first rising cut, though as a bound.
	t.Run("low, then rising", func(t *testing.T) {
		p, s := newCutPage()
		p.recordCut(0)
		for _, size := range risingFrom(1000, 3*cutLowsCap) {
			p.recordCut(size)
		}
		if low, _, ok := s.lowestCut(p.lows.id.Load(), 2); !ok || low != 1000 {
			t.Errorf("lowestCut(2) = %d, %v; want 1000, true: the merges reached the cut to 0", low, ok)
		}
	})
}

// TestLowestCutNumberings checks that a question in numbers of cuts from
// before the page was set up again is not answered, even once the new
// numbering has passed them: a page another program zeroed numbers its
// cuts from 0 again.
func TestLowestCutNumberings(t *testing.T) {
	p, s := newCutPage()
	for range 6 {
		p.recordCut(1000)
	}
	id, c0 := p.lows.id.Load(), p.cuts.Load() // a reader's mark
	*p = statePage{}                          // zeroed by another program
	if _, _, ok := s.lowestCut(id, c0); ok {
		t.Errorf("lowestCut answered on a zeroed page")
	}
	p.restartCuts(500) // the writer writes the page whole again
	p.recordCut(10)    // and cuts into what the reader read
	for range 10 {
		p.recordCut(1000)
	}
	if low, _, ok := s.lowestCut(id, c0); ok {
		t.Errorf("lowestCut(%d) in the old numbering = %d, true after the page was set up again; want no answer", c0, low)
	}
	if low, _, ok := s.lowestCut(p.lows.id.Load(), 1); !ok || low != 10 {
		t.Errorf("lowestCut(1) in the new numbering = %d, %v; want 10, true", low, ok)
	}
	if id, done, ok := s.cutsDeletedCount(); !ok || id != p.lows.id.Load() || done != 1 {
		t.Errorf("cutsDeletedCount = %d, %d, %v; want the new id, 1 (the cut of setting up), true", id, done, ok)
	}
	s.cutsDeleted()
	if _, done, _ := s.cutsDeletedCount(); done != p.cuts.Load() {
		t.Errorf("cutsDeletedCount after cutsDeleted = %d, want %d", done, p.cuts.Load())
	}
}

// newCutPage returns a state page set up as a writer does (its cut 0 left
// Size at the largest value, below no other), and the sharedPage over it.
func newCutPage() (*statePage, *sharedPage) {
	p := &statePage{}
	p.restartCuts(math.MaxInt64)
	return p, &sharedPage{p: p}
}

// TestLowestCutRandom checks every answer of cutLows against the minimum
// of the cuts themselves, over random runs of cuts that rise, fall and
// repeat, and in phases that rise for long, past what the stack and the
// older entries hold: every question is answered, with the minimum or a
// bound below it flagged as one, and exactly where it reaches back over no
// more cuts than the stack holds.
func TestLowestCutRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	p, s := newCutPage()
	sizes := []int64{math.MaxInt64} // by number; 0 set the page up
	var top int64                   // of the long rising phases
	bounds := 0
	for i := range 6000 {
		var size int64
		kind := rng.IntN(4)
		if (i/300)%2 == 1 {
			kind = 4
		}
		switch kind {
		case 4: // a rise of 300 cuts, in steps of uneven size: past what
			// the stack and the older entries hold, so they merge
			top += 1 + rng.Int64N(1000)
			size = 1<<30 + top
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
			back := uint64(rng.IntN(3 * (cutLowsCap + cutsOlderCap)))
			c0 := c1 - min(back, c1)
			want := int64(math.MaxInt64)
			for _, v := range sizes[c0:] {
				want = min(want, v)
			}
			low, exact, ok := s.lowestCut(p.lows.id.Load(), c0)
			switch {
			case !ok:
				t.Fatalf("seed %d: lowestCut(%d) after %d cuts has no answer", seed, c0, c1)
			case low > want || exact && low != want:
				t.Fatalf("seed %d: lowestCut(%d) after %d cuts = %d, exact %v; want %d", seed, c0, c1, low, exact, want)
			case !exact && c1-c0 <= cutLowsCap:
				t.Fatalf("seed %d: lowestCut(%d) after %d cuts is a bound, reaching back %d cuts", seed, c0, c1, c1-c0)
			case !exact:
				bounds++
			}
		}
	}
	t.Logf("%d answers were bounds", bounds)
	if bounds == 0 {
		t.Errorf("seed %d: no answer was a bound: the older entries never merged", seed)
	}
}

// TestLowestCutInFlight checks that a reader never takes a half-recorded
// cut: while one goroutine records cuts whose Sizes follow from their
// numbers, others ask and check each answer against the cuts counted just
// before and just after the question.
func TestLowestCutInFlight(t *testing.T) {
	// Runs that rise past what the stack and the older entries hold
	// (entries move down and merge), then fall (entries go): every change
	// recordCut makes.
	const run = cutLowsCap + cutsOlderCap + 20
	size := func(c uint64) int64 { return int64(c%run) * 3 }
	p := &statePage{}
	s := &sharedPage{p: p}
	p.restartCuts(size(0))
	id := p.lows.id.Load()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var answered, asked, bounds atomic.Int64
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				before := p.cuts.Load()
				c0 := before - min(before, uint64(rand.IntN(run)))
				low, exact, ok := s.lowestCut(id, c0)
				after := p.cuts.Load()
				asked.Add(1)
				if !ok {
					continue
				}
				answered.Add(1)
				if !exact {
					// A bound: at most the lowest of the cuts
					// counted before the question.
					bounds.Add(1)
					for c := c0; c < before; c++ {
						if low > size(c) {
							t.Errorf("lowestCut(%d) between %d and %d cuts = %d, a bound above cut %d's Size %d", c0, before, after, low, c, size(c))
							return
						}
					}
					continue
				}
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
	for c := uint64(1); c < 200000 && !t.Failed(); c++ {
		p.recordCut(size(c))
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d of %d questions answered, %d with a bound", answered.Load(), asked.Load(), bounds.Load())
	c1 := p.cuts.Load()
	if low, _, ok := s.lowestCut(id, c1-1); !ok || low != size(c1-1) {
		t.Errorf("lowestCut(%d) once the writer stopped = %d, %v; want %d, true", c1-1, low, ok, size(c1-1))
	}

	// A writer that stopped inside recordCut (it died there) leaves the
	// record unanswerable until the next one sets the page up again.
	p.lows.seq.Add(1)
	if low, _, ok := s.lowestCut(id, p.cuts.Load()); ok {
		t.Errorf("lowestCut with a cut half recorded = %d, true; want no answer", low)
	}
	p.restartCuts(5)
	if low, _, ok := s.lowestCut(p.lows.id.Load(), p.cuts.Load()-1); !ok || low != 5 {
		t.Errorf("lowestCut after the page was set up again = %d, %v; want 5, true", low, ok)
	}
}

// TestLowestCutOlderWriter checks a page that a writer of an earlier
// build took over from one of this build: its Open began a new numbering
// and left the older entries as they were, and its cuts drop the stack's
// oldest entry and move from. Those older entries are of another
// numbering: answers from from on are exact, there are none below it, and
// recordCut (which does what the earlier build did, on such a page)
// leaves them alone.
func TestLowestCutOlderWriter(t *testing.T) {
	p, s := newCutPage()
	for _, size := range rising(cutLowsCap + 8) {
		p.recordCut(size)
	}
	held := p.lows.older.n.Load()
	if held == 0 {
		t.Fatal("no older entries after more cuts than the stack holds")
	}
	earlierRestart(p, 1<<20)
	id := p.lows.id.Load()
	for _, size := range risingFrom(1<<20+1, cutLowsCap+4) {
		p.recordCut(size)
	}
	from := p.lows.from.Load()
	if n := p.lows.older.n.Load(); n != held {
		t.Errorf("older entries of another numbering: %d after the cuts, want %d as they were", n, held)
	}
	if low, _, ok := s.lowestCut(id, from-1); ok {
		t.Errorf("lowestCut(%d) below from = %d, true; want no answer", from-1, low)
	}
	if low, exact, ok := s.lowestCut(id, from); !ok || !exact || low != p.lows.size[0].Load() {
		t.Errorf("lowestCut(%d) at from = %d, exact %v, %v; want %d, exact", from, low, exact, ok, p.lows.size[0].Load())
	}
}

// earlierRestart is restartCuts as a writer of an earlier build runs it:
// it knows no older entries.
func earlierRestart(p *statePage, size int64) {
	l := &p.lows
	q := l.seq.Load() | 1
	l.seq.Store(q)
	c := p.cuts.Load()
	l.id.Store(newCutsID())
	l.from.Store(c)
	l.at[0].Store(c)
	l.size[0].Store(size)
	l.n.Store(1)
	p.cuts.Store(c + 1)
	l.done.Store(c + 1)
	l.seq.Store(q + 1)
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
func rising(k int) []int64 { return risingBy(0, 1, k) }

// risingFrom returns k cuts, each to a Size above the last: from, from+1,
// ...
func risingFrom(from int64, k int) []int64 { return risingBy(from, 1, k) }

// risingBy returns k cuts, each step above the last: from, from+step, ...
func risingBy(from, step int64, k int) []int64 {
	r := make([]int64, k)
	for i := range r {
		r[i] = from + step*int64(i)
	}
	return r
}

// TestFollow_ReadNotEndedAtBound checks that a following reader does not
// end a read at a bound from the record of cuts as if a cut came there. A
// cut just below the read's end came before the read; during it the writer
// cut the end more times than the record holds, each above the last, and
// the record merged the close pair of the old cut and the first new one:
// its answer for the read is the old cut's Size, a bound. Taken for the
// place of a cut, it would end the read short with io.EOF, though Size
// never went below the read's end while it ran; the read is made again.
func TestFollow_ReadNotEndedAtBound(t *testing.T) {
	w := openWriter(t, t.TempDir())
	cs := w.ChunkSize()
	r := followed(t, w, 8, 'A', nil)
	end := 8*cs - 5000 // more than followPiece: read in pieces
	if end <= followPiece {
		t.Fatalf("a read of %d bytes is not read in pieces of %d", end, followPiece)
	}
	wantRead(t, r, 0, int(end), 'A', "before the cuts")
	if err := w.Truncate(end - 10); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(bytes.Repeat([]byte{'A'}, int(8*cs-w.Size()))); err != nil {
		t.Fatal(err)
	}
	rm := r.shared.markRead() // as the read's first try marks it
	calls, cuts := 0, 0
	takePageHook = func(stage int, _ *pageState) {
		if stage != takeLoaded {
			return
		}
		if calls++; calls > 1 {
			return
		}
		for k := range int64(cutLowsCap + cutsOlderCap + 8) {
			size := end + 2000*k
			if err := w.Truncate(size + 1); err != nil {
				t.Error(err)
				return
			}
			if err := w.Truncate(size); err != nil {
				t.Error(err)
				return
			}
			cuts++
		}
	}
	defer func() { takePageHook = nil }()
	got := make([]byte, end)
	n, err := r.ReadAt(got, 0)
	takePageHook = nil
	if calls == 0 || cuts <= cutLowsCap+cutsOlderCap {
		t.Fatalf("the writer cut %d times during the read (hook ran %d times), want more than %d", cuts, calls, cutLowsCap+cutsOlderCap)
	}
	if low, exact, ok := r.shared.lowestSince(rm); !ok || exact || low != end-10 {
		t.Fatalf("the record's answer for the read = %d, exact %v, %v; want the bound %d", low, exact, ok, end-10)
	}
	if n != int(end) || err != nil || bytes.Count(got, []byte{'A'}) != int(end) {
		t.Errorf("ReadAt of %d bytes during the cuts = %d, %v; want all of them, 'A', and no error", end, n, err)
	}
}
