package chunkmap

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// Sentinel errors. Every error that Open, Remove and the methods of
// Manager, Pinned and Batch return matches one of these with [errors.Is],
// with two exceptions: io.EOF from a short ReadAt, bare as [io.ReaderAt]
// requires, and an error matching [fs.ErrNotExist] where the cause is a
// missing dataset (Open with ReadOnly or ErrorIfNotExists, Remove). An
// error a Batch function returns is passed on as it is.
//
// The message names the operation, then the length and offset where the
// call has them, then the dataset's directory or the file involved, once:
// "read 4 bytes at offset 12 in /data/ds: chunkmap: offset out of range:
// below start 65536". The operating system's error, where there is one,
// stays in the chain, so errors.Is(err, fs.ErrPermission) or
// errors.Is(err, syscall.EMFILE) work too.
var (
	// ErrClosed is returned by every method called after [Manager.Close],
	// Close included, and by the methods of a Batch used after its
	// function returned. Nothing was done; the Manager cannot be used
	// again (Open the dataset again). It matches [fs.ErrClosed] (which
	// is os.ErrClosed) too, as the error of a closed *os.File does, so
	// that code written for files recognises it.
	ErrClosed error = &closedError{}
	// ErrReadOnly is returned by every write through a Manager opened with
	// [Options.ReadOnly], and by Open when ReadOnly would have to create a
	// dataset (that error matches fs.ErrNotExist too). Nothing was done;
	// writes need a Manager opened without ReadOnly.
	ErrReadOnly = errors.New("chunkmap: read-only")
	// ErrOutOfRange is returned for offsets and lengths that are negative,
	// overflow int64, or fall outside the bytes the call may touch (below
	// Start; past Size for typed reads, pins, batches, gathers, scatters,
	// atomics, Advise and DropBefore), and for an unknown Advice or a
	// Gather or Scatter value size outside [1, MinChunkSize]. Nothing was
	// done (Gather and Scatter stop at the first offending value, having
	// done the ones before); the Manager is fine. Read Start and Size
	// again: a concurrent Truncate or DropBefore may have moved them.
	ErrOutOfRange = errors.New("chunkmap: offset out of range")
	// ErrCorrupt is returned by Open when the directory does not hold a
	// consistent dataset: a manifest that is truncated, garbled or of an
	// unknown version, a chunk file of the wrong size, a chunk missing from
	// the sequence, anything but a regular file under a dataset's file
	// name, or a dir that is not a directory; a read-write Open also
	// returns it for a state page another program wrote over while chunk
	// files lie past the recorded Size, which may hold writes that only
	// the page's Size covered. The message names the file,
	// and the directory is left as it was: check the path, or run
	// `chunkmap verify`. [Remove] returns it for a dir that is not a
	// directory and for a dataset's file name under which stands something
	// other than a regular file, before it removes anything. A growth
	// (WriteAt or Append past Size, Truncate, Grow) returns it, leaving
	// Size and the directory as they were, when something other than a
	// regular file stands under the name of a chunk it must create (Open
	// leaves one past Size alone). Sync, and a Truncate or DropBefore that
	// deletes chunk files, return it when another program removed,
	// replaced, truncated or extended the manifest (what they record is
	// lost: close the Manager and check the dataset; the Truncate or
	// DropBefore has done nothing),
	// and Refresh when a chunk file or the manifest a reader needs is not
	// what a writer leaves. A manifest cut to nothing takes the state page
	// with it: the next call that changes Size or Start (a write past
	// Size, Append, Truncate) returns ErrCorrupt with its change made in
	// this process (a crash would lose it), and every later one with
	// nothing done. A manifest cut less far, written over or replaced
	// leaves the page mapped, and those calls return nil until Sync, Close,
	// or a Truncate or DropBefore that deletes chunk files finds it.
	ErrCorrupt = errors.New("chunkmap: corrupt dataset")
	// ErrLocked is returned by Open and [Remove] when another Manager, in
	// this process or another, holds the dataset open for writing. Nothing
	// was done: retry once the writer has closed, or Open with
	// [Options.ReadOnly], which takes no lock.
	ErrLocked = errors.New("chunkmap: dataset locked by another writer")
	// ErrInvalidOptions is returned by Open for options out of their
	// range, for a ChunkSize that differs from the dataset's, and for
	// Scratch with ReadOnly; by Open and [Remove] for an empty dir; and by
	// Batch for a nil function. Nothing was done: fix the argument.
	ErrInvalidOptions = errors.New("chunkmap: invalid options")
	// ErrUnaligned is returned by atomic operations at an offset that is not
	// a multiple of the operand's size. Nothing was done.
	ErrUnaligned = errors.New("chunkmap: unaligned atomic access")
	// ErrNoSpace is returned when the disk, a quota or the file size limit
	// has no room for a write that needs new blocks (the operating
	// system's ENOSPC, EDQUOT or EFBIG stays in the chain): the call that
	// writes, grows or pins writable fails, and a store through a mapping
	// never does, because blocks are allocated before it (except on a
	// full copy-on-write file system, btrfs, which needs new blocks for
	// every write-back: see the README's "How it works"). It is also
	// returned, before any file is created, for growth by many chunks that
	// the free space cannot hold (an absurd offset fails at once instead
	// of filling the disk). Either way the dataset is left as it was and
	// the Manager is fine: free space (or Truncate, or DropBefore, which
	// work on a full disk) and retry. A file size limit (RLIMIT_FSIZE, the
	// EFBIG case) is stricter than new blocks: the system refuses every
	// write to a file at or past the limit, so a WriteAt there may fail
	// on bytes within Size too (a store through a mapping does not): raise
	// the limit.
	ErrNoSpace = errors.New("chunkmap: not enough free disk space")
	// ErrBusy is returned by Close when Batch scopes are still open (a
	// Batch function that closes its own Manager, say). The Manager is
	// closed all the same, and synced; the chunks those batches hold stay
	// mapped until their functions return. Nothing needs doing.
	ErrBusy = errors.New("chunkmap: batches still open")
	// ErrFault is returned when mapped memory faults, or a chunk file is
	// not what it must be: truncated, extended or removed by another
	// process, or the device failed. The message names the chunk file and
	// the offset. The Manager stays usable, and so do the other chunks;
	// the data of the faulting chunk is in doubt (stores a Batch made
	// before the fault stay made). Sync reports a dirty chunk file that
	// another program removed, replaced, truncated or extended so, every
	// time: its unsynced writes are lost. (An extended file still holds
	// the chunk's bytes: reads of it, and stores through a mapping, go on
	// working; a WriteAt may fail.)
	ErrFault = errors.New("chunkmap: fault on mapped memory")
	// ErrIO is returned when the operating system refuses or fails a call
	// for a reason no other sentinel names: permission denied, too many
	// open files, a path through something that is not a directory, an
	// I/O error of a read or write, address space or memory exhausted, a
	// buffer the caller gave that is not memory the call can read or
	// write (syscall.EFAULT: a mapping of a file that another program
	// truncated, say; the dataset is not at fault).
	// Its error stays in the chain (errors.Is(err, fs.ErrPermission),
	// errors.Is(err, syscall.EMFILE)). The call failed and the dataset is
	// as the call's documentation says after an error (a ReadAt or
	// WriteAt may have done part of its bytes, as n says); the Manager
	// stays usable, and a Sync that failed so tries again the next time:
	// remove the cause and retry.
	ErrIO = errors.New("chunkmap: I/O error")
	// ErrSyncFailed is returned by the Sync (or Close, or Truncate and
	// DropBefore, which write the manifest) whose fsync or msync failed,
	// and from then on by every Sync and write of that Manager: the kernel
	// may have dropped the dirty pages, so the data written since the last
	// successful Sync is in doubt. The failed system call's error stays in
	// the chain. Close the Manager, Open the dataset again, and check or
	// redo the writes made since the last successful Sync; reads still
	// work until then.
	ErrSyncFailed = errors.New("chunkmap: fsync failed")
	// ErrLeftover is returned by a Rename that replaced the dataset under
	// its target, durably (the directories holding both names were
	// fsync'd, as far as a successful Rename fsyncs them), but could not
	// remove the dataset it replaced, or all of it, or its directory: the
	// call was made, and only that dataset's files are left, under
	// the directory the message names (".chunkmap-removing-…" beside the
	// source, or the source itself). Remove that directory once the cause
	// the message gives is gone (where the message says it is left empty,
	// with os.Remove: Remove finds no dataset in it); do not Rename the
	// source again if it is the directory named, since that would swap
	// the two datasets back.
	// The cause's own sentinel is not in the chain (only in the text), so
	// no check for ErrIO or ErrCorrupt takes the Rename for one refused.
	ErrLeftover = errors.New("chunkmap: replaced dataset left behind")
)

