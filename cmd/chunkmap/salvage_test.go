package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// fileSnap is what snapshot records of one file.
type fileSnap struct {
	mode  fs.FileMode
	size  int64
	mtime time.Time
	sum   [32]byte
}

// snapshot records the name, mode, size, mtime and content of everything
// under dir.
func snapshot(t *testing.T, dir string) map[string]fileSnap {
	t.Helper()
	snap := make(map[string]fileSnap)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		s := fileSnap{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime()}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			s.sum = sha256.Sum256(b)
		}
		snap[path] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// checkUnchanged fails the test unless dir is as snapshot found it.
func checkUnchanged(t *testing.T, dir string, before map[string]fileSnap) {
	t.Helper()
	after := snapshot(t, dir)
	for path, b := range before {
		a, ok := after[path]
		switch {
		case !ok:
			t.Errorf("%s was removed", path)
		case a != b:
			t.Errorf("%s changed: %+v, was %+v", path, a, b)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s was created", path)
		}
	}
}

// truncateChunk cuts chunk i of dir to n bytes.
func truncateChunk(t *testing.T, dir string, i, n int64) {
	t.Helper()
	if err := os.Truncate(filepath.Join(dir, chunk.Name(i)), n); err != nil {
		t.Fatal(err)
	}
}

// garbleRecords overwrites both manifest records, and leaves the state
// page alone.
func garbleRecords(t *testing.T, dir string) {
	t.Helper()
	garbleAt(t, dir, 0)
	garbleAt(t, dir, 512)
}

// garbleAt overwrites the 64 bytes at off in the manifest.
func garbleAt(t *testing.T, dir string, off int64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, chunkmap.ManifestName), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 64), off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// want returns the bytes [start, size) of newDataset's content, with zeros
// past testSize and in the lost ranges.
func want(start, size int64, lost [][2]int64) []byte {
	b := make([]byte, size-start)
	for off := start; off < min(size, testSize); off++ {
		b[off-start] = pattern(off)
	}
	for _, l := range lost {
		clear(b[l[0]-start : l[1]-start])
	}
	return b
}

var lostLine = regexp.MustCompile(`(?m)^  lost \[(\d+), (\d+)\) \([^)]*\): (.*)$`)

// lostRanges returns the lost ranges salvage printed.
func lostRanges(t *testing.T, out string) [][2]int64 {
	t.Helper()
	var got [][2]int64
	for _, m := range lostLine.FindAllStringSubmatch(out, -1) {
		from, _ := strconv.ParseInt(m[1], 10, 64)
		to, _ := strconv.ParseInt(m[2], 10, 64)
		got = append(got, [2]int64{from, to})
	}
	return got
}

// readDataset returns Start, Size and the bytes [Start, Size) of the
// dataset in dir.
func readDataset(t *testing.T, dir string) (start, size int64, data []byte) {
	t.Helper()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	start, size = m.Start(), m.Size()
	data = make([]byte, size-start)
	if _, err := m.ReadAt(data, start); err != nil {
		t.Fatal(err)
	}
	return start, size, data
}

// tcs is the chunk size of newDataset, short for the tables.
const tcs = testChunk

