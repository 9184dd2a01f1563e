package chunkmap_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// fanoutChunks is how many chunks the tests below dirty before one Sync:
// more than Sync fsyncs at a time, so that its workers take several each.
const fanoutChunks = 40

// fanoutWrite dirties every one of fanoutChunks chunks with generation gen:
// even chunks by a small write (through the mapping while mapped), odd ones
// by a write of the whole chunk (by pwrite), so that a Sync finds some
// chunks mapped and others only listed by index.
func fanoutWrite(t *testing.T, m *chunkmap.Manager, gen int) (ranges [][2]int64) {
	t.Helper()
	for i := range int64(fanoutChunks) {
		off, n := i*plChunk+int64(100*i), int64(200)
		if i%2 == 1 {
			off, n = i*plChunk, plChunk
		}
		faultWrite(t, m, gen, off, n)
		ranges = append(ranges, [2]int64{off, n})
	}
	return ranges
}

// TestSync_ManyChunksDurableBeforeRecord checks that a Sync of many dirty
// chunks, whose fsyncs overlap, has fsync'd every one of them, with the
// bytes written, before it writes the manifest record that acknowledges
// them (the record of a new Size, which each round makes).
func TestSync_ManyChunksDurableBeforeRecord(t *testing.T) {
	rec := vfstest.NewRecorder(vfs.OS, plBootRecorded)
	opts := chunkmap.Options{ChunkSize: plChunk, MaxMapped: 4}
	chunkmap.SetFS(&opts, rec)
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Grow(fanoutChunks * plChunk); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	for gen := 1; gen <= 3; gen++ {
		ranges := fanoutWrite(t, m, gen)
		// A new Size, so that the Sync writes a record.
		if err := m.Truncate(m.Size() + 1000); err != nil {
			t.Fatal(err)
		}
		from := rec.Steps() + 1
		if err := m.Sync(); err != nil {
			t.Fatalf("Sync %d: %v", gen, err)
		}
		log := rec.Log(from, rec.Steps())
		record := -1 // the last write of the manifest
		for i, s := range log {
			if s.Kind == vfstest.KindWrite && filepath.Base(s.Path) == chunkmap.ManifestName {
				record = i
			}
		}
		if record < 0 {
			t.Fatalf("Sync %d wrote no manifest record; steps: %v", gen, log)
		}
		for i, r := range ranges {
			name := fmt.Sprintf("%016x.chunk", i)
			var synced *vfstest.Step
			for j := range log[:record] {
				if log[j].Kind == vfstest.KindSync && filepath.Base(log[j].Path) == name {
					synced = &log[j]
				}
			}
			if synced == nil {
				t.Fatalf("Sync %d: chunk %s not fsync'd before the manifest record (step %d)", gen, name, log[record].N)
			}
			off, n := r[0]-int64(i)*plChunk, r[1]
			if int64(len(synced.Data)) < off+n {
				t.Fatalf("Sync %d: chunk %s fsync'd with %d bytes, want at least %d", gen, name, len(synced.Data), off+n)
			}
			for k := range n {
				if got, want := synced.Data[off+k], plByte(gen, r[0]+k); got != want {
					t.Fatalf("Sync %d: chunk %s fsync'd with %#x at %d, want %#x", gen, name, got, off+k, want)
				}
			}
		}
	}
}

// TestSync_OneFailedFsyncAmongMany checks that when one of many overlapping
// fsyncs fails, Sync reports it, naming that chunk's file, and keeps
// failing, as after any failed fsync.
func TestSync_OneFailedFsyncAmongMany(t *testing.T) {
	const bad = 23
	m, f, _ := faultDataset(t, chunkmap.Options{MaxMapped: 4})
	defer m.Close()
	if err := m.Grow(fanoutChunks * plChunk); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	fanoutWrite(t, m, 1)
	name := fmt.Sprintf("%016x.chunk", bad)
	rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, name), Err: syscall.EIO})
	err := m.Sync()
	if !errors.Is(err, chunkmap.ErrSyncFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync with chunk %s's fsync failing: %v, want ErrSyncFailed and EIO", name, err)
	}
	if got := f.Fired(rule); got != 1 {
		t.Fatalf("chunk %s was fsync'd %d times by one Sync, want 1", name, got)
	}
	if strings.Count(err.Error(), name) != 1 {
		t.Errorf("Sync's error does not name %s once: %v", name, err)
	}
	f.Disarm(rule)
	if err := m.Sync(); !errors.Is(err, chunkmap.ErrSyncFailed) {
		t.Errorf("Sync after the failed fsync: %v, want ErrSyncFailed again", err)
	}
}

// TestSync_FailedFsyncOfMappedChunkNamesItOnce: a chunk that is mapped is
// fsync'd through its mapping's file, whose error (an *fs.PathError of
// the file's Sync, as os.File's is) was wrapped in a second one naming the
// same file: "sync DIR/...chunk: sync DIR/...chunk: read-only file
// system", as on a file system that went read-only after an error.
func TestSync_FailedFsyncOfMappedChunkNamesItOnce(t *testing.T) {
	m, f, _ := faultDataset(t, chunkmap.Options{NoAdmission: true})
	defer m.Close()
	if _, err := m.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadAt(make([]byte, 1), 0); err != nil { // maps chunk 0
		t.Fatal(err)
	}
	name := fmt.Sprintf("%016x.chunk", 0)
	f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, name), Err: syscall.EROFS})
	err := m.Sync()
	if !errors.Is(err, chunkmap.ErrSyncFailed) || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("Sync with chunk %s's fsync failing: %v, want ErrSyncFailed and EROFS", name, err)
	}
	// The chunk is fsync'd through its mapping, and again by name (it was
	// created since the last Sync): each error names it once.
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Count(line, name) > 1 {
			t.Errorf("Sync's error names %s more than once: %s", name, line)
		}
	}
}
