package accessor

// This file holds the checks and buffers of the bulk calls, which read or
// store a whole slice of values in one call (values.go implements them;
// their per-type methods are generated into bulk_gen.go, see generate.go).

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/msgdir"
)

// bulkBuf is the size in bytes of the stack buffer in which a bulk write in
// a byte order other than the machine's converts its values: it amortises
// the cost of a Manager call (a lookup and a fault guard, about 10 ns) over
// a piece. A call of at most smallBuf bytes uses a buffer of that size
// instead, because Go zeroes a stack array where it is declared and zeroing
// 4 KiB would cost a short call more than the call itself.
const (
	bulkBuf  = 4096
	smallBuf = 128
)

// maxOffset is the largest offset a dataset may reach.
const maxOffset = 1<<63 - 1

// checkRead checks a bulk read op of count values of size bytes at off and
// returns its length in bytes. The whole range must lie within
// [Start, Size), so that an error leaves dst untouched.
func (v *ViewAccessor) checkRead(op string, off int64, count, size int) (int64, error) {
	n := int64(count) * int64(size)
	// An empty ReadAt reports a closed Manager and a negative offset.
	if _, err := v.mgr().ReadAt(nil, off); err != nil {
		return 0, v.restate(op, off, n, err)
	}
	if n == 0 {
		return 0, nil
	}
	switch start, end := v.mgr().Start(), v.mgr().Size(); {
	case n > maxOffset-off:
		return 0, v.rangeErr(op, off, n, "end overflows int64")
	case off < start:
		return 0, v.rangeErr(op, off, n, fmt.Sprintf("below start %d", start))
	case off+n > end:
		return 0, v.pastSize(op, off, n)
	}
	return n, nil
}

// checkWrite checks a bulk write op of count values of size bytes at off
// and returns its length in bytes.
func (v *ViewAccessor) checkWrite(op string, off int64, count, size int) (int64, error) {
	n := int64(count) * int64(size)
	// An empty WriteAt reports a closed or read-only Manager, a failed
	// Sync and a negative offset.
	if _, err := v.mgr().WriteAt(nil, off); err != nil {
		return 0, v.restate(op, off, n, err)
	}
	if n > maxOffset-off {
		return 0, v.rangeErr(op, off, n, "end overflows int64")
	}
	return n, nil
}

// restated is an error of the Manager restated for the accessor call that
// met it: its message names the call's operation and extent instead of
// those of the Manager call underneath; Unwrap returns the Manager's error,
// so errors.Is and errors.As see its sentinel and its chain.
type restated struct {
	msg string
	err error
}

func (e *restated) Error() string { return e.msg }
func (e *restated) Unwrap() error { return e.err }

// restate returns err, the error of a Manager call made on behalf of the
// accessor call op of n bytes at off, as an error of op: the Manager's
// message after its own operation, extent and directory, behind op's.
func (v *ViewAccessor) restate(op string, off, n int64, err error) error {
	return v.restatePlace(extent(op, off, n), err)
}

// extent names the accessor call op of n bytes at off: "op (n bytes) at
// offset off".
func extent(op string, off, n int64) string {
	unit := "bytes"
	if n == 1 {
		unit = "byte"
	}
	return fmt.Sprintf("%s (%d %s) at offset %d", op, n, unit, off)
}

// restatePlace is restate for a call whose place, its operation, extent
// and offset, the caller has put into words: where.
func (v *ViewAccessor) restatePlace(where string, err error) error {
	dir := v.dir()
	msg := unplace(err)
	if dir != "" && !strings.Contains(msg, dir+string(filepath.Separator)) {
		// As the Manager's messages do: the directory once, unless
		// the message names a file in it.
		where += " in " + dir
	}
	return &restated{where + ": " + msg, err}
}

// unplace returns the message of err, a Manager's error, without the place
// it starts with (the operation, extent and directory), which every error
// the Manager places records (Unplaced): what is left says what went wrong,
// for restate to put behind the accessor call's own place. Any other
// error's message is kept whole.
func unplace(err error) string {
	if pe, ok := err.(interface{ Unplaced() string }); ok {
		return pe.Unplaced()
	}
	return err.Error()
}

// dir is the dataset's directory as the Manager's own messages name it
// (see internal/msgdir), for the accessor's messages to name it alike.
func (v *ViewAccessor) dir() string { return msgdir.Dir(v.mgr()) }

// rangeErr is the error of a bulk call op of n bytes at off outside the
// range it may touch.
func (v *ViewAccessor) rangeErr(op string, off, n int64, detail string) error {
	return fmt.Errorf("%s in %s: %w: %s", extent(op, off, n), v.dir(), chunkmap.ErrOutOfRange, detail)
}