func TestRun_Salvage(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, dir string)
		args     []string // extra arguments
		wantLost [][2]int64
		// guessed: Size comes from the chunk files, so that the copy
		// may run past the true Size (exit 3 with nothing lost).
		guessed bool
		size    int64    // Size of the salvaged dataset
		wantOut []string // in stdout
	}{
		{
			name:    "intact",
			damage:  func(*testing.T, string) {},
			size:    testSize,
			wantOut: []string{"from the manifest, record", "nothing lost"},
		},
		{
			name:     "missing middle chunk",
			damage:   func(t *testing.T, dir string) { remove(t, filepath.Join(dir, chunk.Name(2))) },
			wantLost: [][2]int64{{2 * tcs, 3 * tcs}},
			size:     testSize,
			wantOut:  []string{"lost [131072, 196608) (64 KiB): 0000000000000002.chunk is missing"},
		},
		{
			name: "missing chunks",
			damage: func(t *testing.T, dir string) {
				remove(t, filepath.Join(dir, chunk.Name(1)))
				remove(t, filepath.Join(dir, chunk.Name(2)))
			},
			wantLost: [][2]int64{{tcs, 3 * tcs}},
			size:     testSize,
			wantOut:  []string{"2 chunks are missing, 0000000000000001.chunk … 0000000000000002.chunk"},
		},
		{
			name:     "missing last chunk",
			damage:   func(t *testing.T, dir string) { remove(t, filepath.Join(dir, chunk.Name(5))) },
			wantLost: [][2]int64{{5 * tcs, testSize}},
			size:     testSize,
		},
		{
			name:     "truncated chunk",
			damage:   func(t *testing.T, dir string) { truncateChunk(t, dir, 3, 1000) },
			wantLost: [][2]int64{{3*tcs + 1000, 4 * tcs}},
			size:     testSize,
			wantOut:  []string{"0000000000000003.chunk has 1000 bytes, want 65536 (the chunk size)"},
		},
		{
			name:     "empty chunk",
			damage:   func(t *testing.T, dir string) { truncateChunk(t, dir, 1, 0) },
			wantLost: [][2]int64{{tcs, 2 * tcs}},
			size:     testSize,
		},
		{
			// The last chunk holds 1000 bytes of data: cut to 1000 it
			// loses nothing, though Open refuses it.
			name:    "last chunk cut at Size",
			damage:  func(t *testing.T, dir string) { truncateChunk(t, dir, 5, 1000) },
			size:    testSize,
			wantOut: []string{"damage: 0000000000000005.chunk has 1000 bytes", "nothing lost"},
		},
		{
			name:    "garbled manifest",
			damage:  garbleRecords,
			size:    testSize,
			wantOut: []string{"from the sizes of the chunk files (6 of 6 have this size)", "from the manifest's state page", "damage: MANIFEST: both records are damaged"},
		},
		{
			// The other record is older (size 0), but the state page
			// that a writer of this boot left wins, as in Open.
			name:    "one record garbled",
			damage:  func(t *testing.T, dir string) { garbleAt(t, dir, 0) },
			size:    testSize,
			wantOut: []string{"nothing lost"},
		},
		{
			name: "combination",
			damage: func(t *testing.T, dir string) {
				garbleRecords(t, dir)
				remove(t, filepath.Join(dir, chunk.Name(1)))
				truncateChunk(t, dir, 4, 5000)
			},
			wantLost: [][2]int64{{tcs, 2 * tcs}, {4*tcs + 5000, 5 * tcs}},
			size:     testSize,
			wantOut:  []string{"from the sizes of the chunk files (4 of 5 have this size)"},
		},
		{
			// No record and no state page: Start and Size come from the
			// chunk files, so Size is the end of the last one.
			name: "manifest overwritten",
			damage: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, chunkmap.ManifestName), "not a manifest at all, just some text")
				remove(t, filepath.Join(dir, chunk.Name(2)))
			},
			wantLost: [][2]int64{{2 * tcs, 3 * tcs}},
			size:     6 * tcs,
			wantOut:  []string{"from the chunk files present (0000000000000000.chunk … 0000000000000005.chunk; Size is the end of the last one"},
		},
		{
			// Record B and the state page cut off: B might have recorded
			// more than A, so salvage copies to the end of the last chunk
			// file (see TestRun_Salvage_CutManifest for a B that did).
			name: "manifest cut after record A",
			damage: func(t *testing.T, dir string) {
				if err := os.Truncate(filepath.Join(dir, chunkmap.ManifestName), 100); err != nil {
					t.Fatal(err)
				}
			},
			size:    6 * tcs,
			guessed: true,
			wantOut: []string{"widened from size 328680 to the end of the last chunk file, 0000000000000005.chunk: record B is damaged", "none unreadable, but Size came from the chunk files"},
		},
		{
			name:    "manifest missing",
			damage:  func(t *testing.T, dir string) { remove(t, filepath.Join(dir, chunkmap.ManifestName)) },
			size:    6 * tcs,
			guessed: true,
			wantOut: []string{"damage: MANIFEST is missing", "none unreadable, but Size came from the chunk files"},
		},
		{
			// Five chunk files cut to 1000 bytes: the chunk size cannot be
			// inferred, and -chunk gives it.
			name: "ambiguous chunk size with -chunk",
			damage: func(t *testing.T, dir string) {
				garbleRecords(t, dir)
				for i := range int64(4) {
					truncateChunk(t, dir, i, 1000)
				}
			},
			args:     []string{"-chunk", "64KiB"},
			wantLost: [][2]int64{{1000, tcs}, {tcs + 1000, 2 * tcs}, {2*tcs + 1000, 3 * tcs}, {3*tcs + 1000, 4 * tcs}},
			size:     testSize,
			wantOut:  []string{"chunk size 65536 (64 KiB), from -chunk"},
		},
	}
	for _, tc := range tests {
		for _, flat := range []bool{false, true} {
			name := tc.name
			if flat {
				name += "/flat"
			}
			t.Run(name, func(t *testing.T) {
				dir := newDataset(t)
				tc.damage(t, dir)
				before := snapshot(t, dir)
				out := filepath.Join(t.TempDir(), "out")
				args := append([]string{"salvage"}, tc.args...)
				if flat {
					args = append(args, "-flat")
				}
				code, stdout, stderr := runCmd(t, append(args, dir, out)...)
				checkUnchanged(t, dir, before)

				wantCode := exitOK
				if len(tc.wantLost) > 0 || tc.guessed {
					wantCode = exitDamaged
				}
				if code != wantCode {
					t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, stdout, stderr)
				}
				if got := lostRanges(t, stdout); !slices.Equal(got, tc.wantLost) {
					t.Errorf("lost ranges %v, want %v\n%s", got, tc.wantLost, stdout)
				}
				for _, w := range tc.wantOut {
					if !strings.Contains(stdout, w) {
						t.Errorf("stdout does not contain %q:\n%s", w, stdout)
					}
				}
				if (len(tc.wantLost) > 0) != strings.Contains(stderr, "could not be read") {
					t.Errorf("stderr %q: want a summary exactly when bytes are lost", stderr)
				}
				if guessed := len(tc.wantLost) == 0 && tc.guessed; guessed != strings.Contains(stderr, "may hold bytes past the true Size") {
					t.Errorf("stderr %q: want a warning exactly when Size is a guess and nothing is lost", stderr)
				}
				if flat {
					got, err := os.ReadFile(out)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want(0, tc.size, tc.wantLost)) {
						t.Errorf("flat file: %d bytes, not the %d bytes of the original with zeros where lost", len(got), tc.size)
					}
					return
				}
				start, size, got := readDataset(t, out)
				if start != 0 || size != tc.size {
					t.Errorf("salvaged dataset: start %d, size %d; want 0, %d", start, size, tc.size)
				}
				if !bytes.Equal(got, want(0, tc.size, tc.wantLost)) {
					t.Errorf("salvaged dataset does not hold the original with zeros where lost")
				}
				if code, vout, _ := runCmd(t, "verify", out); code != exitOK {
					t.Errorf("verify of the salvaged dataset: exit status %d\n%s", code, vout)
				}
			})
		}
	}
}

