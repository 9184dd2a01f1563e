//go:build !(race && amd64)

package word

import "sync/atomic"

// Load32 atomically loads *p.
func Load32(p *uint32) uint32 { return atomic.LoadUint32(p) }

// Load64 atomically loads *p.
func Load64(p *uint64) uint64 { return atomic.LoadUint64(p) }

// Store32 atomically stores v into *p.
func Store32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }

// Store64 atomically stores v into *p.
func Store64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// Add32 atomically adds d to *p and returns the new value.
func Add32(p *uint32, d uint32) uint32 { return atomic.AddUint32(p, d) }

// Add64 atomically adds d to *p and returns the new value.
func Add64(p *uint64, d uint64) uint64 { return atomic.AddUint64(p, d) }

// Cas32 atomically replaces *p with new if it equals old, and reports
// whether it did.
func Cas32(p *uint32, old, new uint32) bool { return atomic.CompareAndSwapUint32(p, old, new) }

// Cas64 atomically replaces *p with new if it equals old, and reports
// whether it did.
func Cas64(p *uint64, old, new uint64) bool { return atomic.CompareAndSwapUint64(p, old, new) }
