package chunkmap_test

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestSmallWrites_GrowAfterReopen: random 4 KiB writes into a dataset
// Truncated to 2 chunks of 64 MiB, opened again before the writes. Where nothing
// allocated the chunks, the writes past their holes go by pwrite (the
// sparse rule: see holesBeforeLocked). Where Grow allocated them whole
// before the Truncate, every write stores through the mapping, in the
// Manager that grew them and in one opened since, although ext4 and XFS
// call blocks fallocated but never written holes, and the new Manager
// knows nothing of the Grow: every write went by pwrite there. The seed
// is printed (CHUNKMAP_GROWREOPEN_SEED replays it).
func TestSmallWrites_GrowAfterReopen(t *testing.T) {
	// Chunks large enough that the writes do not earn them their
	// prefixes (sparseAlloc times what pwrite wrote) within the test.
	const cs = 64 << 20
	const chunks, writes = 2, 200
	keepHolesOnTmpfs(t) // where Truncate would otherwise allocate its zeros
	seed := testSeed(t, "CHUNKMAP_GROWREOPEN_SEED")
	for _, tc := range []struct {
		name     string
		grow     bool
		wantNone bool // no write goes by pwrite
		wantSome bool // some do
	}{
		{"truncated", false, false, true},
		{"grown", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			if tc.grow {
				if err := m.Grow(chunks * cs); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.Truncate(chunks * cs); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			var pw atomic.Int64
			m = countPwrites(t, dir, chunkmap.Options{ChunkSize: cs, NoAdmission: true}, &pw)
			if chunkmap.FillsChunks(m) {
				t.Skip("the file system fills chunks whole (tmpfs): no write is sparse")
			}
			r := rand.New(rand.NewPCG(seed, 1))
			buf := make([]byte, 4096)
			write := func(n int) {
				for range n {
					if _, err := m.WriteAt(buf, r.Int64N(chunks*cs/4096)*4096); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The first small writes after an Open go by pwrite
			// whatever their chunk, up to a budget (see cleanWrites):
			// past it, the sparse rule alone decides.
			write(chunkmap.CleanWrites + 100)
			pw.Store(0)
			write(writes)
			switch n := pw.Load(); {
			case tc.wantNone && n != 0:
				t.Errorf("%d of %d writes into grown chunks went by pwrite, want none", n, writes)
			case tc.wantSome && n == 0:
				t.Errorf("no write into sparse chunks went by pwrite: the test shows nothing")
			}
		})
	}
}
