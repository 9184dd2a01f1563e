package main

// This file holds the progress meter of every long operation (demo's
// phases, trim, verify -read, salvage): one line on standard error, redrawn
// in place, and only when standard error is a terminal, so that scripts and
// logs see nothing of it.

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// meterEvery is the least time between two draws of a meter, and how long
// an operation runs before its line first appears: shorter operations draw
// nothing.
const meterEvery = 500 * time.Millisecond

// meter shows the progress of a long operation on a terminal: one line,
// "label:  40% (412 MiB of 1 GiB)", redrawn at most every m.every, and
// erased by finish. A nil *meter shows nothing, so callers never test for
// one.
//
// A meter is not safe for concurrent use; wait draws from a goroutine of
// its own only while its caller is blocked in f.
type meter struct {
	w      io.Writer
	label  string
	total  int64         // bytes the operation will go through
	every  time.Duration // least time between draws; 0 draws on every call
	done   int64         // bytes gone through, lost ones included
	lostN  int64         // bytes lost (salvage, verify -read)
	began  time.Time     // for the time wait shows
	shown  time.Time     // the last draw, or began
	showed bool          // a line is on the terminal, for finish to erase
}

// newMeter returns a meter for an operation over total bytes, drawing on
// stderr, or nil when stderr is not a terminal.
func newMeter(stderr io.Writer, label string, total int64) *meter {
	if !isTerminal(stderr) {
		return nil
	}
	now := time.Now()
	return &meter{w: stderr, label: label, total: total, every: meterEvery, began: now, shown: now}
}

// isTerminal reports whether w is a terminal: a character device such as
// /dev/null is not (see terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && terminal(f)
}

// add counts n more bytes done, and redraws the line if it is time.
func (m *meter) add(n int64) {
	if m == nil {
		return
	}
	m.done += n
	if m.due() {
		line := fmt.Sprintf("%s: %3.0f%% (%s of %s)", m.label, 100*float64(m.done)/float64(max(m.total, 1)),
			formatBytes(m.done), formatBytes(m.total))
		if m.lostN > 0 {
			line += fmt.Sprintf(", %s lost", formatBytes(m.lostN))
		}
		m.draw(line)
	}
}

// lose counts n bytes lost; add counts them as done.
func (m *meter) lose(n int64) {
	if m != nil {
		m.lostN += n
	}
}

// wait calls f, an operation that tells nothing of its progress (an
// fsync, one library call), and shows the time it has taken until it
// returns: "chunkmap sync: 2.5s". It returns f's error.
func (m *meter) wait(f func() error) error {
	if m == nil {
		return f()
	}
	tick := func() {
		if m.due() {
			m.draw(fmt.Sprintf("%s: %.1fs", m.label, time.Since(m.began).Seconds()))
		}
	}
	tick()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(m.every, 50*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				tick()
			}
		}
	})
	err := f()
	close(done)
	wg.Wait() // the goroutine draws no more: m is the caller's again
	return err
}

// due reports whether the line may be drawn now.
func (m *meter) due() bool {
	return time.Since(m.shown) >= m.every
}

// draw replaces the line on the terminal with line.
func (m *meter) draw(line string) {
	m.shown, m.showed = time.Now(), true
	fmt.Fprintf(m.w, "\r\033[K%s", line)
}

// finish erases the line, if one was drawn. It may be called more than
// once.
func (m *meter) finish() {
	if m != nil && m.showed {
		fmt.Fprint(m.w, "\r\033[K")
		m.showed = false
	}
}
