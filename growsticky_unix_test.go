//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/unpriv"
)

// TestGrow_StickyDirOthersLeftover: in a sticky dataset directory (mode
// 0o1777, as one in /tmp) another user's file under the name of a chunk
// past Size (chunk 3, root's) cannot be deleted or replaced by the
// dataset's user. Each growth over it (WriteAt, Truncate, Append) must
// fail with an error matching ErrIO and fs.ErrPermission that names the
// file once, with Size and the data unchanged and every later call still
// served; and once the file's owner removes it, the same Manager must
// grow over its name. Root makes the dataset and the file, and removes the
// file when the child, running as another user, asks.
func TestGrow_StickyDirOthersLeftover(t *testing.T) {
	const env = "CHUNKMAP_TEST_GROW_STICKY"
	if os.Geteuid() == 0 {
		base := unpriv.Reachable(t)
		dir, sig := filepath.Join(base, "ds"), filepath.Join(base, "sig")
		datasetAt(t, dir) // Size cs+100, chunks 0 and 1, root's
		chmodFiles(t, dir, 0o666)
		leftover := filepath.Join(dir, chunk.Name(3))
		if err := os.WriteFile(leftover, []byte("root's"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{dir, sig} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv(env, dir)
		// The owner removes the file when the child has seen its
		// growths refused; the child waits for it.
		done := make(chan error, 1)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					done <- nil
					return
				case <-time.After(10 * time.Millisecond):
				}
				if _, err := os.Stat(filepath.Join(sig, "refused")); err == nil {
					err := os.Remove(leftover)
					if err == nil {
						err = os.WriteFile(filepath.Join(sig, "removed"), nil, 0o644)
					}
					done <- err
					return
				}
			}
		}()
		if !unpriv.Run(t) {
			t.Fatal("unpriv.Run ran nothing as root")
		}
		close(stop)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return
	}
	if unpriv.Run(t) {
		return
	}
	dir := os.Getenv(env)
	if dir == "" {
		t.Skip("needs a file of another user's in a sticky directory: run as root, which makes one and runs the test as another user")
	}
	sig := filepath.Join(filepath.Dir(dir), "sig")
	leftover := filepath.Join(dir, chunk.Name(3))
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	data := pattern(3, cs+100)
	const end = 3*cs + 6
	for _, tc := range []struct {
		name string
		grow func() error
	}{
		{"WriteAt", func() error { _, err := m.WriteAt([]byte("x"), end-1); return err }},
		{"Truncate", func() error { return m.Truncate(end) }},
		{"Append", func() error { _, err := m.Append(make([]byte, end-(cs+100))); return err }},
		{"WriteAt again", func() error { _, err := m.WriteAt([]byte("x"), end-1); return err }},
	} {
		err := tc.grow()
		if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("%s to %d over %s: %v; want ErrIO and fs.ErrPermission", tc.name, end, leftover, err)
		}
		if msg := err.Error(); strings.Count(msg, leftover) != 1 || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q; want one line naming %s once", tc.name, msg, leftover)
		}
		if got := m.Size(); got != cs+100 {
			t.Fatalf("%s: Size = %d after the refused growth, want %d", tc.name, got, cs+100)
		}
		if got := readAt(t, m, 0, len(data)); !bytes.Equal(got, data) {
			t.Fatalf("%s: after the refused growth, the data differs at %d", tc.name, firstDiff(got, data))
		}
		// What lies within Size is still written.
		writeAt(t, m, []byte("in"), 10)
		copy(data[10:], "in")
	}
	t.Logf("refused: %v", m.Truncate(end))

	if err := os.WriteFile(filepath.Join(sig, "refused"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(sig, "removed")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the file's owner did not remove it")
		}
	}
	writeAt(t, m, []byte("x"), end-1)
	if got := m.Size(); got != end {
		t.Fatalf("Size = %d after growth over the removed file's name, want %d", got, end)
	}
	want := append(data, make([]byte, end-len(data))...)
	want[end-1] = 'x'
	if got := readAt(t, m, 0, end); !bytes.Equal(got, want) {
		t.Fatalf("after the growth, the data differs at %d", firstDiff(got, want))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := readAt(t, m, 0, end); !bytes.Equal(got, want) {
		t.Errorf("reopened, the data differs at %d", firstDiff(got, want))
	}
}
