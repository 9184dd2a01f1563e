package main

// This file holds the subcommands that read or change a dataset's bytes:
// cat and trim.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/stop"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

func runCat(args []string, stdout, stderr io.Writer) (status int) {
	fs := newFlagSet("cat")
	var off, n sizeValue
	fs.Var(&off, "off", "first `offset` to copy (default Start)")
	fs.Var(&n, "n", "number of `bytes` to copy (default up to Size)")
	hexDump := fs.Bool("hex", false, "print a hex dump with absolute offsets instead of raw bytes, in the layout of hexdump -C")
	all := fs.Bool("all", false, "with -hex: print every line, also lines equal to the one before, which are otherwise shown as one '*' line (hexdump -v)")
	var cs sizeValue
	fs.Var(&cs, "chunk", "for a damaged dataset whose manifest has no valid record: the chunk `size` to assume (default: inferred from the chunk files)")
	pos, code, ok := parse(fs, args, 1,
		`Cat copies the bytes [off, off+n) of the dataset to standard output. A range
that reaches past Size stops at Size. It opens the dataset read-only.

With -hex it prints a hex dump instead, as hexdump -C does but with 16-digit
dataset offsets: of a run of equal lines (a run of zeros) only the first
is printed, followed by a line holding "*", and the dump goes on at the
next line that differs; the last line holds the offset where the range
ends. -all prints every line, as hexdump -v does.

A dataset that a writer has open is read as the writer changes it: if the
writer truncates it short of the range's end (whether or not it grows it
back before cat reads on), or drops the bytes cat has not read yet, while
cat reads, the output ends there, and cat says so and exits with status 1;
so it does if a writer opens the dataset meanwhile, if another file is put
under the manifest's name, or if cat cannot tell whether the writer cut the
dataset: a writer stopped or killed while it recorded a Truncate, or a
writer of an earlier build (one whose record of cuts keeps no older
entries) that made more than 32 Truncates, each to a Size above the last,
between two of cat's reads of 1 MiB (which a slow reader of its output can
space out). Where a writer of this build made as many, the manifest's
record of cuts may tell only a bound below the lowest Size they left; cat
goes on if it lies past the range, and otherwise ends the output at the
bound (or where it was, if it had printed past the bound before those
cuts), saying the dataset was perhaps truncated. The output never holds
bytes from before such a cut next to bytes written after it.

On a damaged dataset (one Open refuses as corrupt) it warns and reads the
chunk files directly: raw output stops at the first lost byte, a hex dump
marks each lost range and goes on; either way it exits with status 1,
naming the lost chunk, if the range touches one; a range over either of
two chunk names that are one file (hard links: one of the two chunks
holds the other's bytes) is printed whole, and cat exits with status 1
naming the pair. Where the manifest's
newest record is damaged and the chunks at the start (or end) of the
older record's extent are missing, a DropBefore (or Truncate) the damaged
record holds most likely deleted them: the default range leaves them out,
as salvage does, and a range that asks for them names them as not present.

A dataset that a salvage killed while it copied in place left marked
partial (SALVAGE-INCOMPLETE) may hold zeros where the copy had not reached:
cat prints its bytes, says so, and exits with status 1. So it does where
another program wrote over the manifest's state page to say less than its
record, and the page cuts the range short: a read-only Open follows the page.`, stdout, stderr)
	if !ok {
		return code
	}
	if *all && !*hexDump {
		fmt.Fprintln(stderr, "chunkmap cat: -all applies to -hex only; add -hex")
		return exitUsage
	}
	if code, ok := checkChunkSet(cs, "cat", stderr); !ok {
		return code
	}
	dir := datasetDir(pos[0])
	// A partial salvage opens like a whole dataset, its zeros where the
	// copy had not reached read like data: the output cannot be trusted,
	// as one that touches lost bytes cannot, and a script must not take
	// it for good.
	if partial := unfinishedSalvage(dir); partial != "" {
		defer func() {
			fmt.Fprintf(stderr, "chunkmap cat: %s; the output may hold such zeros: salvage the dataset it copied again\n", partial)
			status = exitFail
		}()
	}
	m, err := openReadOnly(dir)
	if errors.Is(err, chunkmap.ErrCorrupt) {
		return catDamaged(dir, cs.n, off, n, *hexDump, *all, err, stdout, stderr) // catdamaged.go
	}
	if err != nil {
		return fail(stderr, "cat", err)
	}
	defer m.Close()
	if err := chunkAgrees(cs, m.ChunkSize()); err != nil {
		return fail(stderr, "cat", err)
	}
	// Start and Size once: a writer that has the dataset open may move
	// them meanwhile (see the reads below).
	start, size := m.Start(), m.Size()
	// A read-only Open follows a state page that another program wrote
	// over to say less than the manifest's record (see pageBehind): the
	// bytes past the page's extent are there, but this Manager does not
	// reach them. A range the page cuts short is printed as far as it
	// goes, and cat fails, naming the page.
	behind, recStart, recSize, err := behindPage(dir)
	if err != nil {
		return fail(stderr, "cat", err)
	}
	from := off.n
	if !off.set {
		from = start
	}
	if from < start || from > size {
		if behind != "" {
			return fail(stderr, "cat", fmt.Errorf("-off %d is outside [Start, Size] = [%d, %d]: %s", from, start, size, behind))
		}
		return fail(stderr, "cat", fmt.Errorf("-off %d is outside [Start, Size] = [%d, %d]", from, start, size))
	}
	to := size
	if n.set && n.n < to-from {
		to = from + n.n
	}
	// Only a range that the page's extent ends before the record's does
	// is cut short by it: the default one, from a Start the page moved
	// up, or one that reaches a Size the page lowered.
	if behind != "" && ((!off.set && start > recStart) || (to == size && recSize > size)) {
		defer func() {
			fmt.Fprintf(stderr, "chunkmap cat: the output may end short of the dataset's bytes: %s\n", behind)
			status = exitFail
		}()
	} else if to == size {
		// So does one to a Size that a damaged newer record, or a
		// damaged state page, may have put further (see
		// pastDamagedRecord).
		past, err := pastDamagedRecord(dir, func() (*dirScan, error) { return scanDir(dir) }, m.ChunkSize(), size)
		if err != nil {
			return fail(stderr, "cat", err)
		}
		if past != "" {
			defer func() {
				fmt.Fprintf(stderr, "chunkmap cat: the output may end short of the dataset's bytes: %s\n", past)
				status = exitFail
			}()
		}
	}

	w := bufio.NewWriterSize(stdout, 64<<10)
	var dst io.Writer = w
	var dump *hexDumper
	if *hexDump {
		// hexdump -C -s N prints the end of an empty range after a
		// skip, but not of an empty -n 0.
		dump = &hexDumper{w: w, off: from, all: *all, dumped: from != 0 && !(n.set && n.n == 0)}
		dst = dump
	}
	// A Truncate (or a writer's Open) between two reads would leave the
	// output with bytes from before it followed by bytes written after
	// it, which the dataset never held at once: each read's bytes go out
	// only as far as no cut since cat began reached (see cutsSince), so
	// that the output is bytes the dataset held, as a file's read shows
	// a file that is written meanwhile.
	mw, err := watchManifest(dir)
	if err != nil {
		return fail(stderr, "cat", err)
	}
	defer mw.close()
	mark, err := mw.read(nil)
	if err != nil {
		return fail(stderr, "cat", err)
	}
	buf := make([]byte, 1<<20)
	for p := from; p < to; {
		k := int(min(int64(len(buf)), to-p))
		got, err := m.ReadAt(buf[:k], p)
		var cut string
		if now, merr := mw.read(&mark); merr != nil {
			// Whether the bytes read were cut cannot be told: they
			// do not go out.
			got, err = 0, merr
		} else if keep, c := cutsSince(mark, now, p > from, p, got, to); c != "" {
			got, err, cut = keep, nil, c
		} else if now.settled && (now.epoch != mark.epoch || !mark.settled) {
			// Cuts that spared the range, and drops, are forgotten:
			// the record tells the cuts apart over a bounded number
			// of them.
			// (A cut recorded but not yet followed by its epoch's
			// move is kept: see cutMark.since.)
			mark = now
		}
		if _, werr := dst.Write(buf[:got]); werr != nil {
			return fail(stderr, "cat", werr)
		}
		switch {
		case cut != "":
		case errors.Is(err, io.EOF) && got > 0:
			// A read that meets Size returns the bytes below it: this
			// is the Size that ended it (a later cut may have lowered
			// it since).
			cut = fmt.Sprintf("truncated to Size %d", p+int64(got))
		case errors.Is(err, io.EOF):
			cut = fmt.Sprintf("truncated to Size %d or less", p)
		case errors.Is(err, chunkmap.ErrOutOfRange) && p < m.Start():
			cut = fmt.Sprintf("dropped before Start %d", m.Start())
		case err != nil:
			// The bytes read before the error go out first, as a
			// file's read ends at its error: left in w, the output
			// ended short of the offset the error names.
			if dump != nil {
				dump.Close()
			}
			return fail(stderr, "cat", errors.Join(fmt.Errorf("%w: the output ends at offset %d", err, p+int64(got)), w.Flush()))
		}
		if cut != "" {
			// A writer that has the dataset open cut it: the output
			// ends where the bytes went, as a file's read ends at its
			// truncation.
			if dump != nil {
				dump.Close()
			}
			if err := w.Flush(); err != nil {
				return fail(stderr, "cat", err)
			}
			return fail(stderr, "cat", fmt.Errorf("%w: the dataset was %s while cat read it: the output ends at offset %d, short of %d",
				chunkmap.ErrOutOfRange, cut, p+int64(got), to))
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

// cutsSince says whether a writer cut the dataset below to (Truncate) or
// set it up anew (a writer's Open, or its restore of a state page another
// program wrote over, either of which may delete chunk files past Size)
// between mark and now, two reads of the manifest's state page, and how
// many of the got bytes read at p after mark, and before now, lie below
// every cut since mark: those held the same bytes throughout (or bytes
// written since, as any read of a file written meanwhile may show).
// printed says that cat printed bytes before p. It returns got and "" if
// no such cut came, or if the manifest never had a state page (one of
// format version 1, which no writer of this format has opened).
//
// The writer stores a cut's Size, records the cut, then moves the epoch,
// and only then deletes chunk files or writes again: while the epoch
// stands, no byte a read met below that Size changed but by a write. The
// record may already count a cut whose epoch has not moved yet (see
// cutMark.since), which mark keeps as one still to come. Where the epoch
// moved, the record tells whether a Truncate cut since mark and how far,
// or whether it was only a DropBefore, which cuts nothing below Size (a
// read below Start reports it); a record that did not settle tells
// nothing, and the read's bytes do not go out.
func cutsSince(mark, now cutMark, printed bool, p int64, got int, to int64) (keep int, cut string) {
	const anew = "opened anew by a writer (or its state page set up again)"
	switch {
	case !mark.magic && !now.magic:
		return got, ""
	case !now.magic:
		return 0, "left without a state page in its manifest by another program"
	case !mark.magic || mark.boot != now.boot:
		return 0, anew
	case mark.epoch == now.epoch:
		return got, ""
	case !mark.settled || !now.settled:
		return 0, "changed in a way cat cannot check (its state page's epoch moved, and the record of cuts beside it stayed in the middle of a change: a writer stopped or killed as it recorded a Truncate)"
	case mark.id != now.id:
		return 0, anew
	case mark.since() == now.cuts:
		return got, "" // DropBefore only
	}
	low, exact, ok := now.lowestSince(mark.since())
	keep = int(max(0, min(int64(got), low-p)))
	switch {
	case !ok:
		return 0, "truncated more times than its manifest's record of cuts reaches back"
	case low >= to:
		return got, ""
	case !exact:
		// Every cut since left Size at low or above: the bytes below
		// it go out, and the output ends there, where a cut may have
		// come.
		return keep, fmt.Sprintf("perhaps truncated (more cuts came between two of cat's reads than its manifest's record of cuts tells apart: it tells only that none left Size below %d)", low)
	case low < p && printed:
		return 0, fmt.Sprintf("truncated to Size %d (below bytes cat had printed, which it read before the cut)", low)
	}
	return keep, fmt.Sprintf("truncated to Size %d", low)
}

// cutMark is what the manifest's state page says of the writer's cuts of
// Size: its epoch, and chunkmap's statePage.cuts with its record of the
// lowest Sizes they left (cutLows), within one numbering of cuts (id),
// which a writer's Open begins anew.
type cutMark struct {
	magic bool   // a writer set the page up
	boot  string // that writer's boot ID
	epoch uint64
	// settled says that the record below was read whole, outside a
	// change; it is zero otherwise.
	settled bool
	cuts    uint64 // cuts counted so far
	// pending says that the last cut counted may not have moved the
	// epoch yet: it left the Size the page holds.
	pending bool
	id      uint64
	from    uint64 // cuts numbered below from may be missing from at
	n       uint64 // entries of at and size in use
	at      [cutLowsCap]uint64
	size    [cutLowsCap]int64
	older   olderCuts
}

// olderCuts is chunkmap's cutsOlder as cat reads it: the entries that left
// the full stack, answering below from, with bounds where they merged.
type olderCuts struct {
	id   uint64 // the numbering they are of (one a writer of an older version left, where not the stack's)
	from uint64 // the numbering's first cut
	n    uint64 // entries of at, size and upto in use
	at   [cutsOlderCap]uint64
	size [cutsOlderCap]int64
	upto [cutsOlderCap]uint64 // each entry's answer is exact for a c0 up to here
}

// since returns the number of the first cut that may still change bytes
// below the Size the page held: the cuts counted, less the last one where
// the page holds the Size it left. The writer stores that Size, records
// the cut, and only then moves the epoch: a page read in between counts a
// cut that changes nothing yet, and will once the epoch moves. (A cut
// that did move the epoch is taken along while the page still holds its
// Size, which changes nothing: every range cat reads ends at or below it.)
func (c cutMark) since() uint64 {
	if c.pending {
		return c.cuts - 1
	}
	return c.cuts
}

// The layout of chunkmap's statePage from its magic to the end of its
// cutLows (see manifest.go), at stateOff in the manifest: the fields are
// 8-byte aligned on every platform (the library checks it at compile
// time) and stored in the machine's byte order.
const (
	pageEpochOff = 56
	pageSizeAt   = 72
	pageCutsOff  = 120
	pageLowsOff  = 128 // seq, id, from, done, n, at, size, then the older entries
	cutLowsCap   = 32
	pageOlderOff = pageLowsOff + 5*8 + 2*cutLowsCap*8 // id, from, n, at, size, upto
	cutsOlderCap = 16
	pageCutsEnd  = pageOlderOff + 3*8 + 3*cutsOlderCap*8
)

// lowestSince returns the lowest Size that cuts numbered c0 or later left,
// or with exact false a bound below it (the older entries merge: see
// chunkmap's cutsOlder), and false where the record does not reach back to
// c0 or counts no cut from c0 on (cutsSince looks at that case first).
func (c cutMark) lowestSince(c0 uint64) (low int64, exact, ok bool) {
	if c.n > cutLowsCap || c0 >= c.cuts {
		return 0, false, false
	}
	if o := &c.older; c0 < c.from {
		if o.id != c.id || o.n > cutsOlderCap || c0 < o.from {
			return 0, false, false
		}
		for i := range o.n {
			if o.at[i] >= c0 {
				return o.size[i], c0 <= o.upto[i], true
			}
		}
	}
	for i := range c.n {
		if c.at[i] >= c0 {
			return c.size[i], true, true
		}
	}
	return 0, false, false
}

// settleFor is how long manifestWatch.read waits for a record in the
// middle of a change to settle: a change takes a fraction of a
// microsecond, unless the writer was stopped or killed inside it.
const settleFor = 100 * time.Millisecond

// manifestWatch is the manifest file that cat watches while it reads, open
// from when it begins: a manifest put under the name by another program
// (a copy renamed over it) is no longer the one the writer updates.
type manifestWatch struct {
	path string
	f    chunkFile
}

func watchManifest(dir string) (*manifestWatch, error) {
	path := filepath.Join(dir, chunkmap.ManifestName)
	f, err := vfs.OS.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot tell whether a writer cuts the dataset while cat reads it: %w", err)
	}
	return &manifestWatch{path: path, f: f}, nil
}

func (w *manifestWatch) close() { w.f.Close() }

// read reads the state page. The writer changes the record of cuts inside
// a sequence number that is odd meanwhile, with stores that a read of the
// file may see in part: the page is read twice, and the record taken as
// settled once the two reads agree and the number is even. read waits for
// that up to settleFor, unless the epoch is mark's, which makes the
// record moot (a writer killed inside a change leaves it so for good). A
// manifest too short to hold a state page gives a zero cutMark; one that
// cannot be read, or that another file has replaced under the name, an
// error.
func (w *manifestWatch) read(mark *cutMark) (cutMark, error) {
	fail := func(err error) (cutMark, error) {
		return cutMark{}, fmt.Errorf("cannot tell whether a writer cut the dataset while cat read it: %w", err)
	}
	if fi, err := os.Lstat(w.path); err != nil {
		return fail(err)
	} else if own, err := w.f.Stat(); err != nil {
		return fail(err)
	} else if !os.SameFile(fi, own) {
		return fail(fmt.Errorf("%s was replaced by another file, which its writer does not update", w.path))
	}
	var a, b [pageCutsEnd]byte
	read := func(p []byte) (bool, error) {
		if _, err := w.f.ReadAt(p, stateOff); errors.Is(err, io.EOF) {
			return false, nil // too short: no state page
		} else if err != nil {
			return false, err
		}
		return true, nil
	}
	deadline := time.Now().Add(settleFor)
	for tries := 0; ; tries++ {
		if ok, err := read(a[:]); err != nil {
			return fail(err)
		} else if !ok {
			return cutMark{}, nil
		}
		if ok, err := read(b[:]); err != nil {
			return fail(err)
		} else if !ok {
			return cutMark{}, nil
		}
		u := func(off int) uint64 { return binary.NativeEndian.Uint64(a[off:]) }
		c := cutMark{
			magic: string(a[:8]) == stateMagic,
			boot:  string(bytes.TrimRight(a[8:56], "\x00")),
			epoch: u(pageEpochOff),
		}
		// The magic, the boot ID and the record of cuts must agree;
		// the epoch and Size, words of their own, are taken from the
		// first read (Size and Start move with every write).
		if bytes.Equal(a[:56], b[:56]) && bytes.Equal(a[pageCutsOff:], b[pageCutsOff:]) && u(pageLowsOff)&1 == 0 {
			c.settled = true
			c.cuts, c.id = u(pageCutsOff), u(pageLowsOff+8)
			c.from, c.n = u(pageLowsOff+16), u(pageLowsOff+32)
			for i := range cutLowsCap {
				c.at[i] = u(pageLowsOff + 40 + 8*i)
				c.size[i] = int64(u(pageLowsOff + 40 + 8*cutLowsCap + 8*i))
			}
			o := &c.older
			o.id, o.from, o.n = u(pageOlderOff), u(pageOlderOff+8), u(pageOlderOff+16)
			for i := range cutsOlderCap {
				o.at[i] = u(pageOlderOff + 24 + 8*i)
				o.size[i] = int64(u(pageOlderOff + 24 + 8*cutsOlderCap + 8*i))
				o.upto[i] = u(pageOlderOff + 24 + 16*cutsOlderCap + 8*i)
			}
			if n := c.n; n > 0 && n <= cutLowsCap {
				c.pending = c.at[n-1]+1 == c.cuts && c.size[n-1] == int64(u(pageSizeAt))
			}
			return c, nil
		}
		if !c.magic || (mark != nil && mark.magic && mark.epoch == c.epoch) || time.Now().After(deadline) {
			return c, nil
		}
		if tries >= 8 {
			time.Sleep(time.Millisecond)
		}
	}
}

// hexDumper writes a dump in the layout of hexdump -C, with offsets counted
// from off, the dataset offset of the first byte, rather than from zero
// (which is what encoding/hex.Dumper would print), and written with 16
// digits rather than 8.
//
// Like hexdump -C (util-linux), unless all is set (hexdump -v), a whole
// line equal to the whole line before it is not printed: the first of a
// run is replaced by a line holding "*", the rest by nothing. A partial
// line, the last of a range, is always printed. Close prints the offset
// where the dump ends, on a line of its own, if any byte was dumped or the
// dump began after a skip (as hexdump -C -s N does, unless -n 0).
type hexDumper struct {
	w    *bufio.Writer
	off  int64 // dataset offset of line[0]
	line [16]byte
	n    int  // bytes in line
	all  bool // print every line (cat -all)

	prev     [16]byte // the whole line before line, printed or not
	havePrev bool     // prev holds it: false at the start of a run of bytes
	starred  bool     // the "*" of the repeats of prev is out
	dumped   bool     // a byte or a gap was dumped, or the dump began after a skip: Close prints the end
}

func (d *hexDumper) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(d.line[d.n:], p)
		d.n += k
		p = p[k:]
		if d.n == len(d.line) {
			d.wholeLine()
		}
	}
	return n, nil
}

