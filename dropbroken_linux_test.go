package chunkmap_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// syncHookFS is the operating system's file system, but for the manifest,
// whose fsync first runs onSync (when set): a test's way to act between
// the record a call writes and the state page it changes next.
type syncHookFS struct {
	vfs.FS
	onSync *func()
}

func (f syncHookFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil || filepath.Base(name) != chunkmap.ManifestName {
		return file, err
	}
	return syncHookFile{file, f.onSync}, nil
}

type syncHookFile struct {
	vfs.File
	onSync *func()
}

func (f syncHookFile) Sync() error {
	if fn := *f.onSync; fn != nil {
		*f.onSync = nil
		fn()
	}
	return f.File.Sync()
}

// TestDropBeforePageBrokeMidwayTakesChunksAway has another program cut
// the manifest short in the instant between the record DropBefore writes
// and its store of the new Start in the state page: the store faults, the
// page cannot be written again, and DropBefore returns ErrCorrupt with the
// new Start standing and the chunks below it kept on disk, for Open to
// remove. Those chunks are out of the dataset all the same: a ReadAt or
// WriteAt there must return ErrOutOfRange, on the lock-free path too, which
// does not look at Start but finds a chunk taken away by its own word. A
// write that returned nil there would go to a chunk that the next Open
// removes, after a Sync that acknowledged it.
func TestDropBeforePageBrokeMidwayTakesChunksAway(t *testing.T) {
	skipImmutableUnderRace(t) // the state page faults on a store
	const cs = chunkmap.MinChunkSize
	var onSync func()
	o := &chunkmap.Options{ChunkSize: cs, MaxMapped: 8, NoAdmission: true}
	chunkmap.SetFS(o, syncHookFS{vfs.OS, &onSync})
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(pattern(1, 4*cs), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	// Map chunks 0 and 1 (the write above went by pwrite).
	for _, off := range []int64{0, cs} {
		if _, err := m.ReadAt(make([]byte, 8), off); err != nil {
			t.Fatal(err)
		}
	}
	man := filepath.Join(dir, chunkmap.ManifestName)
	onSync = func() {
		if err := os.Truncate(man, 0); err != nil {
			t.Error(err)
		}
	}
	err = m.DropBefore(2 * cs)
	if onSync != nil {
		t.Fatal("DropBefore wrote no record")
	}
	if !errors.Is(err, chunkmap.ErrCorrupt) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("DropBefore with the manifest cut under it: %v, want ErrCorrupt naming the truncation", err)
	}
	if m.Start() != 2*cs {
		t.Fatalf("Start %d after the failed DropBefore, want %d (it stands)", m.Start(), 2*cs)
	}
	for _, off := range []int64{0, 8, cs, cs + 64} {
		if _, err := m.ReadAt(make([]byte, 8), off); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("ReadAt(8 bytes at %d) below Start %d: %v, want ErrOutOfRange", off, m.Start(), err)
		}
		if _, err := m.WriteAt(bytes.Repeat([]byte{0xee}, 8), off); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("WriteAt(8 bytes at %d) below Start %d: %v, want ErrOutOfRange", off, m.Start(), err)
		}
	}
	// The bytes from Start on are as they were.
	got := make([]byte, 2*cs)
	if _, err := m.ReadAt(got, 2*cs); err != nil || !bytes.Equal(got, pattern(1, 4*cs)[2*cs:]) {
		t.Fatalf("bytes from Start on after the failed DropBefore: %v, or they differ", err)
	}
}
