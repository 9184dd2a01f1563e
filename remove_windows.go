package chunkmap

// unmapBeforeRemove is true on Windows: a file with a mapped view cannot be
// deleted (DeleteFile fails with ERROR_USER_MAPPED_FILE), so chunks are
// unmapped before their files are removed, and a pinned chunk's file is
// removed when its last pin is released.
var unmapBeforeRemove = true
