//go:build unix

package chunkmap

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// stickyRefusal returns an error naming the first of names, files in dir,
// that the system would refuse to let this process delete because dir is
// sticky (mode 0o1000, as /tmp): there only the owner of a file, or of the
// directory, may delete it. Remove asks before it deletes anything: in a
// sticky directory the first deletion allowed says nothing of the next,
// and a Remove that failed part way would leave a dataset with chunks
// missing, which no Open takes. Root may delete any file; a process with
// CAP_FOWNER but not root is refused here where the system would not.
func stickyRefusal(fsys vfs.FS, dir string, names []string) error {
	euid := os.Geteuid()
	if euid == 0 {
		return nil
	}
	fi, err := fsys.Lstat(dir)
	if err != nil || fi.Mode()&os.ModeSticky == 0 {
		return nil // the deletions say
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) == euid {
		return nil
	}
	for _, name := range names {
		fi, err := fsys.Lstat(filepath.Join(dir, name))
		if err != nil {
			continue // the deletion says
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != euid {
			return fmt.Errorf("%s: %w (the directory is sticky and the file is uid %d's: nothing was removed)", name, syscall.EPERM, st.Uid)
		}
	}
	return nil
}
