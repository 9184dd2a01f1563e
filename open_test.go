package chunkmap_test

// Tests of Open: options, checking a directory, cleaning up after a crash.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

func TestOpen_Defaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	m := openTestManager(t, dir, nil)
	if got := m.ChunkSize(); got != chunkmap.DefaultChunkSize {
		t.Errorf("ChunkSize() = %d, want %d", got, chunkmap.DefaultChunkSize)
	}
	if m.Size() != 0 || m.Start() != 0 || m.ReadOnly() || m.Dir() != dir {
		t.Errorf("new dataset: Size %d, Start %d, ReadOnly %v, Dir %q; want 0, 0, false, %q", m.Size(), m.Start(), m.ReadOnly(), m.Dir(), dir)
	}
	if s, want := m.Stats(), (chunkmap.Stats{}); s != want {
		t.Errorf("Stats() of a new dataset = %+v, want %+v", s, want)
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
		if got, want := fi.Mode().Perm(), platformPerm(want, name == "."); got != want {
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
	// editManifest replaces the manifest file (version 2, as buildDataset
	// leaves it) with what edit returns.
	editManifest := func(t *testing.T, dir string, edit func([]byte) []byte) {
		t.Helper()
		b := readManifestFile(t, dir)
		if err := os.WriteFile(manifest(dir), edit(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// editRecords applies edit to both records, so that Open has none to
	// fall back to; reseal says whether their checksums are made right
	// again, so that only the check of what edit changed fails.
	editRecords := func(t *testing.T, dir string, reseal bool, edit func(r []byte)) {
		t.Helper()
		editManifest(t, dir, func(b []byte) []byte {
			for slot := range 2 {
				r := recordIn(b, slot)
				if !parseRecord(r).valid() {
					t.Fatalf("record at %d of the dataset before the edit is not valid", slot*recordStride)
				}
				edit(r)
				if reseal {
					resealRecord(r)
				}
			}
			return b
		})
	}
	putUint32 := func(at int, v uint32) func(r []byte) {
		return func(r []byte) { binary.LittleEndian.PutUint32(r[at:], v) }
	}
	putUint64 := func(at int, v uint64) func(r []byte) {
		return func(r []byte) { binary.LittleEndian.PutUint64(r[at:], v) }
	}
	// writeV1 replaces the manifest with a version 1 one of the same
	// dataset, edited by edit.
	writeV1 := func(t *testing.T, dir string, edit func(b []byte) []byte) {
		t.Helper()
		editManifest(t, dir, func([]byte) []byte { return edit(encodeV1(cs, 0, 7*cs/2)) })
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		names func(dir string) string // the file the error must name
	}{
		{"manifest truncated", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { return b[:stateOff] })
		}, manifest},
		{"manifest truncated to one record", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { return b[:recordLen] })
		}, manifest},
		{"manifest truncated to the version 1 length", func(t *testing.T, dir string) {
			// Record A, which says version 2, cut to 44 bytes.
			editManifest(t, dir, func(b []byte) []byte { return b[:manifestV1Len] })
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
		{"manifest zeros", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { return make([]byte, manifestLen) })
		}, manifest},
		{"manifest huge garbage", func(t *testing.T, dir string) {
			editManifest(t, dir, func(b []byte) []byte { return pattern(99, 1<<20) })
		}, manifest},
		{"records swapped", func(t *testing.T, dir string) {
			// Both valid, each where the other's sequence number goes.
			editManifest(t, dir, func(b []byte) []byte {
				a := bytes.Clone(recordIn(b, 0))
				copy(recordIn(b, 0), recordIn(b, 1))
				copy(recordIn(b, 1), a)
				return b
			})
		}, manifest},
		{"records bad magic", func(t *testing.T, dir string) {
			editRecords(t, dir, true, func(r []byte) { copy(r, "CHUNKMAQ") })
		}, manifest},
		{"records bad checksum", func(t *testing.T, dir string) {
			editRecords(t, dir, false, func(r []byte) { r[33] ^= 1 })
		}, manifest},
		{"records checksum flipped", func(t *testing.T, dir string) {
			editRecords(t, dir, false, func(r []byte) { r[60] ^= 0x80 })
		}, manifest},
		{"records torn", func(t *testing.T, dir string) {
			editRecords(t, dir, false, func(r []byte) { clear(r[recordLen/2:]) })
		}, manifest},
		{"records unknown version", func(t *testing.T, dir string) {
			editRecords(t, dir, true, putUint32(8, 3))
		}, manifest},
		{"records version 1", func(t *testing.T, dir string) {
			editRecords(t, dir, true, putUint32(8, 1))
		}, manifest},
		{"records version 0", func(t *testing.T, dir string) {
			editRecords(t, dir, true, putUint32(8, 0))
		}, manifest},
		{"records unknown flags", func(t *testing.T, dir string) {
			editRecords(t, dir, true, putUint32(12, 1))
		}, manifest},
		{"records bad chunk size", func(t *testing.T, dir string) {
			editRecords(t, dir, true, putUint64(16, 3000))
		}, manifest},
		{"records chunk size 0", func(t *testing.T, dir string) {
			editRecords(t, dir, true, putUint64(16, 0))
		}, manifest},
		{"records chunk size too large", func(t *testing.T, dir string) {
			editRecords(t, dir, true, putUint64(16, 1<<40))
		}, manifest},
		{"records first chunk out of range", func(t *testing.T, dir string) {
			editRecords(t, dir, true, func(r []byte) {
				binary.LittleEndian.PutUint64(r[24:], 1<<62)
				binary.LittleEndian.PutUint64(r[32:], math.MaxInt64)
			})
		}, manifest},
		{"records size below start", func(t *testing.T, dir string) {
			editRecords(t, dir, true, func(r []byte) {
				binary.LittleEndian.PutUint64(r[24:], 2) // first chunk 2: Start 2 chunks
				binary.LittleEndian.PutUint64(r[32:], cs)
			})
		}, manifest},
		{"records negative size", func(t *testing.T, dir string) {
			editRecords(t, dir, true, putUint64(32, 1<<63))
		}, manifest},
		{"version 1 bad checksum", func(t *testing.T, dir string) {
			writeV1(t, dir, func(b []byte) []byte { b[33] ^= 1; return b })
		}, manifest},
		{"version 1 too long", func(t *testing.T, dir string) {
			writeV1(t, dir, func(b []byte) []byte { return append(b, 0) })
		}, manifest},
		{"version 1 truncated", func(t *testing.T, dir string) {
			writeV1(t, dir, func(b []byte) []byte { return b[:40] })
		}, manifest},
		{"version 1 padded to the version 2 length", func(t *testing.T, dir string) {
			writeV1(t, dir, func(b []byte) []byte { return append(b, make([]byte, manifestLen-len(b))...) })
		}, manifest},
		{"version 1 unknown flags", func(t *testing.T, dir string) {
			writeV1(t, dir, func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1); return resealV1(b) })
		}, manifest},
		{"version 1 negative size", func(t *testing.T, dir string) {
			writeV1(t, dir, func(b []byte) []byte { binary.LittleEndian.PutUint64(b[32:], 1<<63); return resealV1(b) })
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
		{"chunk is a directory", func(t *testing.T, dir string) {
			if err := os.Remove(chunkPath(dir, 2)); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(chunkPath(dir, 2), 0o755); err != nil {
				t.Fatal(err)
			}
		}, func(dir string) string { return chunkPath(dir, 2) }},
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
// and the chunk files past Size that a crash leaves (whatever their size:
// none holds data), and nothing else; a ReadOnly Open removes nothing.
func TestOpen_Cleanup(t *testing.T) {
	dir, data := buildDataset(t)
	temps := []string{
		chunk.Name(1) + ".tmp",  // an existing chunk being recreated
		chunk.Name(4) + ".tmp",  // the next chunk
		chunk.Name(40) + ".tmp", // far past the end
		"MANIFEST.tmp",
		chunk.Name(4), // past Size: short, as a crash during growth leaves it
		chunk.Name(6), // past Size, after a gap
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

// TestOpen_ErrorIfNotExists opens missing datasets with ErrorIfNotExists
// (and ReadOnly, which implies it): Open fails with fs.ErrNotExist and
// creates nothing. An existing dataset opens.
func TestOpen_ErrorIfNotExists(t *testing.T) {
	dataset := func(t *testing.T, parent string) string {
		dir := filepath.Join(parent, "dataset")
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			t.Fatal(err)
		}
		writeAt(t, m, []byte("exists"), 0)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name    string
		opts    chunkmap.Options
		dir     func(t *testing.T, parent string) string
		wantErr error
	}{
		{"no directory", chunkmap.Options{ErrorIfNotExists: true}, func(t *testing.T, parent string) string {
			return filepath.Join(parent, "missing")
		}, fs.ErrNotExist},
		{"no parent", chunkmap.Options{ErrorIfNotExists: true}, func(t *testing.T, parent string) string {
			return filepath.Join(parent, "missing", "deeper")
		}, fs.ErrNotExist},
		{"empty directory", chunkmap.Options{ErrorIfNotExists: true}, func(t *testing.T, parent string) string {
			dir := filepath.Join(parent, "empty")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return dir
		}, fs.ErrNotExist},
		{"unknown files only", chunkmap.Options{ErrorIfNotExists: true}, func(t *testing.T, parent string) string {
			dir := filepath.Join(parent, "other")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}, fs.ErrNotExist},
		{"ReadOnly, no directory", chunkmap.Options{ReadOnly: true}, func(t *testing.T, parent string) string {
			return filepath.Join(parent, "missing")
		}, fs.ErrNotExist},
		{"dataset", chunkmap.Options{ErrorIfNotExists: true}, dataset, nil},
		{"ReadOnly, dataset", chunkmap.Options{ReadOnly: true, ErrorIfNotExists: true}, dataset, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := tc.dir(t, parent)
			before := snapshot(t, parent)
			m, err := chunkmap.Open(dir, &tc.opts)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Open(%+v) of a dataset: %v", tc.opts, err)
				}
				defer m.Close()
				if got := readAt(t, m, 0, 6); string(got) != "exists" {
					t.Errorf("read %q, want %q", got, "exists")
				}
				return
			}
			if err == nil {
				m.Close()
				t.Fatalf("Open(%+v) of a missing dataset succeeded", tc.opts)
			}
			wantErr(t, fmt.Sprintf("Open(%+v)", tc.opts), err, tc.wantErr)
			wantSameSnapshot(t, before, snapshot(t, parent))
		})
	}
}

