//go:build !(386 || amd64 || arm64 || ppc64 || ppc64le || s390x || loong64)

package accessor

// unalignedOK is false where an unaligned load or store may trap (or be
// emulated by the kernel, slowly): a Batch's typed calls there always
// assemble values byte by byte.
const unalignedOK = false
