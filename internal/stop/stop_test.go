package stop

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
)

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestStopper_Output checks that the first failed write stops the program
// with the write error as the cause, that later writes fail without
// reaching the output, and that only a broken pipe is quiet.
func TestStopper_Output(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		quiet bool
	}{
		{"broken pipe", &os.PathError{Op: "write", Path: "/dev/stdout", Err: brokenPipe}, true},
		{"full disk", &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writes := 0
			s := New(writerFunc(func(p []byte) (int, error) {
				writes++
				if writes > 1 {
					return 0, tc.err
				}
				return len(p), nil
			}))
			defer s.Release()
			if _, err := s.Write([]byte("x")); err != nil || s.Err() != nil {
				t.Fatalf("first write: %v, Err() = %v; want both nil", err, s.Err())
			}
			if _, err := s.Write([]byte("y")); !errors.Is(err, tc.err) {
				t.Fatalf("second write: %v, want %v", err, tc.err)
			}
			if _, err := s.Write([]byte("z")); !errors.Is(err, tc.err) || writes != 2 {
				t.Fatalf("third write: %v after %d writes to the output, want %v after 2", err, writes, tc.err)
			}
			err := s.Err()
			if want := "stopped: write standard output: " + tc.err.Error(); err == nil || err.Error() != want {
				t.Fatalf("Err() = %v, want %q", err, want)
			}
			if got := Quiet(errors.Join(errors.New("close"), err)); got != tc.quiet {
				t.Errorf("Quiet(%v) = %v, want %v", err, got, tc.quiet)
			}
		})
	}
	if Quiet(brokenPipe) {
		t.Error("Quiet of a broken pipe that did not stop the program is true")
	}
	var out bytes.Buffer
	s := New(&out)
	defer s.Release()
	if _, err := s.Write([]byte("ok")); err != nil || s.Err() != nil || out.String() != "ok" {
		t.Errorf("write to a buffer: %v, Err() = %v, output %q", err, s.Err(), &out)
	}
}
