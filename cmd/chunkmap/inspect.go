package main

// This file holds the subcommands that look at a dataset without changing
// it: info and verify.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// dirScan is what a dataset directory holds, by kind of file.
type dirScan struct {
	manifest  bool
	chunks    map[int64]fs.FileInfo // files with a chunk name, by index
	temps     []string              // leftovers of interrupted writes
	unknown   []string              // everything chunkmap ignores
	files     int                   // regular files of any kind
	allocated int64                 // bytes the files take on disk
	apparent  int64                 // sum of the file sizes
}

// lockFileName is the lock file chunkmap keeps in a dataset directory on
// Windows, where a directory itself cannot be locked.
const lockFileName = "LOCK"

// scanDir lists dir and sorts its entries into kinds.
func scanDir(dir string) (*dirScan, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	s := &dirScan{chunks: make(map[int64]fs.FileInfo)}
	for _, e := range entries {
		name := e.Name()
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		if fi.Mode().IsRegular() {
			s.files++
			s.allocated += allocated(fi)
			s.apparent += fi.Size()
		}
		switch idx, isChunk := chunk.ParseName(name); {
		case name == chunkmap.ManifestName:
			s.manifest = true
		case isChunk:
			s.chunks[idx] = fi
		case chunk.IsTemp(name) || name == chunkmap.ManifestName+".tmp":
			s.temps = append(s.temps, name)
		case name == lockFileName:
		default:
			s.unknown = append(s.unknown, name)
		}
	}
	return s, nil
}

// indices returns the chunk indices found, in order.
func (s *dirScan) indices() []int64 {
	idx := make([]int64, 0, len(s.chunks))
	for i := range s.chunks {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

// openReadOnly opens the dataset in dir for reading. A read-only Manager
// takes no lock, so it works while a writer has the dataset open.
func openReadOnly(dir string) (*chunkmap.Manager, error) {
	return chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2})
}

// chunkRange describes n chunks from index first, e.g.
// "0000000000000000.chunk … 000000000000000f.chunk".
func chunkRange(first, n int64) string {
	switch n {
	case 0:
		return "none"
	case 1:
		return chunk.Name(first)
	}
	return chunk.Name(first) + " … " + chunk.Name(first+n-1)
}

func runInfo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("info")
	pos, code, ok := parse(fs, args, 1, "DIR",
		"Info prints the dataset's chunk size, its chunks, Start, Size and the\nbytes its directory takes on disk. It opens the dataset read-only, so it\nworks while a writer has it open.", stdout, stderr)
	if !ok {
		return code
	}
	dir := pos[0]
	m, err := openReadOnly(dir)
	if err != nil {
		fmt.Fprintf(stderr, "chunkmap info: %v\n(run 'chunkmap verify %s' for a full report)\n", err, dir)
		return exitFail
	}
	cs, start, size, chunks := m.ChunkSize(), m.Start(), m.Size(), int64(m.Stats().Chunks)
	if err := m.Close(); err != nil {
		return fail(stderr, "info", err)
	}
	scan, err := scanDir(dir)
	if err != nil {
		return fail(stderr, "info", err)
	}
	fmt.Fprintf(stdout, "dataset     %s\n", dir)
	fmt.Fprintf(stdout, "chunk size  %d (%s)\n", cs, formatBytes(cs))
	fmt.Fprintf(stdout, "chunks      %d (%s)\n", chunks, chunkRange(start/cs, chunks))
	fmt.Fprintf(stdout, "start       %d (%s)\n", start, formatBytes(start))
	fmt.Fprintf(stdout, "size        %d (%s)\n", size, formatBytes(size))
	fmt.Fprintf(stdout, "on disk     %d (%s) in %d files\n", scan.allocated, formatBytes(scan.allocated), scan.files)
	if extra := len(scan.temps) + len(scan.unknown); extra > 0 {
		fmt.Fprintf(stdout, "other files %d (run 'chunkmap verify %s' to list them)\n", extra, dir)
	}
	return exitOK
}

// report collects what verify finds.
type report struct {
	problems []string
	notes    []string
}

