package chunkmap_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// cs is the chunk size of every test dataset.
const cs = chunkmap.MinChunkSize

// newTestManager opens a new dataset in a fresh temporary directory. Nil
// opts mean 64 KiB chunks and MaxMapped 4.
func newTestManager(t testing.TB, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	if opts == nil {
		opts = &chunkmap.Options{ChunkSize: cs, MaxMapped: 4}
	}
	return openTestManager(t, t.TempDir(), opts)
}

// openTestManager opens the dataset in dir. When the test ends it closes the
// Manager (if the test has not), checks that nothing is still mapped, and
// checks that the directory opens again, as a dataset of the same Start and
// Size if this cleanup closed it (a test that closed it may have reopened and
// changed the dataset since).
func openTestManager(t testing.TB, dir string, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s, %+v): %v", dir, opts, err)
	}
	t.Cleanup(func() {
		err := m.Close()
		if err != nil && !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		closedHere := err == nil
		if live, retired, doomed := m.Mappings(); live+retired+doomed != 0 {
			t.Errorf("after Close: %d live, %d retired, %d doomed mappings, want none", live, retired, doomed)
		}
		if s := m.Stats(); s.Mapped != 0 || s.Pinned != 0 {
			t.Errorf("after Close: Stats().Mapped, Pinned = %d, %d, want 0, 0", s.Mapped, s.Pinned)
		}
		r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
		if err != nil {
			t.Errorf("reopening %s after the test: %v", dir, err)
			return
		}
		if closedHere && (r.Size() != m.Size() || r.Start() != m.Start()) {
			t.Errorf("reopened dataset: Start, Size = %d, %d, want %d, %d", r.Start(), r.Size(), m.Start(), m.Size())
		}
		if err := r.Close(); err != nil {
			t.Errorf("Close of the reopened dataset: %v", err)
		}
	})
	return m
}

// reopen closes m and opens its directory again with opts.
func reopen(t *testing.T, m *chunkmap.Manager, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openTestManager(t, m.Dir(), opts)
}

// pattern returns n bytes that depend on seed and on their position, so
// that a byte read from the wrong place or the wrong write shows.
func pattern(seed uint64, n int) []byte {
	p := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
		if p[i] == 0 {
			p[i] = 1 // never zero, so zero-filled gaps are distinguishable
		}
	}
	return p
}

func writeAt(t testing.TB, m *chunkmap.Manager, p []byte, off int64) {
	t.Helper()
	if n, err := m.WriteAt(p, off); n != len(p) || err != nil {
		t.Fatalf("WriteAt(%d bytes, %d) = %d, %v, want %d, nil", len(p), off, n, err, len(p))
	}
}

func readAt(t testing.TB, m *chunkmap.Manager, off int64, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if got, err := m.ReadAt(p, off); got != n || err != nil {
		t.Fatalf("ReadAt(%d bytes, %d) = %d, %v, want %d, nil", n, off, got, err, n)
	}
	return p
}

// firstDiff returns the first index where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// model is the in-memory oracle: data[i] is the byte at offset i, for
// offsets below Size.
type model struct {
	start int64
	data  []byte
}

func (md *model) writeAt(p []byte, off int64) {
	if len(p) == 0 {
		return
	}
	if end := off + int64(len(p)); end > int64(len(md.data)) {
		md.data = append(md.data, make([]byte, end-int64(len(md.data)))...)
	}
	copy(md.data[off:], p)
}

func (md *model) truncate(size int64) {
	if size <= int64(len(md.data)) {
		md.data = md.data[:size:size]
		return
	}
	md.data = append(md.data, make([]byte, size-int64(len(md.data)))...)
}

// check compares m with md: Start, Size, and every byte in [Start, Size).
func (md *model) check(t testing.TB, m *chunkmap.Manager) {
	t.Helper()
	if got, want := m.Start(), md.start; got != want {
		t.Fatalf("Start() = %d, want %d", got, want)
	}
	if got, want := m.Size(), int64(len(md.data)); got != want {
		t.Fatalf("Size() = %d, want %d", got, want)
	}
	got := readAt(t, m, md.start, len(md.data)-int(md.start))
	if i := firstDiff(got, md.data[md.start:]); i >= 0 {
		off := md.start + int64(i)
		t.Fatalf("byte at offset %d (chunk %d) = %#x, want %#x", off, off/cs, got[i], md.data[off])
	}
}

// chunkFiles returns the indices of the chunk files in dir, in directory
// listing order (which is sorted by name), and fails on any other file but
// the manifest.
func chunkFiles(t testing.TB, dir string) []int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var idx []int64
	for _, e := range entries {
		if e.Name() == chunkmap.ManifestName {
			continue
		}
		i, ok := chunk.ParseName(e.Name())
		if !ok {
			t.Fatalf("unexpected file %s in %s", e.Name(), dir)
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != cs {
			t.Errorf("chunk file %s is %d bytes, want %d", e.Name(), fi.Size(), cs)
		}
		idx = append(idx, i)
	}
	return idx
}

// span returns the indices [from, to).
func span(from, to int64) []int64 {
	var s []int64
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func wantChunkFiles(t testing.TB, dir string, from, to int64) {
	t.Helper()
	if got, want := chunkFiles(t, dir), span(from, to); !slices.Equal(got, want) {
		t.Fatalf("chunk files = %v, want %v", got, want)
	}
}

// snapshot records every file and directory under dir: name, mode, and
// contents.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	s := make(map[string]string)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			s[rel] = fmt.Sprintf("dir %v", fi.Mode())
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s[rel] = fmt.Sprintf("%v %d %x", fi.Mode(), len(b), crc32.ChecksumIEEE(b)) + "\x00" + string(b)
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return s
}

func wantSameSnapshot(t testing.TB, before, after map[string]string) {
	t.Helper()
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s was removed", name)
		case a != b:
			t.Errorf("%s was modified: %.60q, was %.60q", name, a, b)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s was created", name)
		}
	}
}

// wantErr fails unless errors.Is(err, target); a nil target wants nil.
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Errorf("%s: %v, want nil", what, err)
	case target != nil && !errors.Is(err, target):
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// The manifest format, from manifest.go: 44 bytes, little endian, with a
// CRC-32C of bytes 0..39 at 40.
const manifestLen = 44

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func reseal(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[40:], crc32.Checksum(b[:40], castagnoli))
	return b
}

func TestOpen_Defaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	m := openTestManager(t, dir, nil)
	if got := m.ChunkSize(); got != chunkmap.DefaultChunkSize {
		t.Errorf("ChunkSize() = %d, want %d", got, chunkmap.DefaultChunkSize)
	}
	if m.Size() != 0 || m.Start() != 0 || m.ReadOnly() || m.Dir() != dir {
		t.Errorf("new dataset: Size %d, Start %d, ReadOnly %v, Dir %q; want 0, 0, false, %q", m.Size(), m.Start(), m.ReadOnly(), m.Dir(), dir)
	}
	if s := m.Stats(); s != (chunkmap.Stats{}) {
		t.Errorf("Stats() of a new dataset = %+v, want zero", s)
	}
	if _, err := os.Stat(filepath.Join(dir, chunkmap.ManifestName)); err != nil {
		t.Errorf("new dataset has no manifest: %v", err)
	}
	wantChunkFiles(t, dir, 0, 0)
}

func TestOpen_FileMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, FileMode: 0o600})
	writeAt(t, m, []byte("x"), cs)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		".":                   0o700,
		chunkmap.ManifestName: 0o600,
		chunk.Name(0):         0o600,
		chunk.Name(1):         0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("mode of %s = %v, want %v", name, got, want)
		}
	}
}

func TestOpen_ErrInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opts chunkmap.Options
		want string // a value the message must name
	}{
		{"chunk size not a power of two", chunkmap.Options{ChunkSize: 100000}, "100000"},
		{"chunk size 3000", chunkmap.Options{ChunkSize: 3000}, "3000"},
		{"chunk size too small", chunkmap.Options{ChunkSize: 32 << 10}, "32768"},
		{"chunk size 1", chunkmap.Options{ChunkSize: 1}, "ChunkSize 1 "},
		{"chunk size too large", chunkmap.Options{ChunkSize: 4 << 30}, "4294967296"},
		{"chunk size negative", chunkmap.Options{ChunkSize: -cs}, "-65536"},
		{"chunk size min int64", chunkmap.Options{ChunkSize: math.MinInt64}, "ChunkSize"},
		{"max mapped negative", chunkmap.Options{ChunkSize: cs, MaxMapped: -1}, "MaxMapped -1"},
		{"file mode not a permission", chunkmap.Options{ChunkSize: cs, FileMode: os.ModeDir | 0o644}, "FileMode"},
		{"read-only too", chunkmap.Options{ChunkSize: 3000, ReadOnly: true}, "3000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &tc.opts)
			if err == nil {
				m.Close()
				t.Fatalf("Open(%+v) succeeded", tc.opts)
			}
			wantErr(t, fmt.Sprintf("Open(%+v)", tc.opts), err, chunkmap.ErrInvalidOptions)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%+v) error %q does not name %q", tc.opts, err, tc.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a failed Open created %s (Stat: %v)", dir, err)
			}
		})
	}
}

func TestOpen_ValidChunkSizes(t *testing.T) {
	for _, size := range []int64{chunkmap.MinChunkSize, 1 << 20, chunkmap.DefaultChunkSize, chunkmap.MaxChunkSize} {
		if bits.UintSize == 32 && size > 1<<30 {
			continue // refused on 32-bit platforms: TestOpen_InvalidOptions
		}
		dir := t.TempDir()
		m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: size})
		if got := m.ChunkSize(); got != size {
			t.Errorf("ChunkSize() = %d, want %d", got, size)
		}
		m = reopen(t, m, nil)
		if got := m.ChunkSize(); got != size {
			t.Errorf("reopened with zero ChunkSize: ChunkSize() = %d, want %d", got, size)
		}
	}
}

