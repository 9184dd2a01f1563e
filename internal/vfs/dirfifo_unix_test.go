//go:build unix

package vfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// returnsOnFIFO runs f, which opens the FIFO at fifo as a directory, and
// fails t unless it returns within 5 seconds: an open that waits for a
// writer is given one (a non-blocking open for writing), so that the test
// ends all the same.
func returnsOnFIFO(t *testing.T, what, fifo string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("%s of a FIFO succeeded", what)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("%s of a FIFO did not return within 5 s: it waits for a writer", what)
		if w, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		<-done
	}
}

// TestOS_DirectoryOpensNeverWaitOnAFIFO: another program may put a FIFO
// under a dataset directory's name between a look at it and the open of
// it by path, and a plain open of a FIFO waits for a writer forever. The
// opens of a directory by path must fail at once instead: Remove's listing
// (os.ReadDir opens with O_DIRECTORY), and the Root a bound FS opens beside
// the descriptor it has (whose open of "." succeeds here, as an openat of
// the locked directory does), which waited, since os.OpenRoot passes no
// O_DIRECTORY.
func TestOS_DirectoryOpensNeverWaitOnAFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ds")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	returnsOnFIFO(t, "ReadDir", fifo, func() error {
		_, err := OS.ReadDir(fifo)
		return err
	})
	locked, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer locked.Close()
	returnsOnFIFO(t, "Bind", fifo, func() error {
		_, unbind, err := Bind(OS, fifo, locked)
		if err == nil {
			unbind()
		}
		return err
	})
}
