//go:build unix

package chunkmap

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWithFiles_RetriesWhenAnotherGaveBack: an open refused for want of
// descriptors runs again after the idle cached files are closed, even
// when this call finds none to close, since another call refused at the
// same moment (Sync fsyncs its chunks side by side) may have closed them
// first and made the room. Here the cache is empty and the second try
// succeeds, as it would once the other call's closes land.
func TestWithFiles_RetriesWhenAnotherGaveBack(t *testing.T) {
	m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tc := range []struct {
		name string
		with func(open func() error) error
	}{
		{"withFiles", func(open func() error) error { return m.withFiles(false, open) }},
		{"withFilesLocked", func(open func() error) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.withFilesLocked(false, open)
		}},
	} {
		m.mu.Lock()
		m.dropIdleFdsLocked(-1)
		m.mu.Unlock()
		tries := 0
		err := tc.with(func() error {
			if tries++; tries == 1 {
				return fmt.Errorf("open x: %w", unix.EMFILE)
			}
			return nil
		})
		if err != nil || tries != 2 {
			t.Errorf("%s: %v after %d tries, want nil after 2", tc.name, err, tries)
		}
	}
}
