package chunkmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// claimWatchdog is how long the claim tests wait for a step they set up
// before they call it hung: a watchdog, not a measure of speed.
const claimWatchdog = 30 * time.Second

// claimGateFS passes every operation to vfs.OS, except:
//   - while failWrites is set, a WriteAt on a chunk file of index >= failFrom
//     first waits for writeGate (once), then fails with ENOSPC (a full disk at
//     pwrite);
//   - while holdOpen is set, an OpenFile (without O_CREATE) or an Lstat of
//     the chunk file of index holdIdx signals openSeen and waits for
//     openGate (once): Sync opens a chunk file by name, or looks at the
//     name of one it holds open, before it fsyncs it.
type claimGateFS struct {
	vfs.FS
	failWrites atomic.Bool
	failFrom   int64
	writeSeen  chan struct{}
	writeGate  chan struct{}
	writeOnce  atomic.Bool

	// fullDisk makes every Allocate and WriteAt of a chunk file fail with
	// ENOSPC.
	fullDisk atomic.Bool

	holdOpen atomic.Bool
	holdIdx  int64
	openSeen chan struct{}
	openGate chan struct{}
	openOnce atomic.Bool
}

func claimChunkIndex(name string) int64 {
	base := filepath.Base(name)
	if !strings.HasSuffix(base, ".chunk") {
		return -1
	}
	i, err := strconv.ParseInt(strings.TrimSuffix(base, ".chunk"), 16, 64)
	if err != nil {
		return -1
	}
	return i
}

func (g *claimGateFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if flag&os.O_CREATE == 0 {
		g.hold(name)
	}
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &claimGateFile{File: f, g: g}, nil
}

func (g *claimGateFS) Lstat(name string) (os.FileInfo, error) {
	g.hold(name)
	return g.FS.Lstat(name)
}

// hold waits for openGate if name is the first use of the held chunk's
// file while holdOpen is set.
func (g *claimGateFS) hold(name string) {
	if g.holdOpen.Load() && claimChunkIndex(name) == g.holdIdx && g.openOnce.CompareAndSwap(false, true) {
		close(g.openSeen)
		<-g.openGate
	}
}

type claimGateFile struct {
	vfs.File
	g *claimGateFS
}

func (f *claimGateFile) Allocate(off, n int64) error {
	if f.g.fullDisk.Load() && claimChunkIndex(f.Name()) >= 0 {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Allocate(off, n)
}

func (f *claimGateFile) WriteAt(p []byte, off int64) (int, error) {
	if f.g.fullDisk.Load() && claimChunkIndex(f.Name()) >= 0 {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	if f.g.failWrites.Load() && claimChunkIndex(f.Name()) >= f.g.failFrom {
		if f.g.writeOnce.CompareAndSwap(false, true) {
			close(f.g.writeSeen)
			<-f.g.writeGate
		}
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

// TestSyncRacingFailedBulkAppendReportsNoLoss: a bulk Append that grows the dataset
// creates chunk files (marked dirty) without allocating them; its pwrite
// fails for lack of space, and publish removes the chunk files again. A
// Sync that took the dirty list between the claim and the removal then
// fsyncs a chunk file by name that the Manager itself removed: it reports
// "removed by another program" (ErrFault), and since such soft errors are
// retried, so does every later Sync (and Close), although nothing written
// was lost.
func TestSyncRacingFailedBulkAppendReportsNoLoss(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	g := &claimGateFS{FS: vfs.OS, failFrom: 1, holdIdx: 1,
		writeSeen: make(chan struct{}), writeGate: make(chan struct{}),
		openSeen: make(chan struct{}), openGate: make(chan struct{})}
	m, _ := openOnFS(t, g)
	if _, err := m.Append([]byte("head")); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}

	g.failWrites.Store(true)
	appendErr := make(chan error, 1)
	go func() {
		_, err := m.Append(make([]byte, 2*cs)) // creates chunks 1 and 2
		appendErr <- err
	}()
	select {
	case <-g.writeSeen:
	case <-time.After(claimWatchdog):
		t.Fatal("the bulk Append never reached its pwrite")
	}
	// The Append's pwrite of chunk 1 is under way; a Sync now takes the
	// dirty chunks (1 and 2 among them) and opens them by name.
	g.holdOpen.Store(true)
	syncErr := make(chan error, 1)
	go func() { syncErr <- m.Sync() }()
	select {
	case <-g.openSeen:
	case <-time.After(claimWatchdog):
		close(g.writeGate)
		t.Fatal("Sync never opened chunk 1")
	}
	// Let the pwrite fail: the Append gives its range back and would
	// remove chunks 1 and 2 while the Sync has them in hand. (The Append
	// waits for the Sync to finish instead; the pause gives one that does
	// not the time to remove them.)
	close(g.writeGate)
	select {
	case err := <-appendErr:
		appendErr <- err
	case <-time.After(100 * time.Millisecond):
	}
	close(g.openGate)
	if err := <-appendErr; !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Fatalf("bulk Append on a full disk: %v, want ErrNoSpace", err)
	}
	g.failWrites.Store(false)
	err1 := <-syncErr
	err2 := m.Sync()
	err3 := m.Sync()
	if m.Size() != 4 {
		t.Errorf("Size %d, want 4", m.Size())
	}
	if err1 != nil || err2 != nil || err3 != nil {
		t.Errorf("Sync racing a failed bulk Append reports a loss that did not happen:\n first Sync: %v\n next Sync: %v\n third Sync: %v", err1, err2, err3)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after the race: %v", err)
	}
}
