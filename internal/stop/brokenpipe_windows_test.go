package stop

import "golang.org/x/sys/windows"

// brokenPipe is the error a write to a pipe with no reader fails with
// here: ERROR_NO_DATA, where Unix says EPIPE.
var brokenPipe error = windows.ERROR_NO_DATA
