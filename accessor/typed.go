package accessor

// This file holds the helpers of the typed single-value reads and writes
// (readValue and writeValue in values.go; their per-type methods are
// generated into typed_gen.go, see generate.go). A value is read or written
// with one call of the Manager's ReadAt or WriteAt, whose hit path takes no
// lock and is fault guarded, and which assembles a value that straddles a
// chunk boundary from both chunks.

import "io"

// readErr is the error of the typed read op of n bytes at off whose ReadAt
// failed with err. ReadAt reports a read past Size with io.EOF, as
// io.ReaderAt must; a typed read reports it with ErrOutOfRange, because a
// value cut short is not a value. Any other error is restated as the typed
// read's, so that its message names the value's type, as every error of
// the typed calls does (see restate). (Each method's one-line body is inlined
// into its caller, which so calls readValue, and readValue calls ReadAt
// directly: one call on top of ReadAt's, as when each method held its own
// body.)
func (v *ViewAccessor) readErr(op string, err error, off int64, n int) error {
	if err == io.EOF {
		return v.pastSize(op, off, int64(n))
	}
	return v.restate(op, off, int64(n), err)
}

// write stores b at offset off.
func (v *ViewAccessor) write(b []byte, off int64) error {
	_, err := v.mgr().WriteAt(b, off)
	return err
}
