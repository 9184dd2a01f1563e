package vfs

import "os"

// openFlags is empty: Windows has no FIFOs among file names and opens
// symlinks as reparse points that the regular-file check refuses.
const openFlags = 0

func clearNonblock(*os.File) error { return nil }

// syncDir does nothing: NTFS makes directory changes durable with the
// metadata journal, and Windows cannot open a directory for FlushFileBuffers
// without backup privileges.
func syncDir(string) error { return nil }
