package main

// This file holds how the commands that create or delete files (demo and
// trim) stop when they are asked to: on Ctrl-C, SIGTERM or SIGHUP, or when
// their standard output is closed (chunkmap demo | head -1), they stop at
// their next check, clean up (demo closes its dataset and removes its
// temporary directory; trim finishes the step it is in), and exit with
// status 1: with a message for a signal, quietly for a closed pipe. The
// other commands only read, and keep the default: a signal or a closed
// pipe ends them at once, which leaves nothing behind.
//
// The signals are in signal_unix.go, signal_windows.go and
// signal_other.go, with isBrokenPipe.

import (
	"context"
	"fmt"
	"io"
	"os/signal"
)

// stopper is what a command that must clean up runs under: a context that
// is cancelled when the process is asked to stop, and the command's
// standard output, whose first failed write counts as such a request.
// While a stopper is in force (until release), the stop signals no longer
// end the process: the command must check ctx often enough.
type stopper struct {
	ctx     context.Context
	out     *stopWriter
	release func()
}

// newStopper starts watching for stopSignals and for write errors on
// stdout. Call release when the command is done.
func newStopper(stdout io.Writer) *stopper {
	sigCtx, stopNotify := signal.NotifyContext(context.Background(), stopSignals...)
	ctx, cancel := context.WithCancelCause(sigCtx)
	return &stopper{
		ctx: ctx,
		out: &stopWriter{w: stdout, cancel: cancel},
		release: func() {
			cancel(nil)
			stopNotify()
		},
	}
}

// stopErr returns the error that ends a command whose context ctx is
// done: "stopped: " and the cause, a signal ("terminated signal received")
// or the write error of standard output. It returns nil while the command
// may go on.
func stopErr(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return fmt.Errorf("stopped: %w", context.Cause(ctx))
}

// status prints err, the outcome of command name, and returns the exit
// status: exitOK for no error; exitFail, printing nothing, when standard
// output is a broken pipe (whoever read it is gone and wants no more);
// exitFail with the error otherwise.
func (s *stopper) status(name string, err error, stderr io.Writer) int {
	switch {
	case s.out.err != nil && isBrokenPipe(s.out.err):
		return exitFail
	case err != nil:
		return fail(stderr, name, err)
	case s.out.err != nil:
		return fail(stderr, name, fmt.Errorf("write standard output: %w", s.out.err))
	}
	return exitOK
}

// stopWriter is a command's standard output under a stopper: it passes
// writes on, and the first that fails cancels the stopper's context, so
// that the command stops at its next check, and fails every later write.
type stopWriter struct {
	w      io.Writer
	cancel context.CancelCauseFunc
	err    error // the first write error
}

func (o *stopWriter) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.w.Write(p)
	if err != nil {
		o.err = err
		o.cancel(fmt.Errorf("write standard output: %w", err))
	}
	return n, err
}
