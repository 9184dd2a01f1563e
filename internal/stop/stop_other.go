//go:build !unix && !windows

package stop

import (
	"errors"
	"os"
	"syscall"
)

// stopSignals stop a program: here only os.Interrupt, the one signal
// every platform delivers.
var stopSignals = []os.Signal{os.Interrupt}

// pipeSignals are none here: a write to a closed pipe fails without a
// signal.
var pipeSignals []os.Signal

// isBrokenPipe reports whether err is a write to a pipe with no reader.
func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE)
}

// watchOutput returns nil: here a closed output is seen at the next write
// to it, which fails.
func (s *Stopper) watchOutput() (end func()) { return nil }
