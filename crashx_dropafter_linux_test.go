//go:build linux

package chunkmap_test

// A DropBefore killed between its manifest record and its state page
// leaves a record whose first chunk is ahead of the Start a crash recovery
// takes from the page. What the next writer records from there must still
// describe chunk files a power loss keeps.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// daWriteRecord writes, through fsys, the manifest record of dir that a
// DropBefore to chunk first (Size at least its offset) writes over the
// older record, and fsyncs it: what such a DropBefore has made durable
// when a SIGKILL ends it before it sets the state page (manifest.go has
// the format).
func daWriteRecord(t *testing.T, fsys vfs.FS, dir string, first int64) {
	t.Helper()
	f, err := fsys.OpenFile(filepath.Join(dir, chunkmap.ManifestName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 4096)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	var newest []byte
	for _, off := range []int{0, 512} {
		r := b[off : off+64]
		if string(r[:8]) == "CHUNKMAP" && le.Uint32(r[60:]) == crc32.Checksum(r[:60], crc32.MakeTable(crc32.Castagnoli)) &&
			(newest == nil || le.Uint64(r[40:]) > le.Uint64(newest[40:])) {
			newest = r
		}
	}
	if newest == nil {
		t.Fatal("no valid record in the manifest")
	}
	rec := make([]byte, 64)
	copy(rec, newest)
	seq := le.Uint64(newest[40:]) + 1
	le.PutUint64(rec[24:], uint64(first))
	le.PutUint64(rec[32:], max(le.Uint64(newest[32:]), uint64(first*plChunk)))
	le.PutUint64(rec[40:], seq)
	le.PutUint32(rec[60:], crc32.Checksum(rec[:60], crc32.MakeTable(crc32.Castagnoli)))
	if _, err := f.WriteAt(rec, int64(seq%2)*512); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// daAfterCrash runs call on the writer that recovered from a crash inside
// DropBefore(first chunks) after synced bytes were synced
// (daCrashInsideDrop), crashes that writer too (daCrashAgain), and checks
// every power loss from the first crash on (daCheckCuts): the synced bytes
// [keep, keepEnd) must survive.
func daAfterCrash(t *testing.T, synced, first int64, call func(*chunkmap.Manager) error, keep, keepEnd int64) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	rec := vfstest.NewRecorder(vfs.OS, plBootRecorded)
	rec.NoSync = true
	opts := chunkmap.Options{ChunkSize: plChunk, ArenaSize: plArena, MaxMapped: 2}
	chunkmap.SetFS(&opts, rec)
	m, data, crashed := daCrashInsideDrop(t, dir, rec, &opts, synced, first)
	if err := call(m); err != nil {
		t.Fatalf("after the crash inside DropBefore(%d chunks): %v", first, err)
	}
	daCrashAgain(t, m, dir, &opts, data)
	daCheckCuts(t, rec, dir, crashed, data, synced, keep, keepEnd)
}

// daCrashInsideDrop makes, through a power-loss recorder, a dataset whose
// writer synced its first synced bytes, appended up to 6 chunks, and died
// inside DropBefore(first chunks) once the record {first, Size max(first
// chunks, synced)} was durable, before the state page said so; then opens it
// again, as the next writer, which recovers Start 0 and Size 6 chunks from
// the page. It returns the writer, the bytes appended, and the recorder's
// steps up to the crash.
func daCrashInsideDrop(t *testing.T, dir string, rec *vfstest.Recorder, opts *chunkmap.Options, synced, first int64) (m *chunkmap.Manager, data []byte, crashed int) {
	t.Helper()
	data = make([]byte, 6*plChunk)
	for i := range data {
		data[i] = plByte(1, int64(i))
	}
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(data[:synced]); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(data[synced:]); err != nil {
		t.Fatal(err)
	}
	if err := chunkmap.Abandon(m); err != nil {
		t.Fatal(err)
	}
	daWriteRecord(t, rec, dir, first)
	crashed = rec.Steps()
	if m, err = chunkmap.Open(dir, opts); err != nil {
		t.Fatalf("Open after the crash inside DropBefore: %v", err)
	}
	if m.Start() != 0 || m.Size() != 6*plChunk {
		t.Fatalf("recovered Start, Size = %d, %d, want 0, %d (the state page's)", m.Start(), m.Size(), 6*plChunk)
	}
	return m, data, crashed
}

// daCheckCuts checks the image of every cut of rec from step from on: it
// opens, its [Start, Size) holds only bytes of data that were synced (the
// first synced), and it holds the synced bytes [keep, keepEnd), which no
// call dropped or cut off, not even the one the crash interrupted.
func daCheckCuts(t *testing.T, rec *vfstest.Recorder, dir string, from int, data []byte, synced, keep, keepEnd int64) {
	t.Helper()
	images, _ := plImageRoot(t)
	fsys := plReopenFS()
	reopen := func(im *vfstest.Image) plReopened { return plReopen(t, im, images, fsys) }
	plEachCut(t, rec, dir, from, rec.Steps(), reopen, func(cut vfstest.Cut, im *vfstest.Image, res plReopened) bool {
		k, p := cut.After, cut.DirOps
		if res.openErr != nil {
			t.Fatalf("power loss after step %d (%d early name changes): Open: %v\n  image: %v; %s", k, p, res.openErr, im, daManifest(im))
		}
		if res.readErr != nil {
			t.Fatalf("power loss after step %d: ReadAt [%d, %d): %v", k, res.start, res.size, res.readErr)
		}
		// Bytes past what was synced were never durable: Size may
		// not cover them.
		if res.size > max(synced, res.start) {
			t.Fatalf("power loss after step %d: Start, Size = %d, %d: Size covers bytes past the %d that were ever synced\n  image: %v; %s", k, res.start, res.size, synced, im, daManifest(im))
		}
		if keep < keepEnd && (res.start > keep || res.size < keepEnd) {
			t.Fatalf("power loss after step %d: Start, Size = %d, %d: the synced bytes [%d, %d), which nothing dropped, are lost\n  image: %v; %s", k, res.start, res.size, keep, keepEnd, im, daManifest(im))
		}
		if i := plFirstDiff(res.data, data[res.start:res.size]); i >= 0 {
			t.Fatalf("power loss after step %d: offset %d reads %#x, want %#x", k, res.start+int64(i), res.data[i], data[res.start+int64(i)])
		}
		return true
	})
}

// TestCrashx_DropBeforeAfterCrashInsideDropBefore: after the crash of
// daCrashInsideDrop, the next writer calls DropBefore at 1 to 5 chunks. A
// power loss at any point after must leave a dataset that opens, whose
// [Start, Size) holds only bytes that were synced: chunks 2 to 5 never
// were, nor were their names.
func TestCrashx_DropBeforeAfterCrashInsideDropBefore(t *testing.T) {
	for _, synced := range daSynced {
		for _, drop := range []int64{1, 2, 3, 4, 5} {
			t.Run(fmt.Sprintf("synced=%d/drop=%d", synced, drop), func(t *testing.T) {
				daAfterCrash(t, synced, 4, func(m *chunkmap.Manager) error { return m.DropBefore(drop * plChunk) }, max(4, drop)*plChunk, synced)
			})
		}
	}
}

// daSynced are the bytes synced before the crash inside DropBefore(4
// chunks): short of its new Start, so that the record it wrote names no
// synced byte, and past it, so that its record still names synced bytes
// from chunk 4 on, which no call dropped.
var daSynced = []int64{plChunk * 3 / 2, plChunk*5 + plChunk/2}

// daCrashAgain crashes m and opens dir as the next writer, which must
// find Start and Size as m left them, and the bytes of data under them.
func daCrashAgain(t *testing.T, m *chunkmap.Manager, dir string, opts *chunkmap.Options, data []byte) {
	t.Helper()
	start, size := m.Start(), m.Size()
	if err := chunkmap.Abandon(m); err != nil {
		t.Fatal(err)
	}
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open after a second crash: %v", err)
	}
	defer chunkmap.Abandon(m)
	if m.Start() != start || m.Size() != size {
		t.Fatalf("after a second crash: Start, Size = %d, %d, want %d, %d as the crashed writer left them", m.Start(), m.Size(), start, size)
	}
	got := make([]byte, size-start)
	if _, err := m.ReadAt(got, start); err != nil && len(got) > 0 {
		t.Fatalf("after a second crash: ReadAt [%d, %d): %v", start, size, err)
	}
	if i := plFirstDiff(got, data[start:size]); i >= 0 {
		t.Fatalf("after a second crash: offset %d reads %#x, want %#x", start+int64(i), got[i], data[start+int64(i)])
	}
}

