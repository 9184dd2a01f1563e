package chunkmap_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestOpen_RelativeDirAfterChdir: a dataset opened by a relative path
// stays the directory that path named at Open when the program changes its
// working directory afterwards. Growth, a pread of a chunk file not opened
// yet, Truncate's deletions and Sync must all reach that directory, never
// a directory of the same relative name under the new working directory
// (here another dataset, whose chunk files a Truncate would delete).
func TestOpen_RelativeDirAfterChdir(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	// The other dataset, at the same relative path from second.
	other, err := chunkmap.Open(filepath.Join(second, "data"), &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	otherData := pattern(7, 3*cs)
	if _, err := other.WriteAt(otherData, 0); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}

	t.Chdir(first)
	// NoAdmission false and MaxMapped 1: reads of chunk 1 below go to
	// pread, which opens its file by name.
	m, err := chunkmap.Open("data", &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	data := pattern(1, 2*cs)
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	t.Chdir(second)

	steps := []struct {
		name string
		do   func() error
	}{
		{"ReadAt", func() error {
			got := make([]byte, len(data))
			if _, err := m.ReadAt(got, 0); err != nil {
				return err
			}
			if !bytes.Equal(got, data) {
				return errors.New("read other bytes than written")
			}
			return nil
		}},
		{"Append", func() error { _, err := m.Append(pattern(2, cs+10)); return err }},
		{"Sync", m.Sync},
		{"Truncate", func() error { return m.Truncate(cs) }},
		{"Sync after Truncate", m.Sync},
		{"Close", m.Close},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Errorf("%s after Chdir: %v", s.name, err)
		}
	}

	// The other dataset is as it was.
	r, err := chunkmap.Open(filepath.Join(second, "data"), &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("other dataset: %v", err)
	}
	got := make([]byte, len(otherData))
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, otherData) {
		t.Errorf("other dataset: ReadAt: %v, equal %v (Size %d)", err, bytes.Equal(got, otherData), r.Size())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// And the dataset holds what was written to it, in its own directory.
	mine, err := chunkmap.Open(filepath.Join(first, "data"), &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("dataset: %v", err)
	}
	defer mine.Close()
	if mine.Size() != cs {
		t.Errorf("dataset: Size %d, want %d", mine.Size(), cs)
	}
	got = make([]byte, cs)
	if _, err := mine.ReadAt(got, 0); err != nil || !bytes.Equal(got, data[:cs]) {
		t.Errorf("dataset: ReadAt: %v, equal %v", err, bytes.Equal(got, data[:cs]))
	}
	if _, err := os.Lstat(filepath.Join(second, "data", "0000000000000003.chunk")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a chunk file of the dataset landed in the other directory: %v", err)
	}
}
