//go:build unix

package stop

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopper_ReaderGone checks that a Stopper whose output is a pipe or a
// socket stops the program, quietly, once the reader goes, with no write:
// a program that writes rarely would otherwise go on until its next write
// fails. Later writes fail without writing.
func TestStopper_ReaderGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		pair func(t *testing.T) (w *os.File, closeReader func())
	}{
		{"pipe", func(t *testing.T) (*os.File, func()) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close() })
			return w, func() { r.Close() }
		}},
		{"socket", func(t *testing.T) (*os.File, func()) {
			path := filepath.Join(t.TempDir(), "s")
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			peer, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			f, err := c.(*net.UnixConn).File()
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f, func() { peer.Close() }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, closeReader := tc.pair(t)
			s := New(w)
			defer s.Release()
			if s.Err() != nil {
				t.Fatalf("Err() = %v before the reader went", s.Err())
			}
			closeReader()
			deadline := time.Now().Add(10 * time.Second)
			for s.Err() == nil && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			err := s.Err()
			if err == nil {
				t.Fatal("the reader went, and Err() is still nil with no write")
			}
			if !Quiet(err) {
				t.Errorf("Err() = %v, not quiet", err)
			}
			if _, werr := s.Write([]byte("x")); werr == nil {
				t.Error("a write after the reader went succeeded")
			}
		})
	}
}

// TestStopper_ReleaseEndsTheWatch checks that Release ends the watch of a
// live pipe at once, leaves the program going on, and may be called twice.
func TestStopper_ReleaseEndsTheWatch(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	before := runtime.NumGoroutine()
	s := New(w)
	if s.endWatch == nil {
		t.Fatal("no watch of a pipe")
	}
	if _, err := s.Write([]byte("x")); err != nil || s.Err() != nil {
		t.Fatalf("write: %v, Err() = %v", err, s.Err())
	}
	s.Release()
	s.Release()
	// Release waited for the watch; the context's goroutine from
	// signal.NotifyContext may take an instant more.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Release, %d before New", n, before)
	}
	if _, err := w.Write([]byte("y")); err != nil {
		t.Errorf("the pipe after Release: %v", err)
	}
}

// TestStopper_ProgramClosesOutput checks that a program may close its
// output while the Stopper watches it, before Release: the close returns,
// and the reader sees the end of the output at once, as without a watch.
// An output in non-blocking mode (os.Pipe's, or a standard output a parent
// left so) is waited for by Close until nothing uses its descriptor, and a
// blocking one is closed by the system only then: a watch that held the
// descriptor until Release hung the first and kept the second open.
func TestStopper_ProgramClosesOutput(t *testing.T) {
	for _, tc := range []struct {
		name     string
		blocking bool
	}{
		{"non-blocking pipe", false},
		{"blocking pipe", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if tc.blocking {
				// As the os package makes standard output: a File of
				// a descriptor in blocking mode, not polled.
				fd, err := syscall.Dup(int(w.Fd()))
				if err != nil {
					t.Fatal(err)
				}
				w.Close()
				w = os.NewFile(uintptr(fd), "blocking")
			}
			s := New(w)
			defer s.Release()
			awaitWatch(t)
			closed := make(chan error, 1)
			go func() { closed <- w.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					t.Fatalf("close: %v", err)
				}
			case <-time.After(time.Minute): // a hang, not a slow machine
				t.Fatal("the output's Close did not return within a minute while the Stopper watched it")
			}
			// The reader sees the end of the output: no descriptor of
			// the pipe's writing end is left open.
			got := make(chan error, 1)
			go func() { _, err := r.Read(make([]byte, 1)); got <- err }()
			select {
			case err := <-got:
				if err != io.EOF {
					t.Fatalf("read after the writer closed: %v, want EOF", err)
				}
			case <-time.After(time.Minute): // a hang, not a slow machine
				r.SetReadDeadline(time.Now())
				t.Fatal("the reader saw no end of the output within a minute of its Close")
			}
			if err := s.Err(); err != nil {
				t.Errorf("Err() = %v after the program closed its own output", err)
			}
		})
	}
}

// awaitWatch waits until the watch's goroutine waits in poll.
func awaitWatch(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for range 10000 {
		st := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(st, "\n\n") {
			if strings.Contains(g, "[syscall") && strings.Contains(g, "watchOutput") {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the watch never waited in poll")
}
