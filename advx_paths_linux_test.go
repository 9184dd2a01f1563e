//go:build linux

package chunkmap_test

// Black-box tests of how Open, Remove, ReadOnly Open and Scratch treat the
// path they are given: relative, ".", "..", "//", symlinks before and after
// "..", a symlinked dataset directory, a parent swapped between calls, very
// long names, and names with spaces, newlines and unicode.

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

var advxOpts = &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize}

func advxOpen(t *testing.T, dir string, o *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	return m
}

// advxPattern is n bytes that depend on their offset and tag.
func advxPattern(tag byte, off, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		o := off + i
		p[i] = byte(o*131+o>>9) ^ tag
	}
	return p
}

// advxCheckDataset opens real read-only and checks that it holds want.
func advxCheckDataset(t *testing.T, real string, want []byte) {
	t.Helper()
	r, err := chunkmap.Open(real, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("ReadOnly Open(%q): %v", real, err)
	}
	defer r.Close()
	if r.Size() != int64(len(want)) {
		t.Fatalf("%q: Size %d, want %d", real, r.Size(), len(want))
	}
	got := make([]byte, len(want))
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%q: ReadAt: %v, equal %v", real, err, bytes.Equal(got, want))
	}
}

// TestAdvx_PathForms: every spelling of one directory (relative, "./",
// "//", ".." through a real directory, a trailing "/.", names with spaces,
// a newline and unicode) puts the directory, MANIFEST and chunks in the one
// place the kernel resolves, and Remove through that spelling removes it.
func TestAdvx_PathForms(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	for _, name := range []string{"plain", "with space", "new\nline", "ünï–çødé 数据", " lead", "trail "} {
		for _, form := range []struct{ label, path string }{
			{"relative", "p/" + name},
			{"dot", "./p/./" + name},
			{"slashes", "p//" + name + "//"},
			{"dotdot", "p/x/../" + name},
			{"absolute", root + "//p/x/../" + name + "/."},
		} {
			t.Run(form.label+"/"+strings.ReplaceAll(name, "\n", `\n`), func(t *testing.T) {
				if err := os.MkdirAll(filepath.Join(root, "p", "x"), 0o755); err != nil {
					t.Fatal(err)
				}
				real := filepath.Join(root, "p", name)
				data := advxPattern(1, 0, int(chunkmap.MinChunkSize)*2+100)
				m := advxOpen(t, form.path, advxOpts)
				if _, err := m.Append(data); err != nil {
					t.Fatal(err)
				}
				// A follower through the same spelling sees it.
				r := advxOpen(t, form.path, &chunkmap.Options{ReadOnly: true})
				got := make([]byte, len(data))
				if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
					t.Errorf("follower ReadAt: %v, equal %v", err, bytes.Equal(got, data))
				}
				r.Close()
				if _, err := chunkmap.Open(real, advxOpts); !errors.Is(err, chunkmap.ErrLocked) {
					t.Errorf("second writer through %q: %v, want ErrLocked", real, err)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				advxCheckDataset(t, real, data)
				if err := chunkmap.Remove(form.path); err != nil {
					t.Fatalf("Remove(%q): %v", form.path, err)
				}
				if _, err := os.Lstat(real); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("after Remove, %q: %v", real, err)
				}
				// Nothing anywhere else.
				_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						t.Errorf("left behind: %q", p)
					}
					return nil
				})
			})
		}
	}
}

