package chunkmap

// Stats is a snapshot of a Manager's counters, from [Manager.Stats].
//
// Reads and writes that find their chunk mapped take a path with no shared
// counter (a counter there would put a contended cache line under every
// access), so they are not counted one by one: Hits counts the lookups of
// the slower paths (a Pin across chunks or of a chunk not mapped, and the
// chunks found used at each scan of the mapped chunks' use flags, made on
// eviction and by admission) that found the chunk mapped.
//
// Mapped stays within MaxMapped plus Pinned, with one exception for an
// instant: when the last hold of a chunk is released lock-free just as
// another goroutine maps a chunk beyond MaxMapped, the released chunk is
// counted as mapped and not held until the releaser evicts it, right after.
type Stats struct {
	Chunks    int   // chunk files in the dataset
	Mapped    int   // chunks mapped now (in the arena, held after deletion, or in private views), held or not
	Pinned    int   // chunks held now by pins, batches, a Sync or atomic operations in progress (see Manager.Pin)
	Hits      int64 // slow-path lookups that found the chunk mapped
	Misses    int64 // lookups that found the chunk unmapped (then mapped, or served by pread or pwrite: under Admission, for a chunk whose arena slot is held by another or lost, or while the system refuses mappings)
	Maps      int64 // chunk mappings made
	Unmaps    int64 // chunk mappings released
	Evictions int64 // chunks unmapped to make room: to stay within MaxMapped (or the bound a refused mapping lowered it to, or the process's share of mappings on Linux), for Admission, or for a chunk that needs the same arena slot
}
