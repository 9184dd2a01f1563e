package chunkmap_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestEmptyDir checks that Open and Remove refuse an empty dir, which an
// unset variable gives, rather than take the current directory, and leave
// the dataset there as it was.
func TestEmptyDir(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	calls := []struct {
		name     string
		call     func() error
		notExist bool
	}{
		{"Open", func() error { return openClose("", nil) }, false},
		{"Open ReadOnly", func() error { return openClose("", &chunkmap.Options{ReadOnly: true}) }, false},
		{"Open Scratch", func() error { return openClose("", &chunkmap.Options{Scratch: true}) }, false},
		{"Open ErrorIfNotExists", func() error { return openClose("", &chunkmap.Options{ErrorIfNotExists: true}) }, false},
		{"Remove", func() error { return chunkmap.Remove("") }, true},
	}
	for _, c := range calls {
		err := c.call()
		if !errors.Is(err, chunkmap.ErrInvalidOptions) {
			t.Errorf("%s(\"\") = %v, want ErrInvalidOptions", c.name, err)
		}
		if errors.Is(err, fs.ErrNotExist) != c.notExist {
			t.Errorf("%s(\"\") = %v: matches fs.ErrNotExist %v, want %v", c.name, err, !c.notExist, c.notExist)
		}
	}

	m, err = chunkmap.Open(".", &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the dataset in the current directory is gone: %v", err)
	}
	defer m.Close()
	if got := m.Size(); got != 4 {
		t.Fatalf("Size of the dataset in the current directory = %d, want 4", got)
	}
}

// openClose opens dir with opts and closes the Manager at once.
func openClose(dir string, opts *chunkmap.Options) error {
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		return err
	}
	return m.Close()
}
