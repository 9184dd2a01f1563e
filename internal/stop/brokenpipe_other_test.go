//go:build !windows

package stop

import "syscall"

// brokenPipe is the error a write to a pipe with no reader fails with.
var brokenPipe error = syscall.EPIPE
