package chunkmap_test

// Tests of the manifest file: the two records of format version 2 and the
// fallback from a damaged one, the state page that carries Size and Start
// past a crash of the writer's process, the upgrade from format version 1,
// and which calls write a record.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// The manifest format, from the top of manifest.go. Version 2 is a
// 4096-byte file with two 64-byte records, record seq at (seq%2)*512, and
// the state page at 2048; version 1 is one 44-byte record.
const (
	manifestLen   = 4096
	manifestV1Len = 44
	recordLen     = 64
	recordStride  = 512
	stateOff      = 2048
	// stateBootOff is where the state page holds the writer's boot ID,
	// right after its 8-byte magic (statePage in manifest.go); then come
	// the 8-byte epoch, Start and Size.
	stateBootOff  = stateOff + 8
	stateStartOff = stateBootOff + 48 + 8
	stateSizeOff  = stateStartOff + 8
	// recordsEnd bounds the bytes only a record write changes.
	recordsEnd = 2 * recordStride
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is a decoded version 2 record.
type record struct {
	magic          string
	version, flags uint32
	chunkSize      int64
	first, size    int64
	seq            uint64
	crcOK          bool
}

func parseRecord(r []byte) record {
	le := binary.LittleEndian
	return record{
		magic:     string(r[:8]),
		version:   le.Uint32(r[8:]),
		flags:     le.Uint32(r[12:]),
		chunkSize: int64(le.Uint64(r[16:])),
		first:     int64(le.Uint64(r[24:])),
		size:      int64(le.Uint64(r[32:])),
		seq:       le.Uint64(r[40:]),
		crcOK:     le.Uint32(r[60:]) == crc32.Checksum(r[:60], castagnoli),
	}
}

// valid reports whether r passes every check Open makes of a record except
// the range checks of its fields.
func (r record) valid() bool {
	return r.magic == "CHUNKMAP" && r.version == 2 && r.flags == 0 && r.crcOK
}

// recordIn returns the bytes of record slot (0 or 1) of manifest file b.
func recordIn(b []byte, slot int) []byte {
	return b[slot*recordStride : slot*recordStride+recordLen]
}

// resealRecord stores the CRC-32C of version 2 record r's bytes 0..59 at 60.
func resealRecord(r []byte) []byte {
	binary.LittleEndian.PutUint32(r[60:], crc32.Checksum(r[:60], castagnoli))
	return r
}

// resealV1 stores the CRC-32C of version 1 manifest b's bytes 0..39 at 40.
func resealV1(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[40:], crc32.Checksum(b[:40], castagnoli))
	return b
}

// encodeV1 returns a version 1 manifest.
func encodeV1(chunkSize, first, size int64) []byte {
	b := make([]byte, manifestV1Len)
	copy(b, "CHUNKMAP")
	binary.LittleEndian.PutUint32(b[8:], 1)
	binary.LittleEndian.PutUint64(b[16:], uint64(chunkSize))
	binary.LittleEndian.PutUint64(b[24:], uint64(first))
	binary.LittleEndian.PutUint64(b[32:], uint64(size))
	return resealV1(b)
}

func manifestPath(dir string) string { return filepath.Join(dir, chunkmap.ManifestName) }