// TestRun_Salvage_CutManifest checks that salvage copies the chunk files a
// newer record covered when that record is cut off the manifest and the
// valid one is older: 1 chunk synced, then 5 more written and closed, then
// the manifest cut after its first record.
func TestRun_Salvage_CutManifest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: tcs})
	if err != nil {
		t.Fatal(err)
	}
	b := want(0, 6*tcs, nil)
	if _, err := m.WriteAt(b[:tcs], 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(b[tcs:], tcs); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, chunkmap.ManifestName), 100); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := runCmd(t, "info", dir); !strings.Contains(stdout, "size 65536") {
		t.Fatalf("info (exit %d) does not show a valid record of size 65536 left:\n%s", code, stdout)
	}
	before := snapshot(t, dir)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCmd(t, "salvage", "-flat", dir, out)
	checkUnchanged(t, dir, before)
	if code != exitDamaged || !strings.Contains(stdout, "widened from size 65536 to the end of the last chunk file, 0000000000000005.chunk") {
		t.Fatalf("exit status %d, want %d, and a Size widened over the chunk files\nstdout:\n%s\nstderr:\n%s", code, exitDamaged, stdout, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b) {
		t.Errorf("salvaged %d bytes, not the %d written", len(got), len(b))
	}
}

// TestRun_Salvage_WidenedLosses checks what salvage does with the chunk
// files past the valid record's Size: where the other record was never
// written (a new dataset's), nothing, as Open does; where it was cut off,
// it copies them, and a chunk missing among them is noted, not lost.
func TestRun_Salvage_WidenedLosses(t *testing.T) {
	t.Run("other record never written", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ds")
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: tcs})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Grow(6 * tcs); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		// As after a restart of the machine: the state page is not
		// this boot's, so the record counts.
		boot, page := otherBoot()
		patchManifest(t, dir, map[int64][]byte{boot: page})
		remove(t, filepath.Join(dir, chunk.Name(3)))
		code, stdout, stderr := runCmd(t, "salvage", "-flat", dir, filepath.Join(t.TempDir(), "out"))
		if code != exitOK || strings.Contains(stdout, "widened") || !strings.Contains(stdout, "size 0") {
			t.Errorf("exit status %d, want %d, size 0 and no widening\nstdout:\n%s\nstderr:\n%s", code, exitOK, stdout, stderr)
		}
	})
	t.Run("missing past the valid record", func(t *testing.T) {
		dir := newDataset(t)
		if err := os.Truncate(filepath.Join(dir, chunkmap.ManifestName), 100); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, chunk.Name(7)), strings.Repeat("x", tcs))
		code, stdout, stderr := runCmd(t, "salvage", "-flat", dir, filepath.Join(t.TempDir(), "out"))
		if code != exitDamaged || !strings.Contains(stdout, "not copied [393216, 458752) (64 KiB), past the valid record's size 328680: 0000000000000006.chunk is missing") {
			t.Errorf("exit status %d, want %d, and the missing chunk noted\nstdout:\n%s\nstderr:\n%s", code, exitDamaged, stdout, stderr)
		}
	})
}