// TestAdvx_DotDotChains: ".." after symlinks, several times, relative and
// absolute; the dataset lands where the kernel resolves the path, for the
// directory, MANIFEST and chunks alike, and the same spelling reopens,
// follows and removes it.
func TestAdvx_DotDotChains(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll("r/a/b/c", 0o755))
	must(os.MkdirAll("s/t", 0o755))
	must(os.Symlink(filepath.Join(root, "r/a/b/c"), "s/t/L1")) // L1/.. = r/a/b
	must(os.Symlink("../r/a/b", "s/L2"))                       // relative: s/L2/.. = r/a
	must(os.Symlink("s/t", "L3"))                              // L3/.. = s
	cases := []struct{ path, real string }{
		{"s/t/L1/../ds1", "r/a/b/ds1"},
		{"s/t/L1/../../ds2", "r/a/ds2"},
		{"s/L2/../ds3", "r/a/ds3"},
		{"s/L2/c/../../ds4", "r/a/ds4"},
		{"L3/../ds5", "s/ds5"},
		{"L3/L1/../ds6", "r/a/b/ds6"},
		{"s/t/L1/../../b/c/../ds7", "r/a/b/ds7"},
		{root + "/s/t/L1/..//ds8/", "r/a/b/ds8"},
		{"L3/L1/../../../ds9", "r/ds9"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.path, "/", "|"), func(t *testing.T) {
			data := advxPattern(2, 0, int(chunkmap.MinChunkSize)+7)
			m := advxOpen(t, c.path, advxOpts)
			if _, err := m.Append(data); err != nil {
				t.Fatal(err)
			}
			r := advxOpen(t, c.path, &chunkmap.Options{ReadOnly: true})
			got := make([]byte, len(data))
			if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
				t.Errorf("follower: %v equal %v", err, bytes.Equal(got, data))
			}
			r.Close()
			must(m.Close())
			ents, err := os.ReadDir(c.real)
			if err != nil {
				t.Fatalf("%s: %v", c.real, err)
			}
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if len(names) != 3 {
				t.Errorf("%s holds %q, want MANIFEST and 2 chunks", c.real, names)
			}
			advxCheckDataset(t, c.real, data)
			sc := advxOpen(t, c.path, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, Scratch: true})
			if _, err := sc.Append(data); err != nil {
				t.Errorf("scratch Append: %v", err)
			}
			must(sc.Close())
			must(chunkmap.Remove(c.path))
			if _, err := os.Lstat(c.real); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after Remove %s: %v", c.real, err)
			}
		})
	}
	// Nothing was created where the paths read as text.
	for _, p := range []string{"s/t/ds1", "s/ds2", "s/ds3", "ds5", "L3/ds6", "s/t/b", "s/ds8"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists: files went where the path reads as text", p)
		}
	}
}

// TestAdvx_SymlinkDirRefused: a dataset directory that is a symlink is
// refused (ErrCorrupt) by Open, ReadOnly Open, Scratch Open and Remove in
// every spelling that names the link itself, and nothing is changed.
func TestAdvx_SymlinkDirRefused(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	m := advxOpen(t, real, advxOpts)
	data := advxPattern(3, 0, 1000)
	if _, err := m.Append(data); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, filepath.Join(root, "sub", "..", "link")} {
		os.MkdirAll(filepath.Join(root, "sub"), 0o755)
		for _, o := range []*chunkmap.Options{
			advxOpts, {ReadOnly: true}, {Scratch: true, ChunkSize: chunkmap.MinChunkSize}, {ErrorIfNotExists: true},
		} {
			m, err := chunkmap.Open(p, o)
			if err == nil {
				m.Close()
			}
			if !errors.Is(err, chunkmap.ErrCorrupt) {
				t.Errorf("Open(%q, %+v): %v, want ErrCorrupt", p, *o, err)
			}
		}
		if err := chunkmap.Remove(p); !errors.Is(err, chunkmap.ErrCorrupt) {
			t.Errorf("Remove(%q): %v, want ErrCorrupt", p, err)
		}
	}
	advxCheckDataset(t, real, data)
}

// TestAdvx_SymlinkDirTrailingSlash: "link/" and "link/." name the
// directory a symlink points to through the link. The docs refuse a
// symlinked dataset directory so that a swapped link cannot redirect a
// Manager; through "link/" Open accepts it, so after the link is swapped
// the Manager must keep writing to the directory it opened and locked.
func TestAdvx_SymlinkDirTrailingSlash(t *testing.T) {
	for _, suffix := range []string{"/", "/."} {
		t.Run(suffix, func(t *testing.T) {
			root := t.TempDir()
			a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
			link := filepath.Join(root, "link")
			if err := os.Symlink(a, link); err != nil {
				t.Fatal(err)
			}
			os.Mkdir(a, 0o755)
			m, err := chunkmap.Open(link+suffix, advxOpts)
			if err != nil {
				if errors.Is(err, chunkmap.ErrCorrupt) {
					return // refused as documented
				}
				t.Fatalf("Open(%q): %v", link+suffix, err)
			}
			defer m.Close()
			advxSwapAndGrow(t, m, link, a, b)
		})
	}
}

