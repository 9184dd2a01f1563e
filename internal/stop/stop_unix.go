//go:build unix

package stop

import (
	"errors"
	"os"
	"syscall"
)

// stopSignals stop a program: Ctrl-C, kill's default SIGTERM, and SIGHUP
// when the terminal goes away.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// pipeSignals are raised by a write to a pipe with no reader: SIGPIPE.
// Notifying it turns what would end the process at a write to a closed
// standard output into an EPIPE error of that write (os/signal's
// documentation, "SIGPIPE"); a Stopper that watches its output (New) stops
// on it too, and one that does not (Signals) lets the write fail alone.
var pipeSignals = []os.Signal{syscall.SIGPIPE}

// isBrokenPipe reports whether err is a write to a pipe with no reader.
func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE)
}

// watchOutput watches the output, if it is a pipe or a socket, for its
// reader going away, and returns what ends the watch (nil if there is
// none). The system reports an error (a pipe) or a hang-up (a Unix-domain
// socket) on the writing end once nothing reads the other, with no write
// needed (a TCP peer's close shows only to a write, as before): a
// program that writes rarely (the demo, between its phases) then stops at
// its next check, where a failed write would stop it only at its next
// write. The watch waits on a pipe of its own too, whose closing ends it
// (awaitGone). The program may close the output while it is watched: the
// watch does not keep it open (see awaitGone).
func (s *Stopper) watchOutput() (end func()) {
	f, ok := s.w.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return nil
	}
	out, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	wake, woken, err := os.Pipe()
	if err != nil {
		return nil
	}
	wakeConn, err := wake.SyscallConn()
	if err != nil {
		wake.Close()
		woken.Close()
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if awaitGone(out, wakeConn) {
			s.outputGone(&os.PathError{Op: "poll", Path: f.Name(), Err: syscall.EPIPE})
		}
	}()
	return func() {
		woken.Close()
		<-done
		wake.Close()
	}
}