func TestRun_Salvage_ChunkSize(t *testing.T) {
	t.Run("ambiguous", func(t *testing.T) {
		dir := newDataset(t)
		garbleRecords(t, dir)
		for i := range int64(4) {
			truncateChunk(t, dir, i, 1000)
		}
		before := snapshot(t, dir)
		out := filepath.Join(t.TempDir(), "out")
		code, _, stderr := runCmd(t, "salvage", dir, out)
		if code != exitFail || !strings.Contains(stderr, "the chunk size is unknown") || !strings.Contains(stderr, "pass -chunk SIZE") ||
			!strings.Contains(stderr, "4 with 1000 bytes, 2 with 65536 bytes") {
			t.Errorf("exit status %d, stderr %q; want 1 and a request for -chunk", code, stderr)
		}
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("OUT was created: %v", err)
		}
		checkUnchanged(t, dir, before)
	})
	t.Run("larger chunk file", func(t *testing.T) {
		// Most chunk files have 64 KiB, but one is larger: the chunk size
		// may be larger, with the others cut short.
		dir := newDataset(t)
		garbleRecords(t, dir)
		if err := os.Truncate(filepath.Join(dir, chunk.Name(0)), 2*tcs); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		if code, _, stderr := runCmd(t, "salvage", dir, out); code != exitFail || !strings.Contains(stderr, "no chunk is larger") {
			t.Errorf("exit status %d, stderr %q; want 1 and a request for -chunk", code, stderr)
		}
		code, stdout, stderr := runCmd(t, "salvage", "-chunk", "65536", dir, out)
		if code != exitOK || !strings.Contains(stdout, "damage: 0000000000000000.chunk has 131072 bytes, want 65536") {
			t.Errorf("with -chunk: exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})
	t.Run("disagrees with the manifest", func(t *testing.T) {
		dir := newDataset(t)
		code, _, stderr := runCmd(t, "salvage", "-chunk", "128KiB", dir, filepath.Join(t.TempDir(), "out"))
		if code != exitFail || !strings.Contains(stderr, "disagrees with the chunk size 65536") {
			t.Errorf("exit status %d, stderr %q; want 1", code, stderr)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		dir := newDataset(t)
		code, _, stderr := runCmd(t, "salvage", "-chunk", "1000", dir, filepath.Join(t.TempDir(), "out"))
		if code != exitUsage || !strings.Contains(stderr, "-chunk 1000: want a power of two") {
			t.Errorf("exit status %d, stderr %q; want 2", code, stderr)
		}
	})
}

func TestRun_Salvage_Start(t *testing.T) {
	// A dataset whose Start is past 0 keeps its offsets in the copy.
	dir := newDataset(t)
	m, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DropBefore(2 * tcs); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	remove(t, filepath.Join(dir, chunk.Name(3)))
	before := snapshot(t, dir)
	wantLost := [][2]int64{{3 * tcs, 4 * tcs}}

	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCmd(t, "salvage", dir, out)
	if code != exitDamaged {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if got := lostRanges(t, stdout); !slices.Equal(got, wantLost) {
		t.Errorf("lost ranges %v, want %v", got, wantLost)
	}
	start, size, got := readDataset(t, out)
	if start != 2*tcs || size != testSize {
		t.Errorf("salvaged dataset: start %d, size %d; want %d, %d", start, size, 2*tcs, testSize)
	}
	if !bytes.Equal(got, want(2*tcs, testSize, wantLost)) {
		t.Errorf("salvaged dataset does not hold the original with zeros where lost")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 5+lockFiles { // MANIFEST and chunks 2 to 5
		t.Errorf("salvaged dataset holds %d files, want %d", len(entries), 5+lockFiles)
	}

	flat := filepath.Join(t.TempDir(), "flat")
	if code, _, _ := runCmd(t, "salvage", "-flat", dir, flat); code != exitDamaged {
		t.Fatalf("salvage -flat: exit status %d", code)
	}
	if b, err := os.ReadFile(flat); err != nil || !bytes.Equal(b, want(2*tcs, testSize, wantLost)) {
		t.Errorf("flat file: %d bytes (%v), want the %d bytes from Start", len(b), err, testSize-2*tcs)
	}
	checkUnchanged(t, dir, before)
}

// TestRun_Salvage_FarStart salvages a dataset whose Start is a TiB in,
// with its middle chunk deleted: the copy keeps the offsets, without
// creating (and deleting) a chunk file for every chunk below Start, which
// took hours at such a Start; the test's deadline is the check.
func TestRun_Salvage_FarStart(t *testing.T) {
	const start = 1 << 40
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: tcs, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("far start "), 3*tcs/10+10)
	if _, err := m.Append(data); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	remove(t, filepath.Join(dir, chunk.Name(start/tcs+1)))
	before := snapshot(t, dir)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCmd(t, "salvage", dir, out)
	if code != exitDamaged {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	wantLost := [][2]int64{{start + tcs, start + 2*tcs}}
	if got := lostRanges(t, stdout); !slices.Equal(got, wantLost) {
		t.Errorf("lost ranges %v, want %v", got, wantLost)
	}
	gotStart, size, got := readDataset(t, out)
	if gotStart != start || size != start+int64(len(data)) {
		t.Errorf("salvaged dataset: start %d, size %d; want %d, %d", gotStart, size, int64(start), start+int64(len(data)))
	}
	clear(data[tcs : 2*tcs])
	if !bytes.Equal(got, data) {
		t.Errorf("salvaged dataset does not hold the original with zeros where lost")
	}
	checkUnchanged(t, dir, before)
}

// TestRun_Salvage_LastChunkNoManifest salvages a dataset in the last chunk
// a dataset can have, its Size the largest there is, after its manifest is
// deleted: the extent then comes from the chunk files, whose end lies one
// byte past the largest Size. Salvage refused it as "too far out", and
// info as of unknown extent, while the chunk below worked. A chunk file
// one further, past every offset, is still refused.
func TestRun_Salvage_LastChunkNoManifest(t *testing.T) {
	const start = math.MaxInt64 / tcs * tcs
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: tcs, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("last chunk "), tcs/11+1)[:tcs-1]
	if _, err := m.WriteAt(data, start); err != nil {
		t.Fatal(err)
	}
	if size := m.Size(); size != math.MaxInt64 {
		t.Fatalf("Size %d after writing the last chunk, want MaxInt64", size)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	remove(t, filepath.Join(dir, chunkmap.ManifestName))
	before := snapshot(t, dir)
	if code, stdout, stderr := runCmd(t, "info", dir); code == exitFail || strings.Contains(stdout+stderr, "unknown") {
		t.Errorf("info: exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCmd(t, "salvage", dir, out)
	if code != exitDamaged { // nothing lost, but Size from the chunk files
		t.Fatalf("salvage: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitDamaged, stdout, stderr)
	}
	if got := lostRanges(t, stdout); len(got) != 0 {
		t.Errorf("lost ranges %v, want none", got)
	}
	gotStart, size, got := readDataset(t, out)
	if gotStart != start || size != math.MaxInt64 || !bytes.Equal(got, data) {
		t.Errorf("salvaged dataset: start %d, size %d, same bytes %v; want %d, %d, true", gotStart, size, bytes.Equal(got, data), int64(start), int64(math.MaxInt64))
	}
	checkUnchanged(t, dir, before)

	// One chunk further lies past every offset there is: its extent stays
	// unknown, and salvage refuses, naming the file, making no OUT.
	past := chunk.Name(start/tcs + 1)
	if err := os.Rename(filepath.Join(dir, chunk.Name(start/tcs)), filepath.Join(dir, past)); err != nil {
		t.Fatal(err)
	}
	before = snapshot(t, dir)
	out = filepath.Join(t.TempDir(), "out")
	code, stdout, stderr = runCmd(t, "salvage", dir, out)
	if code != exitFail || !strings.Contains(stderr, past+" is too far out") {
		t.Errorf("salvage of chunk file %s: exit status %d, want %d naming it too far out\nstdout:\n%s\nstderr:\n%s", past, code, exitFail, stdout, stderr)
	}
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused salvage made %s (lstat: %v)", out, err)
	}
	checkUnchanged(t, dir, before)
}

func TestRun_Salvage_Refuses(t *testing.T) {
	dir := newDataset(t)
	before := snapshot(t, dir)
	nonEmpty := t.TempDir()
	write(t, filepath.Join(nonEmpty, "keep.txt"), "mine")
	other := newDataset(t)
	existing := filepath.Join(t.TempDir(), "flat")
	write(t, existing, "mine")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"OUT holds files", []string{dir, nonEmpty}, "already holds 1 file(s)"},
		{"OUT holds a dataset", []string{dir, other}, "already holds a dataset"},
		{"OUT inside DIR", []string{dir, filepath.Join(dir, "out")}, "lies inside DIR"},
		{"OUT is DIR", []string{dir, dir}, "lies inside DIR"},
		{"flat OUT inside DIR", []string{"-flat", dir, filepath.Join(dir, "out")}, "lies inside DIR"},
		{"flat OUT exists", []string{"-flat", dir, existing}, "already exists"},
		{"no DIR", []string{filepath.Join(t.TempDir(), "none"), filepath.Join(t.TempDir(), "out")}, notExistText(t)},
		{"empty DIR", []string{t.TempDir(), filepath.Join(t.TempDir(), "out")}, "holds no dataset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, append([]string{"salvage"}, tc.args...)...)
			if code != exitFail || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit status %d, stderr %q; want 1 and %q", code, stderr, tc.wantErr)
			}
		})
	}
	checkUnchanged(t, dir, before)
	if b, err := os.ReadFile(filepath.Join(nonEmpty, "keep.txt")); err != nil || string(b) != "mine" {
		t.Errorf("a file in OUT changed: %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(nonEmpty); len(entries) != 1 {
		t.Errorf("OUT that held files now holds %d", len(entries))
	}

	// An empty directory is fine.
	empty := t.TempDir()
	if code, _, stderr := runCmd(t, "salvage", dir, empty); code != exitOK {
		t.Errorf("salvage into an empty directory: exit status %d, stderr %q", code, stderr)
	}
}

// faultyFile fails reads that touch [from, to) of the file with err.
type faultyFile struct {
	chunkFile
	from, to int64
	err      error
}

func (f *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if off < f.to && off+int64(len(p)) > f.from {
		return 0, &fs.PathError{Op: "read", Path: "faulty", Err: f.err}
	}
	return f.chunkFile.ReadAt(p, off)
}

func TestSalvage_ReadErrors(t *testing.T) {
	dir := newDataset(t)
	before := snapshot(t, dir)
	// Chunk 1 has a bad stretch of two sectors (and a third not aligned to
	// a sector boundary), chunk 4 cannot be opened (an I/O error: a file
	// this user may not open is not damage, see
	// TestClixPermissionIsNotDamage).
	open := func(path string) (chunkFile, error) {
		switch filepath.Base(path) {
		case chunk.Name(1):
			f, err := openChunkFile(path)
			if err != nil {
				return nil, err
			}
			return &faultyFile{chunkFile: f, from: 8192, to: 16384 + 100, err: syscall.EIO}, nil
		case chunk.Name(4):
			return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.EIO}
		}
		return openChunkFile(path)
	}
	wantLost := [][2]int64{{tcs + 8192, tcs + 20480}, {4 * tcs, 5 * tcs}}
	for _, flat := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out")
		var stdout, stderr bytes.Buffer
		code := salvage(salvageConfig{dir: dir, out: out, flat: flat, open: open}, &stdout, &stderr)
		if code != exitDamaged {
			t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		}
		if got := lostRanges(t, stdout.String()); !slices.Equal(got, wantLost) {
			t.Errorf("lost ranges %v, want %v\n%s", got, wantLost, stdout.String())
		}
		for _, w := range []string{
			"lost [73728, 86016) (12 KiB): 0000000000000001.chunk cannot be read: input/output error",
			"lost [262144, 327680) (64 KiB): 0000000000000004.chunk cannot be opened: open ",
		} {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("stdout does not contain %q:\n%s", w, stdout.String())
			}
		}
		var got []byte
		if flat {
			var err error
			if got, err = os.ReadFile(out); err != nil {
				t.Fatal(err)
			}
		} else {
			_, _, got = readDataset(t, out)
		}
		if !bytes.Equal(got, want(0, testSize, wantLost)) {
			t.Errorf("flat %v: the copy does not hold the original with zeros where lost", flat)
		}
	}
	checkUnchanged(t, dir, before)
}

// Example output, for a reader of the tests: what salvage prints for a
// dataset with a chunk missing.
func TestRun_Salvage_Output(t *testing.T) {
	dir := newDataset(t)
	remove(t, filepath.Join(dir, chunk.Name(2)))
	out := filepath.Join(t.TempDir(), "out")
	_, stdout, _ := runCmd(t, "salvage", dir, out)
	wantOut := fmt.Sprintf(`salvage %[1]s into %[2]s (a new dataset)
  chunk size 65536 (64 KiB), from the manifest, record A
  start      0, size 328680 (320.98 KiB of data), from the manifest's state page (written during this boot, closed cleanly)
  lost [131072, 196608) (64 KiB): 0000000000000002.chunk is missing
salvage %[1]s: copied 263144 bytes into %[2]s; 65536 bytes lost in 1 range(s), zeros in their place
`, dir, out)
	if stdout != wantOut {
		t.Errorf("salvage printed\n%s\nwant\n%s", stdout, wantOut)
	}
}

// TestRun_Salvage_TooLargeExtentCopiesNothing checks the README's promise
// for a dataset whose extent comes from its chunk files: a stray chunk file
// far from the rest makes the extent too large to copy, and salvage says so
// and copies nothing. It used to copy the chunks before the stray one into
// OUT and only then fail, at the growth to the stray one's offset, leaving
// a partial OUT that a second salvage into the same OUT refuses.
func TestRun_Salvage_TooLargeExtentCopiesNothing(t *testing.T) {
	dir := newDataset(t)
	remove(t, filepath.Join(dir, chunkmap.ManifestName))
	b, err := os.ReadFile(filepath.Join(dir, chunk.Name(1)))
	if err != nil {
		t.Fatal(err)
	}
	const far = 1 << 40 // chunk index: an extent of 64 PiB
	write(t, filepath.Join(dir, chunk.Name(far)), string(b))
	before := snapshot(t, dir)
	for _, flat := range []bool{false, true} {
		t.Run(fmt.Sprintf("flat=%v", flat), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := []string{"salvage", dir, out}
			if flat {
				args = []string{"salvage", "-flat", dir, out}
			}
			code, stdout, stderr := runCmd(t, args...)
			if flat && code == exitDamaged {
				// A file system that holds a sparse file of 64 PiB
				// (tmpfs) takes the copy: no extent is too large there.
				return
			}
			if code != exitFail || !strings.Contains(stderr, "too large to copy") || !strings.Contains(stderr, "nothing was copied") {
				t.Fatalf("exit status %d, want 1 saying the extent is too large to copy and nothing was copied\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
				entries, _ := os.ReadDir(out)
				t.Errorf("OUT %s was left behind (%v, %d entries)", out, err, len(entries))
			}
		})
	}
	// An empty directory given as OUT stays, empty.
	empty := t.TempDir()
	if code, _, stderr := runCmd(t, "salvage", dir, empty); code != exitFail {
		t.Errorf("salvage into an empty directory: exit status %d, stderr %q; want 1", code, stderr)
	}
	if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
		t.Errorf("OUT, an empty directory before, now holds %d entries (%v)", len(entries), err)
	}
	checkUnchanged(t, dir, before)
}

// TestSalvage_FlatPublishedWhole checks that salvage -flat never leaves a
// partial copy under OUT's name, and that the copy it reports is durable:
// OUT does not exist while salvage copies (a kill then would leave a file
// of the full size, zeros where it had not copied yet, that reads like a
// whole salvage), appears only once it is whole and fsync'd, and its
// directory, which names it, is fsync'd after it does.
func TestSalvage_FlatPublishedWhole(t *testing.T) {
	dir := newDataset(t)
	before := snapshot(t, dir)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "out")
	opens, seen := 0, 0
	open := func(path string) (chunkFile, error) {
		opens++
		if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
			seen++
		}
		return openChunkFile(path)
	}
	var synced []string
	syncDir := func(d string) error {
		if _, err := os.Lstat(out); err != nil {
			t.Errorf("directory %s fsync'd before OUT was named: %v", d, err)
		}
		synced = append(synced, d)
		return nil
	}
	var stdout, stderr bytes.Buffer
	code := salvage(salvageConfig{dir: dir, out: out, flat: true, open: open, syncDir: syncDir}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if opens == 0 || seen > 0 {
		t.Errorf("OUT existed at %d of the %d chunk opens of the copy: a kill then leaves a partial copy under its name", seen, opens)
	}
	if !slices.Contains(synced, outDir) {
		t.Errorf("directories fsync'd: %v, want %s, which names OUT", synced, outDir)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want(0, testSize, nil)) {
		t.Errorf("OUT holds %d bytes, not the %d of the dataset", len(got), testSize)
	}
	if entries, err := os.ReadDir(outDir); err != nil || len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("OUT's directory holds %v (%v), want OUT alone: a temporary file was left", names, err)
	}
	checkUnchanged(t, dir, before)
}