// wholeLine prints the whole line held, or squeezes it.
func (d *hexDumper) wholeLine() {
	if !d.all && d.havePrev && d.line == d.prev {
		if !d.starred {
			d.w.WriteString("*\n")
			d.starred = true
		}
	} else {
		d.printLine()
		d.prev, d.havePrev, d.starred = d.line, true, false
	}
	d.off += int64(len(d.line))
	d.n, d.dumped = 0, true
}

// endRun prints the partial line held, if any, and ends the run of bytes:
// the next line is printed even if it equals the last one.
func (d *hexDumper) endRun() {
	if d.n > 0 {
		d.printLine()
		d.off += int64(d.n)
		d.n, d.dumped = 0, true
	}
	d.havePrev, d.starred = false, false
}

// skipTo ends the run of bytes and goes on at dataset offset off, after a
// gap (a lost range, which the caller marks).
func (d *hexDumper) skipTo(off int64) {
	d.endRun()
	d.off, d.dumped = off, true
}

// Close ends the dump: the partial line held, and the line with the
// offset where the dump ends, as hexdump ends its own.
func (d *hexDumper) Close() {
	d.endRun()
	if d.dumped {
		fmt.Fprintf(d.w, "%016x\n", d.off)
	}
}

// printLine prints the d.n bytes of line.
func (d *hexDumper) printLine() {
	const digits = "0123456789abcdef"
	fmt.Fprintf(d.w, "%016x  ", d.off)
	for i, b := range d.line {
		switch {
		case i < d.n:
			d.w.Write([]byte{digits[b>>4], digits[b&15], ' '})
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
}

// trimSteps is the most steps trim deletes chunks in: each records the
// new Start in the manifest (an fsync) and then deletes its chunk files.
const trimSteps = 64

// trimConfig is one trim.
type trimConfig struct {
	dir    string
	before int64
	// meter returns the progress meter; nil means newMeter on standard
	// error. Tests set it to see the meter.
	meter func(label string, total int64) *meter
}

func runTrim(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("trim")
	var before sizeValue
	fs.Var(&before, "before", "delete the chunks wholly below this `offset` (required)")
	pos, code, ok := parse(fs, args, 1,
		`Trim deletes every chunk that lies wholly below OFF and moves Start up to
the first remaining chunk (OFF rounded down to a multiple of the chunk
size); offsets of the remaining bytes do not change. It is
Manager.DropBefore, called in up to 64 steps of whole chunks from the
lowest: each step records its new Start in the manifest before it deletes
any file, so an interruption at any point leaves a consistent dataset. It
opens the dataset for writing, so it fails while another writer has it
open. A progress line goes to standard error when it is a terminal.

Ctrl-C, SIGTERM or SIGHUP stop it after the step it is in, with status 1
and what is done; run trim again to finish.`, stdout, stderr)
	if !ok {
		return code
	}
	if !before.set {
		fmt.Fprintln(stderr, "chunkmap trim: -before is required")
		return exitUsage
	}
	s := stop.New(rawOutput(stdout))
	defer s.Release()
	err := trim(s.Context(), trimConfig{dir: datasetDir(pos[0]), before: before.n}, s, stderr)
	return status(s, "trim", err, stderr)
}

// trim runs cfg, printing what it did to stdout, and returns its error.
func trim(ctx context.Context, cfg trimConfig, stdout, stderr io.Writer) (err error) {
	dir := cfg.dir
	// A read-write Open would create a dataset where there is none. Only
	// a name that is not there says so: a manifest that cannot be
	// examined (permission denied) may well be a dataset's, and one that
	// is not a regular file is Open's to refuse, naming it.
	manifest := filepath.Join(dir, chunkmap.ManifestName)
	if _, err := os.Lstat(manifest); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// Chunk files without their manifest are a damaged dataset, as
		// verify and salvage call it, not "no dataset".
		if scan, serr := scanDir(dir); serr == nil && len(scan.chunks) > 0 {
			return fmt.Errorf("%w: %s is missing (%d chunk files are present)\n(trim changed nothing: run 'chunkmap verify %s' for a full report, 'chunkmap salvage %s OUT' to copy what is readable)",
				chunkmap.ErrCorrupt, manifest, len(scan.chunks), cmdArg(dir), cmdArg(dir))
		}
		return fmt.Errorf("%s holds no dataset: %w", dir, err)
	} else if err != nil {
		return err
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 1})
	// An Open that refuses the dataset leaves it as it was: say so, and
	// what would let trim run, as the library's error does not.
	switch {
	case errors.Is(err, chunkmap.ErrCorrupt):
		return fmt.Errorf("%w\n(trim changed nothing: run 'chunkmap verify %s' for a full report, 'chunkmap salvage %s OUT' to copy what is readable)", err, cmdArg(dir), cmdArg(dir))
	case errors.Is(err, chunkmap.ErrLocked):
		return fmt.Errorf("%w\n(trim changed nothing: it opens the dataset for writing; close the writer that has it open, and run trim again)", err)
	case err != nil:
		return err
	}
	cs, oldStart, oldChunks, size := m.ChunkSize(), m.Start(), m.Stats().Chunks, m.Size()
	if cfg.before > size {
		return errors.Join(fmt.Errorf("-before %d is out of range: past Size %d", cfg.before, size), m.Close())
	}
	target := cfg.before / cs * cs
	if target <= oldStart {
		if err := m.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "trim %s: nothing to delete: no chunk lies wholly below %d (start %d, chunk size %d)\n",
			dir, cfg.before, oldStart, cs)
		return nil
	}

	newMeterFunc := cfg.meter
	if newMeterFunc == nil {
		newMeterFunc = func(label string, total int64) *meter { return newMeter(stderr, label, total) }
	}
	prog := newMeterFunc("trim "+dir, target-oldStart)
	step := chunksFor(target-oldStart, trimSteps*cs) * cs // whole chunks
	var stopped error
	for cur := oldStart; cur < target && err == nil; cur = m.Start() {
		if stopped = stopErr(ctx); stopped != nil {
			break
		}
		next := target
		if step < target-cur {
			next = cur + step // below target: no overflow
		}
		err = m.DropBefore(next)
		prog.add(m.Start() - cur)
	}
	prog.finish()
	newStart, newChunks, size := m.Start(), m.Stats().Chunks, m.Size()
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	dropped := oldChunks - newChunks
	moved := fmt.Sprintf("%d chunk(s) (%s); start %d -> %d, size %d", dropped, formatBytes(int64(dropped)*cs), oldStart, newStart, size)
	switch {
	case err != nil && newStart > oldStart:
		// Start moved, but a chunk file the error names may still be
		// there (DropBefore records the new Start before it deletes):
		// the chunks are out of the dataset, not necessarily deleted.
		return fmt.Errorf("%w (the dataset's start moved all the same: dropped %s; a chunk file below start that is still there is deleted by the next read-write Open that may)", err, moved)
	case err != nil:
		return err
	case stopped != nil:
		return fmt.Errorf("%w, with %d of %d chunk(s) deleted: start %d -> %d (want %d); run trim again to finish",
			stopped, dropped, (target-oldStart)/cs, oldStart, newStart, target)
	}
	fmt.Fprintf(stdout, "trim %s: deleted %s\n", dir, moved)
	return nil
}
