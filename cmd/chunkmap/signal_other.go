//go:build !unix && !windows

package main

import (
	"errors"
	"os"
	"syscall"
)

// stopSignals stop a command that must clean up (see stopper): here only
// os.Interrupt, the one signal every platform delivers.
var stopSignals = []os.Signal{os.Interrupt}

// isBrokenPipe reports whether err is a write to a pipe with no reader.
func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE)
}
