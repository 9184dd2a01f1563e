//go:build linux

package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// diskUse returns the bytes allocated on disk to dir and the files in it,
// as du -s counts them (st_blocks × 512), and to the directory itself
// separately.
func diskUse(t *testing.T, dir string) (files, self int64) {
	t.Helper()
	blocks := func(path string) int64 {
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		files += blocks(filepath.Join(dir, e.Name()))
	}
	return files, blocks(dir)
}

// TestDiskUse_FollowsData checks that a dataset's disk use is its data plus
// at most one allocation step and the manifest, not whole chunks: chunk
// files are sparse, and allocated ahead of the writes in steps.
func TestDiskUse_FollowsData(t *testing.T) {
	keepHolesOnTmpfs(t)
	const step = 64 << 20 // allocStep of the default 1 GiB chunks
	tests := []struct {
		name   string
		opts   *chunkmap.Options
		step   int64
		write  func(t *testing.T, m *chunkmap.Manager, n int64)
		sizes  []int64
		minUse bool // the bytes written must be allocated
	}{
		{"zero options, WriteAt", nil, step, writeSeq, []int64{1, 4096, 10 << 20, 65 << 20}, true},
		{"zero options, Append 1 MiB", nil, step, appendSeq, []int64{1 << 20, 130 << 20}, true},
		{"64 KiB chunks, Append 1 MiB", &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize}, chunkmap.MinChunkSize, appendSeq, []int64{1 << 20, 9 << 20}, true},
		{"zero options, sparse write at 3 GiB", nil, step, func(t *testing.T, m *chunkmap.Manager, n int64) {
			if _, err := m.WriteAt(make([]byte, n), 3<<30); err != nil {
				t.Fatal(err)
			}
		}, []int64{1}, false},
		// Half way into a new chunk: its own blocks, not the chunk's
		// first half (allocRangeLocked with spans).
		{"zero options, sparse write at 3.5 GiB", nil, step, func(t *testing.T, m *chunkmap.Manager, n int64) {
			if _, err := m.WriteAt(make([]byte, n), 7<<29); err != nil {
				t.Fatal(err)
			}
		}, []int64{1, 4096}, false},
	}
	for _, tc := range tests {
		for _, n := range tc.sizes {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if chunkmap.FillsChunks(m) {
				m.Close()
			}
			skipWhereChunksAreFilled(t, m) // chunk files are not sparse there
			// The steps grow to a folio where pages are larger than 4
			// KiB (128 MiB with 64 KiB pages): that is the bound there.
			tc.step = max(tc.step, chunkmap.AllocStep(m))
			if free, err := chunkmap.FreeSpace(m); err == nil && free < n+2*tc.step+4<<10 {
				m.Close()
				t.Skipf("%s, %d bytes: the file system of %s has %d bytes free", tc.name, n, dir, free)
			}
			tc.write(t, m, n)
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			files, self := diskUse(t, dir)
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			// The manifest's one page, and for each file a block of the
			// file system's own: an extent tree's index block where ext4
			// with 1 KiB blocks (block groups of 8 MiB) splits a step
			// into more extents than its inode holds.
			limit := n + tc.step + 4<<10 + int64(len(ents))*4<<10
			if files > limit {
				t.Errorf("%s, %d bytes: the dataset's files use %d bytes on disk, want at most %d (data + one step of %d + the manifest + a block a file)",
					tc.name, n, files, limit, tc.step)
			}
			if tc.minUse && files < n {
				t.Errorf("%s, %d bytes: the dataset's files use %d bytes on disk, less than the data", tc.name, n, files)
			}
			t.Logf("%s, %d bytes: %d bytes on disk (+ %d for the directory)", tc.name, n, files, self)
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// writeSeq writes n bytes from offset 0, in writes of at most 4 MiB.
func writeSeq(t *testing.T, m *chunkmap.Manager, n int64) {
	t.Helper()
	buf := make([]byte, min(n, 4<<20))
	for i := range buf {
		buf[i] = byte(i) | 1
	}
	for off := int64(0); off < n; {
		k := min(int64(len(buf)), n-off)
		if _, err := m.WriteAt(buf[:k], off); err != nil {
			t.Fatal(err)
		}
		off += k
	}
}

// appendSeq appends n bytes in blocks of at most 1 MiB.
func appendSeq(t *testing.T, m *chunkmap.Manager, n int64) {
	t.Helper()
	buf := make([]byte, min(n, 1<<20))
	for i := range buf {
		buf[i] = byte(i) | 1
	}
	for done := int64(0); done < n; {
		k := min(int64(len(buf)), n-done)
		if _, err := m.Append(buf[:k]); err != nil {
			t.Fatal(err)
		}
		done += k
	}
}

// TestStores_AllocateBeforeStoring scatters, and stores and adds atomically,
// into a mapped chunk whose file is allocated only for its first step: the
// lock-free path must not store past the allocated prefix (a full disk
// would then fault, or lose the store at writeback, instead of failing the
// call), so the value far into the chunk goes the locked way, which
// allocates the file up to it first, or (Scatter's, past a hole of the
// sparse chunk: see holesBeforeLocked) writes it with pwrite.
func TestStores_AllocateBeforeStoring(t *testing.T) {
	tests := []struct {
		name  string
		store func(m *chunkmap.Manager, offs []int64, src []byte) error
	}{
		{"Scatter", func(m *chunkmap.Manager, offs []int64, src []byte) error {
			return m.Scatter(src, offs, 8)
		}},
		{"StoreUint64", func(m *chunkmap.Manager, offs []int64, src []byte) error {
			for i, off := range offs {
				if err := m.StoreUint64(off, binary.NativeEndian.Uint64(src[8*i:])); err != nil {
					return err
				}
			}
			return nil
		}},
		{"AddUint64", func(m *chunkmap.Manager, offs []int64, src []byte) error {
			for i, off := range offs {
				if _, err := m.AddUint64(off, binary.NativeEndian.Uint64(src[8*i:])); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { testAllocatesBeforeStoring(t, tc.store) })
	}
}

// testAllocatesBeforeStoring is TestStores_AllocateBeforeStoring for one
// way of storing the 8-byte values of src at offs.
func testAllocatesBeforeStoring(t *testing.T, store func(m *chunkmap.Manager, offs []int64, src []byte) error) {
	keepHolesOnTmpfs(t)
	const chunkSize = 32 << 20 // allocation steps of 2 MiB
	const far = 24 << 20
	dir := t.TempDir()
	var pw atomic.Int64
	m := countPwrites(t, dir, chunkmap.Options{ChunkSize: chunkSize, NoAdmission: true}, &pw)
	skipWhereChunksAreFilled(t, m) // each chunk allocated whole at creation
	if step := chunkmap.AllocStep(m); step > far/2 {
		t.Skipf("allocation steps of %d bytes (pages of %d): the first one already covers the far offset", step, os.Getpagesize())
	}
	// Chunk 0 allocated for its first step only, mapped; chunk 1 makes
	// the far offsets of chunk 0 lie within Size.
	for _, off := range []int64{0, chunkSize} {
		if _, err := m.WriteAt(make([]byte, 8), off); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.ReadAt(make([]byte, 8), 0); err != nil {
		t.Fatal(err)
	}
	chunk0 := filepath.Join(dir, "0000000000000000.chunk")
	before := fileBlocks(t, chunk0)
	if before >= 8<<20 {
		t.Fatalf("chunk 0 has %d bytes allocated before the scatter, want one step (2 MiB)", before)
	}
	offs := []int64{8, 16, far, far + 8}
	src := []byte("aaaaaaaabbbbbbbbccccccccdddddddd")
	pw.Store(0)
	if err := store(m, offs, src); err != nil {
		t.Fatal(err)
	}
	if after := fileBlocks(t, chunk0); after < far+8 && pw.Load() == 0 {
		t.Errorf("chunk 0 has %d bytes allocated after a store at %d, want at least %d, or the far values written with pwrite", after, far, far+8)
	}
	got := make([]byte, 8)
	for i, off := range offs {
		if _, err := m.ReadAt(got, off); err != nil || string(got) != string(src[8*i:8*i+8]) {
			t.Errorf("ReadAt(%d) = %q, %v; want %q", off, got, err, src[8*i:8*i+8])
		}
	}
}

// fileBlocks returns the bytes allocated on disk to the file at path.
func fileBlocks(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestDiskUse_PrefixPerChunk checks the README's bound on the blocks of
// each chunk file: the allocated blocks of a chunk are a prefix, so a
// store far into a chunk allocates it up to there plus at most one step,
// a chunk nothing wrote stays a hole, and a WriteAt that goes to the file
// with pwrite (64 KiB or more) takes only the blocks it fills.
func TestDiskUse_PrefixPerChunk(t *testing.T) {
	keepHolesOnTmpfs(t)
	const (
		chunkSize = 16 << 20 // allocation steps of 2 MiB
		step      = 2 << 20
		far       = 10 << 20
		slack     = 64 << 10 // a file system's own blocks
		grown     = far + 8 + step + slack
	)
	tests := []struct {
		name  string
		write func(m *chunkmap.Manager) error
		most  [3]int64 // the most bytes each chunk file may use
	}{
		{"growth write far into chunk 0", func(m *chunkmap.Manager) error {
			_, err := m.WriteAt(make([]byte, 8), far)
			return err
		}, [3]int64{grown, 0, 0}},
		{"atomic far into chunk 1", func(m *chunkmap.Manager) error {
			return m.StoreUint64(chunkSize+far, 1)
		}, [3]int64{0, grown, 0}},
		{"pin far into chunk 2", func(m *chunkmap.Manager) error {
			p, err := m.PinWritable(2*chunkSize+far, 8)
			if err == nil {
				p.Bytes()[0] = 1
				p.Release()
			}
			return err
		}, [3]int64{0, 0, grown}},
		{"pwrite far into chunk 1", func(m *chunkmap.Manager) error {
			_, err := m.WriteAt(make([]byte, 64<<10), chunkSize+far)
			return err
		}, [3]int64{0, 64<<10 + slack, 0}},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkSize, MaxMapped: 2})
		if err != nil {
			t.Fatal(err)
		}
		skipWhereChunksAreFilled(t, m)
		if tc.name != "growth write far into chunk 0" {
			if err := m.Truncate(3 * chunkSize); err != nil {
				t.Fatal(err)
			}
		}
		if err := tc.write(m); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := m.Truncate(3 * chunkSize); err != nil {
			t.Fatal(err)
		}
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		for i, most := range tc.most {
			if most == grown && chunkmap.AllocStep(m) > step {
				// Steps of a folio where pages are larger than 4 KiB:
				// with 64 KiB pages, the whole chunk.
				most = min(far+8+chunkmap.AllocStep(m), chunkSize) + slack
			}
			path := filepath.Join(dir, fmt.Sprintf("%016x.chunk", i))
			if got := fileBlocks(t, path); got > most {
				t.Errorf("%s: chunk %d uses %d bytes on disk, want at most %d", tc.name, i, got, most)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDiskUse_SparseRandomWrites fills a dataset Truncated to its full size
// (sparse: a hash table's, say) with random 4 KiB WriteAts, more of them
// than go to the files by pwrite after a Sync anyway (CleanWrites): the
// rest begin past holes of their chunks and go by pwrite too, but where a
// chunk's allocated prefix up to them would take no more than SparseAlloc
// times the bytes written into it, so the disk holds at most the data and
// SparseAlloc times it, where allocating each chunk up to every write took
// the whole dataset. The bytes read back.
func TestDiskUse_SparseRandomWrites(t *testing.T) {
	keepHolesOnTmpfs(t)
	const cs = 256 << 20 // allocation steps of 16 MiB
	const size = 4 * cs
	const writes = 2048
	seed := testSeed(t, "CHUNKMAP_SPARSE_SEED")
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	skipWhereChunksAreFilled(t, m)
	if err := m.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if writes <= chunkmap.CleanWrites {
		t.Fatalf("%d writes do not outnumber the %d a Sync's interval sends by pwrite anyway", writes, chunkmap.CleanWrites)
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	model := make(map[int64][]byte)
	for i := range writes {
		off := rng.Int64N(size/4096) * 4096
		p := make([]byte, 4096)
		binary.LittleEndian.PutUint64(p, uint64(i)+1)
		binary.LittleEndian.PutUint64(p[4088:], uint64(off)|1)
		if _, err := m.WriteAt(p, off); err != nil {
			t.Fatalf("WriteAt %d: %v", off, err)
		}
		model[off] = p
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	files, _ := diskUse(t, dir)
	// The data, the prefixes it paid for, the manifest's page, and for
	// each write a block of the extent tree's, generously (ext4 with
	// 1 KiB blocks splits extents more often).
	limit := int64(writes*4096*(chunkmap.SparseAlloc+2) + 64<<10)
	t.Logf("%d writes (%d places): %d bytes on disk", writes, len(model), files)
	if files > limit {
		t.Errorf("%d random 4 KiB writes into %d sparse bytes use %d bytes on disk, want at most %d", writes, int64(size), files, limit)
	}
	got := make([]byte, 4096)
	for off, p := range model {
		if _, err := m.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("the 4 KiB at %d differ from what was written there last", off)
		}
	}
}

// TestDiskUse_SparseWritesOnFullDisk fills a small file system under a
// sparse dataset: a WriteAt past a hole of a chunk (sent by pwrite) and a
// growth write far into a new chunk (its own blocks allocated first) fail
// with ErrNoSpace, leave Size and the bytes as they were, and succeed once
// there is room again.
func TestDiskUse_SparseWritesOnFullDisk(t *testing.T) {
	keepHolesOnTmpfs(t)
	const cs = 1 << 20 // allocation steps of 64 KiB
	root := mountTmpfs(t, 4<<20)
	m, err := chunkmap.Open(filepath.Join(root, "ds"), &chunkmap.Options{ChunkSize: cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Truncate(2 * cs); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadAt(make([]byte, 8), cs); err != nil { // maps chunk 1
		t.Fatal(err)
	}
	fillDisk(t, root, "filler")
	p := []byte("sparse!!")
	for _, w := range []struct {
		name string
		off  int64
	}{
		{"past a hole, within Size", cs + cs/2},
		{"far into a new chunk, past Size", 2*cs + cs/2},
	} {
		if _, err := m.WriteAt(p, w.off); !errors.Is(err, chunkmap.ErrNoSpace) {
			t.Errorf("%s on a full disk: WriteAt(%d) = %v, want ErrNoSpace", w.name, w.off, err)
		}
	}
	if got := m.Size(); got != 2*cs {
		t.Errorf("Size after the failed writes = %d, want %d", got, 2*cs)
	}
	got := make([]byte, len(p))
	if _, err := m.ReadAt(got, cs+cs/2); err != nil || !bytes.Equal(got, make([]byte, len(p))) {
		t.Errorf("ReadAt of the failed write's bytes = %q, %v; want zeros", got, err)
	}
	if err := os.Remove(filepath.Join(root, "filler")); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{cs + cs/2, 2*cs + cs/2} {
		if _, err := m.WriteAt(p, off); err != nil {
			t.Fatalf("WriteAt(%d) with room again: %v", off, err)
		}
		if _, err := m.ReadAt(got, off); err != nil || !bytes.Equal(got, p) {
			t.Errorf("ReadAt(%d) = %q, %v; want %q", off, got, err, p)
		}
	}
}