// closedError is the type of ErrClosed: its own sentinel, which also
// matches fs.ErrClosed.
type closedError struct{}

func (*closedError) Error() string { return "chunkmap: manager closed" }

// Is reports whether target is fs.ErrClosed; errors.Is compares with
// ErrClosed itself before it asks.
func (*closedError) Is(target error) bool { return target == fs.ErrClosed }

// sentinels lists the sentinel errors, for classify.
var sentinels = [...]error{
	ErrClosed, ErrReadOnly, ErrOutOfRange, ErrCorrupt, ErrLocked, ErrInvalidOptions,
	ErrUnaligned, ErrNoSpace, ErrBusy, ErrFault, ErrIO, ErrSyncFailed, ErrLeftover,
}

// errNoDataset is wrapped, together with fs.ErrNotExist, by the errors that
// report a missing dataset: the one kind of error that matches no sentinel
// (see the sentinels' doc).
var errNoDataset = errors.New("no dataset")

// errManifestAppeared marks the error of a ReadOnly open that found no
// manifest, then listed the directory and found one: a writer created the
// dataset meanwhile, and Open reads it again.
var errManifestAppeared = errors.New("created meanwhile")

// errEmptyDir is the error of Open and Remove for an empty dir. It names
// no directory: taken for the current one, an unset variable would open,
// or remove, whatever dataset the program runs in.
var errEmptyDir = fmt.Errorf("%w: empty directory path (the current directory is \".\")", ErrInvalidOptions)

