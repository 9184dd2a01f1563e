//go:build linux

package chunkmap_test

// The operator tool on a file system that died: see TestPowerCut_Tool and
// TestPowerCut_ToolDuringRead.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// pctRun runs the tool with args, bounded by pcCalls, and returns its
// output and exit status; a hang or a crash fails t.
func pctRun(t *testing.T, tool string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	o, e, status := hfsRunWithin(t, pcCalls, tool, args...)
	return string(o), string(e), status
}

// pctDataset writes a closed dataset of chunks chunks into dir and drops
// its pages from the cache, so that reading it needs the device.
func pctDataset(t *testing.T, dir string, chunks int) {
	t.Helper()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: pcChunk})
	if err != nil {
		t.Fatal(err)
	}
	pcCloseAtEnd(t, m)
	p := make([]byte, chunks*pcChunk-100)
	for i := range p {
		p[i] = plByte(2, int64(i))
	}
	if _, err := m.Append(p); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	pcfDropCache(t, dir)
}

// pctOutConsistent checks that salvage's OUT is missing or a dataset
// that verifies clean.
func pctOutConsistent(t *testing.T, tool, out, what string) {
	t.Helper()
	fi, err := os.Lstat(out)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err == nil && fi.Mode().IsRegular() {
		return // -flat: a file of [Start, Size), nothing to verify
	}
	if _, stderr, status := pctRun(t, tool, "verify", out); status != 0 {
		t.Errorf("%s: OUT is there but does not verify (status %d):\n%s", what, status, stderr)
	}
}

// TestPowerCut_Tool runs the operator tool on a dataset whose file system
// was shut down: every command must fail with status 1 (nothing of the
// dataset can be read, which is not damage the tool can describe)
// naming a file of the dataset, never hang or crash; salvage must leave
// OUT, on a healthy file system, missing or whole.
func TestPowerCut_Tool(t *testing.T) {
	for _, fs := range pcFileSystems {
		t.Run(fs.name, func(t *testing.T) {
			tool := hfsTool(t)
			mnt, dir, root := pcMounted(t, fs)
			pctDataset(t, dir, 4)
			if err := pcCut(root); err != nil {
				t.Fatal(err)
			}
			root.Close()
			outs := t.TempDir()
			for _, c := range [][]string{
				{"info", dir},
				{"verify", dir},
				{"verify", "-read", dir},
				{"cat", dir},
				{"cat", "-hex", dir},
				{"trim", dir, "-before", "131072"},
				{"salvage", dir, filepath.Join(outs, "out")},
				{"salvage", "-flat", dir, filepath.Join(outs, "flat")},
			} {
				what := strings.Join(c, " ")
				stdout, stderr, status := pctRun(t, tool, c...)
				// Where the file system still lists the directory from
				// its cache (ext4), salvage finds the files and takes
				// each one that fails with EIO for lost bytes: status 3,
				// OUT of zeros, every range listed.
				if status != 1 && (status != 3 || c[0] != "salvage") {
					t.Errorf("%s: status %d, want 1\nstderr: %s", what, status, stderr)
				}
				if all := stdout + stderr; !strings.Contains(all, dir) || !strings.Contains(all, "input/output error") {
					t.Errorf("%s: the output names neither the dataset's file nor the I/O error:\n%s\n%s", what, stdout, stderr)
				}
				if c[0] == "salvage" {
					pctOutConsistent(t, tool, c[len(c)-1], what)
				}
			}
			pcUnmount(t, mnt, "after the tool")
		})
	}
}

