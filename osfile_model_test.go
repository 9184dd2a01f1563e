package chunkmap_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestOSFileModel runs random sequences of WriteAt, ReadAt, Append,
// Truncate, DropBefore, Grow, Sync and Close+reopen against a Manager and
// against an os.File, which is the oracle for every byte, every n and every
// io.EOF; Start is modelled beside it. Reads go through the Manager, an
// accessor.ViewAccessor, a ReadOnly Manager following the writer live,
// io.SectionReader with io.CopyN, and bufio.
// OSFILE_SEED replays a run.
func TestOSFileModel(t *testing.T) {
	seed := testSeed(t, "OSFILE_SEED")
	budget := stormFor(1500 * time.Millisecond)
	if testing.Short() {
		budget = 500 * time.Millisecond
	}
	deadline := time.Now().Add(budget)
	for round := 0; time.Now().Before(deadline); round++ {
		rs := seed + uint64(round)
		t.Run(fmt.Sprint("seed", rs), func(t *testing.T) { osfRound(t, rs) })
		if t.Failed() {
			return
		}
	}
}

func osfRound(t *testing.T, seed uint64) {
	const cs = clxChunk
	rng := rand.New(rand.NewPCG(seed, 77))
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ds")
	base := int64(rng.IntN(3)) * cs
	opts := func(ro bool) *chunkmap.Options {
		return &chunkmap.Options{
			ChunkSize:   cs,
			MaxMapped:   1 + rng.IntN(2),
			NoAdmission: rng.IntN(2) == 0,
			ArenaSize:   int64(rng.IntN(2)) * 2 * cs,
			Start:       base,
			ReadOnly:    ro,
			// AdviceSequential reads large misses with pread.
			Advice: []chunkmap.Advice{chunkmap.AdviceNormal, chunkmap.AdviceSequential}[rng.IntN(2)],
		}
	}
	m := clxOpen(t, dir, opts(false))
	defer func() { m.Close() }()
	// A reader that follows the writer live, across its Close and reopen.
	fol := clxOpen(t, dir, opts(true))
	defer fol.Close()
	f, err := os.Create(filepath.Join(tmp, "oracle"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(base); err != nil {
		t.Fatal(err)
	}
	start := base
	fsize := func() int64 {
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	const maxSize = 12 * cs
	randOff := func() int64 {
		switch rng.IntN(5) {
		case 0:
			return start + rng.Int64N(max(1, fsize()-start+1))
		case 1:
			return base + rng.Int64N(maxSize/cs)*cs + rng.Int64N(9) - 4
		case 2:
			return fsize() + rng.Int64N(5) - 2
		case 3:
			return start + rng.Int64N(3) - 1
		default:
			return base + rng.Int64N(maxSize)
		}
	}
	randLen := func() int {
		switch rng.IntN(5) {
		case 0:
			return rng.IntN(4)
		case 1:
			return cs - 4 + rng.IntN(9)
		case 2:
			return rng.IntN(3 * cs)
		default:
			return rng.IntN(3000)
		}
	}
	check := func(what string, r io.ReaderAt, off int64, n int) {
		t.Helper()
		got := bytes.Repeat([]byte{0x5a}, n)
		want := bytes.Repeat([]byte{0x5a}, n)
		gn, gerr := r.ReadAt(got, off)
		if off < start && n > 0 && off >= 0 {
			if !errors.Is(gerr, chunkmap.ErrOutOfRange) || gn != 0 {
				t.Fatalf("%s: ReadAt(%d, %d) below start %d = %d, %v", what, n, off, start, gn, gerr)
			}
			return
		}
		wn, werr := f.ReadAt(want, off)
		if gn != wn || (gerr == nil) != (werr == nil) || (werr == io.EOF && gerr != io.EOF) {
			t.Fatalf("%s: ReadAt(%d, %d) = %d, %v; os.File %d, %v (start %d size %d)", what, n, off, gn, gerr, wn, werr, start, fsize())
		}
		if !bytes.Equal(got, want) {
			i := 0
			for got[i] == want[i] {
				i++
			}
			t.Fatalf("%s: ReadAt(%d, %d): byte at %d is %#x, os.File %#x (start %d size %d)", what, n, off, off+int64(i), got[i], want[i], start, fsize())
		}
	}
	checkAll := func(what string) {
		t.Helper()
		if m.Size() != fsize() || m.Start() != start {
			t.Fatalf("%s: Start, Size = %d, %d; want %d, %d", what, m.Start(), m.Size(), start, fsize())
		}
		if n := fsize() - start; n > 0 {
			check(what, m, start, int(n))
			// Through a section reader, io.CopyN and bufio.
			sr := io.NewSectionReader(m, start, n+7)
			var buf bytes.Buffer
			k, err := io.CopyN(&buf, bufio.NewReaderSize(sr, 1000+rng.IntN(5000)), n+7)
			if k != n || err != io.EOF {
				t.Fatalf("%s: CopyN of %d bytes from a section = %d, %v; want %d, EOF", what, n+7, k, err, n)
			}
			want := make([]byte, n)
			if _, err := f.ReadAt(want, start); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("%s: section bytes differ", what)
			}
		}
	}
	va := accessor.New(m, nil)
	for step := 0; step < 150; step++ {
		what := fmt.Sprintf("step %d", step)
		switch op := rng.IntN(100); {
		case op < 25:
			off, n := randOff(), randLen()
			if off < 0 || off+int64(n) > base+maxSize {
				continue
			}
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(rng.Uint32()) | 1
			}
			var w io.WriterAt = m
			if rng.IntN(3) == 0 {
				w = va
			}
			k, err := w.WriteAt(p, off)
			if off < start && n > 0 {
				if !errors.Is(err, chunkmap.ErrOutOfRange) || k != 0 {
					t.Fatalf("%s WriteAt(%d, %d) below start = %d, %v", what, n, off, k, err)
				}
				continue
			}
			if err != nil || k != n {
				t.Fatalf("%s WriteAt(%d, %d) = %d, %v", what, n, off, k, err)
			}
			if n > 0 {
				if _, err := f.WriteAt(p, off); err != nil {
					t.Fatal(err)
				}
			}
		case op < 33:
			n := randLen()
			if fsize()+int64(n) > base+maxSize {
				continue
			}
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(rng.Uint32()) | 2
			}
			at, err := m.Append(p)
			if err != nil || at != fsize() {
				t.Fatalf("%s Append(%d) = %d, %v; want %d", what, n, at, err, fsize())
			}
			if _, err := f.WriteAt(p, at); err != nil {
				t.Fatal(err)
			}
		case op < 53:
			off, n := randOff(), randLen()
			var r io.ReaderAt = m
			switch rng.IntN(3) {
			case 0:
				r = va
			case 1:
				r, what = fol, what+" (follower)"
			}
			check(what, r, off, n)
		case op < 66:
			var n int64
			switch rng.IntN(4) {
			case 0:
				n = fsize() - rng.Int64N(200)
			case 1:
				n = base + rng.Int64N(maxSize)
			case 2:
				n = (fsize()/cs)*cs + rng.Int64N(5) - 2
			default:
				n = fsize() + rng.Int64N(2*cs)
			}
			n = min(n, base+maxSize)
			err := m.Truncate(n)
			if n < start {
				if !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Fatalf("%s Truncate(%d) below start: %v", what, n, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s Truncate(%d): %v", what, n, err)
			}
			if err := f.Truncate(n); err != nil {
				t.Fatal(err)
			}
		case op < 71:
			n := start + rng.Int64N(max(1, fsize()-start+cs))
			err := m.DropBefore(n)
			if n > fsize() {
				if !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Fatalf("%s DropBefore(%d) past size: %v", what, n, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s DropBefore(%d): %v", what, n, err)
			}
			start = max(start, n/cs*cs)
		case op < 77:
			n := rng.Int64N(3 * cs)
			if fsize()+n > base+maxSize {
				continue
			}
			if err := m.Grow(n); err != nil {
				t.Fatalf("%s Grow(%d): %v", what, n, err)
			}
		case op < 81:
			if err := m.Sync(); err != nil {
				t.Fatalf("%s Sync: %v", what, err)
			}
		case op < 88:
			if err := m.Close(); err != nil {
				t.Fatalf("%s Close: %v", what, err)
			}
			if rng.IntN(3) == 0 {
				ro := clxOpen(t, dir, opts(true))
				m = ro
				checkAll(what + " (read-only)")
				ro.Close()
			}
			m = clxOpen(t, dir, opts(false))
			va = accessor.New(m, nil)
			checkAll(what + " (reopened)")
		default:
			checkAll(what)
		}
		if m.Size() != fsize() || m.Start() != start {
			t.Fatalf("%s: Start, Size = %d, %d; want %d, %d", what, m.Start(), m.Size(), start, fsize())
		}
	}
	checkAll("end")
}
