package clients

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chunkmap/chunkmap"
)

func openCM(t testing.TB, dir string, opts chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestZip(t *testing.T) {
	dir := t.TempDir()
	m := openCM(t, dir, chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 2})
	rng := rand.New(rand.NewPCG(3, 3))
	type entry struct {
		name   string
		data   []byte
		method uint16
	}
	var entries []entry
	for i := range 40 {
		n := []int{0, 1, 65535, 65536, 65537, 200 << 10}[i%6] + rng.IntN(3000)
		data := make([]byte, n)
		if i%2 == 0 {
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
		} else {
			for j := range data {
				data[j] = "abcdefgh\n"[rng.IntN(9)]
			}
		}
		method := zip.Store
		if i%3 != 0 {
			method = zip.Deflate
		}
		entries = append(entries, entry{fmt.Sprintf("dir%d/file%02d.bin", i%4, i), data, method})
	}
	zw := zip.NewWriter(&AppendWriter{M: m})
	zw.SetComment("written through chunkmap Append")
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(m *chunkmap.Manager) {
		t.Helper()
		zr, err := zip.NewReader(m, m.Size())
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) != len(entries) || zr.Comment != "written through chunkmap Append" {
			t.Fatalf("%d files, comment %q", len(zr.File), zr.Comment)
		}
		for i, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc) // checks the CRC-32 at EOF
			rc.Close()
			if err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			if f.Name != entries[i].name || !bytes.Equal(got, entries[i].data) {
				t.Fatalf("entry %d (%s) differs", i, f.Name)
			}
		}
	}
	check(m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openCM(t, dir, chunkmap.Options{MaxMapped: 1})
	defer m.Close()
	check(m)
}

