// Package stop lets the programs in examples/, and the commands of
// cmd/chunkmap that create or delete files, stop cleanly when they are
// asked to: on Ctrl-C, SIGTERM or SIGHUP, or when their standard output is
// closed (go run ./examples/hugearray | head -1), a program sees it at its
// next check, closes its dataset, removes its temporary directory and
// exits with status 1, quietly for a closed output. Left to the defaults,
// each of these ends the process at once and leaves the temporary
// directory behind: for hugearray's defaults, 4 GiB in the system's
// temporary directory.
//
// A closed output is seen as soon as its reader goes where the output is
// a pipe or a Unix-domain socket on Unix (watchOutput), and elsewhere (a
// TCP socket, whose peer's close the system reports only to a write; other
// platforms) at the next write to it, which fails.
//
// The signals are in stop_unix.go, stop_windows.go and stop_other.go, with
// isBrokenPipe and watchOutput.
package stop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
)

// A Stopper watches for the stop signals and for the first failed write to
// the output it wraps. While it is in force (until Release) the stop
// signals no longer end the process: the program must call Err often
// enough.
type Stopper struct {
	ctx      context.Context
	cancel   context.CancelCauseFunc
	release  func()
	endWatch func() // ends watchOutput's watch; nil if there is none
	once     sync.Once
	w        io.Writer

	mu   sync.Mutex // serialises writes; protects werr
	werr error      // the first write error
}

// New starts watching for the stop signals and for write errors on w,
// the program's standard output. Call Release when the program is done.
func New(w io.Writer) *Stopper {
	s := newStopper(w, append(stopSignals[:len(stopSignals):len(stopSignals)], pipeSignals...))
	s.endWatch = s.watchOutput()
	return s
}

// Signals starts watching for the stop signals alone, for a program whose
// work a closed standard output must not end (chunkmap salvage, whose
// copy is the point, not what it prints): a write to a pipe with no reader
// fails with EPIPE, neither stopping the program nor, as SIGPIPE does by
// default at a write to standard output or error, ending the process.
// Call Release when the program is done.
func Signals() *Stopper {
	s := newStopper(io.Discard, stopSignals)
	if len(pipeSignals) > 0 {
		// Notified to a channel nobody reads: the signal is dropped, and
		// the write that raised it returns EPIPE.
		drain := make(chan os.Signal, 1)
		signal.Notify(drain, pipeSignals...)
		release := s.release
		s.release = func() { release(); signal.Stop(drain) }
	}
	return s
}

// newStopper returns a Stopper of output w that stops on sigs.
func newStopper(w io.Writer, sigs []os.Signal) *Stopper {
	sigCtx, stopNotify := signal.NotifyContext(context.Background(), sigs...)
	ctx, cancel := context.WithCancelCause(sigCtx)
	return &Stopper{ctx: ctx, cancel: cancel, release: stopNotify, w: w}
}

// Write writes p to the output. The first write that fails stops the
// program (Err returns non-nil from then on), and every later one fails
// with the same error without writing.
func (s *Stopper) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.werr != nil {
		return 0, s.werr
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.failLocked(err)
	}
	return n, err
}

// outputGone stops the program for err, the output's reader gone, as a
// failed write would, unless a write failed first.
func (s *Stopper) outputGone(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.werr == nil {
		s.failLocked(err)
	}
}

// failLocked records err as the output's error and stops the program.
//
// REQUIRES: s.mu held; s.werr nil.
func (s *Stopper) failLocked(err error) {
	s.werr = err
	s.cancel(&outputError{err})
}

// Err returns nil while the program may go on, and once it was asked to
// stop, "stopped: " and the cause: the signal ("stopped: interrupt signal
// received") or the write error of the output. It means nothing after
// Release.
func (s *Stopper) Err() error {
	if s.ctx.Err() == nil {
		return nil
	}
	s.mu.Lock()
	werr := s.werr
	s.mu.Unlock()
	if werr != nil {
		// The write that failed with EPIPE also raised SIGPIPE, which
		// may have reached the context first: the write error is the
		// cause that says the output is gone.
		return fmt.Errorf("stopped: %w", &outputError{werr})
	}
	return fmt.Errorf("stopped: %w", context.Cause(s.ctx))
}

// Context returns a context that is done once the program is asked to
// stop, for code that checks a context rather than the Stopper; its cause
// is the signal, or the write error of the output (but see Err, which
// names the write error where both came).
func (s *Stopper) Context() context.Context { return s.ctx }

// OutputErr returns the first failed write to the output, as "write
// standard output: " and its error, or nil if none failed.
func (s *Stopper) OutputErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.werr == nil {
		return nil
	}
	return &outputError{s.werr}
}

// Release stops watching: the stop signals have their default effect
// again, and nothing watches the output. Calling it again does nothing.
func (s *Stopper) Release() {
	s.once.Do(func() {
		s.release()
		if s.endWatch != nil {
			s.endWatch()
		}
		s.cancel(nil)
	})
}

// outputError is the cause of a stop by a failed write to the output.
type outputError struct{ err error }

func (e *outputError) Error() string { return "write standard output: " + e.err.Error() }
func (e *outputError) Unwrap() error { return e.err }

// Quiet reports whether err is a stop by a write to a closed pipe, which
// the program should not report: whoever read its output is gone and wants
// no more.
func Quiet(err error) bool {
	var oe *outputError
	return errors.As(err, &oe) && isBrokenPipe(oe.err)
}

// Checked passes writes on to W and keeps the first error one returned, in
// Err: fmt.Fprint* and flag's usage drop the errors of their writes, and a
// program whose output was lost must not report success.
type Checked struct {
	W   io.Writer
	Err error
}

// Write writes p to W, and keeps its error if it is the first.
func (c *Checked) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	if err != nil && c.Err == nil {
		c.Err = err
	}
	return n, err
}
