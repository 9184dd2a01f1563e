// Package swaptest plays the other program of the tests that look at a
// path and then open it: it keeps exchanging what stands under two names,
// so that a FIFO, a symlink or another directory is under a dataset's name
// at moments the code under test cannot choose.
package swaptest

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Swapper exchanges two names over and over in a goroutine of its own.
type Swapper struct {
	t    testing.TB
	a, b string
	stop atomic.Bool
	wg   sync.WaitGroup
	n    atomic.Int64
}

// Start begins exchanging a and b, each time in one step
// (RENAME_EXCHANGE), so that each name always stands for one of the two
// and never for nothing (but while the code under test has removed one). It stops at Stop, or at the end of the test.
// A failed exchange fails the test and ends the swapping.
func Start(t testing.TB, a, b string) *Swapper {
	s := &Swapper{t: t, a: a, b: b}
	s.run()
	t.Cleanup(s.Stop)
	return s
}

func (s *Swapper) run() {
	s.stop.Store(false)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for !s.stop.Load() {
			switch err := unix.Renameat2(unix.AT_FDCWD, s.a, unix.AT_FDCWD, s.b, unix.RENAME_EXCHANGE); err {
			case nil:
				s.n.Add(1)
			case unix.ENOENT:
				// The code under test removed one of the names (a
				// Remove of an empty directory, say): nothing was
				// exchanged; try again until it is back.
				runtime.Gosched()
			default:
				s.t.Errorf("swap %s and %s: %v", s.a, s.b, err)
				return
			}
		}
	}()
}

// Stop ends the swapping, waits for the last exchange and, if the names
// stand swapped then, exchanges them once more, so that each stands for
// what it did at Start. Stopping twice does nothing more.
func (s *Swapper) Stop() {
	s.stop.Store(true)
	s.wg.Wait()
	if s.n.Load()%2 == 1 {
		if err := unix.Renameat2(unix.AT_FDCWD, s.a, unix.AT_FDCWD, s.b, unix.RENAME_EXCHANGE); err != nil && err != unix.ENOENT {
			s.t.Errorf("swap %s and %s back: %v", s.a, s.b, err)
			return
		}
		s.n.Add(1)
	}
}

// Restart begins exchanging again after Stop.
func (s *Swapper) Restart() {
	s.Stop()
	s.run()
}