func TestTar(t *testing.T) {
	m := openCM(t, t.TempDir(), chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 2})
	defer m.Close()
	tw := tar.NewWriter(io.NewOffsetWriter(m, 0))
	var want [][]byte
	for i := range 12 {
		data := bytes.Repeat([]byte{byte(i), byte(i * 7)}, (i*40000+511)/2)
		want = append(want, data)
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprint("f", i), Mode: 0o644, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(io.NewSectionReader(m, 0, m.Size()))
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("%d entries", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(tr)
		if err != nil || h.Name != fmt.Sprint("f", i) || !bytes.Equal(got, want[i]) {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
}

// TestELF copies this test binary into a dataset and reads it with
// debug/elf and debug/buildinfo, as from the original file.
func TestELF(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	m := openCM(t, t.TempDir(), chunkmap.Options{ChunkSize: 256 << 10, MaxMapped: 4})
	defer m.Close()
	n, err := io.CopyBuffer(&AppendWriter{M: m}, src, make([]byte, 100_000))
	if err != nil {
		t.Fatal(err)
	}
	if n != m.Size() {
		t.Fatalf("copied %d bytes, Size %d", n, m.Size())
	}
	hash := func(r io.ReaderAt, size int64) string {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x", h.Sum(nil))
	}
	if hash(m, m.Size()) != hash(src, n) {
		t.Fatalf("copy differs")
	}

	want, err := elf.NewFile(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := elf.NewFile(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sections) != len(want.Sections) || len(got.Progs) != len(want.Progs) {
		t.Fatalf("sections %d/%d progs %d/%d", len(got.Sections), len(want.Sections), len(got.Progs), len(want.Progs))
	}
	for i, s := range want.Sections {
		if s.Type == elf.SHT_NOBITS {
			continue
		}
		a, err1 := s.Data()
		b, err2 := got.Sections[i].Data()
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("section %s: %v %v, equal %v", s.Name, err1, err2, bytes.Equal(a, b))
		}
	}
	ws, err1 := want.Symbols()
	gs, err2 := got.Symbols()
	// go test links its binaries without a symbol table (-s): then both
	// must say so.
	if fmt.Sprint(err1) != fmt.Sprint(err2) || len(ws) != len(gs) {
		t.Fatalf("symbols: %v %v %d/%d", err1, err2, len(ws), len(gs))
	}
	for i := range ws {
		if ws[i] != gs[i] {
			t.Fatalf("symbol %d: %+v / %+v", i, gs[i], ws[i])
		}
	}
	wb, err1 := buildinfo.Read(src)
	gb, err2 := buildinfo.Read(m)
	if err1 != nil || err2 != nil || wb.String() != gb.String() {
		t.Fatalf("buildinfo: %v %v", err1, err2)
	}
	t.Logf("%s: %d bytes, %d sections, %d symbols, %d deps", filepath.Base(exe), n, len(want.Sections), len(ws), len(gb.Deps))
}

// TestFileSemantics runs one random sequence of WriteAt, ReadAt, Append,
// Truncate, Sync and Close/reopen on a Manager and on an os.File, and
// compares every result and the final contents.
func TestFileSemantics(t *testing.T) {
	seeds := uint64(6)
	if s := os.Getenv("CLIENTS_SEEDS"); s != "" {
		fmt.Sscan(s, &seeds)
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { fileSemantics(t, seed) })
	}
}

func fileSemantics(t *testing.T, seed uint64) {
	const cs = chunkmap.MinChunkSize
	dir := filepath.Join(t.TempDir(), "ds")
	opts := chunkmap.Options{ChunkSize: cs, MaxMapped: 2, NoAdmission: seed%2 == 1}
	switch seed % 3 {
	case 1:
		// Chunks share slots: reads and writes across the arena's end.
		opts.ArenaSize = 2 * cs
		opts.MaxMapped = 2
	case 2:
		opts.Advice = chunkmap.AdviceSequential
		opts.ArenaSize = 4 * cs
	}
	m := openCM(t, dir, opts)
	defer func() { m.Close() }()
	f, err := os.Create(filepath.Join(t.TempDir(), "ref"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(seed, 1234))
	// Offsets near chunk boundaries, mostly.
	offset := func(limit int64) int64 {
		if rng.IntN(4) == 0 {
			return rng.Int64N(limit + 1)
		}
		b := rng.Int64N(limit/cs+2) * cs
		return max(0, b+rng.Int64N(9)-4)
	}
	fill := func(n int) []byte {
		p := make([]byte, n)
		x := byte(rng.Uint32())
		for i := range p {
			p[i] = x + byte(i*13)
		}
		return p
	}
	const limit = 12 * cs
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		for _, l := range log[max(0, len(log)-15):] {
			t.Log(l)
		}
		t.Fatalf(format, args...)
	}
	start := int64(0) // mirrors m.Start(): the file keeps its bytes below
	below := func(off int64) bool { return off < start }
	for step := range 1500 {
		size := m.Size()
		if m.Start() != start {
			fail("step %d: Start %d, want %d", step, m.Start(), start)
		}
		if fi, _ := f.Stat(); fi.Size() != size {
			fail("step %d: Size %d, file size %d", step, size, fi.Size())
		}
		switch op := rng.IntN(100); {
		case op < 30:
			off := offset(limit)
			p := fill(rng.IntN(3 * cs))
			log = append(log, fmt.Sprintf("WriteAt(len %d, off %d)", len(p), off))
			if below(off) && len(p) > 0 {
				if n, err := m.WriteAt(p, off); n != 0 || !errors.Is(err, chunkmap.ErrOutOfRange) {
					fail("step %d: WriteAt below Start %d: %d %v", step, start, n, err)
				}
				continue
			}
			n1, err1 := m.WriteAt(p, off)
			n2, err2 := f.WriteAt(p, off)
			if n1 != n2 || (err1 == nil) != (err2 == nil) {
				fail("step %d: WriteAt: chunkmap %d %v, file %d %v", step, n1, err1, n2, err2)
			}
		case op < 40:
			p := fill(rng.IntN(2 * cs))
			log = append(log, fmt.Sprintf("Append(len %d) at %d", len(p), size))
			off, err1 := m.Append(p)
			_, err2 := f.WriteAt(p, size)
			if err1 != nil || err2 != nil || (len(p) > 0 && off != size) {
				fail("step %d: Append: off %d err %v, file err %v, size %d", step, off, err1, err2, size)
			}
		case op < 55:
			to := offset(limit)
			if rng.IntN(3) == 0 {
				to = size - rng.Int64N(min(size, 300)+1) // a small cut
			}
			log = append(log, fmt.Sprintf("Truncate(%d) from %d", to, size))
			if below(to) {
				if err := m.Truncate(to); !errors.Is(err, chunkmap.ErrOutOfRange) {
					fail("step %d: Truncate below Start %d: %v", step, start, err)
				}
				continue
			}
			err1 := m.Truncate(to)
			err2 := f.Truncate(to)
			if err1 != nil || err2 != nil {
				fail("step %d: Truncate(%d): %v / %v", step, to, err1, err2)
			}
		case op < 90:
			off := offset(limit + 2*cs)
			n := rng.IntN(3 * cs)
			if rng.IntN(4) == 0 {
				n = rng.IntN(10)
			}
			log = append(log, fmt.Sprintf("ReadAt(len %d, off %d) size %d", n, off, size))
			if below(off) && n > 0 {
				if k, err := m.ReadAt(make([]byte, n), off); k != 0 || !errors.Is(err, chunkmap.ErrOutOfRange) {
					fail("step %d: ReadAt below Start %d: %d %v", step, start, k, err)
				}
				continue
			}
			p1, p2 := make([]byte, n), make([]byte, n)
			for i := range p1 {
				p1[i] = 0xEE // what a read must overwrite or leave alone
			}
			copy(p2, p1)
			n1, err1 := m.ReadAt(p1, off)
			n2, err2 := f.ReadAt(p2, off)
			if n1 != n2 || (err1 == io.EOF) != (err2 == io.EOF) || (err1 == nil) != (err2 == nil) {
				fail("step %d: ReadAt(len %d, off %d) size %d: chunkmap %d %v, file %d %v", step, n, off, size, n1, err1, n2, err2)
			}
			if !bytes.Equal(p1[:n1], p2[:n2]) {
				i := 0
				for p1[i] == p2[i] {
					i++
				}
				fail("step %d: ReadAt(len %d, off %d) size %d: bytes differ at %d (offset %d): %#x, file %#x", step, n, off, size, i, off+int64(i), p1[i], p2[i])
			}
		case op < 92:
			n := rng.Int64N(3 * cs)
			log = append(log, fmt.Sprintf("Grow(%d) at size %d", n, size))
			if err := m.Grow(n); err != nil {
				fail("step %d: Grow: %v", step, err)
			}
		case op < 93 && seed%2 == 0:
			off := offset(size)
			if off > size {
				off = size
			}
			log = append(log, fmt.Sprintf("DropBefore(%d) size %d start %d", off, size, start))
			if err := m.DropBefore(off); err != nil {
				fail("step %d: DropBefore(%d): %v", step, off, err)
			}
			start = max(start, off/cs*cs)
		case op < 95:
			log = append(log, "Sync")
			if err := m.Sync(); err != nil {
				fail("step %d: Sync: %v", step, err)
			}
		default:
			log = append(log, "Close+Open")
			if err := m.Close(); err != nil {
				fail("step %d: Close: %v", step, err)
			}
			o := opts
			o.MaxMapped = 1 + rng.IntN(3)
			m = openCM(t, dir, o)
		}
	}
	// The whole contents, before and after a reopen.
	for range 2 {
		want, _ := os.ReadFile(f.Name())
		want = want[start:]
		got := make([]byte, m.Size()-start)
		if n, err := m.ReadAt(got, start); n != len(got) || (err != nil && !errors.Is(err, io.EOF)) {
			t.Fatalf("final read: %d %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("final contents differ (%d / %d bytes)", len(got), len(want))
		}
		m.Close()
		m = openCM(t, dir, opts)
	}
}
