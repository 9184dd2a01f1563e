package stop

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/windows"
)

// stopSignals stop a program. Windows has no SIGHUP or SIGPIPE: Go
// delivers Ctrl-C and Ctrl-Break as os.Interrupt and the closing of the
// console, logoff and shutdown as SIGTERM, and a write to a closed pipe
// fails without a signal.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// pipeSignals are none here: a write to a closed pipe fails without a
// signal.
var pipeSignals []os.Signal

// isBrokenPipe reports whether err is a write to a pipe with no reader:
// ERROR_NO_DATA ("The pipe is being closed") or ERROR_BROKEN_PIPE.
func isBrokenPipe(err error) bool {
	return errors.Is(err, windows.ERROR_NO_DATA) || errors.Is(err, windows.ERROR_BROKEN_PIPE)
}

// watchOutput returns nil: here a closed output is seen at the next write
// to it, which fails.
func (s *Stopper) watchOutput() (end func()) { return nil }