// readManifestFile returns the bytes of dir's manifest, failing unless it
// is a version 2 file.
func readManifestFile(t testing.TB, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(manifestPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != manifestLen {
		t.Fatalf("manifest is %d bytes, want %d", len(b), manifestLen)
	}
	return b
}

// fromEarlierBoot makes the state page of the version 2 manifest b what a
// restart of the machine leaves: the page of a writer of an earlier boot.
// (Without its magic it would be a page another program wrote over, which
// a read-write Open refuses while chunk files lie past the record's Size:
// TestOpen_DamagedStatePage.)
func fromEarlierBoot(b []byte) { copy(b[stateBootOff:stateBootOff+48], "an earlier boot\x00") }

// editManifestFile applies edit to dir's version 2 manifest, in place (the
// file keeps its inode, as after a torn write).
func editManifestFile(t testing.TB, dir string, edit func(b []byte)) {
	t.Helper()
	b := readManifestFile(t, dir)
	edit(b)
	f, err := os.OpenFile(manifestPath(dir), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// newestSlot returns the slot of the valid record with the higher seq, and
// fails unless both records are valid.
func newestSlot(t testing.TB, b []byte) int {
	t.Helper()
	r0, r1 := parseRecord(recordIn(b, 0)), parseRecord(recordIn(b, 1))
	if !r0.valid() || !r1.valid() {
		t.Fatalf("records %+v and %+v, want both valid", r0, r1)
	}
	if r0.seq > r1.seq {
		return 0
	}
	return 1
}

// wantRecord checks that slot of manifest b holds a valid record number seq
// of a dataset with 64 KiB chunks, Start start and Size size.
func wantRecord(t testing.TB, b []byte, slot int, seq uint64, start, size int64) {
	t.Helper()
	r := parseRecord(recordIn(b, slot))
	want := record{magic: "CHUNKMAP", version: 2, chunkSize: cs, first: start / cs, size: size, seq: seq, crcOK: true}
	if r != want {
		t.Fatalf("record at %d = %+v, want %+v", slot*recordStride, r, want)
	}
	if seq%2 != uint64(slot) {
		t.Fatalf("record %d is at %d, want %d", seq, slot*recordStride, seq%2*recordStride)
	}
}

// checkDataset opens dir with opts and checks Start, Size and the bytes in
// [Start, Size) against data, then closes it.
func checkDataset(t *testing.T, dir string, opts *chunkmap.Options, start int64, data []byte) {
	t.Helper()
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", *opts, err)
	}
	defer m.Close()
	md := model{start: start, data: data}
	md.check(t, m)
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestManifest_TornRecord damages one of the two records, as a power loss
// during the pwrite of a record leaves it, and checks that Open falls back
// to the other one, and that the next record written replaces the damaged
// one.
func TestManifest_TornRecord(t *testing.T) {
	const (
		older  = 5 * cs / 2  // Size in the older record
		newer  = 4*cs + cs/4 // Size in the newer one
		regrow = 3*cs + 1000 // Size written after the reopen
	)
	// tear damages the second half of a record, as a write that stopped
	// half way.
	tear := func(r []byte) { clear(r[recordLen/2:]) }
	tests := []struct {
		name      string
		damage    func(b []byte, newest int) // edits the manifest file b
		ignoreSt  bool                       // give the state page an earlier boot's ID
		wantSize  int64
		wantFiles int64 // chunk files left by a read-write Open
	}{
		{"newer torn", func(b []byte, newest int) { tear(recordIn(b, newest)) }, true, older, 3},
		{"newer bad checksum", func(b []byte, newest int) { recordIn(b, newest)[60] ^= 1 }, true, older, 3},
		{"newer with a wrong seq", func(b []byte, newest int) {
			// Valid, but not where its sequence number says it
			// belongs: not to be trusted over the other.
			r := recordIn(b, newest)
			binary.LittleEndian.PutUint64(r[40:], binary.LittleEndian.Uint64(r[40:])+1)
			resealRecord(r)
		}, true, older, 3},
		{"older torn", func(b []byte, newest int) { tear(recordIn(b, 1-newest)) }, true, newer, 5},
		// A state page a writer of this boot left wins over the records:
		// it is at least as new as any of them.
		{"newer torn, state page live", func(b []byte, newest int) { tear(recordIn(b, newest)) }, false, newer, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := pattern(3, newer)
			m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
			writeAt(t, m, data[:older], 0)
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			writeAt(t, m, data[older:], older)
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			b := readManifestFile(t, dir)
			newest := newestSlot(t, b)
			seq := parseRecord(recordIn(b, newest)).seq
			wantRecord(t, b, newest, seq, 0, newer)
			wantRecord(t, b, 1-newest, seq-1, 0, older)

			editManifestFile(t, dir, func(b []byte) {
				tc.damage(b, newest)
				if tc.ignoreSt {
					fromEarlierBoot(b)
				}
			})

			// A reader changes nothing.
			before := snapshot(t, dir)
			checkDataset(t, dir, &chunkmap.Options{ReadOnly: true}, 0, data[:tc.wantSize])
			wantSameSnapshot(t, before, snapshot(t, dir))

			// A writer removes the chunk files past Size, and its next
			// record goes over the damaged one (or the older one),
			// never over the only good one.
			m = openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
			md := model{data: bytes.Clone(data[:tc.wantSize])}
			md.check(t, m)
			wantChunkFiles(t, dir, 0, tc.wantFiles)
			if err := m.Truncate(regrow); err != nil {
				t.Fatal(err)
			}
			md.truncate(regrow)
			p := pattern(4, 100)
			writeAt(t, m, p, regrow-100)
			md.writeAt(p, regrow-100)
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			b = readManifestFile(t, dir)
			latest := newestSlot(t, b)
			r := parseRecord(recordIn(b, latest))
			if r.size != regrow {
				t.Fatalf("newest record after Sync: Size %d, want %d", r.size, regrow)
			}
			if tc.wantSize == older && latest != newest {
				t.Fatalf("Sync wrote record %d at %d, over the only good record", r.seq, latest*recordStride)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			// Without the state page too.
			editManifestFile(t, dir, fromEarlierBoot)
			checkDataset(t, dir, &chunkmap.Options{ChunkSize: cs}, 0, md.data)
		})
	}
}

// TestManifest_DamagedRecordPageOfThisBoot damages the newest record after
// a DropBefore or a Truncate that deleted chunk files, whose state page of
// this boot the writer closed cleanly: the older record still needs the
// deleted files, and the page, behind it, is what no writer leaves beside
// the newest record. A read-write Open took the page for one another
// program wrote over, followed the older record, and refused the dataset
// (chunk files missing); with the other record damaged it follows the page,
// as a reader does, and its first Sync writes the record anew, so that
// the dataset opens without the page too.
func TestManifest_DamagedRecordPageOfThisBoot(t *testing.T) {
	tests := []struct {
		name        string
		shrink      func(m *chunkmap.Manager) error
		start, size int64
		// then shrinks the dataset again after the Open, to start2
		// and size2: its record must need no chunk file gone.
		then          func(m *chunkmap.Manager) error
		start2, size2 int64
	}{
		{"DropBefore", func(m *chunkmap.Manager) error { return m.DropBefore(2 * cs) }, 2 * cs, 6 * cs,
			func(m *chunkmap.Manager) error { return m.Truncate(4 * cs) }, 2 * cs, 4 * cs},
		{"Truncate", func(m *chunkmap.Manager) error { return m.Truncate(3*cs + 10) }, 0, 3*cs + 10,
			func(m *chunkmap.Manager) error { return m.DropBefore(cs) }, cs, 3*cs + 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := pattern(5, 6*cs)
			m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
			writeAt(t, m, data, 0)
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := tc.shrink(m); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			editManifestFile(t, dir, func(b []byte) { recordIn(b, newestSlot(t, b))[60] ^= 1 })
			want := data[:tc.size]

			before := snapshot(t, dir)
			checkDataset(t, dir, &chunkmap.Options{ReadOnly: true}, tc.start, want)
			wantSameSnapshot(t, before, snapshot(t, dir))
			checkDataset(t, dir, &chunkmap.Options{ChunkSize: cs}, tc.start, want)

			// The Close of that writer recorded the page's Start and
			// Size: after a restart, which voids the page, the records
			// say the same.
			editManifestFile(t, dir, fromEarlierBoot)
			checkDataset(t, dir, &chunkmap.Options{ChunkSize: cs}, tc.start, want)

			// Again, with a power loss (a copy without the page) right
			// after the read-write Open, and after a shrink that follows
			// it: the Open wrote a record within the page's extent in
			// the damaged one's place, before anything else, and the
			// shrink's own record builds on it. With the older record
			// alone, Open refused the copy (chunk files missing), and
			// the shrink recorded chunks the DropBefore or Truncate had
			// deleted.
			editManifestFile(t, dir, func(b []byte) { recordIn(b, newestSlot(t, b))[60] ^= 1 })
			m = openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
			checkDataset(t, powerCutCopy(t, dir), &chunkmap.Options{ChunkSize: cs}, tc.start, want)
			if err := tc.then(m); err != nil {
				t.Fatal(err)
			}
			checkDataset(t, powerCutCopy(t, dir), &chunkmap.Options{ChunkSize: cs}, tc.start2, data[:tc.size2])
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestManifest_DamagedRecordRepairFails: where the record that Open writes
// in a damaged one's place (see TestManifest_DamagedRecordPageOfThisBoot)
// cannot be written, Open fails with ErrIO and changes nothing: it writes
// that record before it deletes any file, and a later Open that can write
// it opens the dataset.
func TestManifest_DamagedRecordRepairFails(t *testing.T) {
	dir := t.TempDir()
	data := pattern(6, 6*cs)
	m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
	writeAt(t, m, data, 0)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.DropBefore(2 * cs); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	editManifestFile(t, dir, func(b []byte) { recordIn(b, newestSlot(t, b))[60] ^= 1 })
	// A stale chunk file below Start, as a crash inside the DropBefore
	// leaves one: Open deletes it once the record is written.
	if err := os.WriteFile(filepath.Join(dir, chunk.Name(1)), make([]byte, cs), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)

	f := vfstest.NewFaulty(nil)
	f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpWrite, chunkmap.ManifestName)})
	o := chunkmap.Options{ChunkSize: cs}
	chunkmap.SetFS(&o, f)
	if m, err := chunkmap.Open(dir, &o); !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, vfstest.ErrInjected) {
		if err == nil {
			m.Close()
		}
		t.Fatalf("Open with the manifest's writes failing = %v, want ErrIO and the injected fault", err)
	}
	wantSameSnapshot(t, before, snapshot(t, dir))

	checkDataset(t, dir, &chunkmap.Options{ChunkSize: cs}, 2*cs, data)
	if _, err := os.Stat(filepath.Join(dir, chunk.Name(1))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stale chunk file below Start after an Open that wrote the record: %v, want it deleted", err)
	}
}

// powerCutCopy copies the regular files of dir, as a power loss leaves
// them once the page cache is written back (a copy reads the page cache),
// into a new directory, with the state page's boot ID voided as by a
// restart, and returns the new directory.
func powerCutCopy(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	copyDir(t, dir, to)
	editManifestFile(t, to, func(b []byte) { clear(b[stateBootOff : stateBootOff+48]) })
	return to
}

// TestManifest_StatePage checks that a writer's Size and Start outlive its
// process but not the boot: the dataset is copied while its writer is
// open, as a crash of the process leaves it (the copy reads the page cache),
// with writes and a DropBefore that no Sync covered.
func TestManifest_StatePage(t *testing.T) {
	const (
		synced = 2*cs + 300
		end    = 5*cs + 7
	)
	data := pattern(8, end)
	src := t.TempDir()
	w := openTestManager(t, src, &chunkmap.Options{ChunkSize: cs})
	writeAt(t, w, data[:synced], 0)
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	// Recorded at once (DropBefore writes a record before it deletes).
	if err := w.DropBefore(cs + 1); err != nil {
		t.Fatal(err)
	}
	writeAt(t, w, data[synced:], synced) // not synced
	// putInt64 sets the 8 bytes at off of the manifest to v.
	putInt64 := func(off int, v int64) func(b []byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], uint64(v)) }
	}
	tests := []struct {
		name     string
		edit     func(b []byte)
		wantSize int64
		// writerOnly: a reader may meet the page ahead of the record it
		// read (a Truncate between the two), and follows the page.
		writerOnly bool
	}{
		{"process crash", func([]byte) {}, end, false},
		{"power loss", func(b []byte) { copy(b[stateBootOff:], "00000000-0000-4000-8000-000000000000") }, synced, false},
		{"no boot ID", func(b []byte) { clear(b[stateBootOff : stateBootOff+48]) }, synced, false},
		{"state page zeroed", func(b []byte) { clear(b[stateOff:]) }, synced, false},
		// A writer lowers the record before the page when chunks go,
		// and raises its first chunk before the page's Start: a page
		// that needs fewer chunks than the newest record, or starts
		// past its first, was written over, and a writer that followed
		// it would delete chunk files the record needs. It follows the
		// record, as for a page that is garbage.
		{"page Size cut below the record's chunks", putInt64(stateSizeOff, cs+1), synced, true},
		{"page Start past the record's first chunk", putInt64(stateStartOff, 2*cs), synced, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			entries, err := os.ReadDir(src)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(src, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if e.Name() == chunkmap.ManifestName {
					tc.edit(b)
				}
				if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.writerOnly {
				before := snapshot(t, dir)
				checkDataset(t, dir, &chunkmap.Options{ReadOnly: true}, cs, data[:tc.wantSize])
				wantSameSnapshot(t, before, snapshot(t, dir))
			}
			checkDataset(t, dir, &chunkmap.Options{ChunkSize: cs}, cs, data[:tc.wantSize])
			// The writer's Close recorded what it opened: it stays
			// without the state page.
			editManifestFile(t, dir, func(b []byte) { clear(b[stateOff:]) })
			checkDataset(t, dir, &chunkmap.Options{ChunkSize: cs}, cs, data[:tc.wantSize])
		})
	}
}

