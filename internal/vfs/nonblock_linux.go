package vfs

import "os"

// clearNonblock does nothing: Linux ignores O_NONBLOCK on regular files
// (open(2): it has no effect on them), and every file OpenFile returns is
// one. Skipping it saves two fcntl calls on every open.
func clearNonblock(*os.File) error { return nil }

// clearNonblockFD does nothing, as clearNonblock: os.NewFile gives a
// regular file's descriptor to the poller, which refuses it (EPERM), and
// reads and writes then block as they would.
func clearNonblockFD(int) error { return nil }
