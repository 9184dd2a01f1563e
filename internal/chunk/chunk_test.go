package chunk_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

const testSize = 64 << 10

// dirNames returns the sorted names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%s): %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// create makes chunk index in a new temporary directory and closes it when
// the test ends.
func create(t *testing.T, index int64) (dir string, f *chunk.File) {
	t.Helper()
	dir = t.TempDir()
	f, err := chunk.Create(vfs.OS, dir, index, testSize, 0o644)
	if err != nil {
		t.Fatalf("Create(%d): %v", index, err)
	}
	t.Cleanup(func() { f.Close() })
	return dir, f
}

func wantPathError(t *testing.T, err error, op, path string, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *fs.PathError", err, err)
	}
	if pe.Op != op || pe.Path != path {
		t.Errorf("PathError Op, Path = %q, %q, want %q, %q", pe.Op, pe.Path, op, path)
	}
}

func TestCreate(t *testing.T) {
	dir, f := create(t, 42)
	path := filepath.Join(dir, "000000000000002a.chunk")
	if got := f.Path(); got != path {
		t.Errorf("Path() = %q, want %q", got, path)
	}
	if got := f.Index(); got != 42 {
		t.Errorf("Index() = %d, want 42", got)
	}
	if got := f.Size(); got != testSize {
		t.Errorf("Size() = %d, want %d", got, testSize)
	}
	if f.Mapped() {
		t.Errorf("Mapped() = true after Create, want false")
	}
	if got, want := dirNames(t, dir), []string{"000000000000002a.chunk"}; !slices.Equal(got, want) {
		t.Errorf("directory holds %q, want %q (no temporary file)", got, want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != testSize {
		t.Fatalf("file is %d bytes, want %d", len(data), testSize)
	}
	if i := slices.IndexFunc(data, func(b byte) bool { return b != 0 }); i >= 0 {
		t.Errorf("byte %d = %#x, want 0", i, data[i])
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&^0o644 != 0 {
		t.Errorf("mode = %v, want at most 0644", fi.Mode().Perm())
	}
}

// TestCreate_ExistingFile checks that Create never clobbers a file under
// the chunk's name (left by a crash, or not ours): it fails with
// fs.ErrExist and leaves the file as it was.
func TestCreate_ExistingFile(t *testing.T) {
	dir := t.TempDir()
	garbage := bytes.Repeat([]byte{0xee}, testSize+100)
	path := filepath.Join(dir, chunk.Name(7))
	if err := os.WriteFile(path, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := chunk.Create(vfs.OS, dir, 7, testSize, 0o644)
	if err == nil {
		f.Close()
		t.Fatal("Create over an existing file succeeded")
	}
	wantPathError(t, err, "create", path, fs.ErrExist)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, garbage) {
		t.Error("Create changed the file it refused")
	}
}

func TestCreate_Errors(t *testing.T) {
	t.Run("size", func(t *testing.T) {
		for _, size := range []int64{0, -1} {
			dir := t.TempDir()
			_, err := chunk.Create(vfs.OS, dir, 1, size, 0o644)
			wantPathError(t, err, "create", filepath.Join(dir, chunk.Name(1)), chunk.ErrSize)
			if got := dirNames(t, dir); len(got) != 0 {
				t.Errorf("Create(size %d) left %q", size, got)
			}
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "missing")
		_, err := chunk.Create(vfs.OS, dir, 1, testSize, 0o644)
		wantPathError(t, err, "create", filepath.Join(dir, chunk.Name(1)), fs.ErrNotExist)
	})
	t.Run("rename fails", func(t *testing.T) {
		// A non-empty directory under the final name makes the rename
		// fail; the temporary file must not stay behind.
		dir := t.TempDir()
		final := filepath.Join(dir, chunk.Name(3))
		if err := os.MkdirAll(filepath.Join(final, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := chunk.Create(vfs.OS, dir, 3, testSize, 0o644)
		if err == nil {
			f.Close()
			t.Fatal("Create over a non-empty directory succeeded")
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Op != "create" {
			t.Errorf("error = %v, want a *fs.PathError with Op create", err)
		}
		if got, want := dirNames(t, dir), []string{chunk.Name(3)}; !slices.Equal(got, want) {
			t.Errorf("directory holds %q after a failed Create, want %q", got, want)
		}
	})
}

func TestOpen(t *testing.T) {
	dir, f := create(t, 5)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []chunk.Mode{chunk.ReadOnly, chunk.ReadWrite} {
		g, err := chunk.Open(vfs.OS, dir, 5, testSize, mode)
		if err != nil {
			t.Fatalf("Open(mode %d): %v", mode, err)
		}
		if g.Index() != 5 || g.Size() != testSize || g.Path() != f.Path() || g.Mapped() {
			t.Errorf("Open(mode %d) = index %d, size %d, path %q, mapped %v; want 5, %d, %q, false",
				mode, g.Index(), g.Size(), g.Path(), g.Mapped(), testSize, f.Path())
		}
		if err := g.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestOpen_Errors(t *testing.T) {
	dir, f := create(t, 5)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	path := f.Path()
	tests := []struct {
		name    string
		index   int64
		size    int64
		wantErr error
	}{
		{"smaller", 5, testSize / 2, chunk.ErrSize},
		{"larger", 5, 2 * testSize, chunk.ErrSize},
		{"missing", 6, testSize, fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := chunk.Open(vfs.OS, dir, tc.index, tc.size, chunk.ReadWrite)
			if err == nil {
				g.Close()
			}
			wantPathError(t, err, "open", filepath.Join(dir, chunk.Name(tc.index)), tc.wantErr)
		})
	}
	t.Run("directory", func(t *testing.T) {
		if err := os.Mkdir(filepath.Join(dir, chunk.Name(9)), 0o755); err != nil {
			t.Fatal(err)
		}
		g, err := chunk.Open(vfs.OS, dir, 9, testSize, chunk.ReadOnly)
		if err == nil {
			g.Close()
		}
		wantPathError(t, err, "open", filepath.Join(dir, chunk.Name(9)), chunk.ErrSize)
	})
	// The file itself is untouched by a failed Open.
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != testSize {
		t.Errorf("after failed Opens: Stat = %v, %v; want size %d", fi, err, testSize)
	}
}

func TestFile_MapSyncUnmap(t *testing.T) {
	_, f := create(t, 1)
	if b := f.Bytes(); b != nil {
		t.Errorf("Bytes() before Map = %d bytes, want nil", len(b))
	}
	if err := f.Map(chunk.ReadWrite); err != nil {
		t.Fatalf("Map: %v", err)
	}
	if !f.Mapped() {
		t.Fatal("Mapped() = false after Map")
	}
	b := f.Bytes()
	if len(b) != testSize {
		t.Fatalf("len(Bytes()) = %d, want %d", len(b), testSize)
	}
	if err := f.Map(chunk.ReadWrite); err == nil {
		t.Error("second Map succeeded, want an error")
	}
	copy(b[testSize-5:], "hello")
	copy(b, "start")
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	data, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(data[testSize-5:]); got != "hello" {
		t.Errorf("file tail = %q, want %q", got, "hello")
	}
	if got := string(data[:5]); got != "start" {
		t.Errorf("file head = %q, want %q", got, "start")
	}
	// pread sees the stores through the mapping.
	p := make([]byte, 5)
	if n, err := f.ReadAt(p, testSize-5); n != 5 || err != nil || string(p) != "hello" {
		t.Errorf("ReadAt(tail) = %d, %v, %q; want 5, nil, %q", n, err, p, "hello")
	}
	if err := f.Unmap(); err != nil {
		t.Fatalf("Unmap: %v", err)
	}
	if f.Mapped() || f.Bytes() != nil {
		t.Errorf("after Unmap: Mapped() = %v, Bytes() = %d bytes; want false, nil", f.Mapped(), len(f.Bytes()))
	}
	if err := f.Unmap(); err != nil {
		t.Errorf("Unmap of an unmapped File = %v, want nil", err)
	}
	// Map again read-only: the data is there.
	if err := f.Map(chunk.ReadOnly); err != nil {
		t.Fatalf("Map(ReadOnly) after Unmap: %v", err)
	}
	if got := string(f.Bytes()[:5]); got != "start" {
		t.Errorf("remapped head = %q, want %q", got, "start")
	}
	if err := f.Sync(); err != nil {
		t.Errorf("Sync of a read-only mapping: %v", err)
	}
}

func TestFile_MapReadWriteOnReadOnly(t *testing.T) {
	dir, f := create(t, 1)
	f.Close()
	g, err := chunk.Open(vfs.OS, dir, 1, testSize, chunk.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	err = g.Map(chunk.ReadWrite)
	wantPathError(t, err, "map", g.Path(), fs.ErrPermission)
	if g.Mapped() {
		t.Error("Mapped() = true after a failed Map")
	}
	if err := g.Map(chunk.ReadOnly); err != nil {
		t.Errorf("Map(ReadOnly) after a failed Map(ReadWrite): %v", err)
	}
}

func TestFile_Fadvise(t *testing.T) {
	_, f := create(t, 1)
	if _, err := f.WriteAt([]byte("kept"), 1000); err != nil {
		t.Fatal(err)
	}
	for _, a := range []chunk.Advice{chunk.Normal, chunk.Sequential, chunk.Random, chunk.WillNeed, chunk.DontNeed} {
		if err := f.Fadvise(0, 0, a); err != nil {
			t.Errorf("Fadvise(%d): %v", a, err)
		}
	}
	// DontNeed drops clean pages from the page cache, never the data.
	p := make([]byte, 4)
	if _, err := f.ReadAt(p, 1000); err != nil || string(p) != "kept" {
		t.Errorf("after Fadvise(DontNeed) ReadAt = %q, %v; want %q", p, err, "kept")
	}
	if runtime.GOOS == "linux" {
		if err := f.Fadvise(0, 0, chunk.Advice(99)); err == nil {
			t.Error("Fadvise(99) = nil, want an error")
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var pe *fs.PathError
	if err := f.Fadvise(0, 0, chunk.Random); !errors.As(err, &pe) || pe.Op != "advise" {
		t.Errorf("Fadvise after Close = %v, want a *fs.PathError with Op advise", err)
	}
}

func TestFile_ReadWriteAt(t *testing.T) {
	_, f := create(t, 1)
	tests := []struct {
		name    string
		off     int64
		n       int
		wantErr error
	}{
		{"start", 0, 10, nil},
		{"end", testSize - 10, 10, nil},
		{"whole", 0, testSize, nil},
		{"empty at end", testSize, 0, nil},
		{"past end", testSize - 9, 10, chunk.ErrSize},
		{"at end", testSize, 1, chunk.ErrSize},
		{"beyond", testSize + 1, 0, chunk.ErrSize},
		{"negative", -1, 1, chunk.ErrSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := bytes.Repeat([]byte{byte(len(tc.name))}, tc.n)
			n, err := f.WriteAt(p, tc.off)
			if tc.wantErr != nil {
				if n != 0 {
					t.Errorf("WriteAt(%d bytes, %d) wrote %d bytes, want 0", tc.n, tc.off, n)
				}
				wantPathError(t, err, "write", f.Path(), tc.wantErr)
				return
			}
			if n != tc.n || err != nil {
				t.Fatalf("WriteAt(%d bytes, %d) = %d, %v, want %d, nil", tc.n, tc.off, n, err, tc.n)
			}
			got := make([]byte, tc.n)
			if n, err := f.ReadAt(got, tc.off); n != tc.n || (err != nil && !(err == io.EOF && n == tc.n)) {
				t.Fatalf("ReadAt(%d bytes, %d) = %d, %v", tc.n, tc.off, n, err)
			}
			if !bytes.Equal(got, p) {
				t.Errorf("ReadAt(%d bytes, %d) read other bytes than written", tc.n, tc.off)
			}
		})
	}
	fi, err := os.Stat(f.Path())
	if err != nil || fi.Size() != testSize {
		t.Errorf("after WriteAt: Stat = %v, %v; want size %d (the file never grows)", fi, err, testSize)
	}
	p := make([]byte, 10)
	if n, err := f.ReadAt(p, testSize-5); n != 5 || err != io.EOF {
		t.Errorf("ReadAt past the end = %d, %v, want 5, io.EOF", n, err)
	}
}

// zeroOp is a call that zeroes a range of a chunk: Zero, and where the
// platform punches holes, Discard (added by its test file).
type zeroOp struct {
	name string
	call func(f *chunk.File, off, n int64) error
}

var zeroOps = []zeroOp{{"zero", (*chunk.File).Zero}}

func TestFile_Zero(t *testing.T) {
	for _, op := range zeroOps {
		t.Run(op.name, func(t *testing.T) { testZero(t, op) })
	}
}

func testZero(t *testing.T, op zeroOp) {
	_, f := create(t, 1)
	if err := f.Map(chunk.ReadWrite); err != nil {
		t.Fatal(err)
	}
	b := f.Bytes()
	ones := bytes.Repeat([]byte{0xff}, testSize)
	tests := []struct {
		name    string
		off, n  int64
		wantErr error
	}{
		{"middle", 100, 5000, nil},
		{"within a page", 5000, 100, nil},
		// Whole pages go to the file system, the partial ones at both
		// ends are written (zeroRange, discardRange).
		{"pages and both ends", 100, 3 * 4096, nil},
		{"page", 4096, 4096, nil},
		{"tail", testSize - 7, 7, nil},
		{"whole", 0, testSize, nil},
		{"empty", 10, 0, nil},
		{"empty at end", testSize, 0, nil},
		{"past end", testSize - 7, 8, chunk.ErrSize},
		{"beyond", testSize + 1, 0, chunk.ErrSize},
		{"negative off", -1, 1, chunk.ErrSize},
		{"negative n", 0, -1, chunk.ErrSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			copy(b, ones)
			err := op.call(f, tc.off, tc.n)
			if tc.wantErr != nil {
				wantPathError(t, err, op.name, f.Path(), tc.wantErr)
				if !bytes.Equal(b, ones) {
					t.Errorf("failed %s(%d, %d) changed bytes", op.name, tc.off, tc.n)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s(%d, %d): %v", op.name, tc.off, tc.n, err)
			}
			want := slices.Clone(ones)
			clear(want[tc.off : tc.off+tc.n])
			// The mapping and pread both see the zeros, and nothing
			// around them changed.
			if i := firstDiff(b, want); i >= 0 {
				t.Errorf("after %s(%d, %d) mapped byte %d = %#x, want %#x", op.name, tc.off, tc.n, i, b[i], want[i])
			}
			got := make([]byte, testSize)
			if _, err := f.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("after %s(%d, %d) file byte %d = %#x, want %#x", op.name, tc.off, tc.n, i, got[i], want[i])
			}
		})
	}
	fi, err := os.Stat(f.Path())
	if err != nil || fi.Size() != testSize {
		t.Errorf("after %s: Stat = %v, %v; want size %d", op.name, fi, err, testSize)
	}
}

// TestFile_ZeroCutFile: Zero (and Discard) of a file that another program
// cut refuses (ErrSize) and leaves the file as cut: zeros written past its
// end would grow it again.
func TestFile_ZeroCutFile(t *testing.T) {
	for _, op := range zeroOps {
		for _, cut := range []int64{0, 50, testSize - 1} {
			t.Run(fmt.Sprint(op.name, cut), func(t *testing.T) {
				_, f := create(t, 1)
				if err := os.Truncate(f.Path(), cut); err != nil {
					t.Fatal(err)
				}
				wantPathError(t, op.call(f, 10, 3*4096), op.name, f.Path(), chunk.ErrSize)
				fi, err := os.Stat(f.Path())
				if err != nil || fi.Size() != cut {
					t.Errorf("after the refused %s: Stat = %v, %v; want size %d", op.name, fi, err, cut)
				}
			})
		}
	}
}

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

func TestFile_Close(t *testing.T) {
	_, f := create(t, 1)
	if err := f.Map(chunk.ReadWrite); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if f.Mapped() || f.Bytes() != nil {
		t.Errorf("after Close: Mapped() = %v, Bytes() = %d bytes; want false, nil", f.Mapped(), len(f.Bytes()))
	}
	p := make([]byte, 1)
	calls := []struct {
		op string
		fn func() error
	}{
		{"close", f.Close},
		{"map", func() error { return f.Map(chunk.ReadOnly) }},
		{"sync", f.Sync},
		{"zero", func() error { return f.Zero(0, 1) }},
		{"read", func() error { _, err := f.ReadAt(p, 0); return err }},
		{"write", func() error { _, err := f.WriteAt(p, 0); return err }},
	}
	for _, c := range calls {
		wantPathError(t, c.fn(), c.op, f.Path(), fs.ErrClosed)
	}
}
