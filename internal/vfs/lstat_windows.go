package vfs

import (
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// lstat is os.Lstat with the file's identity (volume serial and file index)
// read at once, through a handle that shares everything. os.Lstat leaves
// the identity for os.SameFile to read later, by opening the name with
// share mode 0, and os.SameFile reports false, not an error, when that open
// fails. Wine 8 fails it with ERROR_SHARING_VIOLATION on any file mapped
// writable, which the manifest and every mapped chunk are, so every check
// that the name still leads to the file the Manager holds said "replaced"
// (ErrCorrupt on DropBefore, Sync and Close). A handle opened with
// FILE_READ_ATTRIBUTES and every share flag conflicts with no other open
// or mapping, and a failure to open it is an error here, not a false
// "another file". FILE_FLAG_OPEN_REPARSE_POINT keeps it an lstat: a
// symlink is described, not followed; FILE_FLAG_BACKUP_SEMANTICS lets it
// open directories (CreateFileW, learn.microsoft.com).
func lstat(name string) (fs.FileInfo, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return nil, err
	}
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	h, err := windows.CreateFile(p, windows.FILE_READ_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(h), name)
	defer f.Close()
	withID, err := f.Stat()
	if err != nil {
		// os.Lstat's answer still holds; os.SameFile reads the identity
		// itself, as it would have.
		return fi, nil
	}
	return withID, nil
}
