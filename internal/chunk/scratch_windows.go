package chunk

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// createUnnamed creates a file for chunk index in dir, under a name of its
// own (scratchName, so that scratch datasets sharing a directory never
// collide), with FILE_FLAG_DELETE_ON_CLOSE: the system deletes it when its
// last handle is closed, also when the process dies. fsys is not bound
// here (see vfs.Bind): the directory is named by path.
func createUnnamed(fsys vfs.FS, dir string, index int64, perm os.FileMode) (*os.File, error) {
	for tries := 0; ; tries++ {
		path := filepath.Join(dir, scratchName(index, rand.Uint32()))
		p, err := windows.UTF16PtrFromString(path)
		if err != nil {
			return nil, err
		}
		h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
			windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
			windows.CREATE_NEW, windows.FILE_ATTRIBUTE_TEMPORARY|windows.FILE_FLAG_DELETE_ON_CLOSE, 0)
		if errors.Is(err, windows.ERROR_FILE_EXISTS) && tries < 8 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(h), path), nil
	}
}

// dupFile returns a second handle for f's open file.
func dupFile(f *os.File) (*os.File, error) {
	p := windows.CurrentProcess()
	var h windows.Handle
	if err := windows.DuplicateHandle(p, windows.Handle(f.Fd()), p, &h, 0, false, windows.DUPLICATE_SAME_ACCESS); err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(h), f.Name()), nil
}
