//go:build linux

package chunkmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/swaptest"
)

// TestOpen_DirSwappedForFIFONeverHangs has another goroutine swap a
// dataset's directory with a FIFO under its name, again and again, while
// read-write Opens, ReadOnly Opens and Removes run: each must return
// (an error is fine), never wait forever in the open of a FIFO. Before,
// a read-write Open and Remove (the lock's open of the directory) and a
// ReadOnly Open (the Root the bound FS opens by path) hung, in some runs
// within a few tries, in others after thousands; the race is not certain,
// so TestLockDir_FIFONeverWaits and TestOS_DirectoryOpensNeverWaitOnAFIFO
// pin each open down.
func TestOpen_DirSwappedForFIFONeverHangs(t *testing.T) {
	for _, mode := range []string{"read-write", "ReadOnly", "Remove"} {
		t.Run(mode, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			fifo := filepath.Join(root, "fifo")
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			swaps := swaptest.Start(t, dir, fifo)
			call := func() {
				var m *chunkmap.Manager
				var err error
				switch mode {
				case "read-write":
					m, err = chunkmap.Open(dir, nil)
				case "ReadOnly":
					m, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
				case "Remove":
					if chunkmap.Remove(dir) == nil {
						m, err = chunkmap.Open(dir, nil) // for the next try
					}
				}
				if err == nil && m != nil {
					m.Close()
				}
			}
			deadline := time.Now().Add(stormFor(2 * time.Second))
			for i := 0; time.Now().Before(deadline); i++ {
				done := make(chan struct{})
				go func() { defer close(done); call() }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					t.Errorf("%s hung in try %d (the directory swapped for a FIFO)", mode, i)
					swaps.Stop()
					for _, p := range []string{dir, fifo} { // give the open a writer
						if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
							w.Close()
						} else if !errors.Is(err, os.ErrNotExist) {
							t.Logf("%s: %v", p, err)
						}
					}
					<-done
					return
				}
			}
		})
	}
}
