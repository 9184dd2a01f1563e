package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// openRecordedSynced opens a new dataset of chunk size cs through a
// Recorder that keeps fsyncs from the disk (its images show what a power
// loss leaves), writes two chunks of 1s and syncs them.
func openRecordedSynced(t *testing.T, cs int) (string, *vfstest.Recorder, chunkmap.Options, *chunkmap.Manager) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	rec := vfstest.NewRecorder(vfs.OS, plBootRecorded)
	rec.NoSync = true
	opts := chunkmap.Options{ChunkSize: int64(cs)}
	chunkmap.SetFS(&opts, rec)
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(bytes.Repeat([]byte{1}, 2*cs), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	return dir, rec, opts, m
}

// stateCleanOff is where the state page holds its clean mark (a uint32,
// 1 once a writer closed after a successful Sync), right after Size.
const stateCleanOff = stateSizeOff + 8

// TestStatePage_CleanMarkWrittenOverUnderWriter has another program set
// the clean mark in the state page of a dataset a writer has open (the
// page then says that the last record holds everything), after which the
// writer changes Size and its process dies. The next writer's Open must
// take that for the crash it is: its first Sync makes durable the writes
// that only the page cache held, as after any crash (README, Durability:
// a crash keeps every write that returned; a Sync acknowledges every byte
// written before it). The writer checked the page's magic, boot ID, Start
// and Size but not the mark, so its change left the page saying clean;
// the next Open took the dataset as closed cleanly and its Sync fsync'd
// none of the dead writer's chunks, whose writes a power loss then lost.
func TestStatePage_CleanMarkWrittenOverUnderWriter(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir, rec, opts, m := openRecordedSynced(t, cs)
	if _, err := m.WriteAt(bytes.Repeat([]byte{2}, cs), 0); err != nil {
		t.Fatal(err)
	}
	editManifestFile(t, dir, func(b []byte) { binary.LittleEndian.PutUint32(b[stateCleanOff:], 1) })
	if _, err := m.Append([]byte("appended")); err != nil {
		t.Fatal(err)
	}
	if err := chunkmap.Abandon(m); err != nil {
		t.Fatal(err)
	}
	from := rec.Steps()
	m2, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	got := make([]byte, cs)
	if _, err := m2.ReadAt(got, 0); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{2}, cs)) {
		t.Fatalf("ReadAt after the crash: %v, equal %v", err, bytes.Equal(got, bytes.Repeat([]byte{2}, cs)))
	}
	if err := m2.Sync(); err != nil {
		t.Fatal(err)
	}
	chunk0 := filepath.Join(dir, "0000000000000000.chunk")
	for _, s := range rec.Log(from, rec.Steps()) {
		if s.Kind == vfstest.KindSync && filepath.Clean(s.Path) == chunk0 {
			return
		}
	}
	t.Errorf("the Sync after the crash did not fsync %s, which holds the dead writer's unsynced write: log %v", chunk0, rec.Log(from, rec.Steps()))
}
