package chunkmap

// flushStatePage writes back the stores made through b, the manifest's
// mapping, which holds the state page, where the platform needs that for
// an fsync of the manifest to cover them (flushMapped). A variable so
// that a test sees where it runs on Linux too, where it does nothing.
var flushStatePage = flushMapped
