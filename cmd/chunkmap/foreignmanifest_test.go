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
// recording another chunk size or an extent that holds none of the chunk
// files, over a dataset's own: one fault. verify must report it as one
// problem, not one per chunk file (each then looks cut short, or too long
// with its tail "not part of the dataset"), and salvage and cat must take
// the chunk files as they are: with the manifest's chunk size, salvage put
// each chunk's bytes at the wrong offsets (a larger size), or dropped all
// but the first chunk and reported nothing lost (a smaller one); with its
// extent, it copied zeros and left every chunk file behind.
func TestForeignManifest(t *testing.T) {
	tests := []struct {
		name         string
		cs           int64 // the dataset's chunk size
		foreign      int64 // the other dataset's
		foreignStart int64 // and its Start
	}{
		{"larger chunk size", testChunk, 2 * testChunk, 0},
		{"smaller chunk size", 2 * testChunk, testChunk, 0},
		{"same chunk size, extent past the chunk files", testChunk, testChunk, 10 * testChunk},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := tc.cs
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
			o, err := chunkmap.Open(other, &chunkmap.Options{ChunkSize: tc.foreign, Start: tc.foreignStart})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := o.WriteAt([]byte("x"), tc.foreignStart+100); err != nil {
				t.Fatal(err)
			}
			must(t, o.Close())
			mf, err := os.ReadFile(filepath.Join(other, chunkmap.ManifestName))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, chunkmap.ManifestName), mf, 0o644))
			before := snapshot(t, dir)

			out := verifyOneProblem(t, dir, "MANIFEST")
			if strings.Contains(out, "lie past Size") {
				t.Errorf("verify calls chunk files that hold the data spare:\n%s", out)
			}

			code, out, errOut := runCmd(t, "cat", dir)
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
			m := openWith4Bytes(t, dir, 100)
			must(t, m.Close())
			truncateChunk(t, dir, 0, size)
			verifyOneProblem(t, dir, "problem: 0000000000000000.chunk has "+strconv.FormatInt(size, 10)+" bytes")
		})
	}
}

// TestForeignManifest_OnlySpareChunksLeft deletes the one chunk file a
// dataset needs, beside a spare one a Grow made past Size: one fault of
// that chunk file, which verify names, not of the manifest.
func TestForeignManifest_OnlySpareChunksLeft(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	m := openWith4Bytes(t, dir, 100)
	// Closed first if the test is skipped, so TempDir's cleanup can delete
	// the files on Windows; the test's own Close comes first otherwise.
	t.Cleanup(func() { m.Close() })
	must(t, m.Grow(testChunk))
	must(t, m.Sync())
	remove(t, filepath.Join(dir, "0000000000000000.chunk"))
	verifyOneProblem(t, dir, "problem: 0000000000000000.chunk is missing")
	must(t, m.Close())
}

// TestForeignManifest_JunkBelowStart deletes the one chunk file a dataset
// needs after a DropBefore and puts a few bytes under the name of a chunk
// below Start: one fault of the missing chunk file, which verify names.
// Junk under a chunk's name is no chunk another dataset wrote, and does not
// make the manifest another dataset's.
func TestForeignManifest_JunkBelowStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	m := openWith4Bytes(t, dir, testChunk+100)
	must(t, m.DropBefore(testChunk))
	must(t, m.Close())
	remove(t, filepath.Join(dir, "0000000000000001.chunk"))
	write(t, filepath.Join(dir, "0000000000000000.chunk"), "below")
	verifyOneProblem(t, dir, "problem: 0000000000000001.chunk is missing")
}

// openWith4Bytes opens a new dataset of testChunk chunks in dir and writes
// "data" at off.
func openWith4Bytes(t *testing.T, dir string, off int64) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("data"), off); err != nil {
		t.Fatal(err)
	}
	return m
}
