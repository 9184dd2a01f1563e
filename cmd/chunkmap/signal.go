package main

// This file holds how the commands that create or delete files (demo and
// trim) stop when they are asked to: on Ctrl-C, SIGTERM or SIGHUP, or when
// their standard output is closed (chunkmap demo | head -1), they stop at
// their next check, clean up (demo closes its dataset and removes its
// temporary directory; trim finishes the step it is in), and exit with
// status 1: with a message for a signal, quietly for a closed pipe.
// salvage stops on the signals alone, and removes OUT (see runSalvage). The
// other commands only read, and keep the default: a signal or a closed
// pipe ends them at once, which leaves nothing behind.
//
// The stopper itself is internal/stop's, which the examples use too.

import (
	"context"
	"fmt"
	"io"

	"github.com/chunkmap/chunkmap/internal/stop"
)

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

// status prints err, the outcome of command name run under s, and
// returns the exit status: exitOK for no error; exitFail, printing
// nothing, when standard output is a broken pipe (whoever read it is gone
// and wants no more); exitFail with the error otherwise.
func status(s *stop.Stopper, name string, err error, stderr io.Writer) int {
	werr := s.OutputErr()
	switch {
	case stop.Quiet(werr):
		return exitFail
	case err != nil:
		return fail(stderr, name, err)
	case werr != nil:
		return fail(stderr, name, werr)
	}
	return exitOK
}
