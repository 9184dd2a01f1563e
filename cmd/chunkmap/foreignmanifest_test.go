package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestForeignManifest copies another dataset's MANIFEST, valid but
// recording another chunk size, over a dataset's own: one fault. verify
// must report it as one problem, not one per chunk file (each then looks
// cut short, or too long with its tail "not part of the dataset"), and
// salvage and cat must take the chunk files at their own size: with the
// manifest's, salvage put each chunk's bytes at the wrong offsets (a
// larger size), or dropped the second half of every chunk and reported
// nothing lost (a smaller one).
func TestForeignManifest(t *testing.T) {
	tests := []struct {
		name    string
		foreign int64 // the other dataset's chunk size
	}{
		{"larger chunk size", 2 * testChunk},
		{"smaller chunk size", testChunk},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The dataset has chunks of twice the foreign size where the
			// foreign one is smaller, so both directions are tried.
			cs := int64(testChunk)
			if tc.foreign == testChunk {
				cs = 2 * testChunk
			}
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 3*cs)
			for i := range want {
				want[i] = pattern(int64(i))
			}
			if _, err := m.WriteAt(want, 0); err != nil {
				t.Fatal(err)
			}
			must(t, m.Close())
			other := filepath.Join(t.TempDir(), "other")
			o, err := chunkmap.Open(other, &chunkmap.Options{ChunkSize: tc.foreign})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := o.WriteAt([]byte("x"), 100); err != nil {
				t.Fatal(err)
			}
			must(t, o.Close())
			mf, err := os.ReadFile(filepath.Join(other, chunkmap.ManifestName))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, chunkmap.ManifestName), mf, 0o644))
			before := snapshot(t, dir)

			code, out, errOut := runCmd(t, "verify", dir)
			if n := len(problemLine.FindAllString(out, -1)); code != exitFail || n != 1 || !strings.Contains(out, "MANIFEST") {
				t.Errorf("verify: exit %d, %d problems, want 1 naming the manifest:\n%s%s", code, n, out, errOut)
			}
			if strings.Contains(out, "lie past Size") {
				t.Errorf("verify calls chunk files that hold the data spare:\n%s", out)
			}

			code, out, errOut = runCmd(t, "cat", dir)
			if code != exitOK || !bytes.Equal([]byte(out), want) {
				t.Errorf("cat: exit %d, %d bytes, want %d bytes of the chunk files; stderr:\n%s", code, len(out), len(want), errOut)
			}

			flat := filepath.Join(t.TempDir(), "flat")
			code, out, errOut = runCmd(t, "salvage", "-flat", dir, flat)
			got, err := os.ReadFile(flat)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("salvage -flat: exit %d, %d bytes (%v), want the %d bytes of the chunk files as they are:\n%s%s", code, len(got), err, len(want), out, errOut)
			}
			checkUnchanged(t, dir, before)
		})
	}
}

// TestForeignManifest_OneChunkCutOrGrown checks the other side of
// TestForeignManifest: the only chunk file of a dataset cut short, or
// grown, to another chunk size by another program is a fault of that
// chunk file, which verify names, not of the manifest, whose record is
// the dataset's own.
func TestForeignManifest_OneChunkCutOrGrown(t *testing.T) {
	for _, size := range []int64{testChunk / 2, 2 * testChunk} {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt([]byte("data"), 100); err != nil {
				t.Fatal(err)
			}
			must(t, m.Close())
			truncateChunk(t, dir, 0, size)
			code, out, errOut := runCmd(t, "verify", dir)
			if n := len(problemLine.FindAllString(out, -1)); code != exitFail || n != 1 || !strings.Contains(out, "problem: 0000000000000000.chunk has "+strconv.FormatInt(size, 10)+" bytes") {
				t.Errorf("verify: exit %d, %d problems, want 1 naming the chunk file:\n%s%s", code, n, out, errOut)
			}
		})
	}
}
