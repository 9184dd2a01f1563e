package chunkmap

import (
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// flushMapped writes back the pages b, a view of a file, dirtied:
// FlushFileBuffers, which the manifest's fsync is, flushes the file's own
// buffers only, not a view's pages (FlushViewOfFile: "To flush all the
// dirty pages plus the metadata for the file and ensure that they are
// physically written to disk, call FlushViewOfFile and then call the
// FlushFileBuffers function").
func flushMapped(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return os.NewSyscallError("FlushViewOfFile", windows.FlushViewOfFile(uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b))))
}
