//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap/internal/swaptest"
)

// giveWriter opens each FIFO among paths for writing, for a moment: an
// open for reading that waits for a writer then returns.
func giveWriter(paths ...string) {
	for _, p := range paths {
		if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
}

// TestScanDir_FIFONeverWaits: the commands look at DIR, then list it, and
// another program may put a FIFO under its name in between. scanDir opened
// it with a plain open, which waits for a FIFO's writer forever; it must
// fail at once.
func TestScanDir_FIFONeverWaits(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ds")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := scanDir(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("scanDir of a FIFO succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Error("scanDir of a FIFO did not return within 5 s: it waits for a writer")
		giveWriter(fifo)
		<-done
	}
}

// TestRun_DirSwappedForFIFONeverHangs runs info, verify, cat and salvage
// while another goroutine swaps DIR with a FIFO under its name, again and
// again: each must end (with any status), never wait forever in the open
// of a FIFO, as each did before (scanDir) within a few to a few thousand
// tries.
func TestRun_DirSwappedForFIFONeverHangs(t *testing.T) {
	for _, cmd := range []string{"info", "verify", "cat", "salvage"} {
		t.Run(cmd, func(t *testing.T) {
			dir := newDataset(t)
			root := filepath.Dir(dir)
			fifo := filepath.Join(root, "fifo")
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			swaps := swaptest.Start(t, dir, fifo)
			out := t.TempDir()
			deadline := time.Now().Add(time.Second)
			for i := 0; time.Now().Before(deadline); i++ {
				args := []string{cmd, dir}
				switch cmd {
				case "cat":
					args = []string{cmd, "-n", "16", dir}
				case "salvage":
					args = append(args, filepath.Join(out, fmt.Sprint(i)))
				}
				done := make(chan struct{})
				go func() { defer close(done); runCmd(t, args...) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					t.Errorf("%s hung in try %d (DIR swapped for a FIFO)", cmd, i)
					swaps.Stop()
					giveWriter(dir, fifo)
					<-done
					return
				}
			}
		})
	}
}
