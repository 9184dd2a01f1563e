package chunkmap_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
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

// clxFile is what TestClientxStdlibWritersMatchOSFile drives on both a
// Manager and an os.File.
type clxFile interface {
	io.ReaderAt
	io.WriterAt
	Truncate(int64) error
}

// TestClientxStdlibWritersMatchOSFile runs standard-library writers and
// readers on a Manager and on an os.File side by side, with the same calls,
// and compares every byte: a zip archive of entries straddling chunks
// written through bufio over io.NewOffsetWriter at an odd base
// (zip.Writer.SetOffset), a Truncate into its tail and back up (the bytes
// cut read as zeros), io.Copy from a section of the file to another place
// in it, binary.Write and a gzip stream through bufio, and a PNG image;
// then reads them back with zip.NewReader, binary.Read, gzip and png over
// section readers of the Manager, and runs iotest.TestReader over it,
// after DropBefore, and through a ReadOnly Manager after Close. (Not
// archive/tar: it imports os/user, which links cgo into the test binary,
// whose threads then get 8 MiB pthread stacks, and the children of
// TestAddrLimit_ManyManagers run out of address space creating them.)
func TestClientxStdlibWritersMatchOSFile(t *testing.T) {
	seed := testSeed(t, "CLIENTX_SEED")
	rounds := uint64(3)
	if raceEnabled {
		rounds = 1
	}
	for round := range rounds {
		rs := seed + round
		t.Run(fmt.Sprint("seed", rs), func(t *testing.T) { clxStdlibRound(t, rs) })
		if t.Failed() {
			return
		}
	}
}