// TestOpen_Start creates datasets that begin past offset 0: Start and Size
// are Options.Start, the first Append writes there, no chunk file below it
// exists, and a reopen keeps it; a Start that is not a multiple of the
// chunk size, or negative, is refused before anything is written; an
// existing dataset keeps its own Start.
func TestOpen_Start(t *testing.T) {
	const start = 1 << 40
	for _, scratch := range []bool{false, true} {
		t.Run(fmt.Sprintf("scratch=%v", scratch), func(t *testing.T) {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, Start: start, Scratch: scratch})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Start() != start || m.Size() != start {
				t.Fatalf("Start, Size = %d, %d, want %d, %d", m.Start(), m.Size(), int64(start), int64(start))
			}
			p := pattern(3, cs+10)
			if off, err := m.Append(p); err != nil || off != start {
				t.Fatalf("Append = %d, %v; want %d, nil", off, err, int64(start))
			}
			if got := readAt(t, m, start, len(p)); !bytes.Equal(got, p) {
				t.Fatalf("the appended bytes read back differently at %d", firstDiff(got, p))
			}
			if _, err := m.ReadAt(make([]byte, 1), start-1); !errors.Is(err, chunkmap.ErrOutOfRange) {
				t.Fatalf("ReadAt below Start: %v, want ErrOutOfRange", err)
			}
			if scratch {
				return
			}
			if got, want := chunkFiles(t, dir), span(start/cs, start/cs+2); !slices.Equal(got, want) {
				t.Fatalf("chunk files %v, want %v", got, want)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			// Reopened with another Start: the dataset's own stands.
			if m, err = chunkmap.Open(dir, &chunkmap.Options{Start: 2 * cs}); err != nil {
				t.Fatal(err)
			}
			// The Close deferred above is the first Manager's, and
			// Windows cannot clean up the files of one left open.
			defer m.Close()
			if m.Start() != start || m.Size() != start+int64(len(p)) {
				t.Fatalf("after a reopen Start, Size = %d, %d, want %d, %d", m.Start(), m.Size(), int64(start), start+int64(len(p)))
			}
		})
	}
	for _, bad := range []int64{cs / 2, -cs, start + 1} {
		dir := filepath.Join(t.TempDir(), "ds")
		if m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, Start: bad}); !errors.Is(err, chunkmap.ErrInvalidOptions) {
			if err == nil {
				m.Close()
			}
			t.Errorf("Open with Start %d: %v, want ErrInvalidOptions", bad, err)
		}
		if _, err := os.Stat(filepath.Join(dir, chunkmap.ManifestName)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open with Start %d refused, but left a manifest: %v", bad, err)
		}
	}
}

