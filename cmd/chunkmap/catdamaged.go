package main

// This file holds cat for a damaged dataset, one that Open refuses as
// corrupt: it reads the chunk files directly (survey.go), prints what is
// readable, and fails naming what is not.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// errStopped ends a read once raw output has met a lost range.
var errStopped = errors.New("stopped at a lost range")

// catDamaged copies [off, off+n) of the damaged dataset in dir, which Open
// refused with openErr, to stdout. Raw output stops at the first lost byte,
// so that what it wrote is exactly the start of the range; a hex dump, whose
// lines carry their offsets, goes on past lost ranges and marks each one.
// Either way the exit status is exitFail if the range touches a lost one.
func catDamaged(dir string, chunkSize int64, off, n sizeValue, hexDump, all bool, openErr error, stdout, stderr io.Writer) int {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fail(stderr, "cat", openErr)
	}
	s, err := surveyDir(dir, chunkSize)
	if err != nil {
		return fail(stderr, "cat", err)
	}
	if !s.known() {
		return fail(stderr, "cat", fmt.Errorf("%v\n(%s is damaged: %v)", s.unknown(), dir, openErr))
	}
	fmt.Fprintf(stderr, "chunkmap cat: warning: %s is damaged (%s); reading its chunk files directly, with chunk size %d from %s, start %d and size %d from %s\n",
		dir, s.damage(openErr), s.cs, s.csFrom, s.start, s.size, s.extentFrom)
	// Chunks missing at either end of the valid record's extent beside a
	// damaged record were most likely deleted by the DropBefore or
	// Truncate that record holds (see droppedBelow): the default range
	// leaves them out, as salvage does, and a range that asks for them
	// is told so rather than that they are lost.
	shrunk := newShrunkEnds(s)
	from := off.n
	if !off.set {
		from = max(s.start, shrunk.lo)
	}
	if from < s.start || from > s.size {
		return fail(stderr, "cat", fmt.Errorf("-off %d is outside [Start, Size] = [%d, %d]", from, s.start, s.size))
	}
	to := s.size
	if !n.set && from < shrunk.hi {
		to = min(s.size, shrunk.hi)
	}
	if n.set && n.n < to-from {
		to = from + n.n
	}
	shrunk.leftOut(!off.set, !n.set, from, to, stderr)

	w := bufio.NewWriterSize(stdout, 64<<10)
	var dst io.Writer = w
	var dump *hexDumper
	if hexDump {
		// hexdump -C -s N prints the end of an empty range after a
		// skip, but not of an empty -n 0.
		dump = &hexDumper{w: w, off: from, all: all, dumped: from != 0 && !(n.set && n.n == 0)}
		dst = dump
	}
	var lost []lostRange
	err = newChunkReader(s).read(from, to, func(_ int64, p []byte) error {
		if dump == nil && len(lost) > 0 {
			return errStopped
		}
		_, err := dst.Write(p)
		return err
	}, func(l lostRange) {
		lost = append(lost, l)
		if dump != nil {
			dump.endRun()
			fmt.Fprintf(w, "*** [%d, %d) %s: %s ***\n", l.from, l.to, shrunk.verdict(l), shrunk.describe(l))
			dump.skipTo(l.to)
		}
	}, nil)
	if dump != nil {
		dump.Close()
	}
	// A write that failed left its error in w, and the flush returns it
	// again: it is named once.
	switch ferr := w.Flush(); {
	case err == nil || errors.Is(err, errStopped):
		err = ferr
	case ferr != nil && !errors.Is(err, ferr):
		err = errors.Join(err, ferr)
	}
	if err != nil {
		return fail(stderr, "cat", err)
	}
	// Two chunk names of one file read alike: one of the two chunks
	// holds the other's bytes, and nothing tells which. A range over
	// either is printed, but is not the dataset's for certain, as lost
	// bytes are not: a script must not take it for good.
	linked := false
	for _, pr := range s.pairs {
		for _, i := range pr {
			// The top chunk ends at 2^63, past the last offset.
			lo := i * s.cs
			hi := lo + min(s.cs, math.MaxInt64-lo)
			if lo < to && from < hi && from < to {
				fmt.Fprintf(stderr, "chunkmap cat: [%d, %d) is %s, which is one file with %s (hard links): one of the two chunks holds the other's bytes\n",
					max(lo, from), min(hi, to), chunk.Name(i), chunk.Name(pr[0]+pr[1]-i))
				linked = true
			}
		}
	}
	if len(lost) == 0 {
		if linked {
			return exitFail
		}
		return exitOK
	}
	if dump == nil {
		l := lost[0]
		fmt.Fprintf(stderr, "chunkmap cat: stopped at offset %d: [%d, %d) is %s: %s\n", l.from, l.from, l.to, shrunk.verdict(l), shrunk.describe(l))
		if l.to < to {
			fmt.Fprintf(stderr, "(-off %d goes on after it; 'chunkmap salvage -flat %s OUT' copies every readable byte, zeros where lost)\n", l.to, cmdArg(dir))
		}
		return exitFail
	}
	for _, l := range lost {
		fmt.Fprintf(stderr, "chunkmap cat: [%d, %d) is %s: %s\n", l.from, l.to, shrunk.verdict(l), shrunk.describe(l))
	}
	return exitFail
}