// TestOpen_ChunkSizeMismatch reopens a dataset with another ChunkSize: the
// error names both sizes and the dataset is untouched.
func TestOpen_ChunkSizeMismatch(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
	writeAt(t, m, pattern(1, 3*cs/2), 10)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []chunkmap.Options{
		{ChunkSize: 2 * cs},
		{ChunkSize: chunkmap.DefaultChunkSize},
		{ChunkSize: 2 * cs, ReadOnly: true},
	} {
		before := snapshot(t, dir)
		r, err := chunkmap.Open(dir, &opts)
		if err == nil {
			r.Close()
			t.Fatalf("Open(%+v) of a dataset with %d-byte chunks succeeded", opts, cs)
		}
		wantErr(t, fmt.Sprintf("Open(%+v)", opts), err, chunkmap.ErrInvalidOptions)
		for _, n := range []int64{opts.ChunkSize, cs} {
			if !strings.Contains(err.Error(), strconv.FormatInt(n, 10)) {
				t.Errorf("Open(%+v) error %q does not name %d", opts, err, n)
			}
		}
		wantSameSnapshot(t, before, snapshot(t, dir))
	}
	m = openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
	if got := readAt(t, m, 10, 3*cs/2); !bytes.Equal(got, pattern(1, 3*cs/2)) {
		t.Error("data changed after failed reopens")
	}
}