// TestOpen_ChunksDescribedByListing checks that a read-write Open checks
// each chunk file against the directory listing's description of it,
// without a second lstat per chunk (which cost a third of an Open), and
// still finds a chunk file of the wrong size. Lstat of every chunk file
// fails here: an Open that makes one fails. On Windows, where the listing
// is the directory entries, Open must make one (see chunkInfo).
func TestOpen_ChunksDescribedByListing(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, tc := range []struct {
		name    string
		cut     bool // chunk 2 cut to 100 bytes before the Open
		wantErr error
	}{
		{name: "whole", wantErr: nil},
		{name: "short chunk", cut: true, wantErr: chunkmap.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Repeat([]byte{0x5a}, 4*cs)
			if _, err := m.WriteAt(want, 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			file2 := filepath.Join(dir, "0000000000000002.chunk")
			if tc.cut {
				if err := os.Truncate(file2, 100); err != nil {
					t.Fatal(err)
				}
			}
			f := vfstest.NewFaulty(nil)
			rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpLstat, "*.chunk"), Err: syscall.EACCES})
			o := chunkmap.Options{ChunkSize: cs}
			chunkmap.SetFS(&o, f)
			m, err = chunkmap.Open(dir, &o)
			if runtime.GOOS == "windows" {
				// The listing describes a file by its directory entry,
				// whose size NTFS updates lazily: Open asks each chunk
				// file itself, and fails with the injected error.
				if n := f.Fired(rule); n == 0 || !errors.Is(err, syscall.EACCES) {
					t.Fatalf("Open = %v after %d lstats of chunk files, want EACCES from the first", err, n)
				}
				return
			}
			if n := f.Fired(rule); n != 0 {
				t.Errorf("Open made %d lstats of chunk files, want 0 (the listing describes them)", n)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(fmt.Sprint(err), file2) {
					t.Fatalf("Open = %v, want %v naming %s", err, tc.wantErr, file2)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got := make([]byte, len(want))
			if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ReadAt after Open: %v (bytes equal: %v)", err, bytes.Equal(got, want))
			}
		})
	}
}
