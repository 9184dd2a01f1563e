package chunkmap

import "testing"

// TestUncut checks the follower's reading of the state page's ring of cuts
// (shared.go): a read stands only if every cut since it began left its
// bytes in, as far as the ring still records them.
func TestUncut(t *testing.T) {
	const end = 1000
	n := len(statePage{}.cut)
	tests := []struct {
		name  string
		cuts  []int64 // the Sizes the cuts since the read began left
		extra bool    // a further cut is in recordCut: its slot is written, cuts not yet
		want  bool
	}{
		{"none", nil, false, true},
		{"past the bytes", []int64{end, 4000}, false, true},
		{"into the bytes", []int64{4000, end - 1, 4000}, false, false},
		{"all the ring holds", cutSizes(4000, n-1), false, true},
		{"more than the ring holds", cutSizes(4000, n+1), false, false},
		// The slot of the first cut is written over by the cut in
		// flight while cuts still says n since: the first cut's Size
		// is gone, so nothing can be told.
		{"a full ring, one in flight", append([]int64{500}, cutSizes(4000, n-1)...), true, false},
		{"one short of it, one in flight", append([]int64{4000}, cutSizes(4000, n-2)...), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &statePage{}
			s := &sharedPage{p: p}
			p.recordCut(1 << 20) // a cut before the read
			c0 := p.cuts.Load()
			for _, size := range tc.cuts {
				p.recordCut(size)
			}
			if tc.extra {
				c := p.cuts.Load()
				p.cut[c%uint64(n)].Store(4000)
			}
			if got := s.uncut(c0, end); got != tc.want {
				t.Errorf("uncut after cuts to %v (one more in flight: %v) = %v, want %v", tc.cuts, tc.extra, got, tc.want)
			}
		})
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
