//go:build unix && !linux

package arena

// overLimit returns the error of a refused reservation as it is: these
// systems count no mappings per process, so ENOMEM there is out of memory
// or address space, and the slot keeps its mapping.
func (a *Arena) overLimit(k int, refused error) error { return refused }

// refused reports whether a test has mapping (or, with unmap, emptying)
// slot k refused: never here.
func refused(k int, unmap bool) bool { return false }