// buildDataset makes a dataset of 4 chunks with Size 3.5 chunks in a new
// directory, closes it, and returns the directory.
func buildDataset(t *testing.T) (dir string, data []byte) {
	t.Helper()
	dir = t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	data = pattern(7, 7*cs/2)
	writeAt(t, m, data, 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, data
}

func TestOpen_ErrCorrupt(t *testing.T) {
	manifest := func(dir string) string { return filepath.Join(dir, chunkmap.ManifestName) }
	chunkPath := func(dir string, i int64) string { return filepath.Join(dir, chunk.Name(i)) }
	editManifest := func(t *testing.T, dir string, edit func([]byte) []byte) {
		t.Helper()
		b, err := os.ReadFile(manifest(dir))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != manifestLen {
			t.Fatalf("manifest is %d bytes, want %d", len(b), manifestLen)
		}
		if err := os.WriteFile(manifest(dir), edit(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		names func(dir string) string // the file the error must name
	}{
		{"manifest truncated", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { return b[:20] })
		}, manifest},
		{"manifest truncated to 4 bytes", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { return b[:4] })
		}, manifest},
		{"manifest empty", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { return nil })
		}, manifest},
		{"manifest too long", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { return append(b, 0) })
		}, manifest},
		{"manifest garbage", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { return pattern(99, manifestLen) })
		}, manifest},
		{"manifest huge garbage", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { return pattern(99, 1<<20) })
		}, manifest},
		{"manifest unknown version", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte {
				binary.LittleEndian.PutUint32(b[8:], 2)
				return reseal(b)
			})
		}, manifest},
		{"manifest version 0", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte {
				binary.LittleEndian.PutUint32(b[8:], 0)
				return reseal(b)
			})
		}, manifest},
		{"manifest bad checksum", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { b[33] ^= 1; return b })
		}, manifest},
		{"manifest checksum flipped", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { b[40] ^= 0x80; return b })
		}, manifest},
		{"manifest unknown flags", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte {
				binary.LittleEndian.PutUint32(b[12:], 1)
				return reseal(b)
			})
		}, manifest},
		{"manifest bad chunk size", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte {
				binary.LittleEndian.PutUint64(b[16:], 3000)
				return reseal(b)
			})
		}, manifest},
		{"manifest size below start", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte {
				binary.LittleEndian.PutUint64(b[24:], 2) // first chunk 2: Start 2 chunks
				binary.LittleEndian.PutUint64(b[32:], cs)
				return reseal(b)
			})
		}, manifest},
		{"manifest negative size", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte {
				binary.LittleEndian.PutUint64(b[32:], 1<<63)
				return reseal(b)
			})
		}, manifest},
		{"manifest is a directory", func(t *testing.T, dir string) {
			if err := os.Remove(manifest(dir)); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(manifest(dir), 0o755); err != nil {
				t.Fatal(err)
			}
		}, manifest},
		{"manifest missing", func(t *testing.T, dir string) {
			if err := os.Remove(manifest(dir)); err != nil {
				t.Fatal(err)
			}
		}, func(string) string { return chunkmap.ManifestName }},
		{"chunk missing in the middle", func(t *testing.T, dir string) {
			if err := os.Remove(chunkPath(dir, 1)); err != nil {
				t.Fatal(err)
			}
		}, func(dir string) string { return chunkPath(dir, 1) }},
		{"first chunk missing", func(t *testing.T, dir string) {
			if err := os.Remove(chunkPath(dir, 0)); err != nil {
				t.Fatal(err)
			}
		}, func(dir string) string { return chunkPath(dir, 0) }},
		{"last chunk missing", func(t *testing.T, dir string) {
			if err := os.Remove(chunkPath(dir, 3)); err != nil {
				t.Fatal(err)
			}
		}, func(dir string) string { return chunkPath(dir, 3) }},
		{"chunk too short", func(t *testing.T, dir string) {
			if err := os.Truncate(chunkPath(dir, 2), cs/2); err != nil {
				t.Fatal(err)
			}
		}, func(dir string) string { return chunkPath(dir, 2) }},
		{"chunk empty", func(t *testing.T, dir string) {
			if err := os.Truncate(chunkPath(dir, 0), 0); err != nil {
				t.Fatal(err)
			}
		}, func(dir string) string { return chunkPath(dir, 0) }},
		{"chunk too long", func(t *testing.T, dir string) {
			if err := os.Truncate(chunkPath(dir, 3), cs+1); err != nil {
				t.Fatal(err)
			}
		}, func(dir string) string { return chunkPath(dir, 3) }},
		{"chunk past the end of the wrong size", func(t *testing.T, dir string) {
			if err := os.WriteFile(chunkPath(dir, 4), []byte("short"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, func(dir string) string { return chunkPath(dir, 4) }},
		{"chunk is a directory", func(t *testing.T, dir string) {
			if err := os.Remove(chunkPath(dir, 2)); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(chunkPath(dir, 2), 0o755); err != nil {
				t.Fatal(err)
			}
		}, func(dir string) string { return chunkPath(dir, 2) }},
		{"gap after the last chunk", func(t *testing.T, dir string) {
			if err := os.WriteFile(chunkPath(dir, 5), make([]byte, cs), 0o644); err != nil {
				t.Fatal(err)
			}
		}, func(dir string) string { return chunkPath(dir, 4) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := buildDataset(t)
			tc.setup(t, dir)
			// Leftovers that a successful Open would clean up must stay
			// too: a failed Open changes nothing.
			for _, name := range []string{chunk.Name(1) + ".tmp", "MANIFEST.tmp"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("leftover"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, dir)
			for _, opts := range []chunkmap.Options{{}, {ChunkSize: cs}, {ReadOnly: true}} {
				m, err := chunkmap.Open(dir, &opts)
				if err == nil {
					m.Close()
					t.Fatalf("Open(%+v) succeeded", opts)
				}
				wantErr(t, fmt.Sprintf("Open(%+v)", opts), err, chunkmap.ErrCorrupt)
				if name := tc.names(dir); !strings.Contains(err.Error(), name) {
					t.Errorf("Open(%+v) error %q does not name %s", opts, err, name)
				}
				wantSameSnapshot(t, before, snapshot(t, dir))
			}
		})
	}
}

// TestOpen_Cleanup checks that a read-write Open removes the temporary files
// a crash leaves, and nothing else; a ReadOnly Open removes nothing.
func TestOpen_Cleanup(t *testing.T) {
	dir, data := buildDataset(t)
	temps := []string{
		chunk.Name(1) + ".tmp",  // an existing chunk being recreated
		chunk.Name(4) + ".tmp",  // the next chunk
		chunk.Name(40) + ".tmp", // far past the end
		"MANIFEST.tmp",
	}
	unknown := []string{
		"notes.txt",
		"MANIFEST.bak",
		"000000000000002A.chunk",
		"2a.chunk",
		"x.chunk.tmp",
		chunk.Name(1) + ".tmp.old",
		chunk.Name(2) + ".TMP",
		"sub/" + chunk.Name(0),
		"sub/" + chunk.Name(0) + ".tmp",
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range append(slices.Clone(temps), unknown...) {
		if err := os.WriteFile(filepath.Join(dir, name), pattern(uint64(i), 100+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, dir)

	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("ReadOnly Open: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	wantSameSnapshot(t, before, snapshot(t, dir))

	m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
	after := snapshot(t, dir)
	for _, name := range temps {
		if _, ok := after[name]; ok {
			t.Errorf("leftover temporary file %s was not removed", name)
		}
	}
	for _, name := range unknown {
		if after[name] != before[name] {
			t.Errorf("unknown file %s was changed or removed", name)
		}
	}
	for i := range int64(4) {
		name := chunk.Name(i)
		if after[name] != before[name] {
			t.Errorf("chunk file %s changed", name)
		}
	}
	if got := m.Stats().Chunks; got != 4 {
		t.Errorf("Stats().Chunks = %d, want 4", got)
	}
	md := model{data: data}
	md.check(t, m)
}

// TestOpen_ReadOnlyMissing opens a missing dataset ReadOnly: it fails and
// creates nothing.
func TestOpen_ReadOnlyMissing(t *testing.T) {
	parent := t.TempDir()
	empty := filepath.Join(parent, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		wantErr error
	}{
		{"no directory", filepath.Join(parent, "missing"), fs.ErrNotExist},
		{"no parent", filepath.Join(parent, "missing", "deeper"), fs.ErrNotExist},
		{"empty directory", empty, chunkmap.ErrReadOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, parent)
			m, err := chunkmap.Open(tc.dir, &chunkmap.Options{ReadOnly: true, ChunkSize: cs})
			if err == nil {
				m.Close()
				t.Fatal("ReadOnly Open of a missing dataset succeeded")
			}
			wantErr(t, "ReadOnly Open", err, tc.wantErr)
			wantSameSnapshot(t, before, snapshot(t, parent))
		})
	}
}

// TestOpen_NotADirectory opens a path that names a regular file: Open fails
// and the file is left as it was.
func TestOpen_NotADirectory(t *testing.T) {
	parent := t.TempDir()
	path := filepath.Join(parent, "file")
	if err := os.WriteFile(path, []byte("not a dataset"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, parent)
	for _, opts := range []chunkmap.Options{{ChunkSize: cs}, {ReadOnly: true}} {
		m, err := chunkmap.Open(path, &opts)
		if err == nil {
			m.Close()
			t.Fatalf("Open(%+v) of a regular file succeeded", opts)
		}
		if opts.ReadOnly {
			wantErr(t, "ReadOnly Open of a regular file", err, chunkmap.ErrCorrupt)
		}
		wantSameSnapshot(t, before, snapshot(t, parent))
	}
}

func TestOpen_ErrLocked(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
	writeAt(t, m, []byte("locked"), 0)
	for _, path := range []string{dir, dir + "/.", filepath.Join(dir, "..", filepath.Base(dir))} {
		m2, err := chunkmap.Open(path, &chunkmap.Options{ChunkSize: cs})
		if err == nil {
			m2.Close()
			t.Fatalf("second read-write Open(%s) succeeded", path)
		}
		wantErr(t, "second read-write Open("+path+")", err, chunkmap.ErrLocked)
	}
	// Readers take no lock.
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("ReadOnly Open next to a writer: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Close releases the lock.
	m = reopen(t, m, nil)
	if got := readAt(t, m, 0, 6); string(got) != "locked" {
		t.Errorf("after reopen read %q, want %q", got, "locked")
	}
}

func TestManager_Reopen(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	var md model
	for round := range 4 {
		p := pattern(uint64(round), cs+12345)
		off, err := m.Append(p)
		if err != nil {
			t.Fatal(err)
		}
		md.writeAt(p, off)
		p = pattern(uint64(round+100), 777)
		at := int64(round)*cs + cs - 300
		writeAt(t, m, p, at)
		md.writeAt(p, at)
		if round == 2 {
			if err := m.DropBefore(cs + 5); err != nil {
				t.Fatal(err)
			}
			md.start = cs
		}
		md.check(t, m)
		m = reopen(t, m, &chunkmap.Options{MaxMapped: 2})
		if s := m.Stats(); s.Mapped != 0 {
			t.Errorf("round %d: Stats().Mapped = %d right after Open, want 0", round, s.Mapped)
		}
		md.check(t, m)
		if got, want := m.Stats().Chunks, int((int64(len(md.data))+cs-1)/cs-md.start/cs); got != want {
			t.Errorf("round %d: Stats().Chunks = %d, want %d", round, got, want)
		}
	}
}

func TestManager_ReadAt(t *testing.T) {
	m := newTestManager(t, nil)
	size := int64(3*cs + 100)
	data := pattern(3, int(size))
	writeAt(t, m, data, 0)
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		off     int64
		n       int
		wantN   int
		wantErr error
	}{
		{"inside", cs + 10, 100, 100, nil},
		{"straddle", 2*cs - 50, 100, 100, nil},
		{"from start", cs, 2 * cs, 2 * cs, nil},
		{"to size", size - 100, 100, 100, nil},
		{"whole", cs, int(size - cs), int(size - cs), nil},
		{"short at size", size - 10, 100, 10, io.EOF},
		{"short across chunks", 2*cs + 1, 2 * cs, int(size - 2*cs - 1), io.EOF},
		{"at size", size, 10, 0, io.EOF},
		{"past size", size + cs, 10, 0, io.EOF},
		{"empty", cs + 1, 0, 0, nil},
		{"empty at size", size, 0, 0, nil},
		{"below start", cs - 1, 1, 0, chunkmap.ErrOutOfRange},
		{"into start", cs - 1, 10, 0, chunkmap.ErrOutOfRange},
		{"zero", 0, 10, 0, chunkmap.ErrOutOfRange},
		{"negative", -1, 10, 0, chunkmap.ErrOutOfRange},
		{"negative empty", -1, 0, 0, chunkmap.ErrOutOfRange},
		{"min int64", math.MinInt64, 1, 0, chunkmap.ErrOutOfRange},
		{"end overflows", math.MaxInt64 - 5, 10, 0, chunkmap.ErrOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := bytes.Repeat([]byte{0xaa}, tc.n)
			n, err := m.ReadAt(p, tc.off)
			if n != tc.wantN {
				t.Errorf("ReadAt(%d bytes, %d) = %d bytes, want %d", tc.n, tc.off, n, tc.wantN)
			}
			if tc.wantErr == io.EOF {
				// io.ReaderAt: EOF itself, never wrapped.
				if err != io.EOF {
					t.Errorf("ReadAt(%d bytes, %d) error = %v, want io.EOF", tc.n, tc.off, err)
				}
			} else {
				wantErr(t, fmt.Sprintf("ReadAt(%d bytes, %d)", tc.n, tc.off), err, tc.wantErr)
			}
			if n > 0 && !bytes.Equal(p[:n], data[tc.off:tc.off+int64(n)]) {
				t.Errorf("ReadAt(%d bytes, %d) read other bytes than written", tc.n, tc.off)
			}
		})
	}
}

func TestManager_WriteAt(t *testing.T) {
	tests := []struct {
		name     string
		off      int64
		n        int
		wantErr  error
		wantSize int64 // after the write; the dataset starts at [cs, 2cs+100)
	}{
		{"inside", cs + 10, 100, nil, 2*cs + 100},
		{"to size", 2*cs + 50, 50, nil, 2*cs + 100},
		{"extend", 2*cs + 50, 100, nil, 2*cs + 150},
		{"at size", 2*cs + 100, 1, nil, 2*cs + 101},
		{"past size", 5 * cs, 10, nil, 5*cs + 10},
		{"straddle", 2*cs - 5, 10, nil, 2*cs + 100},
		{"at start", cs, 1, nil, 2*cs + 100},
		{"empty", cs + 1, 0, nil, 2*cs + 100},
		{"empty past size", 10 * cs, 0, nil, 2*cs + 100},
		{"empty below start", 0, 0, nil, 2*cs + 100},
		{"below start", cs - 1, 1, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"into start", cs - 5, 10, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"zero", 0, 10, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"negative", -1, 1, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"negative empty", -1, 0, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"min int64", math.MinInt64, 1, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"end overflows", math.MaxInt64 - 5, 10, chunkmap.ErrOutOfRange, 2*cs + 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, nil)
			md := model{data: pattern(1, 2*cs+100)}
			writeAt(t, m, md.data, 0)
			if err := m.DropBefore(cs); err != nil {
				t.Fatal(err)
			}
			md.start = cs

			p := pattern(2, tc.n)
			n, err := m.WriteAt(p, tc.off)
			wantErr(t, fmt.Sprintf("WriteAt(%d bytes, %d)", tc.n, tc.off), err, tc.wantErr)
			if tc.wantErr != nil {
				if n != 0 {
					t.Errorf("failed WriteAt wrote %d bytes", n)
				}
			} else {
				if n != tc.n {
					t.Errorf("WriteAt(%d bytes, %d) = %d, want %d", tc.n, tc.off, n, tc.n)
				}
				md.writeAt(p, tc.off)
			}
			if got := m.Size(); got != tc.wantSize {
				t.Errorf("Size() = %d, want %d", got, tc.wantSize)
			}
			md.check(t, m)
			wantChunks := int((tc.wantSize+cs-1)/cs - 1)
			if got := m.Stats().Chunks; got != wantChunks {
				t.Errorf("Stats().Chunks = %d, want %d", got, wantChunks)
			}
			wantChunkFiles(t, m.Dir(), 1, int64(wantChunks)+1)
		})
	}
}

// TestManager_Straddle writes and reads every window that starts from 9
// bytes before a chunk boundary to 1 byte after it, with one chunk mapped
// at a time, so each access that crosses the boundary maps both chunks.
func TestManager_Straddle(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	var md model
	md.writeAt(pattern(1, 3*cs+50), 0)
	writeAt(t, m, md.data, 0)
	seed := uint64(100)
	for _, boundary := range []int64{cs, 2 * cs, 3 * cs} {
		for off := boundary - 9; off <= boundary+1; off++ {
			for _, n := range []int{1, 2, 8, 9, 10, 11, 16, cs + 3} {
				seed++
				p := pattern(seed, n)
				writeAt(t, m, p, off)
				md.writeAt(p, off)
				if got := readAt(t, m, off, n); !bytes.Equal(got, p) {
					t.Fatalf("ReadAt(%d bytes, %d) after WriteAt = %d-th byte differs", n, off, firstDiff(got, p))
				}
				// A read shifted by one sees the neighbours too.
				lo := max(off-1, 0)
				want := md.data[lo:min(off+int64(n)+1, int64(len(md.data)))]
				if got := readAt(t, m, lo, len(want)); !bytes.Equal(got, want) {
					t.Fatalf("ReadAt(%d bytes, %d) differs from the model at byte %d", len(want), lo, firstDiff(got, want))
				}
			}
		}
	}
	md.check(t, m)
	m = reopen(t, m, &chunkmap.Options{MaxMapped: 1})
	md.check(t, m)
}

// TestManager_WriteAtGap writes far past Size: every chunk in between is
// created, and the gap reads as zeros.
func TestManager_WriteAtGap(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	var md model
	head := pattern(1, 100)
	writeAt(t, m, head, 0)
	md.writeAt(head, 0)
	wantChunkFiles(t, m.Dir(), 0, 1)

	for _, step := range []struct {
		off    int64
		chunks int64
	}{
		{5*cs + 100, 6},
		{6 * cs, 7},      // exactly at a boundary, no gap chunk
		{21*cs - 10, 21}, // past index 0x0f: names must still sort
		{33 * cs, 34},
	} {
		p := pattern(uint64(step.off), 10)
		writeAt(t, m, p, step.off)
		md.writeAt(p, step.off)
		// chunkFiles lists in directory order, which is name order: it
		// must come out as the offset order with no hole.
		wantChunkFiles(t, m.Dir(), 0, step.chunks)
		if got := m.Stats().Chunks; got != int(step.chunks) {
			t.Errorf("Stats().Chunks = %d, want %d", got, step.chunks)
		}
		md.check(t, m)
	}
	m = reopen(t, m, nil)
	md.check(t, m)
}

// TestManager_ZeroLengthWrite checks that zero-length writes change nothing:
// not Size, not the chunk files, not the manifest.
func TestManager_ZeroLengthWrite(t *testing.T) {
	m := newTestManager(t, nil)
	writeAt(t, m, pattern(1, 100), 0)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, m.Dir())
	for _, off := range []int64{0, 50, 100, 101, cs, 10 * cs, math.MaxInt64} {
		if n, err := m.WriteAt(nil, off); n != 0 || err != nil {
			t.Errorf("WriteAt(nil, %d) = %d, %v, want 0, nil", off, n, err)
		}
		if n, err := m.WriteAt([]byte{}, off); n != 0 || err != nil {
			t.Errorf("WriteAt([]byte{}, %d) = %d, %v, want 0, nil", off, n, err)
		}
	}
	off, err := m.Append(nil)
	if off != 100 || err != nil {
		t.Errorf("Append(nil) = %d, %v, want 100, nil", off, err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := m.Size(); got != 100 {
		t.Errorf("Size() = %d, want 100", got)
	}
	wantSameSnapshot(t, before, snapshot(t, m.Dir()))
}

func TestManager_Append(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	var md model
	want := int64(0)
	for i, n := range []int{1, 10, cs - 11, 1, cs, 3*cs + 7, 5} {
		p := pattern(uint64(i), n)
		off, err := m.Append(p)
		if off != want || err != nil {
			t.Fatalf("Append(%d bytes) = %d, %v, want %d, nil", n, off, err, want)
		}
		md.writeAt(p, off)
		want += int64(n)
		md.check(t, m)
	}
	// After a DropBefore and a Truncate, appends continue at Size.
	if err := m.DropBefore(2 * cs); err != nil {
		t.Fatal(err)
	}
	md.start = 2 * cs
	if err := m.Truncate(4*cs + 3); err != nil {
		t.Fatal(err)
	}
	md.truncate(4*cs + 3)
	p := pattern(50, 100)
	if off, err := m.Append(p); off != 4*cs+3 || err != nil {
		t.Fatalf("Append after Truncate = %d, %v, want %d, nil", off, err, 4*cs+3)
	}
	md.writeAt(p, 4*cs+3)
	md.check(t, m)
	m = reopen(t, m, nil)
	md.check(t, m)
	if off, err := m.Append(p); off != int64(len(md.data)) || err != nil {
		t.Fatalf("Append after reopen = %d, %v, want %d, nil", off, err, len(md.data))
	}
	md.writeAt(p, int64(len(md.data)))
	md.check(t, m)
}

func TestManager_Grow(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	writeAt(t, m, pattern(1, 100), 0)
	tests := []struct {
		name       string
		n          int64
		wantErr    error
		wantChunks int64
	}{
		{"zero", 0, nil, 1},
		{"within the last chunk", cs - 100, nil, 1},
		{"one byte more", cs - 99, nil, 2},
		{"five chunks", 5 * cs, nil, 6},
		{"less than before", 10, nil, 6},
		{"negative", -1, chunkmap.ErrOutOfRange, 6},
		{"overflow", math.MaxInt64, chunkmap.ErrOutOfRange, 6},
		{"min int64", math.MinInt64, chunkmap.ErrOutOfRange, 6},
	}
	for _, tc := range tests {
		wantErr(t, fmt.Sprintf("Grow(%d)", tc.n), m.Grow(tc.n), tc.wantErr)
		if got := m.Size(); got != 100 {
			t.Errorf("Grow(%d): Size() = %d, want 100", tc.n, got)
		}
		if got := m.Stats().Chunks; got != int(tc.wantChunks) {
			t.Errorf("Grow(%d): Stats().Chunks = %d, want %d", tc.n, got, tc.wantChunks)
		}
		wantChunkFiles(t, m.Dir(), 0, tc.wantChunks)
	}
	// Writes into grown space create nothing; the grown space reads as
	// zeros once Size covers it.
	md := model{data: readAt(t, m, 0, 100)}
	p := pattern(2, 10)
	writeAt(t, m, p, 6*cs-10)
	md.writeAt(p, 6*cs-10)
	if got := m.Stats().Chunks; got != 6 {
		t.Errorf("after writing into grown space: Stats().Chunks = %d, want 6", got)
	}
	md.check(t, m)
	// Grown chunks past Size survive a reopen.
	if err := m.Truncate(cs); err != nil {
		t.Fatal(err)
	}
	md.truncate(cs)
	if err := m.Grow(3 * cs); err != nil {
		t.Fatal(err)
	}
	m = reopen(t, m, nil)
	if got := m.Stats().Chunks; got != 4 {
		t.Errorf("after reopen: Stats().Chunks = %d, want 4", got)
	}
	wantChunkFiles(t, m.Dir(), 0, 4)
	md.check(t, m)
}

// TestManager_Truncate shrinks a dataset of stale 0xff bytes and extends it
// again: what comes back must be zeros, whichever way it is extended and
// whether or not the dataset was reopened in between.
func TestManager_Truncate(t *testing.T) {
	type extend int
	const (
		byWriteAt extend = iota
		byTruncate
		byAppend
	)
	tests := []struct {
		name       string
		initial    int64 // bytes of 0xff written first
		truncate   int64
		reopen     bool
		how        extend
		to         int64 // extend to this size
		wantChunks int64 // after the truncate
	}{
		{"within last chunk", 2*cs - 10, cs + 100, false, byWriteAt, 2*cs - 1, 2},
		{"within last chunk by Truncate", 2*cs - 10, cs + 100, false, byTruncate, 2 * cs, 2},
		{"within last chunk by Append", 2*cs - 10, cs + 100, false, byAppend, 2*cs + 50, 2},
		{"across chunks", 5*cs + 10, cs / 2, false, byWriteAt, 5*cs + 20, 1},
		{"across chunks by Truncate", 5*cs + 10, cs / 2, false, byTruncate, 6 * cs, 1},
		{"across chunks by Append", 5*cs + 10, cs / 2, false, byAppend, 5 * cs, 1},
		{"to boundary", 4 * cs, 2 * cs, false, byWriteAt, 4 * cs, 2},
		{"to zero", 3 * cs, 0, false, byWriteAt, 3*cs + 1, 0},
		{"to zero by Append", 3 * cs, 0, false, byAppend, cs + 1, 0},
		{"same size", 3*cs + 5, 3*cs + 5, false, byWriteAt, 4 * cs, 4},
		{"within last chunk, reopen", 2*cs - 10, cs + 100, true, byWriteAt, 2*cs - 1, 2},
		{"within last chunk by Truncate, reopen", 2*cs - 10, cs + 100, true, byTruncate, 2 * cs, 2},
		{"across chunks, reopen", 5*cs + 10, cs / 2, true, byWriteAt, 5*cs + 20, 1},
		{"across chunks by Append, reopen", 5*cs + 10, cs / 2, true, byAppend, 5 * cs, 1},
		{"to zero, reopen", 3 * cs, 0, true, byTruncate, 3 * cs, 0},
		{"extend only", cs, 0, false, byTruncate, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
			var md model
			ff := bytes.Repeat([]byte{0xff}, int(tc.initial))
			writeAt(t, m, ff, 0)
			md.writeAt(ff, 0)
			if err := m.Truncate(tc.truncate); err != nil {
				t.Fatalf("Truncate(%d): %v", tc.truncate, err)
			}
			md.truncate(tc.truncate)
			md.check(t, m)
			if got := m.Stats().Chunks; got != int(tc.wantChunks) {
				t.Errorf("after Truncate(%d): Stats().Chunks = %d, want %d", tc.truncate, got, tc.wantChunks)
			}
			wantChunkFiles(t, m.Dir(), 0, tc.wantChunks)
			if tc.reopen {
				m = reopen(t, m, nil)
				md.check(t, m)
			}
			if tc.to == 0 {
				return
			}
			switch tc.how {
			case byWriteAt:
				writeAt(t, m, []byte{1}, tc.to-1)
				md.writeAt([]byte{1}, tc.to-1)
			case byTruncate:
				if err := m.Truncate(tc.to); err != nil {
					t.Fatalf("Truncate(%d) to extend: %v", tc.to, err)
				}
				md.truncate(tc.to)
			case byAppend:
				// A short append, then an extension past it: both the
				// appended bytes and what follows must be right.
				p := pattern(5, 7)
				if off, err := m.Append(p); off != tc.truncate || err != nil {
					t.Fatalf("Append = %d, %v, want %d, nil", off, err, tc.truncate)
				}
				md.writeAt(p, tc.truncate)
				if err := m.Truncate(tc.to); err != nil {
					t.Fatal(err)
				}
				md.truncate(tc.to)
			}
			md.check(t, m)
			wantChunkFiles(t, m.Dir(), 0, max((tc.to+cs-1)/cs, tc.wantChunks))
			m = reopen(t, m, nil)
			md.check(t, m)
		})
	}
}

func TestManager_TruncateErrors(t *testing.T) {
	m := newTestManager(t, nil)
	writeAt(t, m, pattern(1, 3*cs), 0)
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{cs - 1, 0, -1, math.MinInt64} {
		wantErr(t, fmt.Sprintf("Truncate(%d)", size), m.Truncate(size), chunkmap.ErrOutOfRange)
	}
	if m.Size() != 3*cs || m.Start() != cs {
		t.Errorf("after failed Truncates: Start, Size = %d, %d, want %d, %d", m.Start(), m.Size(), cs, 3*cs)
	}
	wantChunkFiles(t, m.Dir(), 1, 3)
	// Truncating to Start itself is allowed.
	if err := m.Truncate(cs); err != nil {
		t.Errorf("Truncate(Start): %v", err)
	}
	wantChunkFiles(t, m.Dir(), 1, 1)
}

func TestManager_DropBefore(t *testing.T) {
	const size = 5*cs + 100
	tests := []struct {
		name      string
		off       int64
		wantStart int64
		wantErr   error
	}{
		{"zero", 0, 0, nil},
		{"inside first chunk", cs - 1, 0, nil},
		{"at boundary", cs, cs, nil},
		{"inside", 2*cs + 5, 2 * cs, nil},
		{"last chunk", 5*cs + 1, 5 * cs, nil},
		{"at size", size, 5 * cs, nil},
		{"past size", size + 1, 0, chunkmap.ErrOutOfRange},
		{"far past size", 100 * cs, 0, chunkmap.ErrOutOfRange},
		{"negative", -1, 0, chunkmap.ErrOutOfRange},
		{"max int64", math.MaxInt64, 0, chunkmap.ErrOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
			md := model{data: pattern(1, size)}
			writeAt(t, m, md.data, 0)
			// Map chunks so that dropping has mappings to retire.
			readAt(t, m, 0, 10)
			readAt(t, m, 2*cs, 10)
			wantErr(t, fmt.Sprintf("DropBefore(%d)", tc.off), m.DropBefore(tc.off), tc.wantErr)
			md.start = tc.wantStart
			if got := m.Start(); got%cs != 0 {
				t.Errorf("Start() = %d, not a multiple of %d", got, cs)
			}
			md.check(t, m)
			first := tc.wantStart / cs
			wantChunkFiles(t, m.Dir(), first, 6)
			if got := m.Stats().Chunks; got != int(6-first) {
				t.Errorf("Stats().Chunks = %d, want %d", got, 6-first)
			}
			p := make([]byte, 10)
			for _, off := range []int64{0, tc.wantStart - 1, tc.wantStart - 5} {
				if off < 0 || tc.wantStart == 0 {
					continue
				}
				if _, err := m.ReadAt(p, off); !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("ReadAt(10 bytes, %d) below Start %d: %v, want ErrOutOfRange", off, tc.wantStart, err)
				}
				if _, err := m.WriteAt(p, off); !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("WriteAt(10 bytes, %d) below Start %d: %v, want ErrOutOfRange", off, tc.wantStart, err)
				}
				if _, err := m.Pin(off, 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("Pin(%d, 1) below Start %d: %v, want ErrOutOfRange", off, tc.wantStart, err)
				}
			}
			// Dropping less than before does nothing.
			if err := m.DropBefore(tc.wantStart / 2); err != nil || m.Start() != tc.wantStart {
				t.Errorf("DropBefore(%d) below Start = %v, Start %d; want nil, %d", tc.wantStart/2, err, m.Start(), tc.wantStart)
			}
			m = reopen(t, m, nil)
			md.check(t, m)
			wantChunkFiles(t, m.Dir(), first, 6)
		})
	}
}