// TestSalvage_FlatDirectorySyncFails checks that a flat salvage whose copy
// has OUT's name but whose directory cannot be fsync'd fails saying OUT
// holds the whole copy (a power loss may take it), not that OUT was not
// written, which a rerun, refused for the OUT that exists, would belie.
func TestSalvage_FlatDirectorySyncFails(t *testing.T) {
	dir := newDataset(t)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "out")
	errSync := errors.New("input/output error")
	syncDir := func(string) error { return errSync }
	var stdout, stderr bytes.Buffer
	code := salvage(salvageConfig{dir: dir, out: out, flat: true, syncDir: syncDir}, &stdout, &stderr)
	if code != exitFail {
		t.Fatalf("exit status %d, want %d\nstderr:\n%s", code, exitFail, stderr.String())
	}
	if msg := stderr.String(); !strings.Contains(msg, "input/output error") || !strings.Contains(msg, out+" holds the whole copy") {
		t.Errorf("stderr %q, want the fsync's error and that %s holds the whole copy", msg, out)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want(0, testSize, nil)) {
		t.Errorf("OUT holds %d bytes, not the %d of the dataset", len(got), testSize)
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 1 {
		t.Errorf("OUT's directory holds %d entries, want OUT alone", len(entries))
	}
}

// TestSalvage_FlatOutEndsInSeparator checks that salvage -flat refuses an
// OUT that ends in a separator ("new/"), which names a directory, before it
// copies anything. It used to copy the whole dataset into new.salvage-N.tmp
// beside it and fail only at the end, at the rename to "new/" ('not a
// directory'): for a large dataset, hours of copying and as much space
// again for nothing.
func TestSalvage_FlatOutEndsInSeparator(t *testing.T) {
	dir := newDataset(t)
	top := t.TempDir()
	out := filepath.Join(top, "new") + string(filepath.Separator)
	var stdout, stderr bytes.Buffer
	code := salvage(salvageConfig{dir: dir, out: out, flat: true}, &stdout, &stderr)
	if code != exitFail || stdout.Len() != 0 || !strings.Contains(stderr.String(), "separator") {
		t.Errorf("salvage -flat into %s: exit status %d\n%s%s\nwant 1 before the copy begins, and why", out, code, stdout.String(), stderr.String())
	}
	if got := listDir(t, top); got != "[]" {
		t.Errorf("%s holds %s after the salvage", top, got)
	}
}