// errDirMoved is lockDir's error when the directory it locked is no longer
// the one under the path: a concurrent Remove deleted it (and an Open may
// have made a new one) between the open of the directory and its lock; or
// when there is no directory to open, one the caller had just made or
// found being deleted since.
// Open and Remove try again; if it persists, it is reported as ErrLocked.
var errDirMoved = fmt.Errorf("%w: the directory was removed or replaced while it was being locked", ErrLocked)

// classify returns err marked with the sentinel that says what the caller
// can do about it, if it matches none yet: an error for lack of space
// (ENOSPC, EDQUOT, EFBIG) with ErrNoSpace, any other with ErrIO. io.EOF and
// the errors of a missing dataset stay as they are.
func classify(err error) error {
	if err == nil || err == io.EOF || errors.Is(err, errNoDataset) {
		return err
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return err
		}
	}
	if isSpaceErr(err) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return fmt.Errorf("%w: %w", ErrIO, err)
}

// unpath returns the error inside err if err is an *fs.PathError naming
// path (alone, or joined with nothing else), for a message that names path
// already; the cause (a syscall.Errno, which matches fs.ErrNotExist or
// fs.ErrPermission) stays.
func unpath(path string, err error) error {
	e := err
	// A join of one error may hold another (an error joined with a nil
	// close error, joined again by its caller with a nil unlock error).
	for {
		j, ok := e.(interface{ Unwrap() []error })
		if !ok || len(j.Unwrap()) != 1 {
			break
		}
		e = j.Unwrap()[0]
	}
	if pe, ok := e.(*fs.PathError); ok && pe.Path == path {
		return pe.Err
	}
	if r, ok := e.(*refusal); ok {
		// A refusal for want of descriptors: its hint stays.
		if inner := unpath(path, r.err); inner != r.err {
			return &refusal{err: inner, why: r.why}
		}
	}
	return err
}

// unpathOp is unpath keeping the operation of the *fs.PathError it takes
// the path from: "mkdir: permission denied" says what was refused.
func unpathOp(path string, err error) error {
	inner := unpath(path, err)
	var pe *fs.PathError
	if inner != err && errors.As(err, &pe) {
		inner = fmt.Errorf("%s: %w", pe.Op, inner)
	}
	return inner
}

// placedError is an error whose message names its operation and place
// already (Manager.errorf, Manager.wrapErr): callers pass it on as it is.
// The place ends, with ": ", at byte at of the message.
type placedError struct {
	err error
	at  int
}

// placed returns the error whose message is where + ": " + what err's
// format makes of the rest.
func placed(where, format string, args ...any) *placedError {
	return &placedError{fmt.Errorf("%s: "+format, append([]any{where}, args...)...), len(where) + 2}
}

// Unplaced returns the message without the place it starts with (the
// operation, extent and directory): what went wrong. Package accessor
// restates a Manager's error for its own call with it, without parsing the
// message (whose directory is the one Open resolved, which the path the
// caller gave need not spell the same way).
func (e *placedError) Unplaced() string { return e.err.Error()[e.at:] }

func (e *placedError) Error() string { return e.err.Error() }
func (e *placedError) Unwrap() error { return e.err }

// isPlaced reports whether err, or an error in its chain, is a
// placedError. (A function of its own: the target errors.As needs escapes,
// and would cost callers an allocation on their success path.)
func isPlaced(err error) bool {
	var pe *placedError
	return errors.As(err, &pe)
}
