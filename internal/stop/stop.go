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
// The signals are in stop_unix.go, stop_windows.go and stop_other.go, with
// isBrokenPipe.
package stop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"sync"
)

// A Stopper watches for the stop signals and for the first failed write to
// the output it wraps. While it is in force (until Release) the stop
// signals no longer end the process: the program must call Err often
// enough.
type Stopper struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	release func()
	w       io.Writer

	mu   sync.Mutex // serialises writes; protects werr
	werr error      // the first write error
}

// New starts watching for the stop signals and for write errors on w,
// the program's standard output. Call Release when the program is done.
func New(w io.Writer) *Stopper {
	sigCtx, stopNotify := signal.NotifyContext(context.Background(), stopSignals...)
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
		s.werr = err
		s.cancel(&outputError{err})
	}
	return n, err
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
// again.
func (s *Stopper) Release() {
	s.release()
	s.cancel(nil)
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
