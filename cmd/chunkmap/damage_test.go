package main

// Tests of verify, info and cat on damaged datasets. Every test checks that
// the dataset directory is left exactly as it was.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

var (
	problemLine = regexp.MustCompile(`(?m)^  problem: `)
	adviceLine  = regexp.MustCompile(`(?m)^    advice: .*chunkmap salvage `)
)

func TestRun_Verify_OneProblemPerFault(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, dir string)
		problems int
		want     []string // in stdout
		notWant  []string // not in stdout
	}{
		{
			name:     "deleted middle chunk",
			damage:   func(t *testing.T, dir string) { remove(t, filepath.Join(dir, chunk.Name(2))) },
			problems: 1,
			want:     []string{"problem: 0000000000000002.chunk is missing: bytes [131072, 196608) are lost"},
			notWant:  []string{"manifest", "MANIFEST"},
		},
		{
			name:     "truncated chunk",
			damage:   func(t *testing.T, dir string) { truncateChunk(t, dir, 3, 1000) },
			problems: 1,
			want:     []string{"problem: 0000000000000003.chunk has 1000 bytes, want 65536 (the chunk size), mode " + chunkModeShown + ": bytes [197608, 262144) are lost"},
			notWant:  []string{"----------", "manifest", "MANIFEST"},
		},
		{
			name:     "garbled manifest",
			damage:   garbleRecords,
			problems: 1,
			want: []string{
				"problem: MANIFEST: both records are damaged (record A: bad magic",
				"salvage [-chunk SIZE] ",
				"note: the manifest has no valid record: the chunk files were checked against chunk size 65536",
			},
			notWant: []string{"could not be used", ".chunk"},
		},
		{
			name:     "garbled manifest and deleted chunk",
			damage:   func(t *testing.T, dir string) { garbleRecords(t, dir); remove(t, filepath.Join(dir, chunk.Name(2))) },
			problems: 2,
			want:     []string{"problem: MANIFEST: both records are damaged", "problem: 0000000000000002.chunk is missing: bytes [131072, 196608) are lost"},
		},
		{
			name: "chunk is a directory",
			damage: func(t *testing.T, dir string) {
				remove(t, filepath.Join(dir, chunk.Name(1)))
				mkdir(t, filepath.Join(dir, chunk.Name(1)))
			},
			problems: 1,
			want:     []string{"problem: 0000000000000001.chunk is not a regular file (mode d"},
		},
		{
			name:     "manifest of the wrong size",
			damage:   func(t *testing.T, dir string) { must(t, os.Truncate(filepath.Join(dir, chunkmap.ManifestName), 1024)) },
			problems: 1,
			want:     []string{"problem: MANIFEST has 1024 bytes, want 4096: Open refuses it", "advice: record A (seq 2: chunk size 65536, first chunk 0, size 328680) is valid"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDataset(t)
			tc.damage(t, dir)
			before := snapshot(t, dir)
			code, out, errOut := runCmd(t, "verify", dir)
			checkUnchanged(t, dir, before)
			if code != exitFail {
				t.Errorf("exit status %d, want 1; stderr %q", code, errOut)
			}
			if n := len(problemLine.FindAllString(out, -1)); n != tc.problems || !strings.Contains(out, "FAILED, "+strconv.Itoa(tc.problems)+" problem(s)") {
				t.Errorf("%d problems, want %d:\n%s", n, tc.problems, out)
			}
			if n := len(adviceLine.FindAllString(out, -1)); n != tc.problems {
				t.Errorf("%d problems with advice to salvage, want all %d:\n%s", n, tc.problems, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(strings.ReplaceAll(out, dir, "DIR"), w) {
					t.Errorf("stdout contains %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestRun_Verify_Limits(t *testing.T) {
	t.Run("one record damaged", func(t *testing.T) {
		// A torn record is what a power loss during a Sync leaves: a note.
		dir := newDataset(t)
		garbleAt(t, dir, 512)
		code, out, _ := runCmd(t, "verify", dir)
		if code != exitOK || !strings.Contains(out, "note: MANIFEST: record B is damaged") {
			t.Errorf("exit status %d, want 0 and a note:\n%s", code, out)
		}
	})
	t.Run("overwritten bytes pass", func(t *testing.T) {
		// There are no data checksums: bytes overwritten inside a chunk
		// file pass verify -read, and the output and help say so.
		dir := newDataset(t)
		f, err := os.OpenFile(filepath.Join(dir, chunk.Name(2)), os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteAt([]byte("overwritten"), 100)
		must(t, err)
		must(t, f.Close())
		code, out, _ := runCmd(t, "verify", "-read", dir)
		if code != exitOK || !strings.Contains(out, "there are no data checksums") {
			t.Errorf("exit status %d:\n%s", code, out)
		}
		_, help, _ := runCmd(t, "verify", "-h")
		if !strings.Contains(help, "there are no data checksums") || !strings.Contains(help, "pass verify and verify -read") {
			t.Errorf("verify -h does not say what verify cannot detect:\n%s", help)
		}
		_, usage, _ := runCmd(t, "help")
		if !strings.Contains(usage, "no data checksums") || !strings.Contains(usage, "3 salvage lost bytes") {
			t.Errorf("usage does not state the limits and exit status 3:\n%s", usage)
		}
	})
	t.Run("-chunk disagrees with the manifest", func(t *testing.T) {
		dir := newDataset(t)
		code, out, errOut := runCmd(t, "verify", "-chunk", "128KiB", dir)
		if code != exitFail || out != "" || !strings.Contains(errOut, "disagrees with the chunk size 65536") {
			t.Errorf("exit status %d, stdout %q, stderr %q; want 1 and an error", code, out, errOut)
		}
		// info on a damaged dataset, which it could not list the damage
		// of with that chunk size, refuses it too.
		remove(t, filepath.Join(dir, chunk.Name(2)))
		code, out, errOut = runCmd(t, "info", "-chunk", "128KiB", dir)
		if code != exitFail || out != "" || !strings.Contains(errOut, "disagrees with the chunk size 65536") {
			t.Errorf("info of a damaged dataset: exit status %d, stdout %q, stderr %q; want 1 and an error", code, out, errOut)
		}
	})
	t.Run("read with damage", func(t *testing.T) {
		dir := newDataset(t)
		remove(t, filepath.Join(dir, chunk.Name(2)))
		code, out, _ := runCmd(t, "verify", "-read", dir)
		if code != exitFail || len(problemLine.FindAllString(out, -1)) != 1 ||
			!strings.Contains(out, "read 263144 of the 328680 bytes of [Start, Size); 65536 could not be read") {
			t.Errorf("exit status %d, want 1, one problem and what was read:\n%s", code, out)
		}
	})
}

func TestRun_Info_Damaged(t *testing.T) {
	t.Run("missing chunk", func(t *testing.T) {
		dir := newDataset(t)
		remove(t, filepath.Join(dir, chunk.Name(2)))
		before := snapshot(t, dir)
		code, out, errOut := runCmd(t, "info", dir)
		checkUnchanged(t, dir, before)
		if code != exitDamaged || !strings.Contains(errOut, "warning: "+dir+" is damaged (0000000000000002.chunk is missing: bytes [131072, 196608) are lost)") {
			t.Errorf("exit status %d, stderr %q; want 3 and a warning", code, errOut)
		}
		for _, w := range []string{
			"damaged     1 problem(s)",
			"  record A  seq 2: chunk size 65536, first chunk 0, size 328680 (the newest valid record)",
			"  state page start 0, size 328680",
			"chunk size  65536 (64 KiB), from the manifest, record A",
			"size        328680 ",
			"present     5 chunk files (0000000000000000.chunk … 0000000000000001.chunk, 0000000000000003.chunk … 0000000000000005.chunk)",
			"damage      0000000000000002.chunk is missing: bytes [131072, 196608) are lost",
			"lost        65536 (64 KiB) of 328680 bytes",
			"on disk     ",
		} {
			if !strings.Contains(out, w) {
				t.Errorf("info output does not contain %q:\n%s", w, out)
			}
		}
	})
	t.Run("garbled manifest", func(t *testing.T) {
		dir := newDataset(t)
		garbleRecords(t, dir)
		code, out, _ := runCmd(t, "info", dir)
		for _, w := range []string{"record A  damaged: bad magic", "record B  damaged: bad magic", "chunk size  65536 (64 KiB), from the sizes of the chunk files", "size        328680 "} {
			if code != exitDamaged || !strings.Contains(out, w) {
				t.Errorf("exit status %d; info output does not contain %q:\n%s", code, w, out)
			}
		}
	})
	t.Run("chunk size unknown", func(t *testing.T) {
		dir := newDataset(t)
		garbleRecords(t, dir)
		for i := range int64(4) {
			truncateChunk(t, dir, i, 1000)
		}
		code, out, _ := runCmd(t, "info", dir)
		if code != exitDamaged || !strings.Contains(out, "chunk size  unknown: ") || !strings.Contains(out, "present     6 chunk files") {
			t.Errorf("exit status %d:\n%s", code, out)
		}
		code, out, _ = runCmd(t, "info", "-chunk", "64KiB", dir)
		if code != exitDamaged || !strings.Contains(out, "lost        258144 ") {
			t.Errorf("info -chunk: exit status %d:\n%s", code, out)
		}
	})
	t.Run("extent unknown", func(t *testing.T) {
		// The chunk size is known (from -chunk), the extent is not: the
		// manifest is garbled and there are no chunk files. info used to
		// say the chunk size was unknown.
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, chunkmap.ManifestName), bytes.Repeat([]byte{0x5a}, 5000), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCmd(t, "info", "-chunk", "64KiB", dir)
		for _, w := range []string{"chunk size  65536 (64 KiB), from -chunk", "extent      the extent is unknown (Start and Size): the manifest has no valid record or state page, and there are no chunk files"} {
			if code != exitDamaged || !strings.Contains(out, w) {
				t.Errorf("exit status %d; info output does not contain %q:\n%s", code, w, out)
			}
		}
		if strings.Contains(out, "chunk size  unknown") || strings.Contains(out, "\nlost ") {
			t.Errorf("info output says the chunk size is unknown, or counts lost bytes:\n%s", out)
		}
	})
}

func TestRun_Cat_Damaged(t *testing.T) {
	dir := newDataset(t)
	remove(t, filepath.Join(dir, chunk.Name(2)))
	truncateChunk(t, dir, 4, 1000)
	before := snapshot(t, dir)
	defer checkUnchanged(t, dir, before)

	t.Run("readable range", func(t *testing.T) {
		code, out, errOut := runCmd(t, "cat", dir, "-off", "1000", "-n", "100000")
		if code != exitOK || !bytes.Equal([]byte(out), want(1000, 101000, nil)) {
			t.Errorf("exit status %d, %d bytes; want 0 and the bytes", code, len(out))
		}
		if !strings.Contains(errOut, "warning: "+dir+" is damaged") {
			t.Errorf("stderr %q: want a warning", errOut)
		}
	})
	t.Run("raw stops at the lost chunk", func(t *testing.T) {
		code, out, errOut := runCmd(t, "cat", dir)
		if code != exitFail || !bytes.Equal([]byte(out), want(0, 2*tcs, nil)) {
			t.Errorf("exit status %d, %d bytes; want 1 and the %d bytes before the lost chunk", code, len(out), 2*tcs)
		}
		for _, w := range []string{"stopped at offset 131072: [131072, 196608) is lost: 0000000000000002.chunk is missing", "-off 196608 goes on after it"} {
			if !strings.Contains(errOut, w) {
				t.Errorf("stderr does not contain %q:\n%s", w, errOut)
			}
		}
	})
	t.Run("raw after the lost chunk", func(t *testing.T) {
		code, out, errOut := runCmd(t, "cat", dir, "-off", "196608")
		if code != exitFail || !bytes.Equal([]byte(out), want(3*tcs, 4*tcs+1000, nil)) ||
			!strings.Contains(errOut, "[263144, 327680) is lost: 0000000000000004.chunk has 1000 bytes, want 65536") {
			t.Errorf("exit status %d, %d bytes, stderr %q", code, len(out), errOut)
		}
		if strings.Contains(errOut, "----------") {
			t.Errorf("stderr shows a mode without its type: %q", errOut)
		}
	})
	t.Run("hex marks every lost range", func(t *testing.T) {
		code, out, errOut := runCmd(t, "cat", dir, "-hex", "-off", "131056", "-n", "65568")
		if code != exitFail {
			t.Errorf("exit status %d, want 1", code)
		}
		wantOut := hexOf(2*tcs-16, want(2*tcs-16, 2*tcs, nil)) +
			"*** [131072, 196608) lost: 0000000000000002.chunk is missing ***\n" +
			hexOf(3*tcs, want(3*tcs, 3*tcs+16, nil)) +
			fmt.Sprintf("%016x\n", 3*tcs+16)
		if out != wantOut {
			t.Errorf("cat -hex =\n%s\nwant\n%s", out, wantOut)
		}
		if !strings.Contains(errOut, "chunkmap cat: [131072, 196608) is lost: 0000000000000002.chunk is missing") {
			t.Errorf("stderr %q does not name the lost chunk", errOut)
		}
	})
	t.Run("garbled manifest", func(t *testing.T) {
		dir := newDataset(t)
		garbleRecords(t, dir)
		code, out, errOut := runCmd(t, "cat", dir)
		if code != exitOK || !bytes.Equal([]byte(out), want(0, testSize, nil)) {
			t.Errorf("exit status %d, %d bytes; want 0 and all %d bytes; stderr %q", code, len(out), testSize, errOut)
		}
	})
}

func TestRun_ManifestV1(t *testing.T) {
	// A dataset whose manifest has format version 1 (44 bytes, one record)
	// verifies, with a note, and salvages without loss.
	dir := newDataset(t)
	b := encodeV1(tcs, testSize)
	must(t, os.WriteFile(filepath.Join(dir, chunkmap.ManifestName), b, 0o644))
	code, out, _ := runCmd(t, "verify", dir)
	if code != exitOK || !strings.Contains(out, "note: MANIFEST has format version 1") || !strings.Contains(out, "size 328680") {
		t.Errorf("verify: exit status %d:\n%s", code, out)
	}
	outDir := filepath.Join(t.TempDir(), "out")
	code, out, _ = runCmd(t, "salvage", dir, outDir)
	if code != exitOK || !strings.Contains(out, "from the manifest, the record") {
		t.Errorf("salvage: exit status %d:\n%s", code, out)
	}
	if _, _, got := readDataset(t, outDir); !bytes.Equal(got, want(0, testSize, nil)) {
		t.Errorf("salvaged dataset does not hold the original")
	}

	// A damaged checksum is the one record damaged.
	b[20] ^= 1
	must(t, os.WriteFile(filepath.Join(dir, chunkmap.ManifestName), b, 0o644))
	code, out, _ = runCmd(t, "verify", dir)
	if code != exitFail || !strings.Contains(out, "problem: MANIFEST: its record is damaged (the record: checksum") {
		t.Errorf("verify of a damaged version 1 record: exit status %d:\n%s", code, out)
	}
}

// encodeV1 returns a version 1 manifest (44 bytes: magic, version, chunk
// size, first chunk 0, Size, CRC-32C of what precedes it).
func encodeV1(chunkSize, size int64) []byte {
	b := make([]byte, 44)
	copy(b, "CHUNKMAP")
	binary.LittleEndian.PutUint32(b[8:], 1)
	binary.LittleEndian.PutUint64(b[16:], uint64(chunkSize))
	binary.LittleEndian.PutUint64(b[32:], uint64(size))
	binary.LittleEndian.PutUint32(b[40:], crc32.Checksum(b[:40], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	must(t, os.Mkdir(path, 0o755))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// hexOf returns the hex dump of b, which starts at dataset offset off,
// without the line of the end offset (the layout itself is tested in
// TestRun_Cat and TestHexDumper).
func hexOf(off int64, b []byte) string {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	d := &hexDumper{w: w, off: off}
	d.Write(b)
	d.endRun()
	w.Flush()
	return buf.String()
}

// verifyOneProblem runs verify on dir, checks that it fails with exactly one
// problem and that its report contains want, and returns the report.
func verifyOneProblem(t *testing.T, dir, want string) string {
	t.Helper()
	code, out, errOut := runCmd(t, "verify", dir)
	if n := len(problemLine.FindAllString(out, -1)); code != exitFail || n != 1 || !strings.Contains(out, want) {
		t.Errorf("verify: exit %d, %d problems, want 1, with %q:\n%s%s", code, n, want, out, errOut)
	}
	return out
}
