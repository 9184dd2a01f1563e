//go:build unix && !linux

package arena

// mapNoReserve is 0 where mmap has no MAP_NORESERVE (the BSDs) or ignores
// it (macOS): PROT_NONE pages are not counted as committed there anyway.
const mapNoReserve = 0
