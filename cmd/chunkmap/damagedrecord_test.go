package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// writtenPastSync opens a new dataset of 64 KiB chunks, writes the first
// synced of the testSize bytes of pattern it returns, syncs, writes the
// rest, and returns its directory and its open Manager.
func writtenPastSync(t *testing.T, synced int64) (dir string, m *chunkmap.Manager, b []byte) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk})
	must(t, err)
	b = make([]byte, testSize)
	for i := range b {
		b[i] = pattern(int64(i))
	}
	_, err = m.WriteAt(b[:synced], 0)
	must(t, err)
	must(t, m.Sync())
	_, err = m.WriteAt(b[synced:], synced)
	must(t, err)
	return dir, m, b
}

// damageNewestRecord flips a bit of the newest of the two records of dir's
// manifest (version 2: records at 0 and 512, their sequence number at 40
// and checksum at 60), which then fails its checksum, and with noPage gives
// the state page (at 2048) an earlier boot's ID (after its 8-byte magic),
// as when no writer of this boot left it.
func damageNewestRecord(t *testing.T, dir string, noPage bool) {
	t.Helper()
	path := filepath.Join(dir, chunkmap.ManifestName)
	b, err := os.ReadFile(path)
	must(t, err)
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	newest, seq := -1, uint64(0)
	for i := range 2 {
		r := b[i*512 : i*512+64]
		if binary.LittleEndian.Uint32(r[60:]) != crc32.Checksum(r[:60], castagnoli) {
			t.Fatalf("record %d of %s is damaged already", i, path)
		}
		if s := binary.LittleEndian.Uint64(r[40:]); newest < 0 || s > seq {
			newest, seq = i, s
		}
	}
	b[newest*512+60] ^= 1
	if noPage {
		copy(b[2048+8:], "an earlier boot\x00")
	}
	must(t, os.WriteFile(path, b, 0o644))
}

// TestDamagedRecord_PageOfThisBoot: after a DropBefore that deleted chunk
// files, the newest record is damaged; the state page a writer of this
// boot left says the dataset as it is. A read-write Open follows the page,
// as a reader does (the older record needs the deleted files), and so must
// the tools: verify said two problems, one a "state page written over" with
// advice that was false, the other bytes [0, 128 KiB) "lost", and salvage
// filled them with zeros and exited 3.
func TestDamagedRecord_PageOfThisBoot(t *testing.T) {
	dir := newDataset(t)
	m, err := chunkmap.Open(dir, nil)
	must(t, err)
	must(t, m.DropBefore(2*testChunk))
	must(t, m.Close())
	damageNewestRecord(t, dir, false)
	before := snapshot(t, dir)

	if code, out, errOut := runCmd(t, "verify", dir); code != exitOK || !strings.Contains(out, "state page") {
		t.Errorf("verify: exit %d, want %d and a note on the state page:\n%s%s", code, exitOK, out, errOut)
	}
	if code, out, errOut := runCmd(t, "info", dir); code != exitOK || !strings.Contains(out, "start       131072") {
		t.Errorf("info: exit %d, want %d and start 131072:\n%s%s", code, exitOK, out, errOut)
	}
	flat := filepath.Join(t.TempDir(), "flat")
	code, out, errOut := runCmd(t, "salvage", "-flat", dir, flat)
	got, err := os.ReadFile(flat)
	want := make([]byte, testSize-2*testChunk)
	for i := range want {
		want[i] = pattern(int64(i) + 2*testChunk)
	}
	if code != exitOK || err != nil || !bytes.Equal(got, want) {
		t.Errorf("salvage -flat: exit %d, %d bytes (%v), want %d and the %d bytes from Start:\n%s%s", code, len(got), err, exitOK, len(want), out, errOut)
	}
	checkUnchanged(t, dir, before)

	m, err = chunkmap.Open(dir, nil)
	must(t, err)
	if m.Start() != 2*testChunk || m.Size() != testSize {
		t.Errorf("Open: Start %d, Size %d; want %d, %d", m.Start(), m.Size(), 2*testChunk, int64(testSize))
	}
	must(t, m.Close())
}

