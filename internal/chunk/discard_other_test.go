//go:build !linux

package chunk_test

import (
	"bytes"
	"errors"
	"testing"
)

// TestFile_DiscardUnsupported checks that Discard, which only Linux's
// fallocate does here, reports errors.ErrUnsupported and changes nothing:
// the caller zeroes the bytes instead.
func TestFile_DiscardUnsupported(t *testing.T) {
	_, f := create(t, 1)
	ones := bytes.Repeat([]byte{0xff}, testSize)
	if _, err := f.WriteAt(ones, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Discard(100, 3*4096); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Discard = %v, want errors.ErrUnsupported", err)
	}
	got := make([]byte, testSize)
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, ones) {
		t.Error("the unsupported Discard changed bytes")
	}
}