// TestManager_DropBeforeAll drops every chunk of a dataset whose Size is a
// multiple of ChunkSize, leaving no chunk file at all.
func TestManager_DropBeforeAll(t *testing.T) {
	m := newTestManager(t, nil)
	var md model
	md.writeAt(pattern(1, 4*cs), 0)
	writeAt(t, m, md.data, 0)
	if err := m.DropBefore(4 * cs); err != nil {
		t.Fatal(err)
	}
	md.start = 4 * cs
	md.check(t, m)
	wantChunkFiles(t, m.Dir(), 4, 4)
	if n, err := m.ReadAt(make([]byte, 1), 4*cs); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at Start == Size = %d, %v, want 0, io.EOF", n, err)
	}
	m = reopen(t, m, nil)
	md.check(t, m)
	p := pattern(2, 100)
	if off, err := m.Append(p); off != 4*cs || err != nil {
		t.Fatalf("Append = %d, %v, want %d, nil", off, err, 4*cs)
	}
	md.writeAt(p, 4*cs)
	md.check(t, m)
	wantChunkFiles(t, m.Dir(), 4, 5)
}

// TestManager_ReadOnly checks that every write through a ReadOnly Manager
// returns ErrReadOnly, that reads work, and that the session changes nothing
// on disk.
func TestManager_ReadOnly(t *testing.T) {
	dir, data := buildDataset(t)
	before := snapshot(t, dir)
	m := openTestManager(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1})
	if !m.ReadOnly() {
		t.Error("ReadOnly() = false")
	}
	p := []byte("x")
	writes := []struct {
		name string
		fn   func() error
	}{
		{"WriteAt", func() error { _, err := m.WriteAt(p, 0); return err }},
		{"WriteAt empty", func() error { _, err := m.WriteAt(nil, 0); return err }},
		{"WriteAt past size", func() error { _, err := m.WriteAt(p, 10*cs); return err }},
		{"Append", func() error { _, err := m.Append(p); return err }},
		{"Append empty", func() error { _, err := m.Append(nil); return err }},
		{"Grow", func() error { return m.Grow(cs) }},
		{"Truncate", func() error { return m.Truncate(cs) }},
		{"Truncate up", func() error { return m.Truncate(10 * cs) }},
		{"DropBefore", func() error { return m.DropBefore(cs) }},
		{"PinWritable", func() error { _, err := m.PinWritable(0, 1); return err }},
	}
	for _, w := range writes {
		wantErr(t, w.name, w.fn(), chunkmap.ErrReadOnly)
	}
	if err := m.Sync(); err != nil {
		t.Errorf("Sync on a ReadOnly Manager = %v, want nil", err)
	}
	md := model{data: data}
	md.check(t, m)
	pin, err := m.Pin(cs+10, 100)
	if err != nil {
		t.Fatalf("Pin on a ReadOnly Manager: %v", err)
	}
	if !bytes.Equal(pin.Bytes(), data[cs+10:cs+110]) {
		t.Error("read pin on a ReadOnly Manager holds other bytes")
	}
	pin.Release()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wantSameSnapshot(t, before, snapshot(t, dir))
}

