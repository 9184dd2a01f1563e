//go:build !unix

package chunk

// retire cannot replace a mapping in place here (Windows has no MAP_FIXED
// equivalent that is atomic), so the mapping stays accessible until Unmap.
func retire(b []byte) (bool, error) { return false, nil }
