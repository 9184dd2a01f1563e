package chunkmap_test

// Tests of where a small write goes: after a Sync, the first CleanWrites
// writes to chunks whose mappings are clean go to the files with pwrite,
// which marks only the blocks they write for the next fsync; the rest, and
// every write to a chunk already stored to, store through the mapping.

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// countPwrites opens dir with opts through a file system that counts the
// writes to chunk files (pwrites: stores through a mapping are not seen)
// in n.
func countPwrites(t *testing.T, dir string, opts chunkmap.Options, n *atomic.Int64) *chunkmap.Manager {
	t.Helper()
	chunkmap.SetFS(&opts, writeHookFS{FS: vfs.OS, onWrite: func() func() { n.Add(1); return nil }})
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// writtenCountingPwrites is countPwrites on a new dataset of chunks chunks
// of MinChunkSize, written whole, that maps every chunk it uses.
func writtenCountingPwrites(t *testing.T, chunks int64, n *atomic.Int64) *chunkmap.Manager {
	t.Helper()
	const cs = chunkmap.MinChunkSize
	m := countPwrites(t, t.TempDir(), chunkmap.Options{ChunkSize: cs, NoAdmission: true}, n)
	if _, err := m.WriteAt(make([]byte, chunks*cs), 0); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSmallWrites_FirstAfterSyncGoToTheFile(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, tc := range []struct {
		name string
		size int   // bytes per write
		off  int64 // of the first write; later ones follow 8 KiB apart
	}{
		{"8B", 8, 0},
		{"4KiB", 4096, 0},
		{"below bulk", 64<<10 - 8, 0},
		{"across a chunk boundary", 64, cs - 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var pw atomic.Int64
			m := countPwrites(t, dir, chunkmap.Options{ChunkSize: cs, NoAdmission: true}, &pw)
			// Writes 8 KiB apart over 128 chunks (each a folio of its
			// own): no more than 8 to a folio, below CleanPerFolio, so
			// that the budget alone decides.
			const chunks = 128
			const stride = 8 << 10
			mappable(t, m, chunks)
			if _, err := m.WriteAt(make([]byte, chunks*cs), 0); err != nil {
				t.Fatal(err)
			}
			syncAndMap(t, m, chunks, &pw)
			if st := m.Stats(); st.Mapped != chunks {
				t.Fatalf("Mapped = %d after reading every chunk, want %d", st.Mapped, chunks)
			}
			want := make([]byte, chunks*cs)
			write := func(i int) {
				t.Helper()
				p := bytes.Repeat([]byte{byte(i + 1)}, tc.size)
				off := (tc.off + int64(i)*stride) % (chunks*cs - int64(tc.size))
				if _, err := m.WriteAt(p, off); err != nil {
					t.Fatal(err)
				}
				copy(want[off:], p)
			}
			// pieces is how many chunks a write at off touches: each
			// piece is a write of its own to a file or a mapping.
			pieces := func(i int) int64 {
				off := (tc.off + int64(i)*stride) % (chunks*cs - int64(tc.size))
				return (off+int64(tc.size)-1)/cs - off/cs + 1
			}
			// After a Sync, the first CleanWrites pieces go to the files
			// (no chunk is stored to through its mapping before that)...
			pw.Store(0)
			var total int64
			for i := range 3 * chunkmap.CleanWrites {
				write(i)
				if total += pieces(i); total <= chunkmap.CleanWrites {
					if got := pw.Load(); got != total {
						t.Fatalf("write %d after a Sync: %d pwrites so far, want %d", i, got, total)
					}
				}
			}
			// ...and the rest through the mappings.
			if got := pw.Load(); got != chunkmap.CleanWrites {
				t.Fatalf("%d writes (%d pieces) after a Sync made %d pwrites, want %d", 3*chunkmap.CleanWrites, total, got, chunkmap.CleanWrites)
			}
			// The next Sync starts again.
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			pw.Store(0)
			write(3 * chunkmap.CleanWrites)
			if got, want := pw.Load(), pieces(3*chunkmap.CleanWrites); got != want {
				t.Fatalf("the first write after the second Sync made %d pwrites, want %d", got, want)
			}
			got := make([]byte, len(want))
			if _, err := m.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("ReadAt does not return what the writes wrote")
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			m2 := openTestManager(t, dir, &chunkmap.Options{ReadOnly: true})
			if _, err := m2.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("the dataset reopened does not hold what the writes wrote")
			}
		})
	}
}