// TestManager_ErrClosed calls every method after Close.
func TestManager_ErrClosed(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("ReadOnly=%v", readOnly), func(t *testing.T) {
			dir, _ := buildDataset(t)
			m := openTestManager(t, dir, &chunkmap.Options{ReadOnly: readOnly})
			readAt(t, m, 0, 10) // something mapped
			size := m.Size()
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			p := make([]byte, 10)
			calls := []struct {
				name string
				fn   func() error
			}{
				{"Close", m.Close},
				{"ReadAt", func() error { _, err := m.ReadAt(p, 0); return err }},
				{"ReadAt empty", func() error { _, err := m.ReadAt(nil, 0); return err }},
				{"ReadAt past size", func() error { _, err := m.ReadAt(p, size); return err }},
				{"WriteAt", func() error { _, err := m.WriteAt(p, 0); return err }},
				{"WriteAt empty", func() error { _, err := m.WriteAt(nil, 0); return err }},
				{"Append", func() error { _, err := m.Append(p); return err }},
				{"Grow", func() error { return m.Grow(cs) }},
				{"Truncate", func() error { return m.Truncate(0) }},
				{"DropBefore", func() error { return m.DropBefore(cs) }},
				{"Sync", m.Sync},
				{"Refresh", m.Refresh},
				{"Pin", func() error { _, err := m.Pin(0, 1); return err }},
				{"PinWritable", func() error { _, err := m.PinWritable(0, 1); return err }},
			}
			for _, c := range calls {
				wantErr(t, c.name+" after Close", c.fn(), chunkmap.ErrClosed)
			}
			// The accessors that cannot fail still answer.
			if m.Size() != size || m.Start() != 0 || m.ChunkSize() != cs {
				t.Errorf("after Close: Size, Start, ChunkSize = %d, %d, %d, want %d, 0, %d", m.Size(), m.Start(), m.ChunkSize(), size, cs)
			}
		})
	}
}