func daManifest(im *vfstest.Image) string {
	if f, ok := im.File(chunkmap.ManifestName); ok {
		return plDescribeManifest(f.Data)
	}
	return "no MANIFEST"
}

// TestCrashx_TruncateAfterCrashInsideDropBefore: after the crash of
// daCrashInsideDrop, the next writer truncates the dataset to sizes from
// below the synced bytes to past the crashed DropBefore's Start. A power
// loss at any point after must leave a dataset that opens, whose [Start,
// Size) holds only bytes that were synced.
func TestCrashx_TruncateAfterCrashInsideDropBefore(t *testing.T) {
	for _, synced := range daSynced {
		for _, size := range []int64{plChunk / 2, plChunk * 3 / 2, 2 * plChunk, 3*plChunk + 5, 4 * plChunk, 5*plChunk + 1} {
			t.Run(fmt.Sprintf("synced=%d/size=%d", synced, size), func(t *testing.T) {
				// Synced bytes from chunk 4 up to the new Size stay;
				// the cut may lose the rest.
				daAfterCrash(t, synced, 4, func(m *chunkmap.Manager) error { return m.Truncate(size) }, 4*plChunk, min(synced, size))
			})
		}
	}
}

// TestCrashx_SyncedKeptAfterCrashInsideDropBefore: a writer synced 3.5
// chunks and died inside DropBefore(2 chunks) once its record {first 2,
// Size 3.5 chunks} was durable. The bytes from Start up to 3.5 chunks were
// acknowledged by that Sync; a DropBefore or Truncate of the next writer
// that leaves some of them in the dataset must not write a record that
// drops them, or a power loss before the next Sync loses them.
func TestCrashx_SyncedKeptAfterCrashInsideDropBefore(t *testing.T) {
	const synced, crashFirst = plChunk * 7 / 2, 2
	for _, tc := range []struct {
		name   string
		call   func(m *chunkmap.Manager) error
		lo, hi int64 // acknowledged bytes the call keeps, past the crashed call's Start
	}{
		{"drop=1", func(m *chunkmap.Manager) error { return m.DropBefore(plChunk) }, 2 * plChunk, synced},
		{"drop=3", func(m *chunkmap.Manager) error { return m.DropBefore(3 * plChunk) }, 3 * plChunk, synced},
		{"truncate=3", func(m *chunkmap.Manager) error { return m.Truncate(3 * plChunk) }, 2 * plChunk, 3 * plChunk},
		{"truncate=5", func(m *chunkmap.Manager) error { return m.Truncate(5 * plChunk) }, 2 * plChunk, synced},
		{"truncate=1", func(m *chunkmap.Manager) error { return m.Truncate(plChunk) }, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			daAfterCrash(t, synced, crashFirst, tc.call, tc.lo, tc.hi)
		})
	}
}