func (r *report) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("verify")
	readAll := fs.Bool("read", false, "also read every byte in [Start, Size), to find I/O errors")
	pos, code, ok := parse(fs, args, 1, "DIR [-read]",
		`Verify checks that DIR holds a consistent dataset: a manifest that parses,
chunk files with canonical names and the chunk size, following each other
without a gap and covering Size. It reports every problem it finds and exits
with status 1 if there is one. Files left by an interrupted write, which the
next read-write Open cleans up, and files chunkmap does not know are listed
as notes. Verify opens the dataset read-only and changes nothing.`, stdout, stderr)
	if !ok {
		return code
	}
	dir := pos[0]
	fi, err := os.Stat(dir)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	if !fi.IsDir() {
		return fail(stderr, "verify", fmt.Errorf("%s is not a directory", dir))
	}
	scan, err := scanDir(dir)
	if err != nil {
		return fail(stderr, "verify", err)
	}

	var r report
	if !scan.manifest {
		r.problem("%s is missing", chunkmap.ManifestName)
	}
	m, openErr := openReadOnly(dir)
	if openErr != nil && !errors.Is(openErr, chunkmap.ErrReadOnly) {
		// ErrReadOnly here only says there is no dataset, which the
		// missing manifest already reports.
		r.problem("%v", openErr)
	}
	idx := scan.indices()

	// The chunk size: the manifest's when Open could read it, otherwise
	// the size most chunk files have.
	var cs, first, nchunks, start, size int64
	if m != nil {
		cs, start, size = m.ChunkSize(), m.Start(), m.Size()
		first, nchunks = start/cs, int64(m.Stats().Chunks)
	} else if len(idx) > 0 {
		cs = commonSize(scan)
		first = idx[0]
		r.note("the manifest could not be used; chunk files are checked against the size most of them have, %d bytes", cs)
	}

	for _, i := range idx {
		if m != nil && i < first {
			r.note("%s lies below Start (left by an interrupted DropBefore); the next read-write Open deletes it", chunk.Name(i))
			continue
		}
		fi := scan.chunks[i]
		switch {
		case !fi.Mode().IsRegular():
			r.problem("%s is not a regular file (%v)", chunk.Name(i), fi.Mode().Type())
		case fi.Size() != cs:
			r.problem("%s has %d bytes, want %d (the chunk size)", chunk.Name(i), fi.Size(), cs)
		}
	}
	// Contiguity: every chunk from the first on, without a gap.
	prev := int64(-1)
	for _, i := range idx {
		if i < first {
			continue
		}
		if prev >= 0 && i > prev+1 {
			if i == prev+2 {
				r.problem("%s is missing: chunks must follow each other without a gap", chunk.Name(prev+1))
			} else {
				r.problem("%d chunks are missing, %s: chunks must follow each other without a gap", i-prev-1, chunkRange(prev+1, i-prev-1))
			}
		}
		prev = i
	}
	if m != nil && nchunks > 0 && (size+cs-1)/cs > first+nchunks {
		r.problem("size %d needs chunks up to %s", size, chunk.Name((size+cs-1)/cs-1))
	}

	for _, name := range scan.temps {
		r.note("%s is a temporary file left by an interrupted write; the next read-write Open deletes it", name)
	}
	for _, name := range scan.unknown {
		if strings.HasSuffix(name, chunk.Ext) {
			r.note("%s is not a canonical chunk name (16 lower-case hex digits); chunkmap ignores it", name)
		} else {
			r.note("%s is not part of the dataset; chunkmap ignores it", name)
		}
	}

	if m != nil && *readAll && len(r.problems) == 0 {
		if err := readRange(m, start, size); err != nil {
			r.problem("read: %v", err)
		}
	}
	if m != nil {
		if err := m.Close(); err != nil {
			r.problem("close: %v", err)
		}
	}

	if len(r.problems) == 0 {
		fmt.Fprintf(stdout, "verify %s: OK\n", dir)
		fmt.Fprintf(stdout, "  %d chunks of %s (%s), start %d, size %d\n",
			nchunks, formatBytes(cs), chunkRange(first, nchunks), start, size)
		if *readAll {
			fmt.Fprintf(stdout, "  read %d bytes without error\n", size-start)
		}
	} else {
		fmt.Fprintf(stdout, "verify %s: FAILED, %d problem(s)\n", dir, len(r.problems))
		for _, p := range r.problems {
			fmt.Fprintf(stdout, "  problem: %s\n", p)
		}
	}
	for _, n := range r.notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	if len(r.problems) > 0 {
		fmt.Fprintf(stderr, "chunkmap verify: %s is not a consistent dataset (%d problem(s))\n", dir, len(r.problems))
		return exitFail
	}
	return exitOK
}

// commonSize returns the size most chunk files in scan have.
func commonSize(scan *dirScan) int64 {
	count := make(map[int64]int)
	var best int64
	for _, fi := range scan.chunks {
		count[fi.Size()]++
		if n := count[fi.Size()]; n > count[best] || (n == count[best] && fi.Size() > best) {
			best = fi.Size()
		}
	}
	return best
}

// readRange reads [from, to) of m, in blocks, and returns the first error.
func readRange(m *chunkmap.Manager, from, to int64) error {
	buf := make([]byte, 1<<20)
	for off := from; off < to; {
		n := int(min(int64(len(buf)), to-off))
		if _, err := m.ReadAt(buf[:n], off); err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}
