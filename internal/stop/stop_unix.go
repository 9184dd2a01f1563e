//go:build unix

package stop

import (
	"errors"
	"os"
	"syscall"
)

// stopSignals stop a program: Ctrl-C, kill's default SIGTERM, SIGHUP when
// the terminal goes away, and SIGPIPE. Notifying SIGPIPE turns what would
// end the process at a write to a closed standard output into an EPIPE
// error of that write (os/signal's documentation, "SIGPIPE"), which the
// Stopper sees.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE}

// isBrokenPipe reports whether err is a write to a pipe with no reader.
func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE)
}
