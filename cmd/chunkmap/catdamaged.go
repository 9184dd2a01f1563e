package main

// This file holds cat for a damaged dataset, one that Open refuses as
// corrupt: it reads the chunk files directly (survey.go), prints what is
// readable, and fails naming what is not.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
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
	from := off.n
	if !off.set {
		from = s.start
	}
	if from < s.start || from > s.size {
		return fail(stderr, "cat", fmt.Errorf("-off %d is outside [Start, Size] = [%d, %d]", from, s.start, s.size))
	}
	to := s.size
	if n.set && n.n < to-from {
		to = from + n.n
	}

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
			fmt.Fprintf(w, "*** [%d, %d) lost: %s ***\n", l.from, l.to, l.describe())
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
	if len(lost) == 0 {
		return exitOK
	}
	if dump == nil {
		l := lost[0]
		fmt.Fprintf(stderr, "chunkmap cat: stopped at offset %d: [%d, %d) is lost: %s\n", l.from, l.from, l.to, l.describe())
		if l.to < to {
			fmt.Fprintf(stderr, "(-off %d goes on after it; 'chunkmap salvage -flat %s OUT' copies every readable byte, zeros where lost)\n", l.to, cmdArg(dir))
		}
		return exitFail
	}
	for _, l := range lost {
		fmt.Fprintf(stderr, "chunkmap cat: [%d, %d) is lost: %s\n", l.from, l.to, l.describe())
	}
	return exitFail
}
