//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestSalvage_BesideLiveWriter salvages a dataset while its writer (in this
// process: salvage reads the files directly, as from any other) cuts it
// back to one chunk and regrows it, again and again. The chunk files the
// writer deletes between salvage's survey and its copy are its changes,
// not damage: salvage must never report them as lost bytes of a damaged
// dataset (exit status 3, "lost ... is missing"). It says that a writer
// changed the dataset while it read, with status 1, or copies every byte
// (status 0), and then the copy holds only bytes the writer wrote there.
func TestSalvage_BesideLiveWriter(t *testing.T) {
	dir := newDataset(t)
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk, MaxMapped: 2})
	must(t, err)
	defer w.Close()
	full := make([]byte, testSize)
	for i := range full {
		full[i] = pattern(int64(i))
	}
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() {
		for !stop.Load() {
			if err := w.Truncate(testChunk); err != nil {
				done <- err
				return
			}
			if _, err := w.WriteAt(full[testChunk:], testChunk); err != nil {
				done <- err
				return
			}
			time.Sleep(time.Millisecond) // some salvages run between cuts
		}
		done <- nil
	}()
	var runs, changed int
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && runs < 60; runs++ {
		flat := runs%2 == 1
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"salvage", dir, out}
		if flat {
			args = []string{"salvage", "-flat", dir, out}
		}
		code, stdout, stderr := runCmd(t, args...)
		switch code {
		case exitOK:
			var got []byte
			if flat {
				got, err = os.ReadFile(out)
				must(t, err)
			} else {
				_, _, got = readDataset(t, out)
			}
			for i, b := range got {
				if b != pattern(int64(i)) {
					t.Fatalf("%q: exit status 0, but byte %d of the copy is %#x, never written there\n%s", args, i, b, stdout)
				}
			}
		case exitFail:
			if !strings.Contains(stderr, "a writer changed") {
				t.Fatalf("%q: exit status 1 without saying that a writer changed the dataset\nstdout:\n%s\nstderr:\n%s", args, stdout, stderr)
			}
			changed++
		default:
			t.Fatalf("%q beside a writer that cuts and regrows the dataset: exit status %d, want 0 or 1 (nothing is damaged)\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
	}
	stop.Store(true)
	must(t, <-done)
	must(t, w.Close())
	t.Logf("%d salvages beside the writer, %d said it changed the dataset", runs, changed)

	// Once the writer is done, the same dataset salvages whole.
	out := filepath.Join(t.TempDir(), "out")
	if code, stdout, stderr := runCmd(t, "salvage", dir, out); code != exitOK {
		t.Fatalf("salvage after the writer closed: exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if _, _, got := readDataset(t, out); !bytes.Equal(got, full) {
		t.Errorf("salvage after the writer closed: the copy (%d bytes) differs from the dataset (%d)", len(got), len(full))
	}
}

// TestSalvage_CutMeanwhileKeepsNoCopy cuts the dataset under salvage, with
// its writer open, while salvage copies it. The copy may then mix bytes
// from before and after the cut, and salvage fails with status 1 for it:
// it must not leave that copy under OUT, where it reads like a whole one
// (verify passes it) and where the salvage the message asks for, once the
// writer has closed, refuses to write. It used to leave it there.
func TestSalvage_CutMeanwhileKeepsNoCopy(t *testing.T) {
	for _, flat := range []bool{false, true} {
		t.Run(fmt.Sprintf("flat=%v", flat), func(t *testing.T) {
			dir := newDataset(t)
			w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk, MaxMapped: 2})
			must(t, err)
			defer w.Close()
			out := filepath.Join(t.TempDir(), "out")
			opened := make(map[string]int)
			cfg := salvageConfig{dir: dir, out: out, flat: flat,
				open: func(path string) (chunkFile, error) {
					// The second open of a chunk is the copy's (the first
					// is checkAccess's): cut the dataset in the middle of it.
					if opened[path]++; opened[path] == 2 && filepath.Base(path) == chunk.Name(3) {
						must(t, w.Truncate(testChunk))
					}
					return openChunkFile(path)
				},
			}
			var stdout, stderr bytes.Buffer
			code := salvage(cfg, &stdout, &stderr)
			if code != exitFail || !strings.Contains(stderr.String(), "a writer changed") {
				t.Fatalf("salvage while a writer cut the dataset: exit status %d, want %d and that a writer changed it\nstdout:\n%s\nstderr:\n%s",
					code, exitFail, stdout.String(), stderr.String())
			}
			if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("salvage failed with status 1, but left %s (%v): a copy that mixes bytes from before and after the cut\nstderr:\n%s", out, err, stderr.String())
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*salvage*")); len(left) > 0 {
				t.Errorf("salvage left %q beside OUT", left)
			}
			must(t, w.Close())
			// What the message asks for: salvage again, into the same OUT.
			if code, _, stderr := runCmd(t, "salvage", dir, out); code != exitOK {
				t.Errorf("salvage again once the writer closed: exit status %d, want 0\n%s", code, stderr)
			}
		})
	}
}
