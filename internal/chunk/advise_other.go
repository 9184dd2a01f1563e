//go:build !unix

package chunk

// advise does nothing: the platform has no madvise(2), and the hints only
// change speed, never results.
func advise(b []byte, a Advice) error { return nil }
