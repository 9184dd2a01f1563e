// Package watchdog turns a test that hangs into a failure that names it and
// shows where every goroutine waits, instead of a test binary that sits
// until go test's -timeout (10 minutes by default, 30 in CI) and then
// reports whichever test happened to be running.
//
// It is for tests only:
//
//	func TestX(t *testing.T) {
//		watchdog.Start(t, 20*time.Second)
//		...
//	}
package watchdog

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// Start ends the process with status 2, after printing every goroutine's
// stack to standard error, if t has not finished d after the call. The
// watch ends when t's cleanup runs, after its subtests.
func Start(t testing.TB, d time.Duration) {
	name := t.Name()
	timer := time.AfterFunc(d, func() {
		buf := make([]byte, 8<<20)
		buf = buf[:runtime.Stack(buf, true)]
		fmt.Fprintf(os.Stderr, "\nFAIL: %s still running after %v (watchdog); all goroutines:\n%s\n", name, d, buf)
		os.Exit(2)
	})
	t.Cleanup(func() { timer.Stop() })
}
