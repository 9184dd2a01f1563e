package accessor

// AddWord64 is the operation under AddUint64, applied to the first 8 bytes
// of b, which the caller has mapped itself; ok is false if b is too short or
// unaligned, or the store faulted. The cross-process test runs it in child
// processes that map a chunk file with package chunk directly, because the
// dataset lock keeps a second read-write Manager out while the parent's is
// open.
func AddWord64(b []byte, delta uint64) (x uint64, ok bool) {
	w := word64(b)
	if w == nil {
		return 0, false
	}
	x, f := add64(w, delta)
	return x, !f.hit
}
