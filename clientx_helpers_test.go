package chunkmap_test

// Helpers of the clientx_*_test.go files: black-box tests that hold a
// Manager to the contract of the file it claims to be.

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

const clxChunk = 64 << 10

// clxSentinels is every sentinel an error of the package may match.
var clxSentinels = []error{
	chunkmap.ErrClosed, chunkmap.ErrReadOnly, chunkmap.ErrOutOfRange, chunkmap.ErrCorrupt,
	chunkmap.ErrLocked, chunkmap.ErrInvalidOptions, chunkmap.ErrUnaligned, chunkmap.ErrNoSpace,
	chunkmap.ErrBusy, chunkmap.ErrFault, chunkmap.ErrIO, chunkmap.ErrSyncFailed,
}

// clxErr returns "" if err matches want with errors.Is and its message names
// op and every one of words; else a description of what is wrong.
func clxErr(err, want error, op string, words ...string) string {
	if err == nil {
		return fmt.Sprintf("got nil error, want %v", want)
	}
	if !errors.Is(err, want) {
		return fmt.Sprintf("error %q does not match %v", err, want)
	}
	if want == io.EOF {
		if err != io.EOF {
			return fmt.Sprintf("error %q is not a bare io.EOF", err)
		}
		return ""
	}
	matched := 0
	for _, s := range clxSentinels {
		if errors.Is(err, s) {
			matched++
		}
	}
	if matched == 0 {
		return fmt.Sprintf("error %q matches no sentinel", err)
	}
	msg := err.Error()
	if op != "" && !strings.HasPrefix(msg, op+" ") {
		return fmt.Sprintf("error %q does not begin with the operation %q", msg, op)
	}
	for _, w := range words {
		if !strings.Contains(msg, w) {
			return fmt.Sprintf("error %q does not name %q", msg, w)
		}
	}
	return ""
}

// clxOpen opens dir with o, failing the test on an error.
func clxOpen(t testing.TB, dir string, o *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return m
}
