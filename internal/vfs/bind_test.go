//go:build unix

package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBind checks the bound FS against OS: the same answers by the same
// names, symlinks and FIFOs refused as OS refuses them (a Root would
// follow a symlink that stays inside it), errors that name the full path,
// and every call still in the directory after it was renamed and another
// made under its name.
func TestBind(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "ds")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "first")
	if err := os.Symlink("a", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, unbind, err := Bind(OS, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unbind(); err != nil {
			t.Error(err)
		}
	}()

	for _, c := range []struct{ name, kind string }{{"link", "symlink"}, {"fifo", "FIFO"}} {
		path := filepath.Join(dir, c.name)
		for _, fsys := range []FS{b, OS} {
			_, err := fsys.OpenFile(path, os.O_RDWR, 0)
			var pe *fs.PathError
			if !errors.Is(err, ErrNotRegular) || !errors.As(err, &pe) || pe.Path != path {
				t.Errorf("OpenFile(%s): %v, want ErrNotRegular naming %s", c.name, err, path)
			}
			// The kind of file, not the errno O_NOFOLLOW made of a
			// symlink ("too many levels of symbolic links"), which
			// stays in the chain.
			if want := "open " + path + ": not a regular file (it is a " + c.kind + ")"; err == nil || err.Error() != want {
				t.Errorf("OpenFile(%s): %v, want %q", c.name, err, want)
			}
			if c.name == "link" && !errors.Is(err, unix.ELOOP) {
				t.Errorf("OpenFile(%s): %v, want ELOOP in its chain", c.name, err)
			}
		}
	}
	if _, err := b.OpenFile(filepath.Join(dir, "none"), os.O_RDWR, 0); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(dir, "none")) {
		t.Errorf("OpenFile of a missing name: %v, want ErrNotExist naming the path", err)
	}
	if fi, err := b.Lstat(dir + "/"); err != nil || !fi.IsDir() {
		t.Errorf("Lstat of the directory with a trailing separator: %v, %v", fi, err)
	}
	locked, err := os.Open(dir) // as a writer's lock holds it
	if err != nil {
		t.Fatal(err)
	}
	defer locked.Close()

	// Renamed, and another directory made under the old name.
	moved := filepath.Join(base, "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write("a", "other")
	f, err := b.OpenFile(filepath.Join(dir, "a"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := f.ReadAt(got, 0); err != nil || string(got) != "first" {
		t.Errorf("after the rename, OpenFile read %q, %v: want the bound directory's %q", got, err, "first")
	}
	if f.Name() != filepath.Join(dir, "a") {
		t.Errorf("Name() = %q, want the path it was opened by", f.Name())
	}
	f.Close()
	n, err := b.OpenFile(filepath.Join(dir, "new"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if err := b.Rename(filepath.Join(dir, "new"), filepath.Join(dir, "renamed")); err != nil {
		t.Fatal(err)
	}
	if err := b.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	entries, err := b.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := "a fifo link renamed"; strings.Join(names, " ") != want {
		t.Errorf("ReadDir after the rename: %v, want the bound directory's, sorted: %s", names, want)
	}
	if _, err := os.Lstat(filepath.Join(moved, "renamed")); err != nil {
		t.Errorf("the file created and renamed is not in the bound directory: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "renamed")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the file created and renamed is in the directory now under the old name: %v", err)
	}
	if err := b.Remove(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "a")); err != nil {
		t.Errorf("Remove took the other directory's file: %v", err)
	}

	// The directory locked is no longer the one at the path.
	if _, _, err := Bind(OS, dir, locked); !errors.Is(err, ErrMoved) {
		t.Errorf("Bind of a path that now names another directory than the one locked: %v, want ErrMoved", err)
	}
}
