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
//
// Mapped and Pinned count mappings of chunks, as the system lists them
// (Mapped × ChunkSize is the bytes of chunk files the process maps through
// the Manager), so a chunk mapped twice counts twice: bytes of a Pin, or of
// a Batch, across the arena's end or over a chunk whose slot another held
// chunk occupies come from a private view that maps each of its chunks
// again, also where the chunk is mapped in the arena or in another view. A
// Batch keeps one such view for each span of chunks it asked for bytes of
// (one for reading and one for writing), until its function returns; so
// both counts may exceed Chunks. (One exception to the bytes: on 32-bit
// Unix, a Pin whose private view of whole chunks would take more than
// 256 MiB, two of 1 GiB say, gets a view of only the pages of its range,
// which counts each of its chunks all the same; so does a Batch, which
// keeps one such view for each run of pages it reached that is not near
// another, and one for each doubling of a run it walks through.)
//
// Lowered and Refusals show a shortage of the system's and what it cost:
// each refusal of a mapping, or of a file, for want of memory, mappings or
// descriptors (that closing the Manager's idle cached files did not cure)
// lowers the bound on mapped chunks to 3/8 of the chunks mapped then
// (Lowered says it; a Manager with none mapped lowers nothing, and its
// error says so: the room went elsewhere in the process), and it climbs back to MaxMapped, doubling, as misses pass without another (a few hundred
// misses after a short shortage; more, up to 16,384 or 16 × MaxMapped
// between two raises, after one that the Manager met again each time it
// raised the bound). A Refusals that keeps growing says the system's limit
// is below what MaxMapped asks: raise the limit or lower MaxMapped.
//
// Chunks is the chunk files of the dataset as the Manager knows them: a
// writer's, every file from Start on, chunks Grow made past Size included;
// a ReadOnly Manager's, those that [Start, Size) covers (it does not look
// for files past Size).
type Stats struct {
	Chunks    int   // chunk files in the dataset (see above)
	Mapped    int   // chunk mappings now (in the arena, held after deletion, or in private views), held or not
	Pinned    int   // those of them held now by pins, batches, a Sync or atomic operations in progress (see Manager.Pin)
	Hits      int64 // slow-path lookups that found the chunk mapped
	Misses    int64 // lookups that found the chunk unmapped (then mapped, or served by pread or pwrite: under Admission, for a chunk whose arena slot is held by another or lost, or while the system refuses mappings)
	Maps      int64 // chunk mappings made
	Unmaps    int64 // chunk mappings released
	Evictions int64 // chunks unmapped to make room: to stay within MaxMapped (or the bound a refused mapping lowered it to, or the process's share of mappings on Linux), for Admission, or for a chunk that needs the same arena slot
	Lowered   int   // the bound on unheld mapped chunks in force while a refusal keeps it below MaxMapped (see Refusals); 0 while MaxMapped is in force
	Refusals  int64 // mappings and files the system refused the Manager for want of memory, mappings or descriptors (or chunks it refused itself, as they would take the process past seven eighths of the system's limit of mappings), each of which lowered the bound (Lowered) where the Manager had chunks mapped, and unmapped every chunk nobody held (see Options.MaxMapped)
}

// lowered is Stats.Lowered: the bound in force where a refusal keeps it
// below MaxMapped, else 0, so that the Stats of a Manager that never met a
// shortage stay all zero until it is used.
//
// REQUIRES: m.mu held.
func (m *Manager) lowered() int {
	if m.mu.mapBound < m.opts.MaxMapped {
		return m.mu.mapBound
	}
	return 0
}
