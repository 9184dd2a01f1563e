//go:build race

package word

// The operations are in word_race_amd64.s: the same instructions as
// sync/atomic's on amd64 (a plain load, XCHG, LOCK XADD, LOCK CMPXCHG),
// which are atomic and sequentially consistent there.

// Load32 atomically loads *p.
//
//go:noescape
func Load32(p *uint32) uint32

// Load64 atomically loads *p.
//
//go:noescape
func Load64(p *uint64) uint64

// Store32 atomically stores v into *p.
//
//go:noescape
func Store32(p *uint32, v uint32)

// Store64 atomically stores v into *p.
//
//go:noescape
func Store64(p *uint64, v uint64)

// Add32 atomically adds d to *p and returns the new value.
//
//go:noescape
func Add32(p *uint32, d uint32) uint32

// Add64 atomically adds d to *p and returns the new value.
//
//go:noescape
func Add64(p *uint64, d uint64) uint64

// Cas32 atomically replaces *p with new if it equals old, and reports
// whether it did.
//
//go:noescape
func Cas32(p *uint32, old, new uint32) bool

// Cas64 atomically replaces *p with new if it equals old, and reports
// whether it did.
//
//go:noescape
func Cas64(p *uint64, old, new uint64) bool