// TestManifest_SyncRecords checks which calls write a record, and where:
// a Sync that changes neither Size nor Start writes none, and records
// alternate between the two places with rising sequence numbers.
func TestManifest_SyncRecords(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
	b := readManifestFile(t, dir)
	// A new dataset has its record twice: as record 1, and as record 0
	// at the start of the file, where version 1 kept its record (so that
	// a build reading version 1 alone says the format is too new, not
	// that the magic is bad).
	wantRecord(t, b, 1, 1, 0, 0)
	wantRecord(t, b, 0, 0, 0, 0)
	seq := uint64(1)
	// step runs one call and checks the records after it: unchanged if
	// wantNew is false, else a new record of Start, Size in the place of
	// the older one, the newer one kept.
	step := func(what string, call func() error, wantNew bool) {
		t.Helper()
		before := readManifestFile(t, dir)
		if err := call(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		after := readManifestFile(t, dir)
		if !wantNew {
			if !bytes.Equal(after[:recordsEnd], before[:recordsEnd]) {
				t.Fatalf("%s changed the records:\n%x\nwas\n%x", what, after[:recordsEnd], before[:recordsEnd])
			}
			return
		}
		seq++
		slot := int(seq % 2)
		wantRecord(t, after, slot, seq, m.Start(), m.Size())
		if !bytes.Equal(recordIn(after, 1-slot), recordIn(before, 1-slot)) {
			t.Fatalf("%s: record %d changed the other record too", what, seq)
		}
	}
	step("Sync of a new dataset", m.Sync, false)
	for i := range 4 {
		p := pattern(uint64(i), cs/2+i)
		step(fmt.Sprintf("Append %d", i), func() error { _, err := m.Append(p); return err }, false)
		step(fmt.Sprintf("Sync after Append %d", i), m.Sync, true)
		step(fmt.Sprintf("Sync %d again", i), m.Sync, false)
	}
	// Writes inside Size change no record: their chunks are fsync'd, the
	// manifest is not written.
	step("WriteAt inside Size", func() error { _, err := m.WriteAt([]byte("inside"), 10); return err }, false)
	step("Sync after WriteAt inside Size", m.Sync, false)
	// DropBefore and a Truncate that deletes chunk files write their
	// record themselves; a Truncate inside the last chunk leaves it to
	// Sync.
	step("DropBefore", func() error { return m.DropBefore(cs + 5) }, true)
	step("Sync after DropBefore", m.Sync, false)
	step("Truncate deleting a chunk", func() error { return m.Truncate(cs + 10) }, true)
	step("Truncate inside the last chunk", func() error { return m.Truncate(cs + 5) }, false)
	step("Sync after Truncate", m.Sync, true)
	step("Close", m.Close, false)
}

// TestManifest_Version1 opens a dataset whose manifest has format
// version 1, built by hand: a reader leaves it as it is, a writer rewrites
// it as version 2 first.
func TestManifest_Version1(t *testing.T) {
	const (
		first = 1
		size  = 3*cs + 100
	)
	// build writes a version 1 dataset: chunk files 1 to 3, each whole,
	// holding data at their offsets, and a leftover of an interrupted
	// manifest write.
	build := func(t *testing.T) (dir string, data []byte) {
		t.Helper()
		dir = t.TempDir()
		data = pattern(11, 4*cs)
		for i := int64(first); i < 4; i++ {
			if err := os.WriteFile(filepath.Join(dir, chunk.Name(i)), data[i*cs:(i+1)*cs], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(manifestPath(dir), encodeV1(cs, first, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, chunkmap.ManifestName+".tmp"), []byte("leftover"), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir, data[:size]
	}

	t.Run("read-only", func(t *testing.T) {
		dir, data := build(t)
		before := snapshot(t, dir)
		r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("ReadOnly Open of a version 1 dataset: %v", err)
		}
		defer r.Close()
		md := model{start: first * cs, data: data}
		md.check(t, r)
		if err := r.Refresh(); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		md.check(t, r)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		wantSameSnapshot(t, before, snapshot(t, dir))
	})

	t.Run("read-write", func(t *testing.T) {
		dir, data := build(t)
		m := openTestManager(t, dir, nil)
		if got := m.ChunkSize(); got != cs {
			t.Fatalf("ChunkSize() = %d, want %d", got, cs)
		}
		md := model{start: first * cs, data: bytes.Clone(data)}
		md.check(t, m)
		b := readManifestFile(t, dir)
		wantRecord(t, b, 1, 1, first*cs, size)
		wantRecord(t, b, 0, 0, first*cs, size)
		if _, err := os.Lstat(filepath.Join(dir, chunkmap.ManifestName+".tmp")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s.tmp is still there after the upgrade (Lstat: %v)", chunkmap.ManifestName, err)
		}
		wantChunkFiles(t, dir, first, 4)

		// It goes on as a version 2 dataset.
		p := pattern(12, cs)
		if _, err := m.Append(p); err != nil {
			t.Fatal(err)
		}
		md.writeAt(p, size)
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		wantRecord(t, readManifestFile(t, dir), 0, 2, first*cs, size+cs)
		m = reopen(t, m, &chunkmap.Options{ChunkSize: cs})
		md.check(t, m)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		checkDataset(t, dir, &chunkmap.Options{ReadOnly: true}, md.start, md.data)
	})

	// An Open that refuses the dataset does not upgrade it.
	refused := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		opts    chunkmap.Options
		wantErr error
	}{
		{"chunk size mismatch", func(*testing.T, string) {}, chunkmap.Options{ChunkSize: 2 * cs}, chunkmap.ErrInvalidOptions},
		{"chunk missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, chunk.Name(2))); err != nil {
				t.Fatal(err)
			}
		}, chunkmap.Options{}, chunkmap.ErrCorrupt},
		{"chunk short", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, chunk.Name(3)), cs-1); err != nil {
				t.Fatal(err)
			}
		}, chunkmap.Options{}, chunkmap.ErrCorrupt},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			dir, _ := build(t)
			tc.setup(t, dir)
			before := snapshot(t, dir)
			m, err := chunkmap.Open(dir, &tc.opts)
			if err == nil {
				m.Close()
				t.Fatalf("Open(%+v) succeeded", tc.opts)
			}
			wantErr(t, fmt.Sprintf("Open(%+v)", tc.opts), err, tc.wantErr)
			wantSameSnapshot(t, before, snapshot(t, dir))
		})
	}
}

