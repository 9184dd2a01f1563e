package cond

import "sync"

// Waiters returns the mutexes of the goroutines in Wait.
//
// REQUIRES: c.L held.
func (c *Cond) Waiters() []*sync.Mutex { return c.waiters }
