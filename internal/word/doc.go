// Package word performs atomic operations on 32- and 64-bit words of
// mapped chunk memory.
//
// Outside race-detector builds the functions are sync/atomic's. Under the
// race detector, sync/atomic runs each operation inside the detector's
// runtime, on the system stack, where a fault (a chunk file truncated by
// another process between the library's check and the operation) cannot be
// turned into a panic and ends the process. On amd64 the race build
// therefore does the operations in assembly of its own, on the goroutine's
// stack, where the fault guard catches them. The detector does not track
// memory outside Go's heap (a mapping) either way, so it sees the same
// thing both ways: nothing. Other race-detector platforms use sync/atomic.
package word
