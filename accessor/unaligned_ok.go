//go:build 386 || amd64 || arm64 || ppc64 || ppc64le || s390x || loong64

package accessor

// unalignedOK is whether a value may be loaded and stored as itself at any
// address. These are the processors on which Go's compiler itself merges
// byte loads into unaligned wider ones (unalignedOK in cmd/compile's SSA
// configuration): they handle unaligned access to ordinary memory in
// hardware.
const unalignedOK = true
