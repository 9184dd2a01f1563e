//go:build linux

package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// clixHexdump runs the real hexdump -C (with -v if all) on [off, off+n) of
// file (n < 0: to the end), or skips the test if there is none.
func clixHexdump(t *testing.T, file string, off, n int64, all bool) string {
	t.Helper()
	path, err := exec.LookPath("hexdump")
	if err != nil {
		t.Skip("no hexdump (apt-get install bsdextrautils)")
	}
	args := []string{"-C", "-s", strconv.FormatInt(off, 10)}
	if n >= 0 {
		args = append(args, "-n", strconv.FormatInt(n, 10))
	}
	if all {
		args = append(args, "-v")
	}
	out, err := exec.Command(path, append(args, file)...).Output()
	if err != nil {
		t.Fatalf("hexdump %q: %v", args, err)
	}
	return string(out)
}

// clixShortOffsets rewrites cat -hex's 16-digit offsets as hexdump's 8:
// a line that begins with 8 zeros and 8 more hex digits loses the zeros.
// (A loop, not a regular expression: the outputs run to megabytes, and
// under the race detector the expression took seconds.)
func clixShortOffsets(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for line := range strings.SplitAfterSeq(s, "\n") {
		if len(line) >= 16 && line[:8] == "00000000" && isLowerHex(line[8:16]) {
			line = line[8:]
		}
		b.WriteString(line)
	}
	return b.String()
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// clixDataset builds a dataset of 64 KiB chunks holding b from offset 0,
// and returns its directory and a flat copy of b.
func clixDataset(t *testing.T, b []byte) (dir, flat string) {
	t.Helper()
	tmp := t.TempDir()
	dir, flat = filepath.Join(tmp, "ds"), filepath.Join(tmp, "flat")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk, MaxMapped: 2})
	must(t, err)
	_, err = m.WriteAt(b, 0)
	must(t, err)
	must(t, m.Close())
	must(t, os.WriteFile(flat, b, 0o644))
	return dir, flat
}

// clixRuns returns n bytes made of runs: zeros, repeated bytes, random
// bytes, and whole repeated 16-byte lines, some of them across a 1 MiB
// boundary (cat's read block) and a chunk boundary.
func clixRuns(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b []byte
	for len(b) < n {
		switch r.IntN(4) {
		case 0:
			b = append(b, make([]byte, r.IntN(300))...)
		case 1:
			b = append(b, bytes.Repeat([]byte{byte(r.IntN(256))}, r.IntN(80))...)
		case 2:
			for range r.IntN(40) {
				b = append(b, byte(r.IntN(256)))
			}
		case 3:
			line := make([]byte, 16)
			for i := range line {
				line[i] = byte(r.IntN(256))
			}
			b = append(b, bytes.Repeat(line, 1+r.IntN(5))...)
		}
	}
	return b[:n]
}

// TestClixCatHex_MatchesHexdump compares cat -hex and cat -hex -all byte
// for byte with hexdump -C and hexdump -C -v on the same bytes (offsets
// shortened to hexdump's 8 digits), on ranges that start and end inside
// lines, cross cat's 1 MiB read blocks and chunk boundaries, and end in a
// squeezed run; for a healthy dataset and for one whose manifest records
// are garbled (cat then reads the chunk files itself).
func TestClixCatHex_MatchesHexdump(t *testing.T) {
	const size = 1<<20 + 3*testChunk + 77
	b := clixRuns(7, size)
	copy(b[1<<20-4000:], make([]byte, 9000))                         // zeros across the 1 MiB block
	copy(b[size-500:], bytes.Repeat([]byte("0123456789abcdef"), 40)) // ends in repeats
	dir, flat := clixDataset(t, b)
	damaged, _ := clixDataset(t, b)
	garbleRecords(t, damaged)
	ranges := [][2]int64{
		{3, -1}, {5, 100}, {7, 33}, {16, 16}, {1<<20 - 4100, 9300},
		{testChunk - 20, 40}, {size - 600, -1}, {size - 3, 3}, {size - 17, -1}, {1, 1},
	}
	for _, d := range []struct{ name, dir string }{{"healthy", dir}, {"garbled manifest", damaged}} {
		for _, all := range []bool{false, true} {
			for _, rg := range ranges {
				args := []string{"cat", "-hex", "-off", strconv.FormatInt(rg[0], 10), d.dir}
				if rg[1] >= 0 {
					args = append(args, "-n", strconv.FormatInt(rg[1], 10))
				}
				if all {
					args = append(args, "-all")
				}
				code, out, errOut := clixRun(t, args...)
				if code != exitOK {
					t.Errorf("%s %q: exit status %d, stderr %q", d.name, args[1:], code, errOut)
					continue
				}
				if got, want := clixShortOffsets(out), clixHexdump(t, flat, rg[0], rg[1], all); got != want {
					t.Errorf("%s %q differs from hexdump -C%s:\n%s", d.name, args[1:], map[bool]string{true: " -v"}[all], clixFirstDiff(got, want))
				}
			}
		}
	}
}

// TestClixCatHex_EmptyRangeAtEnd: hexdump -C -s N on a file of N bytes (N
// > 0) prints the line with the end offset; cat -hex -off SIZE prints
// nothing.
func TestClixCatHex_EmptyRangeAtEnd(t *testing.T) {
	b := clixRuns(3, 1000)
	dir, flat := clixDataset(t, b)
	code, out, errOut := clixRun(t, "cat", "-hex", "-off", "1000", dir)
	if code != exitOK {
		t.Fatalf("exit status %d, stderr %q", code, errOut)
	}
	if got, want := clixShortOffsets(out), clixHexdump(t, flat, 1000, -1, false); got != want {
		t.Errorf("cat -hex -off 1000 (= Size) = %q, hexdump -C -s 1000 = %q", got, want)
	}
}

// clixFirstDiff shows the first line where got and want differ.
func clixFirstDiff(got, want string) string {
	g, w := bytes.Split([]byte(got), []byte("\n")), bytes.Split([]byte(want), []byte("\n"))
	for i := range max(len(g), len(w)) {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return "line " + strconv.Itoa(i+1) + ":\n got  " + string(gl) + "\n want " + string(wl)
		}
	}
	return "(equal lines; lengths differ)"
}