func clxStdlibRound(t *testing.T, seed uint64) {
	const cs = clxChunk
	rng := rand.New(rand.NewPCG(seed, 1))
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ds")
	m := clxOpen(t, dir, &chunkmap.Options{
		ChunkSize:   cs,
		MaxMapped:   1 + rng.IntN(3),
		NoAdmission: rng.IntN(2) == 0,
		Advice:      chunkmap.Advice(rng.IntN(3)),
		ArenaSize:   int64(rng.IntN(2)) * 4 * cs,
	})
	defer func() { m.Close() }()
	f, err := os.Create(filepath.Join(tmp, "oracle"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fsize := func() int64 {
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	both := []clxFile{m, f}
	same := func(what string) {
		t.Helper()
		if m.Size() != fsize() {
			t.Fatalf("%s: Size %d, os.File %d bytes", what, m.Size(), fsize())
		}
		got, want := make([]byte, fsize()), make([]byte, fsize())
		if n, err := m.ReadAt(got, 0); n != len(got) || err != nil {
			t.Fatalf("%s: ReadAt of the whole file = %d, %v", what, n, err)
		}
		if _, err := f.ReadAt(want, 0); err != nil {
			t.Fatal(err)
		}
		if i := advFirstDiff(got, want); i >= 0 {
			t.Fatalf("%s: byte at %d is %#x, os.File %#x", what, i, got[i], want[i])
		}
	}
	most := cs // per entry: 16 of them span several chunks, all straddle
	if raceEnabled {
		most = cs / 3
	}
	entries := make([][]byte, 16)
	for i := range entries {
		e := make([]byte, rng.IntN(most))
		for j := range e {
			e[j] = byte('a' + rng.IntN(3)) // compressible, but not to nothing
			if rng.IntN(4) == 0 {
				e[j] = byte(rng.Uint32())
			}
		}
		entries[i] = e
	}

	// A zip archive at an odd base, through a small bufio.Writer.
	base := rng.Int64N(3 * cs)
	bufSize := 16 + rng.IntN(5000)
	var zipEnd int64
	for _, x := range both {
		ow := io.NewOffsetWriter(x, base)
		bw := bufio.NewWriterSize(ow, bufSize)
		zw := zip.NewWriter(bw)
		zw.SetOffset(base)
		for i, e := range entries {
			h := &zip.FileHeader{Name: fmt.Sprint("e", i), Method: zip.Deflate}
			if i%3 == 0 {
				h.Method = zip.Store
			}
			w, err := zw.CreateHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		n, _ := ow.Seek(0, io.SeekCurrent)
		zipEnd = base + n
	}
	same("zip")
	for _, r := range []io.ReaderAt{io.NewSectionReader(m, base, zipEnd-base), m} {
		size := zipEnd - base
		if r == m {
			size = m.Size()
		}
		zr, err := zip.NewReader(r, size)
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) != len(entries) {
			t.Fatalf("zip: %d entries, want %d", len(zr.File), len(entries))
		}
		for i, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, entries[i]) {
				t.Fatalf("zip entry %d: %d bytes, %v; want %d bytes", i, len(got), err, len(entries[i]))
			}
			rc.Close()
		}
	}

	// A Truncate into the archive's last chunk and back up.
	cut := zipEnd - 1 - rng.Int64N(min(zipEnd-base, cs))
	up := cut + rng.Int64N(2*cs)
	for _, x := range both {
		if err := x.Truncate(cut); err != nil {
			t.Fatal(err)
		}
		if err := x.Truncate(up); err != nil {
			t.Fatal(err)
		}
	}
	same("truncate")

	// io.Copy of a section of the file to another place in it.
	src := rng.Int64N(m.Size())
	n := rng.Int64N(m.Size() - src + 1)
	dst := rng.Int64N(m.Size() + cs)
	var copied [2]int64
	for i, x := range both {
		if copied[i], err = io.Copy(io.NewOffsetWriter(x, dst), io.NewSectionReader(x, src, n)); err != nil {
			t.Fatal(err)
		}
	}
	if copied[0] != copied[1] {
		t.Fatalf("io.Copy copied %d bytes, on os.File %d", copied[0], copied[1])
	}
	same("io.Copy")

	// binary.Write and gzip through bufio, then a PNG.
	vals := make([]uint64, rng.IntN(3*most/8))
	for i := range vals {
		vals[i] = rng.Uint64()
	}
	valsAt := rng.Int64N(m.Size() + 100)
	for _, x := range both {
		bw := bufio.NewWriter(io.NewOffsetWriter(x, valsAt))
		if err := binary.Write(bw, binary.BigEndian, vals); err != nil {
			t.Fatal(err)
		}
		gz := gzip.NewWriter(bw)
		if _, err := gz.Write(entries[1]); err != nil {
			t.Fatal(err)
		}
		if err := gz.Close(); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	same("binary, gzip")
	sr := io.NewSectionReader(m, valsAt, m.Size()-valsAt)
	got := make([]uint64, len(vals))
	if err := binary.Read(bufio.NewReader(sr), binary.BigEndian, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != vals[i] {
			t.Fatalf("binary.Read: value %d is %#x, want %#x", i, got[i], vals[i])
		}
	}
	if _, err := sr.Seek(int64(8*len(vals)), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	gr, err := gzip.NewReader(sr)
	if err != nil {
		t.Fatal(err)
	}
	gr.Multistream(false) // what follows the stream is other bytes of the file
	if b, err := io.ReadAll(gr); err != nil || !bytes.Equal(b, entries[1]) {
		t.Fatalf("gzip: %d bytes, %v; want %d bytes", len(b), err, len(entries[1]))
	}
	img := image.NewNRGBA(image.Rect(0, 0, 100+rng.IntN(200), 100))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	imgAt := rng.Int64N(m.Size() + 10)
	for _, x := range both {
		if err := png.Encode(io.NewOffsetWriter(x, imgAt), img); err != nil {
			t.Fatal(err)
		}
	}
	same("png")
	if dec, err := png.Decode(io.NewSectionReader(m, imgAt, m.Size()-imgAt)); err != nil || !bytes.Equal(dec.(*image.NRGBA).Pix, img.Pix) {
		t.Fatalf("png.Decode: %v", err)
	}

	// iotest over sections of up to 3 chunks, and a section that reaches
	// past Size, before and after DropBefore, and through a reader.
	all := make([]byte, fsize())
	if _, err := f.ReadAt(all, 0); err != nil {
		t.Fatal(err)
	}
	section := func(r io.ReaderAt, from int64) error {
		n := min(3*cs, int64(len(all))-from)
		if err := iotest.TestReader(io.NewSectionReader(r, from, n), all[from:from+n]); err != nil {
			return err
		}
		tail := max(from, int64(len(all))-cs)
		if err := iotest.TestReader(io.NewSectionReader(r, tail, int64(len(all))-tail), all[tail:]); err != nil {
			return err
		}
		// A section that reaches past Size ends with the file.
		b, err := io.ReadAll(bufio.NewReaderSize(io.NewSectionReader(r, tail, 2*cs), 16+int(tail%4000)))
		if err != nil || !bytes.Equal(b, all[tail:]) {
			return fmt.Errorf("ReadAll of a section at %d past Size %d: %d bytes, %v; want %d", tail, len(all), len(b), err, int64(len(all))-tail)
		}
		return nil
	}
	if err := section(m, rng.Int64N(m.Size())); err != nil {
		t.Fatal(err)
	}
	if err := m.DropBefore(rng.Int64N(m.Size())); err != nil {
		t.Fatal(err)
	}
	start := m.Start()
	if err := section(m, start); err != nil {
		t.Fatalf("after DropBefore: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = clxOpen(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1})
	if err := section(m, start); err != nil {
		t.Fatalf("read-only: %v", err)
	}
}
