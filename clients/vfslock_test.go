package clients

import (
	"errors"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

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
// another's when it unlocks; and a lock that cannot be had is refused at
// once, not waited for.
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
	t.Run("busy at once", func(t *testing.T) {
		// SQLite's busy handler (the connection's busy_timeout) decides
		// whether to wait and for how long, through the VFS's Sleep, as
		// over os_unix.c, whose xLock never blocks. A wait inside Lock
		// added one of its own to every try, and with no busy handler
		// turned an immediate SQLITE_BUSY into a late one; in a
		// testing/synctest bubble, whose clock moves only when every
		// goroutine in it is blocked, its deadline passed at once or
		// never. The bubble's clock shows the wait: it must not move.
		a, b := openLockPair(t)
		for _, f := range []vfsLockFile{a, b} {
			if err := f.Lock(vfs.LOCK_SHARED); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			if err := a.Lock(vfs.LOCK_EXCLUSIVE); !errors.Is(err, sqlite3.BUSY) {
				t.Fatalf("EXCLUSIVE beside another SHARED lock: %v, want BUSY", err)
			}
			if waited := time.Since(start); waited != 0 {
				t.Errorf("EXCLUSIVE beside another SHARED lock waited %v before BUSY; want BUSY at once", waited)
			}
		})
		// Once the other reader is gone, the retry SQLite's busy
		// handler makes succeeds from the PENDING lock kept.
		if err := b.Unlock(vfs.LOCK_NONE); err != nil {
			t.Fatal(err)
		}
		if err := a.Lock(vfs.LOCK_EXCLUSIVE); err != nil {
			t.Errorf("EXCLUSIVE once the other reader is gone: %v", err)
		}
	})
}

// TestVFSReadOnlyRefusesWriters checks that a ReadOnly VFS refuses every
// handle opened for writing with SQLITE_CANTOPEN, also once a read-only
// handle has the dataset open: the check was made only where the dataset
// was not open yet, so a second connection that asked for read-write got a
// handle SQLite took for writable, on the follower's Manager, which
// refused its writes (SQLITE_IOERR_WRITE) once a transaction was under
// way.
func TestVFSReadOnlyRefusesWriters(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "db")
	m, err := chunkmap.Open(name, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	v := &VFS{Opts: chunkmap.Options{MaxMapped: 1}, ScratchRoot: dir, ReadOnly: true}
	rw := vfs.OPEN_MAIN_DB | vfs.OPEN_READWRITE | vfs.OPEN_CREATE
	if f, _, err := v.Open(name, rw); !errors.Is(err, sqlite3.CANTOPEN) {
		if err == nil {
			f.Close()
		}
		t.Fatalf("read-write Open of a dataset not open yet: %v, want CANTOPEN", err)
	}
	ro, _, err := v.Open(name, vfs.OPEN_MAIN_DB|vfs.OPEN_READONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if f, _, err := v.Open(name, rw); !errors.Is(err, sqlite3.CANTOPEN) {
		if err == nil {
			f.Close()
		}
		t.Errorf("read-write Open of a dataset a read-only handle has open: %v, want CANTOPEN", err)
	}
	// The read-only handle is still the only one: its Close closes the
	// Manager.
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if v.open[name] != nil {
		t.Errorf("the dataset is still open after its only handle closed")
	}
}
