package chunkmap

import (
	"sync"

	"golang.org/x/sys/unix"
)

// membarrier(2) commands.
const (
	membarrierPrivateExpedited         = 1 << 3
	membarrierRegisterPrivateExpedited = 1 << 4
)

var membarrierOK = sync.OnceValue(func() bool {
	_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierRegisterPrivateExpedited, 0, 0)
	return e == 0
})

// processBarrier runs a full memory barrier on every thread of the process.
//
// Writers through a mapping store their bytes and then load the chunk's
// dirty flag without a locked instruction; x86 may let that load pass the
// store still in the store buffer. Sync clears the flags and then calls
// processBarrier, which drains every store buffer before fsync writes the
// pages back: a writer that saw the flag still set has its bytes in memory, and
// one that did not sees it clear and sets it again for the next Sync.
// Kernels before 4.14 lack the command; there the window is the few
// nanoseconds a store spends in a store buffer.
func processBarrier() {
	if membarrierOK() {
		unix.Syscall(unix.SYS_MEMBARRIER, membarrierPrivateExpedited, 0, 0)
	}
}