// TestPowerCut_ToolDuringRead shuts the file system down while cat, verify
// -read and salvage read a dataset: each must stop with status 1 (or 3
// for salvage, which may have copied some) naming the file, and salvage's
// OUT must be missing or whole.
func TestPowerCut_ToolDuringRead(t *testing.T) {
	for _, fs := range pcFileSystems {
		t.Run(fs.name, func(t *testing.T) {
			img, mnt := pcImage(t, fs)
			tool := hfsTool(t)
			outs := t.TempDir()
			for i, c := range [][]string{
				{"cat"},
				{"verify", "-read"},
				{"salvage"},
				{"salvage", "-flat"},
			} {
				pcMount(t, img, mnt)
				if i > 0 {
					// Room on the ext4 image for this one.
					if err := os.RemoveAll(filepath.Join(mnt, "ds"+strings.Repeat("x", i-1))); err != nil {
						t.Fatal(err)
					}
				}
				dir := filepath.Join(mnt, "ds"+strings.Repeat("x", i))
				pctDataset(t, dir, 256)
				args := append(c, dir)
				if c[0] == "salvage" {
					args = append(args, filepath.Join(outs, "out"+strings.Repeat("x", i)))
				}
				what := strings.Join(args, " ")
				root, err := os.Open(mnt)
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					time.Sleep(20 * time.Millisecond)
					pcCut(root)
				}()
				_, stderr, status := pctRun(t, tool, args...)
				time.Sleep(50 * time.Millisecond) // the cut is done
				root.Close()
				switch {
				case status == 0:
					t.Logf("%s finished before the cut", what)
				case status == 1, status == 3 && c[0] == "salvage":
					if !strings.Contains(stderr, dir) {
						t.Errorf("%s: status %d, the message does not name the dataset's file:\n%s", what, status, stderr)
					}
				default:
					t.Errorf("%s: status %d\nstderr: %s", what, status, stderr)
				}
				if c[0] == "salvage" {
					pctOutConsistent(t, tool, args[len(args)-1], what)
				}
				pcUnmount(t, mnt, what)
			}
		})
	}
}

// TestPowerCut_TrimDuringCut shuts the file system down while trim drops
// a dataset's chunks in its steps: trim must exit 1 naming the dataset,
// and after a new mount the dataset must open, as after a reboot, with
// Start at a chunk boundary trim asked for or before it, and hold the
// bytes written before trim in [Start, Size).
func TestPowerCut_TrimDuringCut(t *testing.T) {
	for _, fs := range pcFileSystems {
		t.Run(fs.name, func(t *testing.T) {
			img, mnt := pcImage(t, fs)
			tool := hfsTool(t)
			pcMount(t, img, mnt)
			dir := filepath.Join(mnt, "ds")
			const chunks = 256
			pctDataset(t, dir, chunks)
			root, err := os.Open(mnt)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				time.Sleep(5 * time.Millisecond)
				pcCut(root)
			}()
			before := int64(chunks-1) * pcChunk
			_, stderr, status := pctRun(t, tool, "trim", dir, "-before", fmt.Sprint(before))
			time.Sleep(50 * time.Millisecond) // the cut is done
			root.Close()
			switch {
			case status == 0:
				t.Logf("trim finished before the cut")
			case status != 1:
				t.Errorf("trim: status %d, want 1\nstderr: %s", status, stderr)
			case !strings.Contains(stderr, dir):
				t.Errorf("trim: the message does not name the dataset:\n%s", stderr)
			}
			pcUnmount(t, mnt, "after trim")

			pcMount(t, img, mnt)
			defer pcUnmount(t, mnt, "after the checks")
			o := chunkmap.Options{ChunkSize: pcChunk}
			chunkmap.SetFS(&o, vfstest.WithBootID(vfs.OS, "powercut-reboot"))
			m, err := chunkmap.Open(dir, &o)
			if err != nil {
				t.Fatalf("Open after the cut: %v\non disk: %s", err, pcDescribe(dir))
			}
			defer m.Close()
			start, size := m.Start(), m.Size()
			if start%pcChunk != 0 || start > before || size != chunks*pcChunk-100 {
				t.Fatalf("Start %d, Size %d after trim -before %d of [0, %d)", start, size, before, chunks*pcChunk-100)
			}
			got := make([]byte, size-start)
			if _, err := m.ReadAt(got, start); err != nil {
				t.Fatal(err)
			}
			for i, b := range got {
				if want := plByte(2, start+int64(i)); b != want {
					t.Fatalf("offset %d = %#02x, want %#02x (Start %d)", start+int64(i), b, want, start)
				}
			}
		})
	}
}
