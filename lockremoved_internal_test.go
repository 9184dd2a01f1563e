package chunkmap

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// removeAfterMkdir is vfs.OS, except that its first MkdirAll of dir is
// followed at once by the directory's removal: what a concurrent Remove
// of the dataset does between a writer Open's MkdirAll and its lock. It
// records the MkdirAll and SyncDir calls, in order.
type removeAfterMkdir struct {
	vfs.FS
	dir    string
	mkdirs int
	calls  []string
}

func (f *removeAfterMkdir) MkdirAll(dir string, perm os.FileMode) error {
	err := f.FS.MkdirAll(dir, perm)
	f.calls = append(f.calls, "mkdir "+dir)
	if f.mkdirs++; err == nil && f.mkdirs == 1 && dir == f.dir {
		err = os.Remove(dir)
	}
	return err
}

func (f *removeAfterMkdir) SyncDir(dir string) error {
	f.calls = append(f.calls, "syncdir "+dir)
	return f.FS.SyncDir(dir)
}

// TestOpen_DirRemovedBeforeLock: a read-write Open whose directory a
// concurrent Remove deletes after Open made (or found) it and before Open
// opened it to lock it must make it again, name it durably in its parent
// again, and open a dataset there, as the comment above its loop says
// and as it does when the directory goes after that open (errDirMoved).
// It failed with ErrIO and "lock: no such file or directory" instead,
// which no caller of an Open that creates a missing dataset expects: a
// writer Open beside a loop of Remove calls met it within seconds.
func TestOpen_DirRemovedBeforeLock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		parent string // dir's parent, below the test's directory
	}{
		{name: "parent-exists"},
		{name: "parent-made", parent: "a/b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tc.parent, "ds")
			fsys := &removeAfterMkdir{FS: vfs.OS, dir: dir}
			o := &Options{ChunkSize: MinChunkSize}
			SetFS(o, fsys)
			m, err := Open(dir, o)
			if err != nil {
				t.Fatalf("Open with its directory removed before the lock = %v, want it made again and opened", err)
			}
			defer m.Close()
			if fsys.mkdirs < 2 {
				t.Fatalf("MkdirAll ran %d times (calls %q), want the directory made again", fsys.mkdirs, fsys.calls)
			}
			last := len(fsys.calls) - 1
			for fsys.calls[last] != "mkdir "+dir {
				last--
			}
			if !slices.Contains(fsys.calls[last:], "syncdir "+filepath.Dir(dir)) {
				t.Errorf("calls %q: the directory made again is not synced in its parent", fsys.calls)
			}
			if _, err := m.Append([]byte("new")); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := Open(dir, &Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := make([]byte, 3)
			if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, []byte("new")) {
				t.Errorf("ReadAt after reopen = %q, %v; want %q", got, err, "new")
			}
		})
	}
}
