package clients

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// vfsLockFile is the part of vfs.File the lock tests use.
type vfsLockFile interface {
	vfs.File
	vfs.FileLockState
}

// openLockPair opens two handles on one database through a VFS, as two
// connections of one process do.
func openLockPair(t *testing.T) (a, b vfsLockFile) {
	t.Helper()
	dir := t.TempDir()
	v := &VFS{Opts: chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 1}, ScratchRoot: dir}
	name := filepath.Join(dir, "db")
	flags := vfs.OPEN_MAIN_DB | vfs.OPEN_CREATE | vfs.OPEN_READWRITE
	open := func() vfsLockFile {
		t.Helper()
		f, _, err := v.Open(name, flags)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f.(vfsLockFile)
	}
	return open(), open()
}

// TestVFSLockProtocol holds the VFS's in-memory locks to SQLite's five-level
// protocol (as os_unix.c implements it) where a connection goes from SHARED
// straight to EXCLUSIVE, as the pager does to roll back a hot journal: while
// it holds EXCLUSIVE (or waits at PENDING) no other connection may take
// SHARED, and every other connection's CheckReservedLock reports a lock
// above SHARED; and a connection that never held RESERVED does not release
// another's when it unlocks.
func TestVFSLockProtocol(t *testing.T) {
	t.Run("exclusive from shared", func(t *testing.T) {
		a, b := openLockPair(t)
		if err := a.Lock(vfs.LOCK_SHARED); err != nil {
			t.Fatal(err)
		}
		if err := a.Lock(vfs.LOCK_EXCLUSIVE); err != nil {
			t.Fatalf("EXCLUSIVE from SHARED, alone: %v", err)
		}
		if res, err := b.CheckReservedLock(); err != nil || !res {
			t.Errorf("CheckReservedLock beside an EXCLUSIVE lock = %v, %v; want true", res, err)
		}
		if err := b.Lock(vfs.LOCK_SHARED); !errors.Is(err, sqlite3.BUSY) {
			t.Errorf("SHARED beside an EXCLUSIVE lock: %v, want BUSY", err)
		}
		if err := a.Unlock(vfs.LOCK_SHARED); err != nil {
			t.Fatal(err)
		}
		if err := b.Lock(vfs.LOCK_SHARED); err != nil {
			t.Errorf("SHARED once the EXCLUSIVE lock is down to SHARED: %v", err)
		}
	})
	t.Run("failed exclusive keeps pending", func(t *testing.T) {
		a, b := openLockPair(t)
		for _, f := range []vfsLockFile{a, b} {
			if err := f.Lock(vfs.LOCK_SHARED); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Lock(vfs.LOCK_RESERVED); err != nil {
			t.Fatal(err)
		}
		// a goes for EXCLUSIVE from SHARED while b reads: refused.
		if err := a.Lock(vfs.LOCK_EXCLUSIVE); !errors.Is(err, sqlite3.BUSY) {
			t.Fatalf("EXCLUSIVE beside another SHARED lock: %v, want BUSY", err)
		}
		// a never held RESERVED: letting go of its locks leaves b's.
		if err := a.Unlock(vfs.LOCK_SHARED); err != nil {
			t.Fatal(err)
		}
		if res, err := a.CheckReservedLock(); err != nil || !res {
			t.Errorf("CheckReservedLock beside b's RESERVED lock = %v, %v; want true", res, err)
		}
		if err := a.Lock(vfs.LOCK_RESERVED); !errors.Is(err, sqlite3.BUSY) {
			t.Errorf("a second RESERVED lock: %v, want BUSY", err)
		}
	})
}
