package chunkmap

import (
	"fmt"
	"math/bits"
	"os"

	"github.com/chunkmap/chunkmap/internal/memlimit"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

const (
	// MinChunkSize is the smallest ChunkSize: 64 KiB, the allocation
	// granularity of Windows mappings and a multiple of every page size Go
	// runs on.
	MinChunkSize = 64 << 10
	// MaxChunkSize is the largest ChunkSize: 2 GiB.
	MaxChunkSize = 2 << 30
	// DefaultChunkSize is the ChunkSize of a new dataset when Options leave
	// it zero: 1 GiB.
	DefaultChunkSize = 1 << 30
	// DefaultMaxMapped is the fewest chunks MaxMapped keeps mapped when
	// Options leave it zero: the default keeps DefaultMappedBytes of
	// chunks mapped, at least DefaultMaxMapped and at most
	// MaxDefaultMapped of them, and on Linux no more than half the memory
	// the process may fill holds, which may be fewer (see
	// Options.MaxMapped).
	DefaultMaxMapped = 16
	// DefaultMappedBytes is how many bytes of chunks a zero MaxMapped
	// keeps mapped on 64-bit platforms: 16 GiB, DefaultMaxMapped chunks
	// of DefaultChunkSize.
	DefaultMappedBytes int64 = DefaultMaxMapped * DefaultChunkSize
	// MaxDefaultMapped is the most chunks a zero MaxMapped keeps mapped
	// (fewer where the process may open few files: each mapped chunk
	// keeps its file open).
	MaxDefaultMapped = 1024
	// DefaultFileMode is the mode of new files when Options leave it zero.
	DefaultFileMode os.FileMode = 0o644
)

// Options configure [Open]. The zero value, like a nil *Options, means every
// default. Open copies the struct and never keeps or modifies the caller's.
type Options struct {
	// ChunkSize is the size of each chunk file in bytes: a power of two
	// from MinChunkSize to MaxChunkSize (and no more than the address space
	// allows: 1 GiB on 32-bit platforms). 0 means DefaultChunkSize for a
	// new dataset and the dataset's own size on reopen; any other value
	// must match the dataset's.
	ChunkSize int64
	// MaxMapped is the most chunks kept mapped at once. 0 means as many
	// chunks as DefaultMappedBytes (16 GiB) holds, at least
	// DefaultMaxMapped (16) and at most MaxDefaultMapped (1024, or a
	// quarter of the process's limit of open files at Open if that is
	// less, but not below 16): 16 chunks of 1 GiB, 256 of 64 MiB, 1024 of
	// 16 MiB or less. Under a limit of fewer than 64 files, the Managers'
	// share of descriptors (below) keeps fewer chunks mapped than that 16,
	// and follows the limit when the program raises it. On 32-bit
	// platforms 0 means DefaultMaxMapped, fewer where that many chunks do
	// not fit in 1 GiB of address space (1 GiB / ChunkSize, at least 1).
	// On Linux a zero MaxMapped is also no more than the chunks half the
	// memory the process may fill holds (at least one): the machine's
	// memory, or its cgroup's limit (v1 or v2) where that is less, as read
	// at Open, at most once a second (which cgroup the process is in, at
	// the first such Open).
	// The file pages read through mappings count against that memory, and
	// a fault reads the pages around the one it needs too, so random reads
	// through a window of mapped chunks larger than the memory keep the
	// kernel evicting and reading again, where admission serves the misses
	// outside a smaller window with pread, which reads only what it is
	// asked for (a cgroup of 256 MiB takes 2 chunks of 64 MiB).
	// Manager.MaxMapped says the bound Open chose.
	// Chunks held by pins ([Manager.Pin]), open batches, a Sync and
	// atomic operations in progress are never unmapped, so while more than
	// MaxMapped chunks are held, more are mapped.
	//
	// The system bounds mappings and open files too, and a Go program
	// whose runtime cannot map memory dies, so these rules keep Managers
	// from taking the last of them. On Linux the Managers of a process
	// keep at most a quarter of vm.max_map_count chunks mapped between them
	// (16,382 by default; a chunk takes up to two of the process's
	// mappings, and each open Manager counts as one, for its arena and
	// state page), and on Unix at most a quarter of the process's
	// descriptor limit (each mapped chunk keeps its file open): beyond that, each Manager unmaps one of its own before
	// it maps another, or serves ReadAt and WriteAt by pread and pwrite if
	// it has none, and Open refuses a Manager that would take the Managers
	// past three quarters of the process's mappings (ErrIO, matching
	// syscall.ENOMEM). Every mapped chunk keeps its file open, and an
	// evicted chunk's file stays in the descriptor cache that serves pread
	// and pwrite (within its budget: see the README), so that mapping the
	// chunk again opens nothing. And once the system refuses a mapping
	// for want of memory or mappings, or a file for want of descriptors,
	// the Manager lowers its bound to 3/8 of the chunks it has mapped
	// (again at each refusal, down to 1; with none mapped, it lowers
	// nothing, as the room went elsewhere), unmaps every chunk nobody holds
	// (closing its file), and serves ReadAt and WriteAt by pread and
	// pwrite while it still cannot map; other calls return an error
	// matching ErrIO (and the system's error: syscall.ENOMEM or EMFILE on
	// Unix) that says what to raise and the bound now in force. The bound
	// climbs back to MaxMapped, doubling, as misses pass with no refusal
	// (64 after a first refusal; twice as many after each raise the
	// system refused again, up to 16,384 or 16 × MaxMapped; on Linux only
	// as far as the process has mappings or descriptors to spare), so a
	// passing shortage is forgotten and one that stays costs few
	// unmappings of every chunk (Stats.Lowered and Stats.Refusals show
	// them).
	MaxMapped int
	// ReadOnly opens an existing dataset for reading only: chunks are mapped
	// read-only and every write returns ErrReadOnly. Open never creates or
	// modifies anything in ReadOnly mode, and takes no lock.
	//
	// A ReadOnly Manager follows the dataset's writer live, in this process
	// or another: Size and Start are the writer's current ones (read from
	// the manifest's shared state page), including growth the writer has
	// not synced; chunk files the writer creates are opened on the first
	// read that needs them; and chunk files it deletes (Truncate,
	// DropBefore) are let go before the next read, so a read never returns
	// bytes of a chunk file the writer has replaced. Reads racing a shrink
	// may fail with ErrOutOfRange, io.EOF or ErrFault. Where no writer has
	// opened the dataset since the machine started, the reader starts from
	// the last record Sync wrote, and follows a writer that opens the
	// dataset later (a reader
	// opened on a manifest of an earlier format version, from its next
	// Refresh).
	ReadOnly bool
	// NoAdmission turns admission off: every miss maps its chunk,
	// evicting the least recently used one (but for a Manager over the
	// process's share of the system's mappings with no chunk of its own
	// to unmap: see MaxMapped). Choose it when the working set
	// fits in MaxMapped chunks, so that each chunk is mapped once and every
	// access after that takes the lock-free path.
	//
	// By default (admission on) a miss maps its chunk only if it has been
	// missed, recently, more than twice as often (plus a margin) as the
	// mapped chunk with the fewest recent uses, which it then replaces
	// (or, where its arena slot holds another mapped chunk, as that one,
	// which mapping it replaces, whatever the bound), and a read of 64 KiB
	// or more in one chunk maps it only where that displaces no mapped
	// chunk: its pread costs little more than a copy out of a mapping,
	// and a scan of more than MaxMapped chunks would remap every chunk at
	// every pass; ReadAt and WriteAt serve the other misses with pread and pwrite,
	// which share the page cache with the mappings. With a working set
	// larger than MaxMapped chunks, mapping and unmapping on every miss
	// costs far more than a pread, while a working set that spreads evenly
	// over more chunks than fit is served at about the speed of pread, with
	// no remapping, and chunks that grow hot are mapped within a few
	// hundred misses. Pins, batches and atomics always map (unless the
	// process is near the system's limit of mappings); the values of
	// Gather and Scatter that miss take the path of ReadAt and WriteAt. The
	// Manager keeps the files of up to 1024 unmapped chunks open for pread
	// and pwrite (a quarter of the descriptor limit, if that is less).
	NoAdmission bool
	// ErrorIfNotExists makes Open fail, with an error matching
	// fs.ErrNotExist, instead of creating a dataset where there is none
	// (no directory, or a directory without a manifest or chunk files). A
	// ReadOnly Open always fails so. With Scratch, whose dataset is always
	// new, it fails only where dir is missing.
	ErrorIfNotExists bool
	// Scratch makes a dataset that keeps nothing once it is closed or its
	// process dies, for temporary working sets too large for memory
	// (external sorts, joins, intermediate arrays). Its chunk files have no
	// names (on Linux O_TMPFILE; elsewhere on Unix unlinked as soon as they
	// are created; on Windows delete-on-close), the Manager keeps a
	// descriptor of each to map it again after an eviction, and no
	// manifest or lock is written. Sync does nothing and returns nil;
	// everything else works as usual. dir is created if missing; other
	// files in it are left alone. Open makes one chunk file there and
	// lets go of it, so that a directory in which none can be made fails
	// the Open (ErrIO) rather than the first write. Chunk files are made
	// through handles of the directory that Open opened (on Unix), so a
	// directory that another program moves keeps the dataset's files, as
	// a writer's does. But the directory holds no name of the dataset and
	// looks empty: a program that removes it (or a Remove of a dataset
	// beside it) makes every later growth fail with an error matching
	// ErrIO and fs.ErrNotExist, while what was written stays readable and
	// writable. Scratch and ReadOnly exclude each other.
	Scratch bool
	// ArenaSize is how many bytes of address space the dataset's arena
	// reserves (see the package doc's Layout), rounded up to a power of
	// two times ChunkSize. The arena costs address space, not memory: its
	// pages are inaccessible until a chunk is mapped there. (Each of its
	// places costs 48 bytes of memory, in a table the Manager keeps: up to
	// 192 KiB for the 4,096 places the default gives 64 KiB chunks, 48 KiB
	// for 64 MiB chunks, 3 KiB for 1 GiB. A program that keeps many
	// Managers of small chunks open, each using few chunks, saves most of
	// it with a smaller ArenaSize.) Chunk i can be mapped only at place
	// i mod ArenaSize/ChunkSize, so chunks further
	// apart than ArenaSize share a place and evict each other when both
	// are used; views across chunks are contiguous in the arena where it
	// does not wrap between them, and otherwise get a mapping of their own.
	// 0 means four times as many chunks as the dataset has at Open or as
	// MaxMapped (at least 64), and at most 65,536 chunks and 256 GiB on
	// 64-bit platforms (256 of the default 1 GiB chunks), 256 MiB on 32-bit
	// ones (at least one chunk). The arena's size is fixed at Open: a
	// dataset that grows past it while open shares places until it is
	// opened again, so set ArenaSize for one that will grow large. If the
	// address space has no free range that large, Open reserves half as
	// much, down to one chunk. At most 1,048,576 chunks.
	ArenaSize int64
	// Advice is the access-pattern hint given to the kernel for every
	// chunk when it is mapped, and for the files read and written with
	// pread and pwrite; [Manager.Advise] gives one for a range. The zero
	// value is AdviceNormal, the kernel's default read-ahead. With
	// AdviceSequential here (not through Advise), the part of a ReadAt
	// that lies in one chunk, if it is 64 KiB or more and the chunk is not
	// mapped, is read with pread and maps nothing, as a scan should.
	Advice Advice
	// Start is where a dataset that Open creates begins: its Start and
	// its Size are both Start, and the first Append writes there. It keeps
	// offsets that live elsewhere valid, in a copy of a dataset whose
	// front was dropped, or a log whose positions continue another's, at
	// no cost: no chunk file below it is created. It must be a multiple of
	// the chunk size (ErrInvalidOptions otherwise, for a new dataset). An
	// existing dataset keeps its own Start, whatever this says, but a
	// negative Start is refused (ErrInvalidOptions) there too, as every
	// negative option is.
	Start int64
	// FileMode is the permission of new chunk and manifest files: only the
	// bits of os.ModePerm (a type bit, os.ModeSetuid, os.ModeSticky or a
	// bit of 0o7000 is ErrInvalidOptions); 0 means DefaultFileMode. A new
	// dataset directory gets the same mode with the search (x) bit added
	// wherever the read bit is set. The mode is applied as given (the
	// process's umask still clears bits): without the owner's write bit
	// (0o444, say) the files stay readable, but a later writer that is not
	// root cannot open them for writing (ErrIO matching fs.ErrPermission),
	// nor can such a user create the dataset (Open fails so, and leaves
	// neither the directory nor a manifest behind) or grow one (growth
	// fails so, Size unchanged): a chunk file its writer could not open
	// again would fail every Sync.
	FileMode os.FileMode

	// fs is the file system every file operation goes through; nil means
	// the operating system's. Tests set it to record or fail operations.
	fs vfs.FS
}

// fsys returns the file system o's Manager works on.
func (o *Options) fsys() vfs.FS {
	if o.fs == nil {
		return vfs.OS
	}
	return o.fs
}

// withDefaults validates o and returns a copy with zero fields filled in
// (except ChunkSize, which depends on the dataset).
func (o Options) withDefaults() (Options, error) {
	if o.ChunkSize != 0 {
		if err := validChunkSize(o.ChunkSize); err != nil {
			return o, err
		}
	}
	switch {
	case o.MaxMapped < 0:
		return o, fmt.Errorf("%w: MaxMapped %d is negative", ErrInvalidOptions, o.MaxMapped)
	case o.ArenaSize < 0:
		return o, fmt.Errorf("%w: ArenaSize %d is negative", ErrInvalidOptions, o.ArenaSize)
	case o.Advice < AdviceNormal || o.Advice > AdviceDontNeed:
		return o, fmt.Errorf("%w: Advice %d is not one of the Advice constants", ErrInvalidOptions, o.Advice)
	case o.Start < 0:
		return o, fmt.Errorf("%w: Start %d is negative", ErrInvalidOptions, o.Start)
	}
	if o.Scratch && o.ReadOnly {
		return o, fmt.Errorf("%w: Scratch and ReadOnly together", ErrInvalidOptions)
	}
	if o.FileMode&^os.ModePerm != 0 {
		// The octal form too: String shows no bit of 0o7000, which
		// os.FileMode leaves undefined, so "-rwxr-xr-x" alone would not
		// say what is wrong with 0o4755.
		return o, fmt.Errorf("%w: FileMode %v (%#o) has bits other than the permission bits %#o",
			ErrInvalidOptions, o.FileMode, uint32(o.FileMode), uint32(os.ModePerm))
	}
	if o.FileMode == 0 {
		o.FileMode = DefaultFileMode
	}
	return o, nil
}

// validChunkSize checks the option ChunkSize n: a chunk size of the
// format (formatChunkSize) that this platform can map.
func validChunkSize(n int64) error {
	switch {
	case n < MinChunkSize || n > MaxChunkSize:
		return fmt.Errorf("%w: ChunkSize %d is outside [%d, %d]", ErrInvalidOptions, n, int64(MinChunkSize), int64(MaxChunkSize))
	case n&(n-1) != 0:
		return fmt.Errorf("%w: ChunkSize %d is not a power of two", ErrInvalidOptions, n)
	case !chunkSizeFits(n):
		return fmt.Errorf("%w: ChunkSize %d does not fit the 32-bit address space (at most 1 GiB)", ErrInvalidOptions, n)
	}
	return nil
}

// formatChunkSize reports whether n is a chunk size a dataset may have: a
// power of two from MinChunkSize to MaxChunkSize, on every platform. A
// manifest is checked against this alone: a dataset of 2 GiB chunks, made
// by a 64-bit process, is intact where a 32-bit one cannot map it (Open
// refuses it there with ErrInvalidOptions, see chunkSizeFits).
func formatChunkSize(n int64) bool {
	return n >= MinChunkSize && n <= MaxChunkSize && n&(n-1) == 0
}

// chunkSizeFits reports whether this platform can map a chunk of n bytes:
// every chunk size on 64-bit platforms, at most 1 GiB of the 2-3 GiB a
// 32-bit one has.
func chunkSizeFits(n int64) bool {
	return bits.UintSize == 64 || n <= 1<<30
}

// maxMapped32 bounds ChunkSize × MaxMapped on 32-bit platforms, whose 2-3
// GiB of address space the mappings share with the heap and stacks.
const maxMapped32 = 1 << 30

// fitMapped fills in MaxMapped for chunks of chunkSize bytes if it is zero,
// from the descriptor budget the Managers of the process share
// (fileMapBudget, which Open has just read again), and refuses a bound the
// address space cannot honour, instead of letting mmap fail later.
func (o *Options) fitMapped(chunkSize int64) error {
	if o.MaxMapped == 0 {
		mem, _ := memlimit.Bytes() // 0 where the system does not say
		o.MaxMapped = defaultMaxMapped(chunkSize, fileMapBudget.Load(), mem)
	}
	if bits.UintSize == 32 && chunkSize*int64(o.MaxMapped) > maxMapped32 {
		return fmt.Errorf("%w: ChunkSize %d × MaxMapped %d exceeds the %d bytes a 32-bit address space can keep mapped",
			ErrInvalidOptions, chunkSize, o.MaxMapped, int64(maxMapped32))
	}
	return nil
}

// defaultMaxMapped is MaxMapped where Options leave it zero, for chunks
// of chunkSize bytes, a process that may keep files open (see
// processFileBudget) and fill mem bytes of memory (0: not known). A bound
// in chunks alone gave small chunks a window of a few MiB (16 chunks of
// 64 KiB: 1 MiB), so that random access over a dataset a single mapping
// would cover went to pread; the bytes bound gives every chunk size the
// window of the default one, and the bound in chunks keeps the
// descriptors and mappings it costs within reason. The memory bound comes
// last, below even DefaultMaxMapped: in a cgroup of 256 MiB, 10,000 random
// 4 KiB reads of 800 MiB in 64 MiB chunks took 64 s with every chunk
// mapped, the kernel evicting and reading again the pages each fault read
// around its own (read_ahead_kb 8192), and 1.6 s with 2 mapped, against
// 0.85 s by pread (README, Limits).
func defaultMaxMapped(chunkSize, files, mem int64) int {
	n := max(DefaultMaxMapped, min(DefaultMappedBytes/chunkSize, MaxDefaultMapped, files))
	if bits.UintSize == 32 {
		n = max(1, min(DefaultMaxMapped, maxMapped32/chunkSize))
	}
	if mem > 0 {
		n = min(n, max(1, mem/2/chunkSize))
	}
	return int(n)
}

// newChunkSize returns the chunk size of a dataset that Open creates.
func (o *Options) newChunkSize() int64 {
	if o.ChunkSize == 0 {
		return DefaultChunkSize
	}
	return o.ChunkSize
}

// newShape checks the options that depend on the chunk size of a dataset
// that Open creates (Start, and MaxMapped on 32-bit platforms), without
// changing o, so that Open can refuse them before it makes anything.
func (o *Options) newShape() error {
	c := *o
	mf, err := c.startOf(c.newChunkSize())
	if err != nil {
		return err
	}
	if c.MaxMapped == 0 {
		// The default always fits (defaultMaxMapped), and Open computes
		// it once, later: it reads the memory limits, tens of
		// microseconds.
		return nil
	}
	return c.fitMapped(mf.chunkSize)
}

// startOf returns the manifest of a dataset that Open creates with chunk
// size chunkSize: empty, from o.Start on, which must be a multiple of it.
func (o *Options) startOf(chunkSize int64) (manifest, error) {
	if o.Start%chunkSize != 0 {
		return manifest{}, fmt.Errorf("%w: Start %d is not a multiple of the chunk size %d", ErrInvalidOptions, o.Start, chunkSize)
	}
	return manifest{chunkSize: chunkSize, first: o.Start / chunkSize, size: o.Start}, nil
}