// TestSalvage_InPlaceKeepsAnotherMarker checks a salvage in place (OUT
// "."), which finds, when it comes to make its SALVAGE-INCOMPLETE marker,
// one made since checkOut looked, another salvage's into the same OUT:
// salvage must fail and leave that marker, which says the other copy is
// partial until it finishes. It removed it, as if it were its own, and a
// kill of the other salvage then left a partial copy that read as whole.
func TestSalvage_InPlaceKeepsAnotherMarker(t *testing.T) {
	dir := newDataset(t)
	out := t.TempDir()
	t.Chdir(out)
	marker := filepath.Join(out, salvageMarker)
	opened := false
	cfg := salvageConfig{dir: dir, out: ".",
		open: func(path string) (chunkFile, error) {
			if !opened { // checkAccess's, after checkOut
				opened = true
				write(t, marker, "")
			}
			return openChunkFile(path)
		},
	}
	var stdout, stderr bytes.Buffer
	if code := salvage(cfg, &stdout, &stderr); code != exitFail || !strings.Contains(stderr.String(), "created by another program") {
		t.Errorf("exit status %d, %s; want %d and a marker made by another program", code, stderr.String(), exitFail)
	}
	if _, err := os.Lstat(marker); err != nil {
		t.Errorf("the marker another program made: %v", err)
	}
}
