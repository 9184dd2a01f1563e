package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// countedFile is a chunk file that counts the bytes read from it.
type countedFile struct {
	vfs.File
	read *atomic.Int64
}

func (f countedFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.read.Add(int64(n))
	return n, err
}

// sparseDataset makes a dataset of 64 chunks of 1 MiB that is holes but
// for a few bytes, and returns its directory and bytes.
func sparseDataset(t *testing.T) (string, []byte) {
	t.Helper()
	const cs = 1 << 20
	dir := filepath.Join(t.TempDir(), "sparse")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 64*cs)
	for _, w := range []struct {
		off int64
		p   string
	}{{3*cs + 100, "chunk three"}, {40*cs - 5, "across 39 and 40"}, {64*cs - 4, "end!"}} {
		if _, err := m.WriteAt([]byte(w.p), w.off); err != nil {
			t.Fatal(err)
		}
		copy(want[w.off:], w.p)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, chunk.Name(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !holesFile(f) {
		t.Skip("holes are not looked for on this file system")
	}
	if d, _, ok := dataSpan(f, 0, cs); !ok || d != cs {
		t.Skipf("the file system does not tell where holes are (dataSpan of an empty chunk: %d, %v)", d, ok)
	}
	dropCached(t, dir)
	return dir, want
}

// sparseRead bounds what a read that passes over holes may read of
// sparseDataset's: the five pages written (one write spans two chunks),
// and a margin. Blocks allocated ahead of the writes, a whole chunk each
// here, read as zeros, and were all read while readahead on the chunk
// file made them cached "data" ahead of each look.
const sparseRead = 64 << 10

// TestChunkReader_PassesOverHoles checks that a read that takes holes
// (salvage's, verify -read's) reads only the chunk files' data (see
// sparseRead) of a dataset of 64 MiB, which it read whole, and that the
// data and holes it reports cover the extent in order, the data with the
// bytes written.
func TestChunkReader_PassesOverHoles(t *testing.T) {
	dir, want := sparseDataset(t)
	s, err := surveyWide(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := newChunkReader(s)
	var read atomic.Int64
	r.open = func(path string) (chunkFile, error) {
		f, err := vfs.OS.OpenFile(path, os.O_RDONLY, 0)
		if err != nil {
			return nil, err
		}
		return countedFile{File: f, read: &read}, nil
	}
	got := make([]byte, len(want))
	next, holes := s.start, int64(0)
	r.hole = func(off, n int64) error {
		if off != next {
			t.Fatalf("hole at %d, want the next range at %d", off, next)
		}
		next, holes = off+n, holes+n
		return nil
	}
	err = r.read(s.start, s.size, func(off int64, p []byte) error {
		if off != next {
			t.Fatalf("data at %d, want the next range at %d", off, next)
		}
		copy(got[off:], p)
		next = off + int64(len(p))
		return nil
	}, func(l lostRange) {
		t.Errorf("lost [%d, %d): %s", l.from, l.to, l.describe())
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if next != s.size {
		t.Fatalf("the ranges reported end at %d, want %d", next, s.size)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes read differ from those written")
	}
	if n := read.Load(); n > sparseRead || holes < s.size-sparseRead {
		t.Errorf("read %d bytes and passed over %d of %d: the holes were read", n, holes, s.size)
	}
}

// TestSalvage_Sparse checks that salvage copies a sparse dataset exactly,
// into a dataset and into a flat file, reading only its data (see
// sparseRead).
func TestSalvage_Sparse(t *testing.T) {
	dir, want := sparseDataset(t)
	for _, flat := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out")
		var read atomic.Int64
		cfg := salvageConfig{dir: dir, out: out, flat: flat, open: func(path string) (chunkFile, error) {
			f, err := vfs.OS.OpenFile(path, os.O_RDONLY, 0)
			if err != nil {
				return nil, err
			}
			return countedFile{File: f, read: &read}, nil
		}}
		var stdout, stderr bytes.Buffer
		if code := salvage(cfg, &stdout, &stderr); code != exitOK {
			t.Fatalf("flat=%v: exit status %d\n%s%s", flat, code, stdout.String(), stderr.String())
		}
		if n := read.Load(); n > sparseRead {
			t.Errorf("flat=%v: salvage read %d bytes of a dataset of %d written in three places", flat, n, len(want))
		}
		var got []byte
		if flat {
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got = b
		} else {
			m, err := chunkmap.Open(out, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			got = make([]byte, m.Size())
			if _, err := m.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			m.Close()
		}
		if !bytes.Equal(got, want) {
			t.Errorf("flat=%v: the copy differs from the dataset (%d bytes, want %d)", flat, len(got), len(want))
		}
	}
}

// TestVerifyRead_Sparse checks that verify -read of a sparse dataset
// reports the bytes it read and those it passed over in holes, which
// together are the extent.
func TestVerifyRead_Sparse(t *testing.T) {
	dir, want := sparseDataset(t)
	var out, errOut bytes.Buffer
	code := run([]string{"verify", "-read", dir}, &out, &errOut)
	stdout := out.String()
	if code != exitOK {
		t.Fatalf("exit status %d\n%s%s", code, stdout, errOut.String())
	}
	var read, holes int64
	i := strings.Index(stdout, "  read ")
	if i < 0 {
		t.Fatalf("no count of bytes read:\n%s", stdout)
	}
	if _, err := fmt.Sscanf(stdout[i:], "  read %d bytes without error, and passed over %d in holes", &read, &holes); err != nil {
		t.Fatalf("%v in:\n%s", err, stdout)
	}
	if read+holes != int64(len(want)) || read > sparseRead {
		t.Errorf("read %d bytes and passed over %d in holes, of %d (five pages written)", read, holes, len(want))
	}
}

// TestChunkReader_HolesAtTheTop checks that the hole of the last chunk
// below MaxInt64 is passed over too: the chunk's end in dataset offsets
// overflows int64, and offsets that added it wrapped around, so that the
// hole was read.
func TestChunkReader_HolesAtTheTop(t *testing.T) {
	const cs = 64 << 10
	start := int64(math.MaxInt64) / cs * cs
	dir := filepath.Join(t.TempDir(), "top")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("the top!!"), start); err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, chunk.Name(start/cs)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !holesFile(f) {
		t.Skip("holes are not looked for on this file system")
	}
	dropCached(t, dir)
	s, err := surveyWide(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := newChunkReader(s)
	var read, holes int64
	r.hole = func(_, n int64) error {
		holes += n
		return nil
	}
	var got []byte
	err = r.read(s.start, s.size, func(off int64, p []byte) error {
		if off == start {
			got = append(got, p[:min(len(p), 9)]...)
		}
		read += int64(len(p))
		return nil
	}, func(l lostRange) {
		t.Errorf("lost [%d, %d): %s", l.from, l.to, l.describe())
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "the top!!" || read+holes != s.size-s.start || read > 16<<10 {
		t.Errorf("read %q at Start, %d bytes in all, and passed over %d in holes, of %d", got, read, holes, s.size-s.start)
	}
}