// advxSwapAndGrow swaps link from a to b, lets m (opened on a through the
// link) grow by a chunk, and checks that nothing of m reached b and that a
// second writer on b is not sharing its directory with m.
func advxSwapAndGrow(t *testing.T, m *chunkmap.Manager, link, a, b string) {
	t.Helper()
	first := advxPattern(4, 0, int(chunkmap.MinChunkSize))
	if _, err := m.Append(first); err != nil {
		t.Fatal(err)
	}
	// b holds a dataset of its own, with its own writer.
	w2 := advxOpen(t, b, advxOpts)
	defer w2.Close()
	if _, err := w2.Append(advxPattern(9, 0, 100)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(b, link); err != nil {
		t.Fatal(err)
	}
	more := advxPattern(4, len(first), 3*int(chunkmap.MinChunkSize))
	_, aerr := m.Append(more)
	serr := m.Sync()
	t.Logf("after the swap: Append %v, Sync %v", aerr, serr)
	ents, _ := os.ReadDir(b)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 {
		t.Errorf("the first Manager, which locked %s, wrote into %s (a dataset another writer holds): %s now holds %q",
			filepath.Base(a), filepath.Base(b), filepath.Base(b), names)
	}
	if aerr == nil && serr == nil {
		m.Close()
		advxCheckDataset(t, a, append(first, more...))
	}
}

// TestAdvx_ParentSwappedBetweenCalls: the parent of the dataset directory
// is a symlink, swapped after Open (once to another symlink, once replaced
// by a real directory). The Manager locked the directory it opened; growing
// must not create chunk files in a directory it never locked (and that
// another writer holds).
func TestAdvx_ParentSwappedBetweenCalls(t *testing.T) {
	for _, how := range []string{"symlink", "directory"} {
		t.Run(how, func(t *testing.T) {
			root := t.TempDir()
			x, y := filepath.Join(root, "x"), filepath.Join(root, "y")
			os.Mkdir(x, 0o755)
			os.Mkdir(y, 0o755)
			p := filepath.Join(root, "P")
			if err := os.Symlink(x, p); err != nil {
				t.Fatal(err)
			}
			m := advxOpen(t, filepath.Join(p, "ds"), advxOpts)
			defer m.Close()
			first := advxPattern(5, 0, int(chunkmap.MinChunkSize))
			if _, err := m.Append(first); err != nil {
				t.Fatal(err)
			}
			other := filepath.Join(y, "ds")
			if how == "directory" {
				os.Remove(p)
				os.Mkdir(p, 0o755)
				other = filepath.Join(p, "ds")
			} else {
				os.Remove(p)
				os.Symlink(y, p)
			}
			w2 := advxOpen(t, other, advxOpts)
			defer w2.Close()
			if _, err := w2.Append(advxPattern(9, 0, 100)); err != nil {
				t.Fatal(err)
			}
			more := advxPattern(5, len(first), 2*int(chunkmap.MinChunkSize))
			_, aerr := m.Append(more)
			serr := m.Sync()
			t.Logf("after the swap: Append %v; Sync %v", aerr, serr)
			ents, _ := os.ReadDir(other)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			// The second writer's own MANIFEST and chunk 0, and nothing of
			// the first's.
			if len(names) != 2 {
				t.Errorf("Manager opened on x/ds (locked) created files in %s, which a second writer holds: it holds %q", other, names)
			}
			// The second writer grows over the chunk files the first
			// created in its directory: both now write the same files.
			theirs := advxPattern(9, 100, 2*int(chunkmap.MinChunkSize))
			if _, err := w2.Append(theirs); err != nil {
				t.Logf("second writer's Append: %v", err)
			} else {
				got := make([]byte, len(more))
				if _, err := m.ReadAt(got, int64(len(first))); err == nil && !bytes.Equal(got, more) {
					t.Errorf("the first Manager's ReadAt of what its Append wrote returns the second writer's bytes: two Managers write one dataset")
				}
			}
			if err := w2.Close(); err != nil {
				t.Errorf("second writer's Close: %v", err)
			}
			if aerr == nil && serr == nil {
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				advxCheckDataset(t, filepath.Join(x, "ds"), append(first, more...))
			}
		})
	}
}

// TestAdvx_FollowerParentSwapped: a follower opened through a symlinked
// parent keeps following the dataset it opened (its state page), so the
// chunk files it opens later must be that dataset's: after the parent is
// swapped to another dataset, it must not return the other's bytes below
// the Size it reports.
func TestAdvx_FollowerParentSwapped(t *testing.T) {
	root := t.TempDir()
	x, y := filepath.Join(root, "x"), filepath.Join(root, "y")
	os.Mkdir(x, 0o755)
	os.Mkdir(y, 0o755)
	p := filepath.Join(root, "P")
	os.Symlink(x, p)
	cs := int(chunkmap.MinChunkSize)
	w := advxOpen(t, filepath.Join(x, "ds"), advxOpts)
	defer w.Close()
	wy := advxOpen(t, filepath.Join(y, "ds"), advxOpts)
	defer wy.Close()
	if _, err := w.Append(advxPattern(6, 0, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := wy.Append(advxPattern(7, 0, 4*cs)); err != nil {
		t.Fatal(err)
	}
	r := advxOpen(t, filepath.Join(p, "ds"), &chunkmap.Options{ReadOnly: true})
	defer r.Close()
	os.Remove(p)
	os.Symlink(y, p)
	want := advxPattern(6, 100, 3*cs)
	if _, err := w.Append(want); err != nil {
		t.Fatal(err)
	}
	size := r.Size()
	if size != int64(100+3*cs) {
		t.Fatalf("follower Size %d, want %d", size, 100+3*cs)
	}
	got := make([]byte, len(want))
	_, err := r.ReadAt(got, 100)
	if err == nil && !bytes.Equal(got, want) {
		i := 0
		for got[i] == want[i] {
			i++
		}
		t.Errorf("follower returned bytes that are not its writer's, below its Size %d: first at offset %d (got %#x, writer's %#x; the other dataset's %#x)",
			size, 100+i, got[i], want[i], advxPattern(7, 100+i, 1)[0])
	} else if err != nil {
		t.Logf("ReadAt: %v", err)
	}
}

// TestAdvx_LongPaths: a component longer than NAME_MAX, a path longer than
// PATH_MAX, and a deep path just under it: errors (wrapping ErrIO and
// naming op and dir) or success, never a crash or a dataset elsewhere.
func TestAdvx_LongPaths(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{
		filepath.Join(root, strings.Repeat("n", 256)),
		filepath.Join(root, strings.Repeat("d/", 2100)+"ds"),
	} {
		for _, o := range []*chunkmap.Options{advxOpts, {ReadOnly: true}, {Scratch: true, ChunkSize: chunkmap.MinChunkSize}} {
			m, err := chunkmap.Open(p, o)
			if err == nil {
				m.Close()
				t.Errorf("Open(len %d, %+v) succeeded", len(p), *o)
				continue
			}
			if o.ReadOnly {
				continue
			}
			if !errors.Is(err, chunkmap.ErrIO) || !strings.HasPrefix(err.Error(), "open ") {
				t.Errorf("Open(len %d, %+v): %v; want ErrIO naming open", len(p), *o, err)
			}
		}
		if err := chunkmap.Remove(p); err == nil || !(errors.Is(err, chunkmap.ErrIO) || errors.Is(err, fs.ErrNotExist)) {
			t.Errorf("Remove(len %d): %v", len(p), err)
		}
	}
	// Deep but legal: about 4000 bytes.
	rest := 4000 - len(root)
	deep := root + strings.Repeat("/"+strings.Repeat("q", 98), rest/99) + "/ds"
	data := advxPattern(8, 0, int(chunkmap.MinChunkSize)+1)
	m, err := chunkmap.Open(deep, advxOpts)
	if err != nil {
		t.Fatalf("Open(len %d): %v", len(deep), err)
	}
	if _, err := m.Append(data); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	advxCheckDataset(t, deep, data)
	if err := chunkmap.Remove(deep); err != nil {
		t.Fatal(err)
	}
}
