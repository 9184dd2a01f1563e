package chunkmap_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// hookFS passes every operation to vfs.OS, except that WriteAt on a chunk
// file first calls hook, which may block, and fails the write if it returns
// an error.
type hookFS struct {
	vfs.FS
	hook func(name string, off int64, n int) error
}

func (h *hookFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := h.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &hookFile{File: f, h: h}, nil
}

type hookFile struct {
	vfs.File
	h *hookFS
}

func (f *hookFile) WriteAt(p []byte, off int64) (int, error) {
	if strings.HasSuffix(f.Name(), ".chunk") && f.h.hook != nil {
		if err := f.h.hook(filepath.Base(f.Name()), off, len(p)); err != nil {
			return 0, &os.PathError{Op: "write", Path: f.Name(), Err: err}
		}
	}
	return f.File.WriteAt(p, off)
}

var errHook = errors.New("injected write error")

// TestAppend_FailedAfterLaterRollback checks two Appends whose writes both
// fail, the later one first: the later one gives its range back, and then
// so must the earlier one, since no range after it is claimed any longer.
// Size must stay where it was, not cover the bytes of a failed Append that
// nothing depends on.
func TestAppend_FailedAfterLaterRollback(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	inA := make(chan struct{})
	releaseA := make(chan struct{})
	var once sync.Once
	h := &hookFS{FS: vfs.OS}
	h.hook = func(name string, off int64, n int) error {
		if n < cs {
			return nil
		}
		first := false
		once.Do(func() { first = true })
		if first {
			close(inA)
			<-releaseA
		}
		return errHook
	}
	o := chunkmap.Options{ChunkSize: cs}
	chunkmap.SetFS(&o, h)
	m, err := chunkmap.Open(t.TempDir(), &o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	errA := make(chan error, 1)
	go func() {
		_, err := m.Append(bytes.Repeat([]byte{'a'}, cs))
		errA <- err
	}()
	<-inA
	if off, err := m.Append(bytes.Repeat([]byte{'b'}, cs)); err == nil {
		t.Fatalf("the second Append succeeded at %d", off)
	}
	close(releaseA)
	if err := <-errA; err == nil {
		t.Fatal("the first Append succeeded")
	}
	if got := m.Size(); got != 0 {
		t.Errorf("Size after two failed Appends (nothing claimed after the first any more) = %d, want 0", got)
	}
}
