package chunkmap

import "errors"

// Sentinel errors. Every error the Manager returns wraps one of these (or is
// io.EOF from a short read), so callers test them with [errors.Is]; the
// message around the sentinel names the operation, the offset and, where a
// file is involved, its path.
var (
	// ErrClosed is returned by every method called after [Manager.Close].
	ErrClosed = errors.New("chunkmap: manager closed")
	// ErrReadOnly is returned by every write through a Manager opened with
	// [Options.ReadOnly], and by Open when ReadOnly would have to create a
	// dataset.
	ErrReadOnly = errors.New("chunkmap: read-only")
	// ErrOutOfRange is returned for offsets and lengths that are negative,
	// overflow int64, or fall outside the bytes the call may touch (below
	// Start; past Size for typed reads, pins and DropBefore).
	ErrOutOfRange = errors.New("chunkmap: offset out of range")
	// ErrCorrupt is returned by Open when the directory does not hold a
	// consistent dataset: a manifest that is truncated, garbled or of an
	// unknown version, a chunk file of the wrong size, a chunk missing from
	// the sequence. The message names the file. [Remove] returns it for a
	// path that is not a directory and for a dataset's file name under
	// which stands something other than a regular file.
	ErrCorrupt = errors.New("chunkmap: corrupt dataset")
	// ErrLocked is returned by Open and [Remove] when another Manager, in
	// this process or another, holds the dataset open for writing.
	ErrLocked = errors.New("chunkmap: dataset locked by another writer")
	// ErrInvalidOptions is returned by Open for options out of their range,
	// and for a ChunkSize that differs from the dataset's.
	ErrInvalidOptions = errors.New("chunkmap: invalid options")
	// ErrUnaligned is returned by atomic operations at an offset that is not
	// a multiple of the operand's size.
	ErrUnaligned = errors.New("chunkmap: unaligned atomic access")
	// ErrNoSpace is returned when the disk, a quota or the file size limit
	// has no room for a write that needs new blocks (the operating
	// system's ENOSPC, EDQUOT or EFBIG stays in the chain): the call that
	// writes, grows or pins writable fails, and a store through a mapping
	// never does, because blocks are allocated before it. It is also
	// returned, before any file is created, for growth by many chunks that
	// the free space cannot hold (an absurd offset fails at once instead
	// of filling the disk). Either way the dataset is left as it was.
	ErrNoSpace = errors.New("chunkmap: not enough free disk space")
	// ErrBusy is returned by Close when Batch scopes are still open (a
	// Batch function that closes its own Manager, say). The Manager is
	// closed all the same; the chunks those batches hold stay mapped until
	// their functions return.
	ErrBusy = errors.New("chunkmap: batches still open")
	// ErrFault is returned when mapped memory faults: the chunk file was
	// truncated or removed by another process, or the device failed. The
	// message names the chunk file and the offset.
	ErrFault = errors.New("chunkmap: fault on mapped memory")
)
