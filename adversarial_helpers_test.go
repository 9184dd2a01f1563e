package chunkmap_test

// Helpers shared by the adversarial_*_test.go files: a watchdog that turns
// a hang into a failure with every goroutine's stack, a recover wrapper for
// worker goroutines, and the error contract every error must meet.

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// advSentinels is every sentinel an error of the package may match.
var advSentinels = []error{
	chunkmap.ErrClosed, chunkmap.ErrReadOnly, chunkmap.ErrOutOfRange, chunkmap.ErrCorrupt,
	chunkmap.ErrLocked, chunkmap.ErrInvalidOptions, chunkmap.ErrUnaligned, chunkmap.ErrNoSpace,
	chunkmap.ErrBusy, chunkmap.ErrFault, chunkmap.ErrIO, chunkmap.ErrSyncFailed,
}

// advWithin runs f and fails the test, dumping every goroutine's stack, if
// it does not return within d. A panic in f fails the test with its value
// and stack instead of crashing the binary.
func advWithin(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() {
			r := recover()
			if r != nil {
				r = fmt.Sprintf("%v\n%s", r, advStack(false))
			}
			done <- r
		}()
		f()
	}()
	select {
	case r := <-done:
		if r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	case <-time.After(d):
		t.Fatalf("%s did not return within %v (hang); goroutines:\n%s", what, d, advStack(true))
	}
}

// advStack returns the stack of this goroutine, or of every goroutine.
func advStack(all bool) string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, all)])
}

// advGo runs f in a goroutine of wg, turning a panic into a test error
// (reported with the stack), so that one bad call fails the test rather
// than the process.
func advGo(t *testing.T, wg *sync.WaitGroup, what string, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s panicked: %v\n%s", what, r, advStack(false))
			}
		}()
		f()
	}()
}

// advWait waits for wg, failing the test with every stack after d.
func advWait(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: goroutines still running after %v (hang); goroutines:\n%s", what, d, advStack(true))
	}
}

// advErrCheck returns a description of how err breaks the error contract,
// or "": it must match one of the package's sentinels (io.EOF from a read
// aside) and its message must name the operation (one of ops, any of which
// may appear).
func advErrCheck(err error, ops ...string) string {
	if err == nil || err == io.EOF {
		return ""
	}
	matched := false
	for _, s := range advSentinels {
		if errors.Is(err, s) {
			matched = true
			break
		}
	}
	if !matched {
		return fmt.Sprintf("error %q (%T) matches no sentinel", err, err)
	}
	if len(ops) == 0 {
		return ""
	}
	for _, op := range ops {
		if strings.Contains(err.Error(), op) {
			return ""
		}
	}
	return fmt.Sprintf("error %q names none of the operations %q", err, ops)
}

// advOpen opens dir with o, failing the test on an error.
func advOpen(t *testing.T, dir string, o *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return m
}
