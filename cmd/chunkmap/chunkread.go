package main

// This file reads a dataset's bytes from its chunk files directly (for
// salvage, verify -read, and cat on a damaged dataset): read-only, with
// pread and never a mapping, going on past whatever cannot be read and
// reporting it as lost ranges, each naming its chunk file and the reason.
// A block with a read error is read again sector by sector, so that only
// the sectors that fail are lost. Its progress goes to a meter
// (meter.go).

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// lostRange is a range of the dataset that could not be read, and why.
type lostRange struct {
	from, to int64
	first    int64 // the chunk it lies in (the first, for a run of missing chunks)
	n        int64 // the number of chunks (a run of missing ones)
	kind     lossKind
	why      string // without the chunk's name; see describe
}

type lossKind int

const (
	lossMissing   lossKind = iota // no chunk file
	lossIrregular                 // not a regular file
	lossOpen                      // the file could not be opened
	lossShort                     // the file is shorter than the chunk size
	lossRead                      // read errors
)

// describe says which chunk and why, e.g. "0000000000000002.chunk is
// missing".
func (l lostRange) describe() string {
	if l.kind == lossMissing && l.n > 1 {
		return fmt.Sprintf("%d chunks are missing, %s", l.n, chunkRange(l.first, l.n))
	}
	return chunk.Name(l.first) + " " + l.why
}

// chunkFile is a chunk file opened for reading.
type chunkFile interface {
	io.ReaderAt
	io.Closer
	Stat() (fs.FileInfo, error)
}

// openChunkFile opens a chunk file read-only, refusing what is not a
// regular file without blocking on it or following it.
func openChunkFile(path string) (chunkFile, error) {
	return vfs.OS.OpenFile(path, os.O_RDONLY, 0)
}

// checkAccess returns the error of the first chunk file of [from, to)
// that is present but that this user may not open (fs.ErrPermission), if
// any: salvage calls it before it makes OUT.
func (r *chunkReader) checkAccess(from, to int64) error {
	if from >= to {
		return nil
	}
	for _, i := range r.present {
		if i < from/r.cs || i > (to-1)/r.cs {
			continue
		}
		f, err := r.open(filepath.Join(r.dir, chunk.Name(i)))
		if err == nil {
			err = f.Close()
		}
		if errors.Is(err, fs.ErrPermission) {
			return err
		}
	}
	return nil
}

// sectorSize is the unit a range with a read error is read again in, to
// lose no more than the sectors that fail.
const sectorSize = 4096

// chunkReader reads a dataset's bytes from its chunk files directly.
type chunkReader struct {
	dir     string
	cs      int64
	present []int64                              // chunk indices present, in order
	open    func(path string) (chunkFile, error) // openChunkFile, or a test's
	buf     []byte
	// hole, if set, is called instead of data for a range of a chunk file
	// that the file system says is a hole (dataSpan): it reads as zeros,
	// and has no blocks that could fail to read. Where it is nil, or the
	// file system cannot tell, holes are read like data. A dataset of
	// 1 GiB chunks written here and there would otherwise cost salvage and
	// verify -read a read of every byte of its holes.
	hole func(off, n int64) error
}

func newChunkReader(s *survey) *chunkReader {
	return &chunkReader{dir: s.dir, cs: s.cs, present: s.scan.indices(), open: openChunkFile, buf: make([]byte, 1<<20)}
}

// read reads [from, to) in order, calling data for every block read (p is
// valid only during the call) and lost for every range that cannot be read,
// merged with the previous one when they are adjacent and have the same
// cause. The calls come in the order of the offsets: a lost range is
// reported before any data past it. A run of missing chunks costs no more
// than one. An error from data stops the read and is returned. m, if not
// nil, is told the progress.
func (r *chunkReader) read(from, to int64, data func(off int64, p []byte) error, lost func(lostRange), m *meter) error {
	var pending *lostRange // held back in case the next range extends it
	userData := data
	data = func(off int64, p []byte) error {
		if pending != nil {
			lost(*pending)
			pending = nil
		}
		return userData(off, p)
	}
	var hole func(off, n int64) error
	if r.hole != nil {
		hole = func(off, n int64) error {
			if pending != nil {
				lost(*pending)
				pending = nil
			}
			return r.hole(off, n)
		}
	}
	addLost := func(l lostRange) {
		if pending != nil && pending.to == l.from && pending.kind == l.kind &&
			((l.kind == lossMissing && pending.first+pending.n == l.first) || (pending.first == l.first && pending.why == l.why)) {
			pending.to = l.to
			if l.kind == lossMissing {
				pending.n += l.n
			}
			m.lose(l.to - l.from)
			return
		}
		if pending != nil {
			lost(*pending)
		}
		pending = &l
		m.lose(l.to - l.from)
	}
	for off := from; off < to; {
		i := off / r.cs
		end := to
		if i < (to-1)/r.cs {
			end = (i + 1) * r.cs // below to: no overflow at the top chunk
		}
		if k, found := slices.BinarySearch(r.present, i); !found {
			// A run of missing chunks, up to the next one present.
			end = to
			if k < len(r.present) && r.present[k] <= (to-1)/r.cs {
				end = r.present[k] * r.cs
			}
			n := chunksFor(end, r.cs) - i
			addLost(lostRange{from: off, to: end, first: i, n: n, kind: lossMissing, why: "is missing"})
			m.add(end - off)
			off = end
			continue
		}
		if err := r.readChunk(i, off, end, data, hole, addLost, m); err != nil {
			return err
		}
		off = end
	}
	if pending != nil {
		lost(*pending)
	}
	return nil
}

