//go:build linux

package chunkmap_test

// Tests of the chunkmap tool (cmd/chunkmap) on dataset directories with
// hostile entries under a chunk's name: every command must finish
// promptly, exit with the status the README gives a damaged dataset, name
// the chunk, and never print or copy bytes that are not the dataset's.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// hfsTool builds cmd/chunkmap into a temporary directory of the test and
// returns the binary's path.
func hfsTool(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chunkmap")
	if out, err := exec.Command("go", "build", "-o", path, "./cmd/chunkmap").CombinedOutput(); err != nil {
		t.Skipf("go build ./cmd/chunkmap: %v\n%s", err, out)
	}
	return path
}

// hfsRun runs the tool with args, bounded by 10 s, and returns its
// output and exit status; a hang or a crash fails t.
func hfsRun(t *testing.T, tool string, args ...string) (stdout, stderr []byte, status int) {
	t.Helper()
	return hfsRunWithin(t, 10*time.Second, tool, args...)
}

// hfsRunWithin is hfsRun bounded by d.
func hfsRunWithin(t *testing.T, d time.Duration, tool string, args ...string) (stdout, stderr []byte, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("chunkmap %s did not finish within %v (killed)\nstderr: %s", strings.Join(args, " "), d, e.Bytes())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		status = ee.ExitCode()
	default:
		t.Fatalf("chunkmap %s: %v\nstderr: %s", strings.Join(args, " "), err, e.Bytes())
	}
	for _, crash := range []string{"goroutine ", "panic:", "fatal error"} {
		if bytes.Contains(e.Bytes(), []byte(crash)) {
			t.Fatalf("chunkmap %s crashed:\n%s", strings.Join(args, " "), e.Bytes())
		}
	}
	return o.Bytes(), e.Bytes(), status
}

// hfsDataset makes a closed dataset of chunks whole chunks of cs bytes in
// a new directory, and returns the directory and its bytes.
func hfsDataset(t *testing.T, chunks int) (string, []byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	data := pattern(uint64(len(dir)), chunks*cs-123)
	writeAt(t, m, data, 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, data
}

// TestHostileFS_ToolDamagedChunk puts a hostile entry under chunk 1's name
// of a four-chunk dataset: a directory, a FIFO, a symlink to the same
// chunk of another dataset, a file cut short (holding the first half of
// the chunk) or too long (the chunk's bytes, then garbage), nothing at
// all. For each, info exits 3 and verify 1 naming the chunk file; cat
// prints, raw, exactly the dataset's bytes up to the first lost one
// (never the symlink's target, never a byte past the loss) and exits 1
// if bytes are lost; salvage copies every byte that is not lost, puts
// zeros in the lost range, and exits 3 if bytes are lost. No command may
// hang on the FIFO or crash.
func TestHostileFS_ToolDamagedChunk(t *testing.T) {
	kinds := []struct {
		name string
		kept int // bytes of chunk 1 that can be read
	}{{"directory", 0}, {"fifo", 0}, {"symlink", 0}, {"short", cs / 2}, {"long", cs}, {"missing", 0}}
	tool := hfsTool(t)
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			dir, data := hfsDataset(t, 4)
			other, _ := hfsDataset(t, 4)
			name := chunk.Name(1)
			path := filepath.Join(dir, name)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			switch kind.name {
			case "directory":
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			case "fifo":
				if err := syscall.Mkfifo(path, 0o644); err != nil {
					t.Fatal(err)
				}
			case "symlink":
				if err := os.Symlink(filepath.Join(other, name), path); err != nil {
					t.Fatal(err)
				}
			case "short", "long":
				b := pattern(77, cs/2)
				if kind.name == "long" {
					b = pattern(77, 2*cs)
				}
				copy(b, data[cs:cs+kind.kept])
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			lostFrom, lostTo := cs+kind.kept, 2*cs
			lost := lostFrom < lostTo
			wantStatus := func(ifLost, ifNot int) int {
				if lost {
					return ifLost
				}
				return ifNot
			}

			out, errOut, st := hfsRun(t, tool, "info", dir)
			if st != 3 {
				t.Errorf("info: status %d, want 3\n%s%s", st, out, errOut)
			}
			out, errOut, st = hfsRun(t, tool, "verify", dir)
			if st != 1 || !bytes.Contains(append(out, errOut...), []byte(name)) {
				t.Errorf("verify: status %d, want 1, naming %s\n%s%s", st, name, out, errOut)
			}
			_, errOut, st = hfsRun(t, tool, "verify", "-read", dir)
			if st != 1 {
				t.Errorf("verify -read: status %d, want 1\n%s", st, errOut)
			}
			out, errOut, st = hfsRun(t, tool, "cat", dir)
			if want := wantStatus(1, 0); st != want || (lost && !bytes.Contains(errOut, []byte(name))) {
				t.Errorf("cat: status %d, want %d (naming %s if bytes are lost)\n%s", st, want, name, errOut)
			}
			wantOut := data
			if lost {
				wantOut = data[:lostFrom]
			}
			if i := firstDiff(out, wantOut); i >= 0 {
				t.Errorf("cat printed %d bytes, want the dataset's first %d; first difference at %d", len(out), len(wantOut), i)
			}
			_, errOut, st = hfsRun(t, tool, "cat", "-hex", dir)
			if want := wantStatus(1, 0); st != want {
				t.Errorf("cat -hex: status %d, want %d\n%s", st, want, errOut)
			}

			dst := filepath.Join(t.TempDir(), "out")
			out, errOut, st = hfsRun(t, tool, "salvage", dir, dst)
			if want := wantStatus(3, 0); st != want {
				t.Fatalf("salvage: status %d, want %d\n%s%s", st, want, out, errOut)
			}
			if !bytes.Contains(append(out, errOut...), []byte(name)) {
				t.Errorf("salvage does not name %s:\n%s%s", name, out, errOut)
			}
			s, err := chunkmap.Open(dst, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("open the salvaged dataset: %v", err)
			}
			defer s.Close()
			if s.Size() != int64(len(data)) {
				t.Fatalf("salvaged Size %d, want %d", s.Size(), len(data))
			}
			want := bytes.Clone(data)
			clear(want[lostFrom:lostTo])
			got := make([]byte, len(data))
			if _, err := s.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("salvaged byte at %d = %#x, want %#x", i, got[i], want[i])
			}
		})
	}
}
