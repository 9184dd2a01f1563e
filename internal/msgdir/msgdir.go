// Package msgdir lets package accessor name a dataset's directory in its
// own error messages as the Manager's messages name it: the directory as
// Open resolved it (absolute, its symlinks and ".." resolved), which
// Manager.Dir, the path as the caller gave it, need not spell the same way.
// Without it, an accessor call's message said "in real/" where the
// Manager's said "in /data/real", and named the directory twice, in two
// spellings, where the Manager's part named a chunk file.
package msgdir

// Dir returns the directory that the error messages of m, a
// *chunkmap.Manager, name. Package chunkmap sets it in an init function,
// which runs before any package that imports chunkmap can call it.
var Dir func(m any) string