// readChunk reads [from, to), which lies in chunk i, passing its holes to
// hole where that is not nil (see chunkReader.hole).
func (r *chunkReader) readChunk(i, from, to int64, data func(int64, []byte) error, hole func(int64, int64) error, lost func(lostRange), m *meter) error {
	base := i * r.cs
	loseAll := func(kind lossKind, why string) {
		lost(lostRange{from: from, to: to, first: i, n: 1, kind: kind, why: why})
		m.add(to - from)
	}
	f, err := r.open(filepath.Join(r.dir, chunk.Name(i)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		loseAll(lossMissing, "is missing")
		return nil
	case errors.Is(err, vfs.ErrNotRegular):
		mode := "unknown"
		if fi, lerr := os.Lstat(filepath.Join(r.dir, chunk.Name(i))); lerr == nil {
			mode = fi.Mode().String()
		}
		loseAll(lossIrregular, fmt.Sprintf("is not a regular file (mode %s)", mode))
		return nil
	case errors.Is(err, fs.ErrPermission):
		// The bytes are there, for a user who may read them: nothing is
		// lost, and zeros in their place would be no copy.
		return err
	case err != nil:
		loseAll(lossOpen, fmt.Sprintf("cannot be opened: %v", err))
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		loseAll(lossOpen, fmt.Sprintf("cannot be examined: %v", err))
		return nil
	}
	shortWhy := func(n int64) string {
		return fmt.Sprintf("has %d bytes, want %d (the chunk size)", n, r.cs)
	}
	readable := to
	if fi.Size() < to-base {
		readable = base + fi.Size() // below to: no overflow at the top chunk
	}
	// From the file's offset pos up to dataEnd the file holds data, which
	// is read without another look (math.MaxInt64: holes are not looked
	// for). Offsets within the file, not the dataset's: base plus the
	// chunk size may overflow at the top chunk.
	dataEnd := int64(math.MaxInt64)
	osf, seeks := f.(interface{ OS() *os.File })
	if hole != nil && seeks && holesFile(osf.OS()) {
		dataEnd = 0
	}
	for off := from; off < readable; {
		if pos := off - base; pos >= dataEnd {
			d, e, ok := dataSpan(osf.OS(), pos, fi.Size())
			switch {
			case !ok || (d <= pos && e <= pos):
				// Cannot tell, or the file changed between the two
				// looks: read the rest.
				dataEnd = math.MaxInt64
			case d > pos:
				n := min(d, readable-base) - pos
				if err := hole(off, n); err != nil {
					return err
				}
				m.add(n)
				off += n
				dataEnd = e
				continue
			default:
				dataEnd = e
			}
		}
		k := min(int64(len(r.buf)), readable-off, dataEnd-(off-base))
		p := r.buf[:k]
		n, err := f.ReadAt(p, off-base)
		if err == nil || (errors.Is(err, io.EOF) && int64(n) == k) {
			if err := data(off, p); err != nil {
				return err
			}
			m.add(k)
			off += k
			continue
		}
		if errors.Is(err, io.EOF) {
			// The file shrank since it was examined.
			if n > 0 {
				if err := data(off, p[:n]); err != nil {
					return err
				}
				m.add(int64(n))
			}
			readable = off + int64(n)
			break
		}
		// A read error: read the block again sector by sector, and lose
		// only the sectors that fail.
		for s := off; s < off+k; {
			e := off + k
			if s/sectorSize < (e-1)/sectorSize {
				e = (s/sectorSize + 1) * sectorSize // below off+k: no overflow
			}
			q := p[:e-s]
			if n, err := f.ReadAt(q, s-base); err == nil || (errors.Is(err, io.EOF) && int64(n) == e-s) {
				if err := data(s, q); err != nil {
					return err
				}
				m.add(e - s)
			} else {
				lost(lostRange{from: s, to: e, first: i, n: 1, kind: lossRead, why: fmt.Sprintf("cannot be read: %v", pathless(err))})
				m.add(e - s)
			}
			s = e
		}
		off += k
	}
	if readable < to {
		lost(lostRange{from: max(from, readable), to: to, first: i, n: 1, kind: lossShort, why: shortWhy(readable - base)})
		m.add(to - max(from, readable))
	}
	return nil
}

// pathless returns the error of a *fs.PathError without the path (the
// report names the chunk file itself), and any other error as it is.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
