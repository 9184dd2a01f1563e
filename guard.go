package chunkmap

// This file holds the fault guard that turns faults on mapped memory into
// errors, and the check that lets the Manager release retired mappings.

import (
	"bytes"
	"runtime"
	"runtime/debug"
)

// fault is a memory fault recovered by catchFault.
type fault struct {
	mp   *mapping // the mapping being accessed, if the caller knows it
	addr uintptr
	hit  bool
}

// in returns f with mp set to the one of the candidate mappings whose bytes
// hold the faulting address. Mappings are never reused, so this is exact
// even if the address range was unmapped and mapped anew since.
func (f fault) in(cands []*mapping) fault {
	for _, mp := range cands {
		if mp != nil && contains(mp.data, f.addr) {
			f.mp = mp
			break
		}
	}
	return f
}

// catchFault is deferred, with the result of debug.SetPanicOnFault(true), by
// every function that touches mapped memory without a pin. It restores the
// goroutine's previous setting and turns a fault into f; any other panic
// goes on unwinding, because it is a bug, not an I/O condition.
//
// A fault means one of two things. The chunk was retired by a concurrent
// eviction after the caller loaded its address (the access is simply
// retried), or the file under a live mapping was truncated or failed (the
// caller gets ErrFault). [Manager.onFault] tells them apart.
func catchFault(prev bool, f *fault) {
	debug.SetPanicOnFault(prev)
	if r := recover(); r != nil {
		a, ok := r.(interface{ Addr() uintptr })
		if !ok {
			panic(r)
		}
		f.addr, f.hit = a.Addr(), true
	}
}

// hotFrameMarker is a prefix of the name of every function that may hold the
// address of an unpinned mapping: the Manager's hot* methods. Nothing else
// keeps such an address past a return, and no other method may have a name
// that starts with "hot" (the stack walk below would find itself).
var hotFrameMarker = []byte("chunkmap.(*Manager).hot")

// anyHotFrameLocked reports whether any goroutine is inside a hot*
// method.
//
// This is how the Manager knows when a retired mapping's addresses may be
// given back to the kernel without a locked instruction on every access: a
// goroutine that loaded a mapping's address before it was unpublished is
// still inside a hot* frame (possibly preempted there), and runtime.Stack
// stops the world and lists every goroutine's frames, inlined ones included.
// A goroutine that enters a hot* method after the stack walk loads the table
// afresh and cannot see the unpublished mapping. The walk stops the world
// for tens of microseconds with a few goroutines, and longer the more
// goroutines the process has (their stacks are all printed); it runs only
// when retired mappings are waiting, at most once per graveyardLimit
// evictions, and never on the paths that find their chunk mapped.
//
// The caller holds m.mu, which guards the reused buffer.
func (m *Manager) anyHotFrameLocked() bool {
	if m.mu.stacks == nil {
		m.mu.stacks = make([]byte, 64<<10)
	}
	for {
		n := runtime.Stack(m.mu.stacks, true)
		if n < len(m.mu.stacks) {
			return bytes.Contains(m.mu.stacks[:n], hotFrameMarker)
		}
		m.mu.stacks = make([]byte, 2*len(m.mu.stacks))
	}
}
