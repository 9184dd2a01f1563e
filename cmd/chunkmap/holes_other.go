//go:build !linux

package main

import "os"

// holesFile reports that holes are not looked for on this platform: every
// byte is read. (SEEK_DATA exists on macOS and FreeBSD, but a file system
// that reports a hole where data is would cost salvage that data without a
// trace, and their file systems' accounts of holes are not checked here:
// see holesTrusted on Linux.)
func holesFile(f *os.File) bool { return false }

// dataSpan is never called where holesFile reports false.
func dataSpan(f *os.File, pos, size int64) (data, end int64, ok bool) {
	return 0, 0, false
}
