//go:build unix

package stop

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
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
