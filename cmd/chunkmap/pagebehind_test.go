package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// The state page's Start and Size, and its clean flag, in a version 2
// manifest (statePage in the root package's manifest.go: the page at 2048,
// its 8-byte magic, 48-byte boot ID and 8-byte epoch first).
const (
	pageStartOff = 2048 + 8 + 48 + 8
	pageSizeOff  = pageStartOff + 8
	pageCleanOff = pageSizeOff + 8
)

// TestPageBehindRecord writes over the state page of a dataset of this
// boot so that it says less than the manifest's newest record: a Size
// that needs fewer chunks, or a Start past the record's first chunk. No
// writer leaves that (a Truncate lowers the record before the page, a
// DropBefore raises it first), so a read-write Open takes the page for
// one another program wrote over and follows the record. The tools took
// the page: verify said OK and called the chunk files outside its extent
// spare, ones "the next read-write Open deletes" (it keeps them), and
// salvage copied the page's extent only, reporting nothing lost, and left
// synced chunks behind. They must follow the record as Open does, and
// verify must report the page as one problem.
func TestPageBehindRecord(t *testing.T) {
	tests := []struct {
		name        string
		start, size int64
	}{
		{"Size below the record's chunks", 0, testChunk},
		{"Start past the record's first chunk", 3 * testChunk, testSize},
	}
	for _, tc := range tests {
		for _, clean := range []uint32{0, 1} {
			t.Run(tc.name+map[uint32]string{0: "/crashed", 1: "/closed"}[clean], func(t *testing.T) {
				dir := newDataset(t)
				f, err := os.OpenFile(filepath.Join(dir, chunkmap.ManifestName), os.O_WRONLY, 0)
				must(t, err)
				var b [8]byte
				binary.LittleEndian.PutUint64(b[:], uint64(tc.start))
				_, err = f.WriteAt(b[:], pageStartOff)
				must(t, err)
				binary.LittleEndian.PutUint64(b[:], uint64(tc.size))
				_, err = f.WriteAt(b[:], pageSizeOff)
				must(t, err)
				binary.LittleEndian.PutUint32(b[:], clean)
				_, err = f.WriteAt(b[:4], pageCleanOff)
				must(t, err)
				must(t, f.Close())
				before := snapshot(t, dir)

				out := verifyOneProblem(t, dir, "state page")
				if strings.Contains(out, "Open deletes") {
					t.Errorf("verify says Open deletes chunk files the record needs:\n%s", out)
				}

				want := make([]byte, testSize)
				for i := range want {
					want[i] = pattern(int64(i))
				}
				flat := filepath.Join(t.TempDir(), "flat")
				code, out, errOut := runCmd(t, "salvage", "-flat", dir, flat)
				got, err := os.ReadFile(flat)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("salvage -flat: exit %d, %d bytes (%v), want the record's %d:\n%s%s", code, len(got), err, len(want), out, errOut)
				}
				checkUnchanged(t, dir, before)

				// What a read-write Open makes of it, which the tools follow.
				m, err := chunkmap.Open(dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				if m.Start() != 0 || m.Size() != testSize {
					t.Errorf("Open: Start %d, Size %d; want the record's 0, %d", m.Start(), m.Size(), int64(testSize))
				}
				must(t, m.Close())
			})
		}
	}
}

// TestPageBehindRecord_InfoAndCat is TestPageBehindRecord for info and
// cat, which read through a read-only Open, and that follows the page: info
// described the page's extent as the dataset's, with status 0 and no word
// of the record, and cat printed the page's extent as all there is, with
// status 0, though a read-write Open (and salvage) takes the record's and
// verify reports the page as a problem. info must name the page as damage
// (status 3), and cat a range the page cuts short (status 1); a range
// within the page's extent is whole.
func TestPageBehindRecord_InfoAndCat(t *testing.T) {
	tests := []struct {
		name        string
		start, size int64
	}{
		{"Size below the record's chunks", 0, testChunk},
		{"Start past the record's first chunk", 3 * testChunk, testSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDataset(t)
			f, err := os.OpenFile(filepath.Join(dir, chunkmap.ManifestName), os.O_WRONLY, 0)
			must(t, err)
			var b [16]byte
			binary.LittleEndian.PutUint64(b[:], uint64(tc.start))
			binary.LittleEndian.PutUint64(b[8:], uint64(tc.size))
			_, err = f.WriteAt(b[:], pageStartOff)
			must(t, err)
			must(t, f.Close())

			if code, out, errOut := runCmd(t, "info", dir); code != exitDamaged || !strings.Contains(out+errOut, "state page") {
				t.Errorf("info: exit status %d, want %d and the state page named\n%s%s", code, exitDamaged, out, errOut)
			}
			if code, _, errOut := runCmd(t, "cat", dir); code != exitFail || !strings.Contains(errOut, "state page") || !strings.Contains(errOut, "chunkmap verify") {
				t.Errorf("cat: exit status %d, want %d, the state page named and what to run\n%s", code, exitFail, errOut)
			}
			off := strconv.FormatInt(tc.start, 10)
			if code, out, errOut := runCmd(t, "cat", dir, "-off", off, "-n", "10"); code != exitOK || len(out) != 10 {
				t.Errorf("cat -off %s -n 10, within the page's extent: exit status %d, %d bytes, want %d and 10\n%s", off, code, len(out), exitOK, errOut)
			}
			// To the end: whole where the page keeps the record's Size.
			wantCode := exitOK
			if tc.size < testSize {
				wantCode = exitFail
			}
			if code, _, errOut := runCmd(t, "cat", dir, "-off", off); code != wantCode {
				t.Errorf("cat -off %s, to the page's Size %d (the record's %d): exit status %d, want %d\n%s", off, tc.size, int64(testSize), code, wantCode, errOut)
			}
		})
	}
}