// TestDamagedRecord_FilesPastSize: the newest record, which covered the
// last two chunks, is damaged, and no state page of this boot says more:
// the valid, older record ends before them. That is what a power loss
// during the last Sync leaves, and also what damage to an acknowledged
// record leaves; only in the first case are the files spare. verify said
// OK and that they "hold no data" (a read-write Open then deleted them),
// and info said nothing. verify must report one problem and advise salvage
// first, info report damage (status 3), and cat fail (status 1) after it
// printed the valid record's bytes; salvage copies all of them.
func TestDamagedRecord_FilesPastSize(t *testing.T) {
	const older = 3*testChunk + 10
	dir, m, b := writtenPastSync(t, older)
	must(t, m.Close())
	damageNewestRecord(t, dir, true)
	before := snapshot(t, dir)

	out := verifyOneProblem(t, dir, "past Size")
	if !strings.Contains(out, "chunkmap salvage") || strings.Contains(out, "hold no data") {
		t.Errorf("verify: want salvage advised and no word of files that hold no data:\n%s", out)
	}
	if code, out, errOut := runCmd(t, "info", dir); code != exitDamaged || !strings.Contains(out, "damage") {
		t.Errorf("info: exit %d, want %d and a damage line:\n%s%s", code, exitDamaged, out, errOut)
	}
	if code, out, errOut := runCmd(t, "cat", dir); code != exitFail || out != string(b[:older]) || !strings.Contains(errOut, "past Size") {
		t.Errorf("cat: exit %d, %d bytes, want %d, the %d bytes of the valid record, and a warning:\n%s", code, len(out), exitFail, older, errOut)
	}
	if code, out, errOut := runCmd(t, "cat", dir, "-n", "10"); code != exitOK || out != string(b[:10]) {
		t.Errorf("cat -n 10: exit %d, %q, want %d and the first 10 bytes:\n%s", code, out, exitOK, errOut)
	}
	flat := filepath.Join(t.TempDir(), "flat")
	code, sout, serr := runCmd(t, "salvage", "-flat", dir, flat)
	got, err := os.ReadFile(flat)
	if err != nil || len(got) < testSize || !bytes.Equal(got[:testSize], b) {
		t.Errorf("salvage -flat: exit %d, %d bytes (%v), want the %d bytes written first:\n%s%s", code, len(got), err, testSize, sout, serr)
	}
	checkUnchanged(t, dir, before)
}

// TestChunkFlagDisagrees: with no manifest, -chunk gives the chunk size,
// and one that every chunk file contradicts put each chunk at the wrong
// offset with no word of why half the bytes read as lost. verify and
// salvage go on as told, but say that -chunk disagrees with the files; a
// -chunk that agrees says nothing of the kind.
func TestChunkFlagDisagrees(t *testing.T) {
	dir := newDataset(t)
	must(t, os.Remove(filepath.Join(dir, chunkmap.ManifestName)))
	for _, tc := range []struct {
		chunk string
		warn  bool
	}{{"128KiB", true}, {"64KiB", false}} {
		_, out, errOut := runCmd(t, "verify", "-chunk", tc.chunk, dir)
		if got := strings.Contains(out, "-chunk 131072 disagrees with the chunk files, which say 65536"); got != tc.warn {
			t.Errorf("verify -chunk %s: warns %v, want %v:\n%s%s", tc.chunk, got, tc.warn, out, errOut)
		}
		out2 := filepath.Join(t.TempDir(), "out")
		_, out, errOut = runCmd(t, "salvage", "-chunk", tc.chunk, dir, out2)
		if got := strings.Contains(out, "disagrees with the chunk files"); got != tc.warn {
			t.Errorf("salvage -chunk %s: warns %v, want %v:\n%s%s", tc.chunk, got, tc.warn, out, errOut)
		}
	}
}

