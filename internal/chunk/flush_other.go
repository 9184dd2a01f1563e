//go:build !linux

package chunk

// flushMapping writes the mapping's stores to the file (msync, or
// FlushViewOfFile on Windows) before Sync's fsync: POSIX leaves it open
// whether fsync covers stores made through a mapping.
func (c *File) flushMapping() error { return c.m.Flush() }