// TestSmallWrites_PwriteSeenThroughPin: a write that goes to the file
// while a pin holds the chunk's mapping is in the pinned bytes at once (the
// page cache is shared). A chunk held writable is stored to through its
// mapping by its holder, so writes to it store there too; both kinds are
// durable after a Sync.
func TestSmallWrites_PwriteSeenThroughPin(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	var pw atomic.Int64
	m := countPwrites(t, dir, chunkmap.Options{ChunkSize: cs}, &pw)
	if _, err := m.WriteAt(make([]byte, 2*cs), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	pin, err := m.Pin(0, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer pin.Release()
	wpin, err := m.PinWritable(cs, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer wpin.Release()
	pw.Store(0)
	for i := range uint64(8) {
		var v [8]byte
		binary.LittleEndian.PutUint64(v[:], i+100)
		if _, err := m.WriteAt(v[:], int64(i)*4096); err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(pin.Bytes()[i*4096:]); got != i+100 {
			t.Fatalf("pinned bytes at %d hold %d after WriteAt of %d", i*4096, got, i+100)
		}
		binary.LittleEndian.PutUint64(v[:], i+200)
		if _, err := m.WriteAt(v[:], cs+int64(i)*4096); err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(wpin.Bytes()[i*4096:]); got != i+200 {
			t.Fatalf("writable pinned bytes at %d hold %d after WriteAt of %d", i*4096, got, i+200)
		}
		binary.LittleEndian.PutUint64(wpin.Bytes()[i*4096+8:], i+300)
		if _, err := m.ReadAt(v[:], cs+int64(i)*4096+8); err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(v[:]); got != i+300 {
			t.Fatalf("ReadAt at %d = %d after a store of %d through the pin", cs+int64(i)*4096+8, got, i+300)
		}
	}
	if pw.Load() != 8 {
		t.Fatalf("8 small writes to a clean chunk and 8 to one held writable after a Sync made %d pwrites, want 8", pw.Load())
	}
	// A Sync leaves the chunk held writable clean, and writes to it still
	// store through the mapping.
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	pw.Store(0)
	if _, err := m.WriteAt([]byte{9}, cs+4000); err != nil {
		t.Fatal(err)
	}
	if got := wpin.Bytes()[4000]; got != 9 || pw.Load() != 0 {
		t.Fatalf("a write to a chunk held writable after a Sync: pinned byte %d, %d pwrites; want 9, 0", got, pw.Load())
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	pin.Release()
	wpin.Release()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := openTestManager(t, dir, &chunkmap.Options{ReadOnly: true})
	for i := range uint64(8) {
		var v [8]byte
		for _, c := range []struct {
			off  int64
			want uint64
		}{{int64(i) * 4096, i + 100}, {cs + int64(i)*4096, i + 200}, {cs + int64(i)*4096 + 8, i + 300}} {
			if _, err := m2.ReadAt(v[:], c.off); err != nil {
				t.Fatal(err)
			}
			if got := binary.LittleEndian.Uint64(v[:]); got != c.want {
				t.Fatalf("reopened, offset %d holds %d, want %d", c.off, got, c.want)
			}
		}
	}
}

// TestSmallWrites_ScatterStoresThroughTheMapping: a Scatter stores through
// the mappings whatever the state of their chunks, also for the values its
// own loop leaves to WriteAt's path (one across a chunk boundary).
func TestSmallWrites_ScatterStoresThroughTheMapping(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	var pw atomic.Int64
	m := writtenCountingPwrites(t, 2, &pw)
	syncAndMap(t, m, 2, &pw)
	src := []byte("abcdefgh12345678")
	if err := m.Scatter(src, []int64{100, cs - 4}, 8); err != nil {
		t.Fatal(err)
	}
	if got := pw.Load(); got != 0 {
		t.Fatalf("a Scatter to clean chunks after a Sync made %d pwrites, want 0", got)
	}
	got := make([]byte, 8)
	for i, off := range []int64{100, cs - 4} {
		if _, err := m.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		if string(got) != string(src[8*i:8*i+8]) {
			t.Fatalf("at %d: %q, want %q", off, got, src[8*i:8*i+8])
		}
	}
}

// TestSmallWrites_BudgetFollowsTheWrites checks how many small writes
// each interval between Syncs sends to the files: CleanWrites after an
// interval that did not spend its budget, CleanWritesDense after one
// that did (the program writes densely between syncs, and its stores
// dirty the folios anyway), save every CleanProbe-th such interval in a
// row, which gets CleanWrites again; an interval that then leaves some of
// it unspent (the writes thinned) restores CleanWrites.
func TestSmallWrites_BudgetFollowsTheWrites(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	var pw atomic.Int64
	m := countPwrites(t, t.TempDir(), chunkmap.Options{ChunkSize: cs, NoAdmission: true}, &pw)
	// The writes go round 128 chunks (each a folio of its own), so that
	// no interval's reaches CleanPerFolio writes a folio.
	const chunks = 128
	mappable(t, m, chunks)
	if _, err := m.WriteAt(make([]byte, chunks*cs), 0); err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	at := func(i int) int64 { return int64(i%chunks)*cs + int64(i/chunks%(cs/8))*8 }
	// interval syncs, then writes n 8-byte values and returns how many
	// went to the file.
	interval := func(n int) int64 {
		t.Helper()
		syncAndMap(t, m, chunks, &pw)
		for i := range n {
			binary.LittleEndian.PutUint64(b[:], uint64(i))
			if _, err := m.WriteAt(b[:], at(i)); err != nil {
				t.Fatal(err)
			}
		}
		return pw.Load()
	}
	dense := chunkmap.CleanWrites + 100
	want := []int64{chunkmap.CleanWrites} // the first interval: none before it spent a budget
	for i := 1; i < chunkmap.CleanProbe; i++ {
		want = append(want, chunkmap.CleanWritesDense)
	}
	want = append(want, chunkmap.CleanWrites) // the probe
	for i, w := range want {
		if got := interval(dense); got != w {
			t.Fatalf("dense interval %d: %d writes of %d went to the file, want %d", i, got, dense, w)
		}
	}
	// The probe spent its budget too: back to the dense budget.
	if got := interval(dense); got != chunkmap.CleanWritesDense {
		t.Fatalf("the interval after a spent probe: %d writes went to the file, want %d", got, chunkmap.CleanWritesDense)
	}
	// Sparse again: the dense budget is spent until the next probe, whose
	// budget this interval leaves partly unspent...
	for i := 1; i < chunkmap.CleanProbe-1; i++ {
		if got := interval(100); got != chunkmap.CleanWritesDense {
			t.Fatalf("sparse interval %d after dense ones: %d writes went to the file, want %d", i, got, chunkmap.CleanWritesDense)
		}
	}
	if got := interval(100); got != 100 {
		t.Fatalf("the probe among sparse intervals: %d of 100 writes went to the file, want all", got)
	}
	// ...and the full budget holds from then on.
	if got := interval(chunkmap.CleanWrites); got != chunkmap.CleanWrites {
		t.Fatalf("after the probe: %d of %d writes went to the file, want all", got, chunkmap.CleanWrites)
	}
	// An interval that leaves budget unspent ends a run of dense ones:
	// after it, the run that follows counts from its start, and its
	// probe comes CleanProbe intervals in, not where the old run's would.
	for i := range 3 {
		if got := interval(dense); got != chunkmap.CleanWritesDense {
			t.Fatalf("dense interval %d of a new run: %d writes went to the file, want %d", i, got, chunkmap.CleanWritesDense)
		}
	}
	if got := interval(10); got != 10 {
		t.Fatalf("a thin interval in a dense run: %d of 10 writes went to the file, want all", got)
	}
	want = []int64{chunkmap.CleanWrites}
	for i := 1; i < chunkmap.CleanProbe; i++ {
		want = append(want, chunkmap.CleanWritesDense)
	}
	want = append(want, chunkmap.CleanWrites)
	for i, w := range want {
		if got := interval(dense); got != w {
			t.Fatalf("dense interval %d after a thin one: %d writes went to the file, want %d", i, got, w)
		}
	}
	got := make([]byte, 8)
	if _, err := m.ReadAt(got, at(chunkmap.CleanWrites-1)); err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint64(got); v != uint64(chunkmap.CleanWrites-1) {
		t.Fatalf("the last write's value reads back as %d, want %d", v, chunkmap.CleanWrites-1)
	}
}

// TestSmallWrites_DenseStoreThroughTheMapping: writes that crowd into few
// folios between Syncs (here 100 to one chunk, a folio of its own) go to
// the file only until the interval has sent CleanWritesDense, and
// CleanPerFolio or more to each folio it reached; the rest store through
// the mapping, which dirties the folio once for all of them.
func TestSmallWrites_DenseStoreThroughTheMapping(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	var pw atomic.Int64
	m := writtenCountingPwrites(t, 4, &pw)
	var b [8]byte
	for round := range 3 {
		syncAndMap(t, m, 4, &pw)
		for i := range 100 {
			binary.LittleEndian.PutUint64(b[:], uint64(round*100+i))
			if _, err := m.WriteAt(b[:], cs+int64(i%4)*8); err != nil {
				t.Fatal(err)
			}
		}
		// The first round's budget is CleanWrites, the density stops it
		// at CleanWritesDense; the later rounds follow an interval that
		// used all it had, and get CleanWritesDense.
		if got := pw.Load(); got != chunkmap.CleanWritesDense {
			t.Fatalf("round %d: %d of 100 writes to one folio went to the file, want %d", round, got, chunkmap.CleanWritesDense)
		}
		got := make([]byte, 32)
		if _, err := m.ReadAt(got, cs); err != nil {
			t.Fatal(err)
		}
		for k := range 4 {
			if v, want := binary.LittleEndian.Uint64(got[8*k:]), uint64(round*100+96+k); v != want {
				t.Fatalf("round %d: value %d reads %d, want %d", round, k, v, want)
			}
		}
	}
}

// syncAndMap syncs m, maps its first n chunks (a read maps on a miss
// without admission), and zeroes the count of pwrites: the state after
// which the next small writes choose between pwrite and the mappings.
func syncAndMap(t *testing.T, m *chunkmap.Manager, n int, pw *atomic.Int64) {
	t.Helper()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	for i := range int64(n) {
		if _, err := m.ReadAt(b[:], i*m.ChunkSize()); err != nil {
			t.Fatal(err)
		}
	}
	pw.Store(0)
}

// mappable skips the test where m cannot keep n chunks mapped at once: a
// zero MaxMapped keeps no more than a quarter of the process's limit of
// open files (less than 4n+16 of them).
func mappable(t *testing.T, m *chunkmap.Manager, n int) {
	t.Helper()
	if m.MaxMapped() < n {
		t.Skipf("MaxMapped is %d, below the %d chunks the test maps (raise the limit of open files)", m.MaxMapped(), n)
	}
}

// TestSmallWrites_DensityBoundary walks the density limit write by write:
// 16 writes to each of two folios send 32; a write to a third folio still
// goes (32 writes are not 16 a folio over three), and so do writes to it
// until 48 have gone, 16 a folio over the three; then the interval stores.
func TestSmallWrites_DensityBoundary(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	var pw atomic.Int64
	m := writtenCountingPwrites(t, 4, &pw)
	syncAndMap(t, m, 4, &pw) // each chunk a folio of its own
	var b [8]byte
	steps := []struct {
		chunk, writes int
		sent          int64 // pwrites after the step
	}{
		{0, 16, 16},
		{1, 16, 32},
		{2, 1, 33},
		{2, 15, 48},
		{2, 1, 48},
		{3, 1, 48}, // the interval stores from then on
	}
	for i, st := range steps {
		for k := range st.writes {
			if _, err := m.WriteAt(b[:], int64(st.chunk)*cs+int64(k)*8); err != nil {
				t.Fatal(err)
			}
		}
		if got := pw.Load(); got != st.sent {
			t.Fatalf("step %d (%d writes to chunk %d): %d pwrites so far, want %d", i, st.writes, st.chunk, got, st.sent)
		}
	}
}

// TestSmallWrites_LargeChunkFolios: in a chunk larger than a folio, the
// density counts the chunk's 2 MiB folios apart. 256 random 8-byte writes
// over a chunk of 64 MiB, 8 a folio on average, all go to the file, after
// each Sync; counting the chunk as one folio would send 32.
func TestSmallWrites_LargeChunkFolios(t *testing.T) {
	const cs = 64 << 20
	var pw atomic.Int64
	m := countPwrites(t, t.TempDir(), chunkmap.Options{ChunkSize: cs, NoAdmission: true}, &pw)
	if err := m.Truncate(cs); err != nil { // sparse: no disk
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(testSeed(t, "CHUNKMAP_CLEANWRITE_SEED"), 0))
	var b [8]byte
	for round := range 3 {
		syncAndMap(t, m, 1, &pw)
		for range 256 {
			if _, err := m.WriteAt(b[:], r.Int64N(cs/8)*8); err != nil {
				t.Fatal(err)
			}
		}
		if got := pw.Load(); got != 256 {
			t.Fatalf("round %d: %d of 256 writes over 32 folios went to the file, want all", round, got)
		}
	}
}

// TestSmallWrites_SparseChunkEarnsItsPrefix writes 8 bytes over and over
// at one place half way into a sparse chunk (a hash table's busy bucket):
// the writes go by pwrite, each counting a block towards the chunk's
// allocation, until the chunk's allocated prefix up to them would take no
// more than SparseAlloc times what they wrote; from then on they store
// through the mapping. Allocating the prefix at the first write would
// send no more than the budget's first writes by pwrite; sending every
// write by pwrite would send them all.
func TestSmallWrites_SparseChunkEarnsItsPrefix(t *testing.T) {
	keepHolesOnTmpfs(t)
	const cs = 64 << 20 // allocation steps of 4 MiB
	const at = cs / 2
	const writes = 4000
	var pw atomic.Int64
	m := countPwrites(t, t.TempDir(), chunkmap.Options{ChunkSize: cs, NoAdmission: true}, &pw)
	skipWhereChunksAreFilled(t, m)
	if err := m.Truncate(cs); err != nil {
		t.Fatal(err)
	}
	syncAndMap(t, m, 1, &pw)
	var b [8]byte
	for i := range writes {
		binary.LittleEndian.PutUint64(b[:], uint64(i)+1)
		if _, err := m.WriteAt(b[:], at); err != nil {
			t.Fatal(err)
		}
	}
	// The prefix up to the write, a whole number of steps, for 4 KiB a
	// pwrite.
	step := chunkmap.AllocStep(m)
	earn := ((at+8+step-1)/step*step + chunkmap.SparseAlloc*4096 - 1) / (chunkmap.SparseAlloc * 4096)
	if got := pw.Load(); got < earn || got > earn+chunkmap.CleanWritesDense {
		t.Errorf("%d writes to one place in a sparse chunk sent %d by pwrite, want %d to %d (the prefix earned, then stores through the mapping)",
			writes, got, earn, earn+chunkmap.CleanWritesDense)
	}
	if _, err := m.ReadAt(b[:], at); err != nil || binary.LittleEndian.Uint64(b[:]) != writes {
		t.Errorf("ReadAt %d = %d, %v; want %d", at, binary.LittleEndian.Uint64(b[:]), err, writes)
	}
}
