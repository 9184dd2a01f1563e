// Package cond provides Cond, a condition variable that any goroutine may
// wait on and wake, inside or outside a testing/synctest bubble.
//
// A sync.Cond ties a goroutine waiting on it to the bubble it runs in: the
// waiter is durably blocked, so synctest reports a deadlock when every
// other goroutine of the bubble is blocked too, although a goroutine
// outside it is about to wake it; and a goroutine outside the bubble that
// wakes it ends the process with a fatal error, which no recover catches.
// A Manager is shared by whatever
// goroutines its program has, so the library cannot know which bubble, if
// any, each of its callers runs in: an Append inside a bubble waiting for
// an earlier Append made outside it to publish, or a Close waiting for a
// pwrite, would take the program down. A sync.Mutex belongs to no bubble,
// and may be unlocked by a goroutine other than the one that locked it, so
// Cond parks each waiter on a mutex of its own that Broadcast unlocks.
//
// The price: to synctest, a goroutine waiting here is blocked on a mutex,
// not durably blocked, so synctest.Wait waits until the wait ends instead
// of returning while it lasts. Every wait in the library ends once work
// already under way (a write, the creation of a file) is done.
package cond

import "sync"

// Cond is a condition variable on the lock L. Unlike sync.Cond, Broadcast
// needs L held too. The zero Cond with L set is ready to use; a Cond must
// not be copied after first use.
type Cond struct {
	// L is held while the condition is checked or changed.
	L sync.Locker
	// waiters are the goroutines in Wait, each parked on its own locked
	// mutex. Guarded by L.
	waiters []*sync.Mutex
}

// parks recycles the waiters' mutexes. Each is locked while in the pool,
// as a waiter needs it: a waiter blocks on locking it once more, and holds
// it again when it puts it back.
var parks = sync.Pool{New: func() any {
	park := new(sync.Mutex)
	park.Lock()
	return park
}}

// Wait unlocks c.L, suspends the calling goroutine until a Broadcast, and
// locks c.L again before it returns. As with sync.Cond, the caller checks
// its condition again in a loop: Wait may return before it holds.
//
// REQUIRES: c.L held.
func (c *Cond) Wait() {
	park := parks.Get().(*sync.Mutex) // locked
	c.waiters = append(c.waiters, park)
	c.L.Unlock()
	park.Lock() // until Broadcast unlocks it
	parks.Put(park)
	c.L.Lock()
}

// Broadcast wakes every goroutine waiting on c.
//
// REQUIRES: c.L held.
func (c *Cond) Broadcast() {
	for i, park := range c.waiters {
		park.Unlock()
		c.waiters[i] = nil
	}
	c.waiters = c.waiters[:0]
}