// shrunkEnds is the part of a damaged dataset's extent that a DropBefore
// (below lo) or a Truncate (from hi on) recorded in the manifest's damaged
// record most likely deleted: chunks missing at either end of the valid
// record's extent (see droppedBelow and truncatedPast). Where there are
// none, lo is math.MinInt64 and hi math.MaxInt64.
type shrunkEnds struct {
	lo, hi int64
	// damaged names the damaged record.
	damaged string
}

func newShrunkEnds(s *survey) shrunkEnds {
	e := shrunkEnds{lo: math.MinInt64, hi: math.MaxInt64}
	g, h := s.droppedBelow(), s.truncatedPast()
	if g >= 0 {
		e.lo = g * s.cs
	}
	if h >= 0 {
		e.hi = h * s.cs
	}
	if g >= 0 || h >= 0 {
		// Both need a valid record beside the damaged one.
		e.damaged = recordName(s.mv.version, 1-s.mv.best)
	}
	return e
}

// dropped and truncated tell whether l lies in the part below lo or from
// hi on.
func (e shrunkEnds) dropped(l lostRange) bool   { return l.kind == lossMissing && l.to <= e.lo }
func (e shrunkEnds) truncated(l lostRange) bool { return l.kind == lossMissing && l.from >= e.hi }

// verdict is what l is: lost, or not present where a shrink most likely
// deleted it.
func (e shrunkEnds) verdict(l lostRange) string {
	if e.dropped(l) || e.truncated(l) {
		return "not present"
	}
	return "lost"
}

// describe is l.describe, with the likely cause of chunks a shrink deleted.
func (e shrunkEnds) describe(l lostRange) string {
	switch {
	case e.dropped(l):
		return fmt.Sprintf("%s; most likely a DropBefore that the damaged %s recorded deleted these bytes, and if not, they are lost", l.describe(), e.damaged)
	case e.truncated(l):
		return fmt.Sprintf("%s; most likely a Truncate that the damaged %s recorded deleted these bytes, and if not, they are lost", l.describe(), e.damaged)
	}
	return l.describe()
}

// leftOut says which parts of the extent cat leaves out of [from, to)
// because a shrink most likely deleted them, where from (with defFrom) or
// to (with defTo) is the default.
func (e shrunkEnds) leftOut(defFrom, defTo bool, from, to int64, w io.Writer) {
	if defFrom && from == e.lo {
		fmt.Fprintf(w, "chunkmap cat: starting at %d, the first chunk file present: no chunk file holds the bytes before it; most likely a DropBefore that the damaged %s recorded dropped them, and if not, they are lost\n", from, e.damaged)
	}
	if defTo && to == e.hi {
		fmt.Fprintf(w, "chunkmap cat: ending at %d, the end of the last chunk file present: no chunk file holds the bytes after it; most likely a Truncate that the damaged %s recorded cut them, and if not, they are lost\n", to, e.damaged)
	}
}
