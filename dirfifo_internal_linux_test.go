//go:build linux

package chunkmap

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestLockDir_FIFONeverWaits: Open and Remove look at their directory,
// then lock it by path, and another program may put a FIFO under its name
// in between (TestOpen_DirSwappedForFIFONeverHangs). lockDir opened it
// with a plain open, which waits for a FIFO's writer forever, so Open hung;
// it must fail at once, with ErrCorrupt as Open's own look reports a FIFO
// (not a directory), the system's ENOTDIR in the chain.
func TestLockDir_FIFONeverWaits(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ds")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		l, err := lockDir(fifo, true)
		if err == nil {
			l.unlock()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("lockDir of a FIFO: %v, want ErrCorrupt with ENOTDIR", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("lockDir of a FIFO did not return within 5 s: it waits for a writer")
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		<-done
	}
}
