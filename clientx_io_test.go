package chunkmap_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/chunkmap/chunkmap"
)

// clxAppender is the io.Writer a log client writes through: every Write
// is an Append.
type clxAppender struct{ m *chunkmap.Manager }

func (a clxAppender) Write(p []byte) (int, error) {
	if _, err := a.m.Append(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// TestClientxZipThroughAppend writes a zip archive whose entries straddle
// chunk boundaries through Append, and reads it back with zip.NewReader over
// the Manager itself, before and after a reopen, with a tiny mapped window.
func TestClientxZipThroughAppend(t *testing.T) {
	seed := testSeed(t, "CLIENTX_SEED")
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := filepath.Join(t.TempDir(), "zip")
	m := clxOpen(t, dir, &chunkmap.Options{ChunkSize: clxChunk, MaxMapped: 2})
	defer func() { m.Close() }()

	want := map[string][]byte{}
	bw := bufio.NewWriterSize(clxAppender{m}, 1000) // odd-sized appends
	zw := zip.NewWriter(bw)
	for i := range 12 {
		name := fmt.Sprintf("f%02d", i)
		data := make([]byte, rng.IntN(3*clxChunk))
		for j := range data {
			data[j] = byte(rng.IntN(7)) // compressible, but not trivially
		}
		method := zip.Store
		if i%2 == 1 {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		want[name] = data
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		zr, err := zip.NewReader(m, m.Size())
		if err != nil {
			t.Fatalf("%s: zip.NewReader: %v", what, err)
		}
		if len(zr.File) != len(want) {
			t.Fatalf("%s: %d files, want %d", what, len(zr.File), len(want))
		}
		for _, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				t.Fatalf("%s: open %s: %v", what, zf.Name, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s: read %s: %v", what, zf.Name, err)
			}
			if !bytes.Equal(got, want[zf.Name]) {
				t.Fatalf("%s: %s differs", what, zf.Name)
			}
		}
	}
	check("written")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = clxOpen(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1})
	check("reopened read-only")
}

// TestClientxIotestSectionReader runs testing/iotest.TestReader (Read,
// ReadAt, Seek and their EOF rules) over io.SectionReaders of a Manager:
// the whole dataset, a section across chunk boundaries, one that runs past
// Size, and one that starts at Start after DropBefore.
func TestClientxIotestSectionReader(t *testing.T) {
	seed := testSeed(t, "CLIENTX_SEED")
	rng := rand.New(rand.NewPCG(seed, 2))
	dir := t.TempDir()
	m := clxOpen(t, dir, &chunkmap.Options{ChunkSize: clxChunk, MaxMapped: 2})
	defer m.Close()
	data := make([]byte, 5*clxChunk+321)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if _, err := io.Copy(io.NewOffsetWriter(m, 0), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if m.Size() != int64(len(data)) {
		t.Fatalf("Size %d after io.Copy of %d bytes", m.Size(), len(data))
	}
	cases := []struct {
		off, n int64
	}{
		{0, int64(len(data))},
		{clxChunk - 7, 2*clxChunk + 14},
		{3*clxChunk + 5, int64(len(data)) - 3*clxChunk - 5}, // to Size
		{int64(len(data)), 0},                               // empty, at Size
	}
	for _, c := range cases {
		sr := io.NewSectionReader(m, c.off, c.n)
		end := c.off + c.n
		if err := iotest.TestReader(sr, data[c.off:end]); err != nil {
			t.Errorf("section [%d, +%d): %v", c.off, c.n, err)
		}
	}
	if err := m.DropBefore(2*clxChunk + 100); err != nil {
		t.Fatal(err)
	}
	sr := io.NewSectionReader(m, m.Start(), m.Size()-m.Start())
	if err := iotest.TestReader(sr, data[m.Start():]); err != nil {
		t.Errorf("after DropBefore: %v", err)
	}
	// io.Copy out of the whole remaining dataset, through bufio with a
	// buffer that is not a divisor of the chunk size.
	h1 := sha256.New()
	if _, err := io.Copy(h1, bufio.NewReaderSize(io.NewSectionReader(m, m.Start(), 1<<40), 4099)); err != nil {
		t.Fatal(err)
	}
	h2 := sha256.Sum256(data[m.Start():])
	if !bytes.Equal(h1.Sum(nil), h2[:]) {
		t.Fatal("io.Copy out of the dataset differs")
	}
}

// TestClientxBinaryRead decodes a struct that straddles a chunk boundary
// with encoding/binary.Read over a SectionReader, in both byte orders, and
// reads a truncated struct at Size as io.ErrUnexpectedEOF.
func TestClientxBinaryRead(t *testing.T) {
	type rec struct {
		A uint16
		B int64
		C [5]byte
		D float64
		E uint32
	}
	m := clxOpen(t, t.TempDir(), &chunkmap.Options{ChunkSize: clxChunk, MaxMapped: 1})
	defer m.Close()
	in := rec{A: 0xbeef, B: -12345678901, C: [5]byte{1, 2, 3, 4, 5}, D: 3.25, E: 0xdeadbeef}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, off := range []int64{clxChunk - 1, clxChunk - 13, 2*clxChunk - 26, 3 * clxChunk} {
			var buf bytes.Buffer
			if err := binary.Write(&buf, order, in); err != nil {
				t.Fatal(err)
			}
			if err := binary.Write(io.NewOffsetWriter(m, off), order, in); err != nil {
				t.Fatalf("binary.Write at %d: %v", off, err)
			}
			var out rec
			if err := binary.Read(io.NewSectionReader(m, off, int64(buf.Len())), order, &out); err != nil {
				t.Fatalf("binary.Read at %d: %v", off, err)
			}
			if out != in {
				t.Fatalf("%v at %d: read %+v, want %+v", order, off, out, in)
			}
		}
	}
	// A record cut by Size: binary.Read must see a short read.
	size := m.Size()
	if err := m.Truncate(size - 3); err != nil {
		t.Fatal(err)
	}
	var out rec
	err := binary.Read(io.NewSectionReader(m, 3*clxChunk, 1<<20), binary.LittleEndian, &out)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("binary.Read of a record cut by Truncate: %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestClientxELF copies this test binary into a dataset with io.Copy and
// reads it with debug/elf through the Manager: every section must read as
// from the file itself.
func TestClientxELF(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	f, err := os.Open(exe)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		t.Skipf("not ELF: %v", err)
	}
	m := clxOpen(t, t.TempDir(), &chunkmap.Options{ChunkSize: clxChunk, MaxMapped: 3})
	defer m.Close()
	n, err := io.Copy(clxAppender{m}, f)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size() != n {
		t.Fatalf("Size %d after copying %d bytes", m.Size(), n)
	}
	mf, err := elf.NewFile(m)
	if err != nil {
		t.Fatalf("elf.NewFile over the Manager: %v", err)
	}
	if len(mf.Sections) != len(ef.Sections) {
		t.Fatalf("%d sections, want %d", len(mf.Sections), len(ef.Sections))
	}
	for i, s := range ef.Sections {
		if s.Type == elf.SHT_NOBITS {
			continue
		}
		a, err1 := s.Data()
		b, err2 := mf.Sections[i].Data()
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("section %s: %v, %v, equal %v", s.Name, err1, err2, bytes.Equal(a, b))
		}
	}
	syms1, err1 := ef.Symbols()
	syms2, err2 := mf.Symbols()
	if fmt.Sprint(err1) != fmt.Sprint(err2) || len(syms1) != len(syms2) {
		t.Fatalf("symbols: %d, %v; want %d, %v", len(syms2), err2, len(syms1), err1)
	}
}
