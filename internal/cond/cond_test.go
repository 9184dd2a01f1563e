package cond_test

import (
	"runtime"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/chunkmap/chunkmap/internal/cond"
)

// TestCond_WakesEveryWaiter checks that Broadcast wakes all the goroutines
// in Wait, each with the lock held and the condition changed, and only
// then: a waiter that returned before the change would see it false.
func TestCond_WakesEveryWaiter(t *testing.T) {
	for _, waiters := range []int{1, 2, 16, 200} {
		var mu sync.Mutex
		c := cond.Cond{L: &mu}
		ready, done := false, make(chan bool, waiters)
		parked := 0
		for range waiters {
			go func() {
				mu.Lock()
				parked++
				for !ready {
					c.Wait()
				}
				mu.Unlock()
				done <- true
			}()
		}
		for {
			mu.Lock()
			n := parked
			if n == waiters {
				ready = true
				c.Broadcast()
			}
			mu.Unlock()
			if n == waiters {
				break
			}
			runtime.Gosched() // the waiters run where nothing preempts this loop
		}
		for range waiters {
			<-done
		}
		mu.Lock()
		if len(c.Waiters()) != 0 {
			t.Errorf("%d waiters: %d still listed after every one returned", waiters, len(c.Waiters()))
		}
		mu.Unlock()
	}
}

// TestCond_AcrossABubble waits inside a testing/synctest bubble and wakes
// from outside it, and the other way round. With sync.Cond it fails: the
// waiter in the bubble is durably blocked, so synctest.Test panics ("all
// goroutines in bubble are blocked") while the goroutine outside is on its
// way to wake it; and a wake from outside that came first would be a fatal
// error.
func TestCond_AcrossABubble(t *testing.T) {
	var mu sync.Mutex
	c := cond.Cond{L: &mu}
	state := 0 // 1: the bubble's waiter parked; 2: woken from outside; 3: the outside waiter parked; 4: woken from the bubble
	step := func(from, to int) {
		mu.Lock()
		for state != from {
			c.Wait()
		}
		state = to
		c.Broadcast()
		mu.Unlock()
	}
	outside := make(chan struct{})
	go func() {
		defer close(outside)
		step(1, 2)
		step(2, 3)
		step(4, 4)
	}()
	synctest.Test(t, func(t *testing.T) {
		step(0, 1)
		step(3, 4)
	})
	<-outside
}
