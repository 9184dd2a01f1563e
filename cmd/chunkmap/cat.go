package main

// This file holds the subcommands that read or change a dataset's bytes:
// cat and trim.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/chunkmap/chunkmap"
)

func runCat(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("cat")
	var off, n sizeValue
	fs.Var(&off, "off", "first `offset` to copy (default Start)")
	fs.Var(&n, "n", "number of `bytes` to copy (default up to Size)")
	hexDump := fs.Bool("hex", false, "print a hex dump with absolute offsets instead of raw bytes")
	pos, code, ok := parse(fs, args, 1, "DIR [-off N] [-n N] [-hex]",
		"Cat copies the bytes [off, off+n) of the dataset to standard output. A range\nthat reaches past Size stops at Size. It opens the dataset read-only.", stdout, stderr)
	if !ok {
		return code
	}
	m, err := openReadOnly(pos[0])
	if err != nil {
		return fail(stderr, "cat", err)
	}
	defer m.Close()
	from := off.n
	if !off.set {
		from = m.Start()
	}
	if from < m.Start() || from > m.Size() {
		return fail(stderr, "cat", fmt.Errorf("offset %d is outside [Start, Size] = [%d, %d]", from, m.Start(), m.Size()))
	}
	to := m.Size()
	if n.set && n.n < to-from {
		to = from + n.n
	}

	w := bufio.NewWriterSize(stdout, 64<<10)
	var dst io.Writer = w
	var dump *hexDumper
	if *hexDump {
		dump = &hexDumper{w: w, off: from}
		dst = dump
	}
	buf := make([]byte, 1<<20)
	for p := from; p < to; {
		k := int(min(int64(len(buf)), to-p))
		if _, err := m.ReadAt(buf[:k], p); err != nil {
			return fail(stderr, "cat", err)
		}
		if _, err := dst.Write(buf[:k]); err != nil {
			return fail(stderr, "cat", err)
		}
		p += int64(k)
	}
	if dump != nil {
		dump.Close()
	}
	if err := w.Flush(); err != nil {
		return fail(stderr, "cat", err)
	}
	return exitOK
}

// hexDumper writes a dump in the layout of hexdump -C, with offsets counted
// from off, the dataset offset of the first byte, rather than from zero
// (which is what encoding/hex.Dumper would print).
type hexDumper struct {
	w    *bufio.Writer
	off  int64
	line [16]byte
	n    int
}

func (d *hexDumper) Write(p []byte) (int, error) {
	for _, b := range p {
		d.line[d.n] = b
		d.n++
		if d.n == len(d.line) {
			d.flushLine()
		}
	}
	return len(p), nil
}

// Close writes the last, partial line.
func (d *hexDumper) Close() {
	if d.n > 0 {
		d.flushLine()
	}
}

func (d *hexDumper) flushLine() {
	fmt.Fprintf(d.w, "%016x  ", d.off)
	for i := range d.line {
		switch {
		case i < d.n:
			fmt.Fprintf(d.w, "%02x ", d.line[i])
		default:
			d.w.WriteString("   ")
		}
		if i == 7 {
			d.w.WriteByte(' ')
		}
	}
	d.w.WriteString(" |")
	for _, b := range d.line[:d.n] {
		if b < 0x20 || b > 0x7e {
			b = '.'
		}
		d.w.WriteByte(b)
	}
	d.w.WriteString("|\n")
	d.off += int64(d.n)
	d.n = 0
}

func runTrim(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("trim")
	var before sizeValue
	fs.Var(&before, "before", "delete the chunks wholly below this `offset` (required)")
	pos, code, ok := parse(fs, args, 1, "DIR -before OFF",
		`Trim deletes every chunk that lies wholly below OFF and moves Start up to
the first remaining chunk (OFF rounded down to a multiple of the chunk
size); offsets of the remaining bytes do not change. It is
Manager.DropBefore: the new Start is recorded in the manifest before any
file is deleted. It opens the dataset for writing, so it fails while another
writer has it open.`, stdout, stderr)
	if !ok {
		return code
	}
	if !before.set {
		fmt.Fprintln(stderr, "chunkmap trim: -before is required")
		return exitUsage
	}
	dir := pos[0]
	// A read-write Open would create a dataset where there is none.
	if _, err := os.Stat(filepath.Join(dir, chunkmap.ManifestName)); err != nil {
		return fail(stderr, "trim", fmt.Errorf("%s holds no dataset: %w", dir, err))
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 1})
	if err != nil {
		return fail(stderr, "trim", err)
	}
	oldStart, oldChunks := m.Start(), m.Stats().Chunks
	err = m.DropBefore(before.n)
	newStart, newChunks, size := m.Start(), m.Stats().Chunks, m.Size()
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(stderr, "trim", err)
	}
	if newStart == oldStart {
		fmt.Fprintf(stdout, "trim %s: nothing to delete: no chunk lies wholly below %d (start %d, chunk size %d)\n",
			dir, before.n, oldStart, m.ChunkSize())
		return exitOK
	}
	dropped := oldChunks - newChunks
	fmt.Fprintf(stdout, "trim %s: deleted %d chunk(s) (%s); start %d -> %d, size %d\n",
		dir, dropped, formatBytes(int64(dropped)*m.ChunkSize()), oldStart, newStart, size)
	return exitOK
}