// TestManifest_ReaderRefresh has a reader open a dataset that no writer of
// this boot has set up (so it follows the last record), then a writer open
// it: Refresh must bring the reader to the writer's Size, Sync or not, and
// from then on the reader follows the writer live, as Refresh documents.
func TestManifest_ReaderRefresh(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T, dir string, data []byte)
	}{
		{"version 1", func(t *testing.T, dir string, data []byte) {
			for i := range int64(2) {
				if err := os.WriteFile(filepath.Join(dir, chunk.Name(i)), data[i*cs:(i+1)*cs], 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(manifestPath(dir), encodeV1(cs, 0, 2*cs), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"version 2 after a restart", func(t *testing.T, dir string, data []byte) {
			m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
			writeAt(t, m, data[:2*cs], 0)
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			// A state page no writer of this boot set up, and that
			// does not say what the record says.
			editManifestFile(t, dir, func(b []byte) { clear(b[stateOff:]) })
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := pattern(13, 4*cs)
			tc.build(t, dir, data)
			r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("ReadOnly Open: %v", err)
			}
			defer r.Close()
			(&model{data: data[:2*cs]}).check(t, r)

			w := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
			if _, err := w.Append(data[2*cs : 3*cs]); err != nil {
				t.Fatal(err)
			}
			if err := r.Refresh(); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if got, want := r.Size(), w.Size(); got != want {
				t.Errorf("after the writer's unsynced Append and Refresh: Size() = %d, want %d", got, want)
			}
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := r.Refresh(); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			(&model{data: data[:3*cs]}).check(t, r)
			// Following now: no Refresh needed.
			if _, err := w.Append(data[3*cs:]); err != nil {
				t.Fatal(err)
			}
			if got, want := r.Size(), w.Size(); got != want {
				t.Errorf("after Refresh found the writer, its next Append: Size() = %d, want %d", got, want)
			}
		})
	}
}

// TestManifest_TooLongNamesItsSize: a MANIFEST longer than any version's
// is refused as corrupt, and the message gives its real size, not the
// number of bytes Open read before it knew.
func TestManifest_TooLongNamesItsSize(t *testing.T) {
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, chunkmap.ManifestName)
	if err := os.Truncate(path, 10000); err != nil {
		t.Fatal(err)
	}
	_, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if !errors.Is(err, chunkmap.ErrCorrupt) || !strings.Contains(err.Error(), "10000 bytes") {
		t.Fatalf("Open of a 10000-byte manifest: %v, want ErrCorrupt naming 10000 bytes", err)
	}
}
