package vfs

import "os"

// clearNonblock does nothing: Linux ignores O_NONBLOCK on regular files
// (open(2): it has no effect on them), and every file OpenFile returns is
// one. Skipping it saves two fcntl calls on every open.
func clearNonblock(*os.File) error { return nil }