// TestDamagedRecord_ShrunkChunks: after a DropBefore (or a Truncate), the
// newest record, the one with the new Start (or Size), is damaged, and no
// state page of this boot says more: the valid, older record needs the
// chunks the call deleted. Both delete chunk files only after their
// record's fsync, so a power loss during them leaves the files: these were
// dropped, not lost. verify said "bytes [0, 128 KiB) are lost" (or [256
// KiB, 384 KiB)), and salvage filled them with zeros and exited 3. verify
// reports one problem (a read-write Open refuses the dataset) that loses
// nothing, and salvage copies the chunk files present, listing the rest as
// not copied.
func TestDamagedRecord_ShrunkChunks(t *testing.T) {
	tests := []struct {
		name   string
		shrink func(m *chunkmap.Manager) error
		// from, to: the bytes salvage copies from the chunk files, and
		// notCopied the range it lists as such.
		from, to  int64
		notCopied string
	}{
		// Size runs on to the end of the last chunk file (the damaged
		// record may have recorded more): zeros past the valid record's.
		{"DropBefore", func(m *chunkmap.Manager) error { return m.DropBefore(2 * testChunk) }, 2 * testChunk, 6 * testChunk, "not copied [0, 131072)"},
		// To the end of the last chunk file: what lies past the cut
		// Size in it comes along (a salvage takes too much rather than
		// too little).
		{"Truncate", func(m *chunkmap.Manager) error { return m.Truncate(3*testChunk + 10) }, 0, 4 * testChunk, fmt.Sprintf("not copied [%d, %d)", 4*testChunk, testSize)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDataset(t)
			m, err := chunkmap.Open(dir, nil)
			must(t, err)
			must(t, tc.shrink(m))
			size := m.Size()
			must(t, m.Close())
			damageNewestRecord(t, dir, true)
			before := snapshot(t, dir)

			out := verifyOneProblem(t, dir, "most likely deleted")
			if strings.Contains(out, "lost") && !strings.Contains(out, "nothing is lost") {
				t.Errorf("verify calls the chunks the %s deleted lost:\n%s", tc.name, out)
			}
			// A read-write Open refuses this dataset: no Sync follows
			// until it is salvaged, which the note must not promise.
			if strings.Contains(out, "and the next Sync rewrites") || !strings.Contains(out, "the next Sync of a read-write Manager that opens the dataset rewrites") {
				t.Errorf("verify's note on the damaged record promises a Sync that a refused Open never makes:\n%s", out)
			}
			flat := filepath.Join(t.TempDir(), "flat")
			code, sout, serr := runCmd(t, "salvage", "-flat", dir, flat)
			got, err := os.ReadFile(flat)
			want := make([]byte, tc.to-tc.from)
			for i := range want {
				if off := tc.from + int64(i); off < size {
					want[i] = pattern(off)
				}
			}
			// Size comes from the chunk files (it runs on to the end of
			// the last one, or is cut there): not known to be exact,
			// status 3.
			if code != exitDamaged || err != nil || !bytes.Equal(got[:min(len(got), int(size-tc.from))], want[:size-tc.from]) || len(got) != len(want) {
				t.Errorf("salvage -flat: exit %d, %d bytes (%v), want %d and the %d bytes the chunk files hold:\n%s%s", code, len(got), err, exitDamaged, len(want), sout, serr)
			}
			if !strings.Contains(sout, tc.notCopied) {
				t.Errorf("salvage -flat: want %q listed:\n%s", tc.notCopied, sout)
			}

			// cat leaves the deleted chunks out of its default range,
			// as salvage does, and names them as not present (not as
			// lost) where a range asks for them.
			catTo := min(tc.to, testSize)
			code, cout, cerr := runCmd(t, "cat", dir)
			if code != exitOK || int64(len(cout)) != catTo-tc.from || cout != string(got[:catTo-tc.from]) || !strings.Contains(cerr, "most likely a "+tc.name) || strings.Contains(cerr, " lost:") {
				t.Errorf("cat: exit %d, %d bytes; want %d and the %d bytes of [%d, %d), and the left-out chunks named:\n%s", code, len(cout), exitOK, catTo-tc.from, tc.from, catTo, cerr)
			}
			code, _, cerr = runCmd(t, "cat", "-off", "0", "-n", fmt.Sprint(testSize), dir)
			if code != exitFail || !strings.Contains(cerr, "is not present: ") || !strings.Contains(cerr, "most likely a "+tc.name) || strings.Contains(cerr, "is lost:") {
				t.Errorf("cat of the whole record's extent: exit %d, want %d and the deleted chunks named as not present:\n%s", code, exitFail, cerr)
			}
			// An -off among the deleted chunks, without -n, asks for
			// them too (and printed nothing, exiting 0, when the
			// default end was cut back to the chunk files present).
			gone := int64(0)
			if tc.name == "Truncate" {
				gone = tc.to
			}
			code, cout, cerr = runCmd(t, "cat", "-off", fmt.Sprint(gone), dir)
			if code != exitFail || cout != "" || !strings.Contains(cerr, "is not present: ") {
				t.Errorf("cat -off %d: exit %d, %d bytes; want %d, none, and the deleted chunks named as not present:\n%s", gone, code, len(cout), exitFail, cerr)
			}
			code, cout, _ = runCmd(t, "cat", "-hex", "-off", "0", "-n", fmt.Sprint(testSize), dir)
			if code != exitFail || !strings.Contains(cout, ") not present: ") || strings.Contains(cout, ") lost: ") {
				t.Errorf("cat -hex of the whole record's extent: exit %d, want %d and the deleted chunks marked as not present:\n%s", code, exitFail, cout)
			}
			checkUnchanged(t, dir, before)
		})
	}
}