func TestManager_Sync(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	var md model
	for i := range int64(4) {
		p := pattern(uint64(i), cs/2)
		writeAt(t, m, p, i*cs+cs/4) // evicts the chunk before
		md.writeAt(p, i*cs+cs/4)
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	// A reader opened now sees the Size that Sync recorded, and the
	// chunk files hold the bytes (os.ReadFile is the oracle).
	r := openTestManager(t, m.Dir(), &chunkmap.Options{ReadOnly: true})
	md.check(t, r)
	for i := range int64(4) {
		b, err := os.ReadFile(filepath.Join(m.Dir(), chunk.Name(i)))
		if err != nil {
			t.Fatal(err)
		}
		want := md.data[i*cs : min((i+1)*cs, int64(len(md.data)))]
		if j := firstDiff(b[:len(want)], want); j >= 0 {
			t.Errorf("chunk file %d differs from the model at byte %d", i, j)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Sync with nothing to do succeeds and changes nothing.
	before := snapshot(t, m.Dir())
	if err := m.Sync(); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	wantSameSnapshot(t, before, snapshot(t, m.Dir()))
}

func TestManager_Stats(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	check := func(step string) {
		t.Helper()
		s := m.Stats()
		if files := chunkFiles(t, m.Dir()); s.Chunks != len(files) {
			t.Errorf("%s: Stats().Chunks = %d, but there are %d chunk files", step, s.Chunks, len(files))
		}
		if s.Mapped > 2 || s.Pinned != 0 {
			t.Errorf("%s: Stats().Mapped, Pinned = %d, %d, want at most 2, 0", step, s.Mapped, s.Pinned)
		}
		if s.Maps-s.Unmaps != int64(s.Mapped) {
			t.Errorf("%s: Maps - Unmaps = %d - %d, want Mapped %d", step, s.Maps, s.Unmaps, s.Mapped)
		}
	}
	check("new")
	writeAt(t, m, pattern(1, 3*cs), 0)
	check("WriteAt")
	if err := m.Grow(4 * cs); err != nil {
		t.Fatal(err)
	}
	check("Grow")
	if _, err := m.Append(pattern(2, 2*cs)); err != nil {
		t.Fatal(err)
	}
	check("Append")
	if err := m.Truncate(2*cs + 1); err != nil {
		t.Fatal(err)
	}
	check("Truncate")
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	check("DropBefore")
	s0 := m.Stats()
	readAt(t, m, cs, 10)
	readAt(t, m, 2*cs, 1)
	readAt(t, m, cs, 10)
	s := m.Stats()
	if s.Misses+s.Hits == s0.Misses+s0.Hits || s.Maps < s0.Maps {
		t.Errorf("Stats after reads = %+v, before %+v: lookups not counted", s, s0)
	}
	m = reopen(t, m, nil)
	check("reopen")
	if s := m.Stats(); s.Mapped != 0 || s.Maps != 0 || s.Chunks != 2 {
		t.Errorf("after reopen Stats() = %+v, want Mapped 0, Maps 0, Chunks 2", s)
	}
}

// TestManager_Eviction runs random reads and writes over 40 chunks with two
// mapped at a time, against the model, and checks the bound after every
// operation.
func TestManager_Eviction(t *testing.T) {
	const nchunks = 40
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
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
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 3})
	writeAt(t, m, pattern(1, 6*cs), 0)
	m = reopen(t, m, &chunkmap.Options{MaxMapped: 3})
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

func TestManager_Pin(t *testing.T) {
	m := newTestManager(t, nil)
	data := pattern(1, 3*cs+100)
	writeAt(t, m, data, 0)
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	size := int64(len(data))
	tests := []struct {
		name    string
		off     int64
		n       int
		chunks  int // chunks the pin holds
		wantErr error
	}{
		{"inside", cs + 10, 100, 1, nil},
		{"whole chunk", 2 * cs, cs, 1, nil},
		{"chunk end", 2*cs - 8, 8, 1, nil},
		{"to size", size - 100, 100, 1, nil},
		{"empty", cs + 1, 0, 0, nil},
		{"across boundary", 2*cs - 8, 9, 2, nil},
		{"across two boundaries", cs + 1, 2 * cs, 3, nil},
		{"all", cs, int(size - cs), 3, nil},
		{"past size", size - 10, 11, 0, chunkmap.ErrOutOfRange},
		{"at size", size, 1, 0, chunkmap.ErrOutOfRange},
		{"empty at size", size, 0, 0, chunkmap.ErrOutOfRange},
		{"below start", cs - 1, 1, 0, chunkmap.ErrOutOfRange},
		{"negative", -1, 1, 0, chunkmap.ErrOutOfRange},
		{"negative length", cs, -1, 0, chunkmap.ErrOutOfRange},
		{"end overflows", math.MaxInt64 - 5, 10, 0, chunkmap.ErrOutOfRange},
	}
	for _, tc := range tests {
		for _, writable := range []bool{false, true} {
			pin := m.Pin
			if writable {
				pin = m.PinWritable
			}
			p, err := pin(tc.off, tc.n)
			what := fmt.Sprintf("Pin(%d, %d) writable=%v", tc.off, tc.n, writable)
			wantErr(t, what, err, tc.wantErr)
			if err != nil {
				continue
			}
			if !bytes.Equal(p.Bytes(), data[tc.off:tc.off+int64(tc.n)]) {
				t.Errorf("%s: Bytes() differ from what was written", what)
			}
			if got := m.Stats().Pinned; got != tc.chunks {
				t.Errorf("%s: Stats().Pinned = %d, want %d", what, got, tc.chunks)
			}
			p.Release()
			if got := m.Stats().Pinned; got != 0 {
				t.Errorf("%s: after Release Stats().Pinned = %d, want 0", what, got)
			}
		}
	}
}

func TestManager_PinWritable(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	var md model
	md.writeAt(pattern(1, 4*cs), 0)
	writeAt(t, m, md.data, 0)
	p, err := m.PinWritable(cs+100, 50)
	if err != nil {
		t.Fatal(err)
	}
	q := pattern(2, 50)
	copy(p.Bytes(), q)
	md.writeAt(q, cs+100)
	// Another chunk is mapped while this one stays pinned; ReadAt sees the
	// stores through the pin.
	readAt(t, m, 3*cs, 10)
	if got := readAt(t, m, cs+100, 50); !bytes.Equal(got, q) {
		t.Error("ReadAt does not see stores through a writable pin")
	}
	p.Release()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(m.Dir(), chunk.Name(1)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[100:150], q) {
		t.Error("chunk file does not hold the stores made through a writable pin after Sync")
	}
	m = reopen(t, m, nil)
	md.check(t, m)
}

// TestManager_PinEviction pins a chunk with MaxMapped 1 and touches 50 other
// chunks: the pinned chunk stays mapped with its bytes intact, and mapping
// others goes on (one past MaxMapped) instead of waiting.
func TestManager_PinEviction(t *testing.T) {
	const nchunks = 52
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	var md model
	md.writeAt(pattern(1, nchunks*cs), 0)
	writeAt(t, m, md.data, 0)
	p, err := m.PinWritable(7*cs, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	mark := pattern(3, cs)
	copy(p.Bytes(), mark)
	md.writeAt(mark, 7*cs)
	for i := int64(0); i < nchunks; i++ {
		if i == 7 {
			continue
		}
		off := i*cs + i
		q := pattern(uint64(i+100), 100)
		writeAt(t, m, q, off)
		md.writeAt(q, off)
		if got := readAt(t, m, off, 100); !bytes.Equal(got, q) {
			t.Fatalf("chunk %d: read back other bytes", i)
		}
		s := m.Stats()
		if s.Pinned != 1 || s.Mapped != 2 {
			t.Fatalf("after touching chunk %d: Stats().Pinned, Mapped = %d, %d, want 1, 2", i, s.Pinned, s.Mapped)
		}
	}
	if !bytes.Equal(p.Bytes(), mark) {
		t.Fatalf("pinned bytes changed at byte %d", firstDiff(p.Bytes(), mark))
	}
	if s := m.Stats(); s.Evictions < nchunks-3 {
		t.Errorf("Stats().Evictions = %d, want at least %d", s.Evictions, nchunks-3)
	}
	p.Release()
	readAt(t, m, 0, 1)
	readAt(t, m, 2*cs, 1)
	if s := m.Stats(); s.Pinned != 0 || s.Mapped != 1 {
		t.Errorf("after Release: Stats().Pinned, Mapped = %d, %d, want 0, 1", s.Pinned, s.Mapped)
	}
	md.check(t, m)
}

// TestManager_PinMany pins more chunks than MaxMapped: nothing waits, all
// stay mapped, and the bound comes back once they are released.
func TestManager_PinMany(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	data := pattern(1, 8*cs)
	writeAt(t, m, data, 0)
	var pins []*chunkmap.Pinned
	for i := range int64(5) {
		p, err := m.Pin(i*cs, cs)
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, p)
	}
	readAt(t, m, 6*cs, cs) // maps one more; nothing to evict
	if s := m.Stats(); s.Pinned != 5 || s.Mapped != 6 {
		t.Errorf("with 5 pins: Stats().Pinned, Mapped = %d, %d, want 5, 6", s.Pinned, s.Mapped)
	}
	for i, p := range pins {
		if !bytes.Equal(p.Bytes(), data[int64(i)*cs:int64(i+1)*cs]) {
			t.Errorf("pin of chunk %d holds other bytes", i)
		}
	}
	// Pinning a pinned chunk twice counts it once.
	p, err := m.Pin(100, 10)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Pinned != 5 {
		t.Errorf("chunk pinned twice: Stats().Pinned = %d, want 5", s.Pinned)
	}
	p.Release()
	for i := range pins {
		pins[i].Release()
	}
	readAt(t, m, 7*cs, 1)
	if s := m.Stats(); s.Pinned != 0 || s.Mapped > 2 {
		t.Errorf("after Release: Stats().Pinned, Mapped = %d, %d, want 0, at most 2", s.Pinned, s.Mapped)
	}
}

func TestPinned_ReleaseTwice(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	writeAt(t, m, pattern(1, 2*cs), 0)
	p, err := m.Pin(10, 10)
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	p.Release()
	if p.Bytes() != nil {
		t.Errorf("Bytes() after Release = %d bytes, want nil", len(p.Bytes()))
	}
	var zero chunkmap.Pinned
	zero.Release()
	// A second Release must not have taken another pin's count: a new
	// pin still counts, and after its release the chunk can be evicted.
	q, err := m.Pin(10, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Pinned; got != 1 {
		t.Errorf("Stats().Pinned = %d with one pin, want 1", got)
	}
	q.Release()
	readAt(t, m, cs, 1) // evicts chunk 0
	if s := m.Stats(); s.Pinned != 0 || s.Mapped != 1 {
		t.Errorf("Stats().Pinned, Mapped = %d, %d, want 0, 1", s.Pinned, s.Mapped)
	}
}

// TestManager_PinOutlivesDelete pins a chunk and then removes it with
// Truncate, DropBefore or Close: the pinned bytes stay readable (and
// writable) until Release.
func TestManager_PinOutlivesDelete(t *testing.T) {
	tests := []struct {
		name     string
		pinAt    int64
		remove   func(m *chunkmap.Manager) error
		fileGone bool
	}{
		{"Truncate", 3*cs + 5, func(m *chunkmap.Manager) error { return m.Truncate(cs) }, true},
		{"Truncate to zero", 5, func(m *chunkmap.Manager) error { return m.Truncate(0) }, true},
		{"DropBefore", cs + 5, func(m *chunkmap.Manager) error { return m.DropBefore(2 * cs) }, true},
		{"Close", 2*cs + 5, func(m *chunkmap.Manager) error { return m.Close() }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
			data := pattern(1, 4*cs)
			writeAt(t, m, data, 0)
			p, err := m.PinWritable(tc.pinAt, 100)
			if err != nil {
				t.Fatal(err)
			}
			want := data[tc.pinAt : tc.pinAt+100]
			if err := tc.remove(m); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(m.Dir(), chunk.Name(tc.pinAt/cs))
			if _, err := os.Stat(path); tc.fileGone != errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat(%s) = %v, want removed: %v", path, err, tc.fileGone)
			}
			s := m.Stats()
			if s.Pinned != 1 || s.Mapped < 1 {
				t.Errorf("Stats().Pinned, Mapped = %d, %d, want 1, at least 1", s.Pinned, s.Mapped)
			}
			// Accesses through the pin still work: a use after unmap
			// would fault and kill the test binary.
			if !bytes.Equal(p.Bytes(), want) {
				t.Errorf("pinned bytes changed after %s", tc.name)
			}
			copy(p.Bytes(), "still writable")
			if got := string(p.Bytes()[:14]); got != "still writable" {
				t.Errorf("pinned bytes = %q after a store, want %q", got, "still writable")
			}
			p.Release()
			if s := m.Stats(); s.Pinned != 0 {
				t.Errorf("after Release: Stats().Pinned = %d, want 0", s.Pinned)
			}
			if _, _, doomed := m.Mappings(); doomed != 0 {
				t.Errorf("after Release: %d doomed mappings, want 0", doomed)
			}
		})
	}
}

// TestManager_IO checks the Manager with the standard library's io helpers.
func TestManager_IO(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	var md model
	md.writeAt(pattern(1, 3*cs+500), 0)
	writeAt(t, m, md.data, 0)
	size := int64(len(md.data))
	sections := []struct {
		name   string
		off, n int64
	}{
		{"straddle", cs - 3000, 5000},
		{"to size", size - 4000, 4000},
		{"small", 2*cs - 1, 2},
		{"empty", 10, 0},
	}
	for _, s := range sections {
		t.Run("TestReader/"+s.name, func(t *testing.T) {
			r := io.NewSectionReader(m, s.off, s.n)
			if err := iotest.TestReader(r, md.data[s.off:s.off+s.n]); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("OffsetWriter", func(t *testing.T) {
		base := int64(2*cs - 700)
		w := io.NewOffsetWriter(m, base)
		var want []byte
		for i := range 5 {
			p := pattern(uint64(i+10), 333)
			if n, err := w.Write(p); n != len(p) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			want = append(want, p...)
		}
		if _, err := w.Seek(100, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		p := pattern(20, 50)
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		copy(want[100:], p)
		p = pattern(21, 2000)
		if _, err := w.WriteAt(p, int64(len(want))-5); err != nil {
			t.Fatal(err)
		}
		want = append(want[:len(want)-5], p...)
		md.writeAt(want, base)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(io.NewSectionReader(m, base, int64(len(want))), got); err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("read back through a SectionReader differs at byte %d", i)
		}
		md.check(t, m)
	})
	t.Run("Copy", func(t *testing.T) {
		src := pattern(30, 3*cs)
		off := m.Size() + 17
		if _, err := io.Copy(io.NewOffsetWriter(m, off), bytes.NewReader(src)); err != nil {
			t.Fatal(err)
		}
		md.writeAt(src, off)
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.NewSectionReader(m, 0, m.Size()+cs)); err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(buf.Bytes(), md.data); i >= 0 {
			t.Fatalf("io.Copy out of the Manager differs at byte %d", i)
		}
	})
}

// TestManager_Concurrent runs readers, writers of disjoint regions,
// appenders and a tailer at once while two chunks are mapped at a time,
// with every miss mapping its chunk and with Admission serving most misses
// by pread and pwrite while chunks are mapped and evicted under them.
func TestManager_Concurrent(t *testing.T) {
	for _, admission := range []bool{false, true} {
		t.Run(fmt.Sprintf("admission=%t", admission), func(t *testing.T) {
			testConcurrent(t, admission)
		})
	}
}

func testConcurrent(t *testing.T, admission bool) {
	const (
		roChunks     = 4 // [0, roChunks) read only
		writers      = 3
		writerChunks = 3
		appenders    = 3
		records      = 100
		readers      = 3
		hdr          = 16
	)
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, Admission: admission})
	ro := pattern(1, roChunks*cs)
	writeAt(t, m, ro, 0)
	wBase := int64(roChunks * cs)
	if err := m.Truncate(wBase + writers*writerChunks*cs); err != nil {
		t.Fatal(err)
	}
	initial := m.Size()

	record := func(id, seq int) []byte {
		n := 1 + (seq*7919+id*104729)%(cs/8)
		if seq%10 == 0 {
			n += cs // some records span a whole chunk
		}
		p := make([]byte, hdr, hdr+n)
		copy(p, "REC:")
		binary.LittleEndian.PutUint16(p[4:], uint16(id))
		binary.LittleEndian.PutUint32(p[6:], uint32(seq))
		binary.LittleEndian.PutUint32(p[10:], uint32(n))
		return append(p, pattern(uint64(id<<20|seq), n)...)
	}

	var (
		wg      sync.WaitGroup
		done    atomic.Bool
		stop    atomic.Bool // set on the first failure
		offsets [appenders][records]int64
	)
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		stop.Store(true)
	}
	var regions [writers][]byte
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			base := wBase + int64(w*writerChunks*cs)
			region := make([]byte, writerChunks*cs)
			for i := 0; i < 200 && !stop.Load(); i++ {
				n := 1 + rng.IntN(cs+100)
				o := rng.IntN(len(region) - n)
				p := pattern(uint64(w<<20|i), n)
				if k, err := m.WriteAt(p, base+int64(o)); k != n || err != nil {
					fail("writer %d: WriteAt(%d bytes, %d) = %d, %v", w, n, base+int64(o), k, err)
					return
				}
				copy(region[o:], p)
				o = rng.IntN(len(region) - 64)
				got := make([]byte, 64)
				if _, err := m.ReadAt(got, base+int64(o)); err != nil || !bytes.Equal(got, region[o:o+64]) {
					fail("writer %d: ReadAt(64, %d) = %v, or other bytes than written", w, base+int64(o), err)
					return
				}
			}
			regions[w] = region
		})
	}
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			got := make([]byte, 2*cs)
			for i := 0; i < 250 && !stop.Load(); i++ {
				n := 1 + rng.IntN(2*cs)
				o := rng.Int64N(int64(len(ro) - n + 1))
				if k, err := m.ReadAt(got[:n], o); k != n || err != nil {
					fail("reader %d: ReadAt(%d bytes, %d) = %d, %v", r, n, o, k, err)
					return
				}
				if !bytes.Equal(got[:n], ro[o:o+int64(n)]) {
					fail("reader %d: ReadAt(%d bytes, %d) read other bytes than written", r, n, o)
					return
				}
			}
		})
	}
	var appendWG sync.WaitGroup
	for a := range appenders {
		appendWG.Go(func() {
			for seq := 0; seq < records && !stop.Load(); seq++ {
				off, err := m.Append(record(a, seq))
				if err != nil {
					fail("appender %d: Append: %v", a, err)
					return
				}
				offsets[a][seq] = off
			}
		})
	}
	// The tailer follows Size: everything below it must be whole records,
	// because Size only covers an append once all earlier ones are done.
	tailed := 0
	wg.Go(func() {
		cur := initial
		h := make([]byte, hdr)
		for !stop.Load() {
			size := m.Size()
			if cur+hdr > size {
				if done.Load() && cur == m.Size() {
					return
				}
				time.Sleep(50 * time.Microsecond)
				continue
			}
			if _, err := m.ReadAt(h, cur); err != nil {
				fail("tailer: ReadAt(header, %d) below Size %d: %v", cur, size, err)
				return
			}
			id, seq, n := int(binary.LittleEndian.Uint16(h[4:])), int(binary.LittleEndian.Uint32(h[6:])), int64(binary.LittleEndian.Uint32(h[10:]))
			if string(h[:4]) != "REC:" || id >= appenders || seq >= records || cur+hdr+n > size {
				fail("tailer: no whole record at %d below Size %d: header %q", cur, size, h)
				return
			}
			body := make([]byte, n)
			if _, err := m.ReadAt(body, cur+hdr); err != nil {
				fail("tailer: ReadAt(%d bytes, %d): %v", n, cur+hdr, err)
				return
			}
			if !bytes.Equal(body, record(id, seq)[hdr:]) {
				fail("tailer: record %d/%d at %d is damaged", id, seq, cur)
				return
			}
			cur += hdr + n
			tailed++
		}
	})
	// The bound holds throughout: nothing is pinned here.
	wg.Go(func() {
		for !done.Load() && !stop.Load() {
			if s := m.Stats(); s.Mapped > 2 || s.Pinned != 0 {
				fail("Stats().Mapped, Pinned = %d, %d, want at most 2, 0", s.Mapped, s.Pinned)
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	appendWG.Wait()
	done.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}

	// Appends tile [initial, Size) exactly, each intact at its offset.
	type extent struct{ off, end int64 }
	var spans []extent
	total := int64(0)
	for a := range appenders {
		for seq := range records {
			rec := record(a, seq)
			off := offsets[a][seq]
			spans = append(spans, extent{off, off + int64(len(rec))})
			total += int64(len(rec))
			got := make([]byte, len(rec))
			if _, err := m.ReadAt(got, off); err != nil || !bytes.Equal(got, rec) {
				t.Fatalf("record %d/%d at %d: %v, or damaged", a, seq, off, err)
			}
		}
	}
	slices.SortFunc(spans, func(x, y extent) int { return cmp.Compare(x.off, y.off) })
	at := initial
	for _, s := range spans {
		if s.off != at {
			t.Fatalf("appends overlap or leave a hole: one at %d, want %d", s.off, at)
		}
		at = s.end
	}
	if got := m.Size(); got != initial+total {
		t.Errorf("Size() = %d, want %d", got, initial+total)
	}
	if tailed != appenders*records {
		t.Errorf("tailer saw %d records, want %d", tailed, appenders*records)
	}
	md := model{data: readAt(t, m, 0, int(m.Size()))}
	if !bytes.Equal(md.data[:len(ro)], ro) {
		t.Error("the read-only region changed")
	}
	for w, region := range regions {
		base := wBase + int64(w*writerChunks*cs)
		if !bytes.Equal(md.data[base:base+int64(len(region))], region) {
			t.Errorf("writer %d's region differs from its model", w)
		}
	}
	m = reopen(t, m, &chunkmap.Options{MaxMapped: 2})
	md.check(t, m)
}

// TestManager_ConcurrentPinSyncDrop mixes pins, writes through pins, Sync,
// Grow and DropBefore of a region other goroutines still read.
func TestManager_ConcurrentPinSyncDrop(t *testing.T) {
	const (
		dropChunks = 6 // [0, dropChunks) is dropped chunk by chunk
		workers    = 3
		workChunks = 2
	)
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	head := pattern(1, dropChunks*cs)
	writeAt(t, m, head, 0)
	wBase := int64(dropChunks * cs)
	if err := m.Truncate(wBase + workers*workChunks*cs); err != nil {
		t.Fatal(err)
	}
	var (
		work    sync.WaitGroup // workers and the dropper
		wg      sync.WaitGroup // the reader and the syncer
		done    atomic.Bool
		regions [workers][]byte
	)
	for w := range workers {
		work.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			base := wBase + int64(w*workChunks*cs)
			region := make([]byte, workChunks*cs)
			for i := range 200 {
				o := rng.IntN(len(region) - 256)
				n := 1 + rng.IntN(256)
				if c := (o + n - 1) / cs; c != o/cs {
					n = c*cs - o // a pin stays within its chunk
				}
				p := pattern(uint64(w<<20|i), n)
				switch i % 3 {
				case 0:
					pin, err := m.PinWritable(base+int64(o), n)
					if err != nil {
						t.Errorf("worker %d: PinWritable(%d, %d): %v", w, base+int64(o), n, err)
						return
					}
					copy(pin.Bytes(), p)
					pin.Release()
				case 1:
					if _, err := m.WriteAt(p, base+int64(o)); err != nil {
						t.Errorf("worker %d: WriteAt: %v", w, err)
						return
					}
				case 2:
					pin, err := m.Pin(base+int64(o), n)
					if err != nil {
						t.Errorf("worker %d: Pin(%d, %d): %v", w, base+int64(o), n, err)
						return
					}
					if !bytes.Equal(pin.Bytes(), region[o:o+n]) {
						t.Errorf("worker %d: pinned bytes differ from its model", w)
					}
					pin.Release()
					continue
				}
				copy(region[o:], p)
			}
			regions[w] = region
		})
	}
	// A reader of the region being dropped gets either the bytes or
	// ErrOutOfRange, never other bytes, a fault or a crash. The dropper
	// waits for some reads between drops.
	var reads atomic.Int64
	readerDone := make(chan struct{})
	wg.Go(func() {
		defer close(readerDone)
		rng := rand.New(rand.NewPCG(9, 9))
		got := make([]byte, 300)
		for !done.Load() {
			start := m.Start()
			if start >= int64(len(head)-len(got)) {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			o := start + rng.Int64N(int64(len(head)-len(got))-start)
			n, err := m.ReadAt(got, o)
			if errors.Is(err, chunkmap.ErrOutOfRange) {
				continue
			}
			if err != nil || n != len(got) || !bytes.Equal(got, head[o:o+int64(n)]) {
				t.Errorf("ReadAt(%d, %d) of the dropped region = %d, %v, or other bytes", len(got), o, n, err)
				return
			}
			reads.Add(1)
		}
	})
	var syncs atomic.Int64
	wg.Go(func() {
		for !done.Load() {
			if err := m.Sync(); err != nil {
				t.Errorf("Sync: %v", err)
				return
			}
			syncs.Add(1)
		}
	})
	work.Go(func() {
		for i := int64(1); i <= dropChunks; i++ {
			for r := reads.Load(); reads.Load() < r+20; {
				select {
				case <-readerDone:
					return
				case <-time.After(100 * time.Microsecond):
				}
			}
			if err := m.DropBefore(i * cs); err != nil {
				t.Errorf("DropBefore(%d): %v", i*cs, err)
				return
			}
			if err := m.Grow(i * cs); err != nil {
				t.Errorf("Grow(%d): %v", i*cs, err)
				return
			}
		}
	})
	work.Wait()
	done.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	if m.Start() != dropChunks*cs {
		t.Errorf("Start() = %d, want %d", m.Start(), dropChunks*cs)
	}
	md := model{start: wBase, data: make([]byte, wBase)}
	for _, region := range regions {
		md.data = append(md.data, region...)
	}
	md.check(t, m)
	m = reopen(t, m, nil)
	md.check(t, m)
	if syncs.Load() == 0 {
		t.Error("no Sync ran")
	}
}

// TestManager_ManyChunks builds a dataset of 10,000 chunks of 64 KiB
// through the Manager, reopens it, and scans it with three chunks mapped.
//
// Every 7th chunk (and the last) gets a stamp naming its index; the others
// must read zeros at the same place, so a read served from a neighbouring
// chunk shows. Stamping every chunk would make Close fsync 10,000 files.
func TestManager_ManyChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a dataset of 625 MiB")
	}
	const (
		nchunks   = 10000
		maxMapped = 3
	)
	stamped := func(i int64) bool { return i%7 == 0 || i == nchunks-1 }
	stamp := func(i int64) (int64, []byte) {
		p := make([]byte, 16)
		binary.LittleEndian.PutUint64(p, uint64(i))
		binary.LittleEndian.PutUint64(p[8:], ^uint64(i))
		return i*cs + (i*8)%(cs-16), p
	}
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped})
	t0 := time.Now()
	if err := m.Grow(nchunks * cs); err != nil {
		t.Fatal(err)
	}
	t.Logf("Grow to %d chunks: %v", nchunks, time.Since(t0))
	t1 := time.Now()
	for i := range int64(nchunks) {
		if stamped(i) {
			off, p := stamp(i)
			writeAt(t, m, p, off)
		}
	}
	if err := m.Truncate(nchunks * cs); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Chunks; got != nchunks {
		t.Fatalf("Stats().Chunks = %d, want %d", got, nchunks)
	}
	t.Logf("stamping: %v", time.Since(t1))
	t1 = time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close: %v; building took %v in all", time.Since(t1), time.Since(t0))

	t1 = time.Now()
	m = openTestManager(t, m.Dir(), &chunkmap.Options{MaxMapped: maxMapped})
	t.Logf("Open: %v", time.Since(t1))
	if s := m.Stats(); s.Mapped != 0 || s.Maps != 0 || s.Chunks != nchunks {
		t.Fatalf("after Open Stats() = %+v, want Mapped 0, Maps 0, Chunks %d", s, nchunks)
	}
	if live, retired, doomed := m.Mappings(); live+retired+doomed != 0 {
		t.Fatalf("after Open: %d live, %d retired, %d doomed mappings, want none", live, retired, doomed)
	}
	if m.Size() != nchunks*cs {
		t.Fatalf("Size() = %d, want %d", m.Size(), nchunks*cs)
	}
	zero := make([]byte, 16)
	check := func(i int64) {
		off, want := stamp(i)
		if !stamped(i) {
			want = zero
		}
		if got := readAt(t, m, off, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: bytes at %d = %x, want %x", i, off, got, want)
		}
		if got := readAt(t, m, off+16, 8); !bytes.Equal(got, zero[:8]) {
			t.Fatalf("chunk %d: bytes after the stamp = %x, want zeros", i, got)
		}
		if s := m.Stats(); s.Mapped > maxMapped {
			t.Fatalf("chunk %d: Stats().Mapped = %d, want at most %d", i, s.Mapped, maxMapped)
		}
	}
	t1 = time.Now()
	for i := range int64(nchunks) {
		check(i)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for range 2000 {
		check(rng.Int64N(nchunks))
	}
	t.Logf("scan: %v", time.Since(t1))
	if s := m.Stats(); s.Maps < nchunks || s.Evictions < nchunks-maxMapped {
		t.Errorf("Stats() = %+v, want at least %d maps and %d evictions", s, nchunks, nchunks-maxMapped)
	}
}
