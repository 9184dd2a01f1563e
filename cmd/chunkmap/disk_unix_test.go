//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestGiveOwnerMode_FollowsNoSymlink checks that giveOwnerMode, which
// salvage calls on a temporary directory in OUT's parent, changes nothing
// a symlink put under that name points to: whoever may write the parent
// (OUT's owner, when root salvages into a user's directory) may swap the
// directory for a symlink between its mkdir and the call. It used
// chmod(2) by path, which follows the symlink: root gave the target (say
// /etc/shadow) the empty directory's mode.
func TestGiveOwnerMode_FollowsNoSymlink(t *testing.T) {
	top := t.TempDir()
	target := filepath.Join(top, "secret")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(top, ".out.salvage-1.tmp")
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(top)
	if err != nil {
		t.Fatal(err)
	}
	if err := giveOwnerMode(tmp, fi); err == nil {
		t.Errorf("giveOwnerMode(%s, a directory), a symlink to a file: no error", tmp)
	}
	if got, err := os.Stat(target); err != nil || got.Mode().Perm() != 0o600 {
		t.Errorf("the symlink's target: %v; want it of mode 0600 still", fileMode(got, err))
	}
}

// TestGiveOwnerMode checks that a directory gets the mode, set-group-ID
// bit included, of the directory it stands in for.
func TestGiveOwnerMode(t *testing.T) {
	top := t.TempDir()
	like, dir := filepath.Join(top, "like"), filepath.Join(top, "dir")
	for _, d := range []string{like, dir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(like, 0o2750); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(like)
	if err != nil {
		t.Fatal(err)
	}
	if err := giveOwnerMode(dir, fi); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Stat(dir); err != nil || got.Mode() != fi.Mode() {
		t.Errorf("Stat(%s): %v, want mode %v", dir, fileMode(got, err), fi.Mode())
	}
}

// fileMode is the mode of a Stat's result, or its error.
func fileMode(fi os.FileInfo, err error) any {
	if err != nil {
		return err
	}
	return fi.Mode()
}

// TestGiveFilesOwner checks which files giveFilesOwner gives OUT's owner in
// a directory that owner could fill while root salvaged into it: only a
// dataset's file (a chunk file or the manifest) that is a regular file of
// root's with no other name. A symlink, a hard link to a file elsewhere (say
// /etc/shadow), a FIFO and a file of another name keep their owner, and the
// FIFO does not block the call.
func TestGiveFilesOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root gives files away")
	}
	top := t.TempDir()
	secret := filepath.Join(top, "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(top, "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(chunk.Name(0))
	write(chunkmap.ManifestName)
	write("notes.txt")
	if err := os.Link(secret, filepath.Join(dir, chunk.Name(1))); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, chunk.Name(2))); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, chunk.Name(3)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := giveFilesOwner(dir, fi); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		uid  uint32
	}{
		{chunk.Name(0), 65534},
		{chunkmap.ManifestName, 65534},
		{"notes.txt", 0},
		{chunk.Name(1), 0},
		{chunk.Name(2), 0},
		{chunk.Name(3), 0},
		{"../secret", 0},
	} {
		fi, err := os.Lstat(filepath.Join(dir, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != tc.uid || st.Gid != tc.uid {
			t.Errorf("%s has owner %d:%d, want %d:%d", tc.name, st.Uid, st.Gid, tc.uid, tc.uid)
		}
	}
}

// TestGiveFilesOwner_FollowsNoSymlink checks that giveFilesOwner does not
// follow a symlink put in place of the directory it is given. In a copy
// built beside OUT, that directory is salvage's temporary one in OUT's
// parent, which the owner of OUT may well own (root salvaging into
// /home/user/out): that user may rename it and put a symlink under its
// name, to a directory of root's datasets, whose files the chown would
// then give that user.
func TestGiveFilesOwner_FollowsNoSymlink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root gives files away")
	}
	top := t.TempDir()
	victim := filepath.Join(top, "roots-dataset")
	if err := os.Mkdir(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{chunk.Name(0), chunkmap.ManifestName} {
		if err := os.WriteFile(filepath.Join(victim, name), []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(top, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(out, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(out)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(top, ".out.salvage-1.tmp")
	if err := os.Symlink(victim, tmp); err != nil {
		t.Fatal(err)
	}
	if err := giveFilesOwner(tmp, fi); err == nil {
		t.Error("giveFilesOwner of a symlink to a directory = nil, want an error: it is not the directory salvage built")
	}
	for _, name := range []string{chunk.Name(0), chunkmap.ManifestName} {
		fi, err := os.Lstat(filepath.Join(victim, name))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s, in the directory the symlink names, has owner %d:%d, want root's", name, st.Uid, st.Gid)
		}
	}
}
