//go:build linux

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/testseed"
)

// TestSalvage_RandomDamageModel builds datasets of random content, damages
// their chunk files at random (missing, cut short, grown, replaced by a
// directory, a FIFO or a symlink), salvages them, and compares OUT byte for
// byte, the lost ranges listed and the exit status with what the damage
// leaves readable: a byte is readable where its chunk file is a regular
// file that reaches it. On the way it checks that verify reports one
// problem per fault (a run of missing chunks is one), that raw cat writes
// exactly the bytes before the first lost one, and that none of them
// changes DIR.
func TestSalvage_RandomDamageModel(t *testing.T) {
	seed := testseed.Get(t, "CHUNKMAP_SALVAGE_SEED")
	rng := rand.New(rand.NewPCG(seed, seed^0x5a1c))
	const cs = testChunk
	for round := range 12 {
		tmp := t.TempDir()
		dir := filepath.Join(tmp, "ds")
		firstChunk := rng.Int64N(3)
		start := firstChunk * cs
		size := start + 1 + rng.Int64N(6*cs)
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, Start: start})
		must(t, err)
		content := make([]byte, size-start)
		for i := range content {
			if rng.IntN(4) != 0 {
				content[i] = byte(rng.Uint32())
			}
		}
		_, err = m.WriteAt(content, start)
		must(t, err)
		must(t, m.Close())

		end := chunksFor(size, cs)
		readable := make([]bool, size-start)
		for i := range readable {
			readable[i] = true
		}
		lose := func(i, from int64) { // chunk i loses its bytes from offset from within it
			for off := max(start, i*cs+from); off < min(size, (i+1)*cs); off++ {
				readable[off-start] = false
			}
		}
		var what []string
		faults, prevMissing := 0, false // verify's problems: a run of missing chunks is one
		for i := firstChunk; i < end; i++ {
			missing := false
			path := filepath.Join(dir, chunk.Name(i))
			switch k := rng.IntN(10); k {
			case 0:
				remove(t, path)
				lose(i, 0)
				what = append(what, fmt.Sprintf("%d missing", i))
				missing = true
				if !prevMissing {
					faults++
				}
			case 1, 2:
				n := rng.Int64N(cs)
				truncateChunk(t, dir, i, n)
				lose(i, n)
				what = append(what, fmt.Sprintf("%d cut to %d", i, n))
				faults++
			case 3:
				must(t, os.Truncate(path, cs+1+rng.Int64N(cs)))
				what = append(what, fmt.Sprintf("%d grown", i))
				faults++
			case 4:
				remove(t, path)
				mkdir(t, path)
				lose(i, 0)
				what = append(what, fmt.Sprintf("%d directory", i))
				faults++
			case 5:
				remove(t, path)
				must(t, mkfifo(path))
				lose(i, 0)
				what = append(what, fmt.Sprintf("%d fifo", i))
				faults++
			case 6:
				good := filepath.Join(tmp, fmt.Sprintf("copy%d", i))
				must(t, os.Rename(path, good))
				must(t, os.Symlink(good, path))
				lose(i, 0)
				what = append(what, fmt.Sprintf("%d symlink", i))
				faults++
			}
			prevMissing = missing
		}
		// Files that hold nothing of the dataset.
		switch rng.IntN(4) {
		case 0:
			write(t, filepath.Join(dir, chunk.Name(end+rng.Int64N(3))), "past")
		case 1:
			mkdir(t, filepath.Join(dir, chunk.Name(end+rng.Int64N(3))))
			faults++
		case 2:
			if firstChunk > 0 {
				write(t, filepath.Join(dir, chunk.Name(rng.Int64N(firstChunk))), "below")
			}
		}
		write(t, filepath.Join(dir, "notes.txt"), "x")

		wantOut := bytes.Clone(content)
		var wantLost [][2]int64
		for i, ok := range readable {
			if ok {
				continue
			}
			wantOut[i] = 0
			off := start + int64(i)
			if n := len(wantLost); n > 0 && wantLost[n-1][1] == off {
				wantLost[n-1][1]++
			} else {
				wantLost = append(wantLost, [2]int64{off, off + 1})
			}
		}
		wantCode := exitOK
		if len(wantLost) > 0 {
			wantCode = exitDamaged
		}

		ctx := fmt.Sprintf("round %d, start %d, size %d, damage %v", round, start, size, what)
		before := snapshot(t, dir)
		code, stdout, stderr := clixRun(t, "verify", dir)
		if n := strings.Count(stdout, "  problem: "); n != faults || (code == exitOK) != (faults == 0) {
			t.Fatalf("%s: verify: exit %d, %d problems, want %d\nstdout:\n%s\nstderr:\n%s", ctx, code, n, faults, stdout, stderr)
		}
		// Raw cat stops at the first lost byte, and fails if there is one.
		code, stdout, stderr = clixRun(t, "cat", dir)
		upTo := len(content)
		if len(wantLost) > 0 {
			upTo = int(wantLost[0][0] - start)
		}
		if (code == exitOK) != (len(wantLost) == 0) || stdout != string(content[:upTo]) {
			t.Fatalf("%s: cat: exit %d, %d bytes (equal to the first %d readable: %v)\nstderr:\n%s",
				ctx, code, len(stdout), upTo, stdout == string(content[:upTo]), stderr)
		}
		checkUnchanged(t, dir, before)

		for _, flat := range []bool{false, true} {
			before := snapshot(t, dir)
			out := filepath.Join(tmp, fmt.Sprintf("out-%v", flat))
			args := []string{"salvage", dir, out}
			if flat {
				args = []string{"salvage", "-flat", dir, out}
			}
			code, stdout, stderr := clixRun(t, args...)
			ctx := fmt.Sprintf("%s, flat %v", ctx, flat)
			if code != wantCode {
				t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", ctx, code, wantCode, stdout, stderr)
			}
			checkUnchanged(t, dir, before)
			if got := mergeRanges(lostRanges(t, stdout)); fmt.Sprint(got) != fmt.Sprint(wantLost) {
				t.Fatalf("%s: lost ranges %v, want %v\nstdout:\n%s", ctx, got, wantLost, stdout)
			}
			var got []byte
			if flat {
				got, err = os.ReadFile(out)
				must(t, err)
			} else {
				var gs, gz int64
				gs, gz, got = readDataset(t, out)
				if gs != start || gz != size {
					t.Fatalf("%s: OUT has [%d, %d), want [%d, %d)", ctx, gs, gz, start, size)
				}
			}
			if !bytes.Equal(got, wantOut) {
				t.Fatalf("%s: OUT differs from the readable bytes (first at %s)", ctx, firstDiffAt(got, wantOut, start))
			}
		}
	}
}

// mergeRanges joins adjacent ranges of a sorted list: salvage lists the
// losses of two causes that meet as two ranges.
func mergeRanges(rs [][2]int64) [][2]int64 {
	var out [][2]int64
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1][1] == r[0] {
			out[n-1][1] = r[1]
			continue
		}
		out = append(out, r)
	}
	return out
}

// firstDiffAt says where got and want first differ, as a dataset offset
// (base is the offset of their first byte).
func firstDiffAt(got, want []byte, base int64) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("offset %d: %#x, want %#x", base+int64(i), got[i], want[i])
		}
	}
	return fmt.Sprintf("the lengths: %d, want %d", len(got), len(want))
}
