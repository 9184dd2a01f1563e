// Package chunkmap makes a directory of fixed-size, memory-mapped chunk
// files behave like one unbounded, growable file that never has to be
// remapped.
//
// A dataset is a directory of chunk files of ChunkSize bytes each (a power of
// two, 1 GiB by default) and a small manifest. A [Manager] spreads the
// logical byte range [Start, Size) over them: chunk i holds offsets
// [i*ChunkSize, (i+1)*ChunkSize). Growing adds chunk files and never touches
// the mappings of existing ones, so data that is mapped stays where it is.
// At most [Options.MaxMapped] chunks are mapped at a time (plus those held
// by pins, open batches, a Sync and atomic operations in progress); beyond
// that a miss is served by pread or replaces a mapped chunk (see Layout).
//
//	m, err := chunkmap.Open("/data/events", &chunkmap.Options{ChunkSize: 64 << 20})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer m.Close()
//	off, err := m.Append([]byte("first record"))  // concurrent appends never overlap
//	if err != nil {
//		log.Fatal(err)
//	}
//	buf := make([]byte, 12)
//	if _, err := m.ReadAt(buf, off); err != nil {  // io.ReaderAt
//		log.Fatal(err)
//	}
//	if err := m.Sync(); err != nil {               // durable from here on
//		log.Fatal(err)
//	}
//
// Package accessor adds typed reads and writes of every fixed-size type,
// atomics and zero-copy views on top of a Manager.
//
// # Layout
//
//	logical offset off
//	      │  index i = off / ChunkSize        within = off % ChunkSize
//	      ▼
//	┌──────────────────────┬──────────────────────┬──────────────────────┐
//	│ 0000000000000000.chunk│ 0000000000000001.chunk│ 0000000000000002.chunk│ …  + MANIFEST
//	└──────────┬───────────┴──────────┬───────────┴──────────┬───────────┘
//	           │ mapped over slot 0    │ not mapped            │ mapped over slot 2
//	           ▼                       ▼                       ▼
//	arena: [ slot 0: chunk 0 ][ slot 1: reserved, no access ][ slot 2: chunk 2 ] …
//	       one reserved address range; chunk i lives only at slot i mod slots
//
// The arena is reserved at Open and costs address space, not memory. A
// chunk is mapped over its slot on first use (MAP_FIXED on Unix, a
// placeholder on Windows). Beyond MaxMapped, a miss is served by pread
// or replaces the unheld chunk with the fewest recent uses (admission, the
// default), or evicts the least recently used unheld chunk (NoAdmission,
// and always for pins, batches and atomics); an evicted chunk's slot
// becomes an inaccessible reservation again.
// Mapped neighbours are neighbours in memory, so a [Pinned] range or a
// [Batch] slice across chunk boundaries is one contiguous slice.
//
// The manifest records the format version, ChunkSize, the index of the first
// chunk (Start = first*ChunkSize) and Size, in two checksummed records
// written in place in turn (a record torn by a power loss fails its
// checksum and the other is used), followed by the state page described
// under Durability. Only its creation (and the one-time upgrade of a
// version 1 manifest) writes a temporary file, fsyncs it, renames it into
// place and fsyncs the directory.
//
// # Concurrency
//
// Every method of a Manager is safe for concurrent use. A read of a chunk
// that is mapped takes no lock and executes no locked instruction, so
// readers on many cores do not contend; a write adds two atomic adds on its
// slot's counter of stores in flight, which is what lets an eviction wait
// for it instead of for anything else. Eviction never stops the world and
// never depends on the goroutines of the program or on any function's name
// (see slots.go for the argument). Concurrent writes to overlapping
// bytes have the semantics of plain memory stores; everything else
// (Size, Start, appends, chunk creation and deletion) is consistent.
//
// # Durability
//
// A dataset keeps what a file keeps. A crash of the process loses nothing
// that a call returned: stores are in the kernel's page cache, and Start and
// Size are in the manifest's shared state page, which the next Open reads.
// A nil error from [Manager.Sync] means that every byte written before Sync
// was called, and the Size and Start of that moment, also survive a power
// loss: the chunk files written or created since the last Sync are fsync'd
// (after an msync, except on Linux, where fsync covers stores through a
// mapping), then the directory, then the manifest's next record is written
// over the older of its two records and fsync'd. Growth costs no fsync:
// chunk files are created sparse and made durable by the next Sync. After a
// failed fsync the data written since the last successful Sync is in doubt,
// and every later Sync and write returns the error (ErrSyncFailed); other
// failures fail their call only. Every error the package returns matches
// one of its Err variables with errors.Is, whose docs say what a caller can
// do after it (io.EOF from a short ReadAt and a missing dataset's
// fs.ErrNotExist aside).
//
// Readers ([Options.ReadOnly]) follow the writer live, in this process or
// another, through the same state page.
//
// # Speed
//
// Three tiers, from the simplest to the fastest:
//
//   - single calls (ReadAt, WriteAt, the accessor's typed calls, the
//     atomics) arm a fault guard per call, which costs a few nanoseconds on
//     data in the CPU cache;
//   - scopes amortise the guard: [Manager.Gather] and [Manager.Scatter]
//     move values at scattered offsets under one guard per 256 values,
//     resolving every address before touching the data so that the
//     processor overlaps the cache misses, and [Manager.Batch] hands out
//     mapped bytes under one guard for a whole function;
//   - pinned bytes ([Manager.Pin]) are the mapping itself, at the speed of
//     a flat mapping, for as long as the caller holds them.
//
// When the working set is much larger than MaxMapped chunks, admission (on
// unless [Options.NoAdmission]) serves most misses with pread and pwrite
// instead of mapping a chunk for each, and [Options.Advice] (or [Manager.Advise]) tells
// the kernel how the data will be read.
//
// # Caveats
//
//   - Bytes returned by [Pinned.Bytes] (and the accessor package's views)
//     are valid only until Release, and bytes from a [Batch] only until its
//     function returns. Pinned bytes are not fault guarded: if another
//     process truncates the chunk file, touching them raises SIGBUS, where
//     ReadAt, WriteAt, Gather, Scatter and the function of a Batch get
//     ErrFault.
//   - If another process truncates a chunk file, accesses past its new end
//     return ErrFault instead of crashing the process, but for the rest of
//     the page the end falls in, which the system fills with zeros: reads
//     there return zeros, and stores there are lost with the page. A chunk
//     file another process removes keeps working while the Manager has it
//     mapped or open (the bytes live on in the unnamed file), and
//     [Manager.Sync] reports it (ErrFault) if the chunk was written since
//     the last Sync. Neither is anything a library can prevent; see the
//     README's error table.
//   - MaxMapped may be exceeded by the chunks held by pins, open batches, a
//     Sync in progress and atomic operations in progress (each holds the
//     chunk it had to map for the length of the operation), and only by
//     them.
//   - Bytes a Batch handed out before a concurrent Truncate or DropBefore
//     deleted their chunk still point at the deleted chunk until the Batch
//     ends; stores through them are discarded with it. The Batch's next
//     call sees the dataset as it is.
//   - On Windows a mapped file cannot be deleted, so chunks are unmapped
//     before their files are removed, and a held chunk's file is removed at
//     its last release. Before Windows 10 1803 there are no placeholders:
//     chunks are mapped one by one where the system puts them, and a pin
//     across chunks is refused with [errors.ErrUnsupported].
package chunkmap
