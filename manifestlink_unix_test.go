//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestOpen_ManifestSharedByTwoDirectories: a dataset copied with its
// files hard-linked (cp -al, rsync --link-dest) has one manifest under two
// directories. Each directory's writer took its own lock and wrote the
// records and state page of the one file: the writer that closed last set
// the other dataset's Size, and the other's next Open deleted the chunks
// its writer had appended as stale. A read-write Open now refuses a
// manifest with more than one name (ErrCorrupt, naming it), changing
// nothing; a ReadOnly Open, which writes nothing, still reads it.
func TestOpen_ManifestSharedByTwoDirectories(t *testing.T) {
	a := lettered(t, 2)
	b := filepath.Join(t.TempDir(), "copy")
	if err := os.Mkdir(b, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Link(filepath.Join(a, e.Name()), filepath.Join(b, e.Name())); err != nil {
			t.Skipf("cannot make a hard link here: %v", err)
		}
	}
	before, err := os.ReadDir(b)
	if err != nil {
		t.Fatal(err)
	}

	wa, errA := chunkmap.Open(a, nil)
	wb, errB := chunkmap.Open(b, nil)
	if errA == nil && errB == nil {
		// Both writers of one manifest: show what it costs.
		if _, err := wb.Append(bytes.Repeat([]byte{'c'}, cs)); err != nil {
			t.Fatal(err)
		}
		if err := wb.Close(); err != nil {
			t.Fatal(err)
		}
		if err := wa.Truncate(cs); err != nil {
			t.Fatal(err)
		}
		if err := wa.Close(); err != nil {
			t.Fatal(err)
		}
		m, err := chunkmap.Open(b, nil)
		if err != nil {
			t.Fatalf("two writers opened one manifest through two directories; the second dataset's Open then: %v", err)
		}
		defer m.Close()
		t.Fatalf("two writers opened one manifest through two directories; the second dataset, appended to 3 chunks, reopens with Size %d, want %d", m.Size(), 3*cs)
	}
	for _, c := range []struct {
		dir string
		m   *chunkmap.Manager
		err error
	}{{a, wa, errA}, {b, wb, errB}} {
		if c.err == nil {
			c.m.Close()
			t.Fatalf("read-write Open of %s, whose manifest has two names, succeeded; want ErrCorrupt", c.dir)
		}
		if !errors.Is(c.err, chunkmap.ErrCorrupt) {
			t.Fatalf("read-write Open of %s, whose manifest has two names = %v, want ErrCorrupt", c.dir, c.err)
		}
		if name := filepath.Join(c.dir, chunkmap.ManifestName); !strings.Contains(c.err.Error(), name) {
			t.Errorf("error %q does not name %s", c.err, name)
		}
	}
	after, err := os.ReadDir(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("the refused Open changed the directory: %d entries, had %d", len(after), len(before))
	}

	r, err := chunkmap.Open(b, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("ReadOnly Open of a dataset whose manifest has two names: %v", err)
	}
	defer r.Close()
	if r.Size() != 2*cs {
		t.Errorf("ReadOnly Size = %d, want %d", r.Size(), 2*cs)
	}

	// Given its own manifest again, the copy opens for writing.
	mf := filepath.Join(b, chunkmap.ManifestName)
	data, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(mf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := chunkmap.Open(b, nil)
	if err != nil {
		t.Fatalf("Open after the manifest was copied: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
