package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/unpriv"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// salvageKillEnv holds, in a child of runKilledSalvage, DIR, OUT and the
// point at which the child kills itself, one a line.
const salvageKillEnv = "CHUNKMAP_SALVAGE_KILL"

// TestSalvageKillChild is not a test: it is a salvage in a child process
// that kills itself with SIGKILL at a point of the copy, run by
// runKilledSalvage. The point is "open:N", as the copy opens chunk N (after
// OUT was made and grown to the extent), "sync:N", before the Nth
// directory fsync of salvage's own (of a dataset built beside OUT: 1 the
// marker's, 2 the whole copy's, 3 OUT's parent's, after the rename; built
// in OUT: 1 the marker's, 2 after the marker is gone), or "none".
func TestSalvageKillChild(t *testing.T) {
	env, ok := os.LookupEnv(salvageKillEnv)
	if !ok {
		return
	}
	args := strings.Split(env, "\n")
	dir, out, point := args[0], args[1], args[2]
	what, n, _ := strings.Cut(point, ":")
	at, _ := strconv.Atoi(n)
	die := func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	opens, syncs := 0, 0
	cfg := salvageConfig{dir: dir, out: out,
		open: func(path string) (chunkFile, error) {
			if what == "open" && filepath.Base(path) == chunk.Name(int64(at)) {
				if opens++; opens > 1 { // the first is checkAccess's
					die()
				}
			}
			return openChunkFile(path)
		},
		syncDir: func(d string) error {
			if syncs++; what == "sync" && syncs == at {
				die()
			}
			return vfs.OS.SyncDir(d)
		},
	}
	var stdout, stderr bytes.Buffer
	code := salvage(cfg, &stdout, &stderr)
	os.Stderr.Write(stderr.Bytes())
	os.Exit(code)
}

// runKilledSalvage salvages dir into out in a child process run in cwd,
// which kills itself at point (see TestSalvageKillChild), and checks that
// it died so, or that it exited with status 0 for "none".
func runKilledSalvage(t *testing.T, cwd, dir, out, point string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSalvageKillChild$")
	cmd.Env = append(os.Environ(), salvageKillEnv+"="+dir+"\n"+out+"\n"+point)
	cmd.Dir = cwd
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(clixTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("salvage killed at %s did not end within %v", point, clixTimeout)
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if point == "none" {
		if !ws.Exited() || ws.ExitStatus() != exitOK {
			t.Fatalf("salvage: %v, want exit status 0\n%s", cmd.ProcessState, stderr.String())
		}
	} else if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("salvage to be killed at %s: %v, want killed by SIGKILL\n%s", point, cmd.ProcessState, stderr.String())
	}
}

// checkWholeSalvage fails t unless out is the whole salvage of newDataset's
// dataset: no marker, Start 0, Size testSize, every byte its pattern, and
// verify finds it OK.
func checkWholeSalvage(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(out, salvageMarker)); err == nil {
		t.Fatalf("%s still holds %s", out, salvageMarker)
	}
	m, err := openReadOnly(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := make([]byte, testSize)
	if n, err := m.ReadAt(got, 0); n != testSize || m.Start() != 0 || m.Size() != testSize {
		t.Fatalf("%s: Start %d, Size %d, ReadAt = %d, %v; want 0, %d, %d", out, m.Start(), m.Size(), n, err, testSize, testSize)
	}
	for i, b := range got {
		if b != pattern(int64(i)) {
			t.Fatalf("%s: byte %d = %#x, want %#x", out, i, b, pattern(int64(i)))
		}
	}
	if code, stdout, stderr := runCmd(t, "verify", out); code != exitOK {
		t.Fatalf("verify %s: exit status %d\n%s%s", out, code, stdout, stderr)
	}
}

// TestSalvage_Killed checks a dataset salvage killed with SIGKILL at points
// of the copy, into a new OUT and into an empty directory given as OUT (of
// mode 2750, which must stay): OUT must then be missing, or the empty
// directory it was, or the whole salvage. It used to be grown to the
// whole extent before the copy, so a kill left a dataset with the full
// Size and zeros where nothing was copied yet, which read like a whole
// salvage. What a kill leaves beside OUT is a .OUT.salvage-N.tmp
// directory, which stands in the way of no second salvage, and which
// verify calls a salvage that did not finish while its marker is there.
func TestSalvage_Killed(t *testing.T) {
	dir := newDataset(t)
	for _, empty := range []bool{false, true} {
		for _, tc := range []struct {
			point string
			whole bool // OUT is the whole salvage after the kill
		}{
			{"open:0", false},
			{"open:3", false},
			{"sync:1", false},
			{"sync:2", false},
			{"sync:3", true},
		} {
			t.Run(fmt.Sprintf("empty=%v/%s", empty, tc.point), func(t *testing.T) {
				parent := t.TempDir()
				out := filepath.Join(parent, "out")
				const mode = fs.ModeDir | fs.ModeSetgid | 0o750
				if empty {
					if err := os.Mkdir(out, 0o700); err != nil {
						t.Fatal(err)
					}
					if err := os.Chmod(out, mode); err != nil {
						t.Fatal(err)
					}
				}
				runKilledSalvage(t, parent, dir, out, tc.point)

				fi, err := os.Lstat(out)
				switch {
				case tc.whole:
					checkWholeSalvage(t, out)
				case !empty && err == nil:
					t.Fatalf("after a kill at %s, %s exists (%v): %s", tc.point, out, fi.Mode(), listDir(t, out))
				case empty && err != nil:
					t.Fatal(err)
				case empty && listDir(t, out) != "[]":
					t.Fatalf("after a kill at %s, the empty directory %s given holds %s", tc.point, out, listDir(t, out))
				}
				if empty && fi != nil && fi.Mode() != mode {
					t.Errorf("%s has mode %v, want %v, the mode of the empty directory given", out, fi.Mode(), mode)
				}

				entries, err := os.ReadDir(parent)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					name := e.Name()
					if name == "out" {
						continue
					}
					if !strings.HasPrefix(name, ".out.salvage-") || !strings.HasSuffix(name, ".tmp") {
						t.Fatalf("the kill left %s beside OUT, want only .out.salvage-N.tmp", name)
					}
					if _, err := os.Lstat(filepath.Join(parent, name, salvageMarker)); err == nil {
						code, stdout, _ := runCmd(t, "verify", filepath.Join(parent, name))
						if code != exitFail || !strings.Contains(stdout, "did not finish") {
							t.Errorf("verify of the leftover %s: exit status %d, %q; want 1, a salvage that did not finish", name, code, stdout)
						}
					}
				}
				if tc.whole {
					return
				}
				// The leftovers confuse no second salvage.
				var out2, err2 bytes.Buffer
				if code := salvage(salvageConfig{dir: dir, out: out}, &out2, &err2); code != exitOK {
					t.Fatalf("salvage again: exit status %d, stderr %q", code, err2.String())
				}
				checkWholeSalvage(t, out)
				if fi, err := os.Lstat(out); err != nil || empty && fi.Mode() != mode {
					t.Errorf("after salvage into the empty directory of mode %v given: %v, %v", mode, fi.Mode(), err)
				}
			})
		}
	}
}

// TestSalvage_KilledInPlace checks the salvage that cannot build OUT beside
// it and copies into OUT itself, an empty directory whose entry cannot be
// replaced (here ".", the child's working directory): killed midway, OUT
// holds the marker, and verify, info and a second salvage say it holds a
// salvage that did not finish, where it read like a whole one before;
// killed after the marker is gone, OUT is whole.
func TestSalvage_KilledInPlace(t *testing.T) {
	dir := newDataset(t)
	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	runKilledSalvage(t, out, dir, ".", "open:3")
	if _, err := os.Lstat(filepath.Join(out, salvageMarker)); err != nil {
		t.Fatalf("a salvage in place killed midway left no marker: %v", err)
	}
	if code, stdout, _ := runCmd(t, "verify", out); code != exitFail || !strings.Contains(stdout, salvageMarker) || !strings.Contains(stdout, "did not finish") {
		t.Errorf("verify of the partial salvage: exit status %d, %q; want 1 and a salvage that did not finish", code, stdout)
	}
	if code, stdout, _ := runCmd(t, "info", out); code != exitDamaged || !strings.Contains(stdout, "did not finish") {
		t.Errorf("info of the partial salvage: exit status %d, %q; want 3 and a salvage that did not finish", code, stdout)
	}
	if code, _, stderr := runCmd(t, "salvage", dir, out); code != exitFail || !strings.Contains(stderr, "did not finish") {
		t.Errorf("salvage into the partial salvage: exit status %d, %q; want 1 and a salvage that did not finish", code, stderr)
	}

	// Emptied, the directory takes a salvage in place, killed only once
	// the marker's removal is done (its fsync not yet).
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	runKilledSalvage(t, out, dir, ".", "sync:2")
	checkWholeSalvage(t, out)
	if got := listDir(t, filepath.Dir(out)); got != "[out]" {
		t.Errorf("a salvage in place left %s beside OUT, want [out]", got)
	}
}

// TestSalvage_IntoEmptyDirectory checks a salvage into an empty directory
// given as OUT, of another owner (as root) and mode 2750: the directory
// built beside it replaces it with the same mode, owner and group, and
// nothing is left beside it. While the copy runs, the directory it is
// built in is the salvage user's alone: it was given OUT's owner when it
// was made, which let that user change what salvage wrote and synced.
func TestSalvage_IntoEmptyDirectory(t *testing.T) {
	dir := newDataset(t)
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65534
		if err := os.Lchown(out, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	const mode = fs.ModeDir | fs.ModeSetgid | 0o750
	if err := os.Chmod(out, mode); err != nil {
		t.Fatal(err)
	}
	var synced []string
	syncDir := func(d string) error {
		synced = append(synced, d)
		return vfs.OS.SyncDir(d)
	}
	opens := 0
	open := func(path string) (chunkFile, error) {
		opens++
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() == "out" {
				continue
			}
			fi, err := os.Lstat(filepath.Join(parent, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o022 != 0 {
				t.Errorf("during the copy, %s has owner %d and mode %v: another user may change it", e.Name(), st.Uid, fi.Mode())
			}
		}
		return openChunkFile(path)
	}
	var stdout, stderr bytes.Buffer
	if code := salvage(salvageConfig{dir: dir, out: out, syncDir: syncDir, open: open}, &stdout, &stderr); code != exitOK {
		t.Fatalf("salvage: exit status %d, %s", code, stderr.String())
	}
	if opens == 0 {
		t.Fatal("the copy opened no chunk file")
	}
	checkWholeSalvage(t, out)
	fi, err := os.Lstat(out)
	if err != nil {
		t.Fatal(err)
	}
	// The rename's: a copy made in place syncs only OUT.
	if len(synced) == 0 || synced[len(synced)-1] != parent {
		t.Errorf("salvage synced %q, last not OUT's parent: the copy was made in place, not beside it", synced)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s has mode %v, owner %d:%d; want %v, %d:%d, the empty directory's", out, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
	if got := listDir(t, parent); got != "[out]" {
		t.Errorf("salvage left %s beside OUT, want [out]", got)
	}
	checkFilesOwner(t, out, uid, gid)
}

// checkFilesOwner checks that every file in dir has owner uid and group
// gid: the files of a dataset salvage wrote into a directory of another
// user's, who must be able to open it read-write (a chunk file or MANIFEST
// left root's, mode 0644, refuses that user's O_RDWR).
func checkFilesOwner(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatalf("%s is empty", dir)
	}
	for _, e := range entries {
		fi, err := os.Lstat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s has owner %d:%d, want %d:%d, OUT's", e.Name(), st.Uid, st.Gid, uid, gid)
		}
	}
}

// TestSalvage_ParentNotWritable checks the fallback of a salvage into an
// empty directory OUT that this user may write while OUT's parent is not:
// no directory can be made beside OUT, so the copy is made in OUT itself,
// and is whole, without the marker, at the end.
func TestSalvage_ParentNotWritable(t *testing.T) {
	if unpriv.Run(t) {
		return // root writes any directory
	}
	dir := newDataset(t)
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(parent, 0o755) })
	var stdout, stderr bytes.Buffer
	if code := salvage(salvageConfig{dir: dir, out: out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("salvage: exit status %d, %s", code, stderr.String())
	}
	checkWholeSalvage(t, out)
	if got := listDir(t, parent); got != "[out]" {
		t.Errorf("%s holds %s, want [out]", parent, got)
	}
}

// TestSalvage_MissingParents checks a dataset OUT whose parent directories
// are missing: salvage makes them, as chunkmap.Open did when it made OUT
// in place, and fsyncs the directory that names each, outermost first.
func TestSalvage_MissingParents(t *testing.T) {
	dir := newDataset(t)
	top := t.TempDir()
	out := filepath.Join(top, "a", "b", "out")
	var synced []string
	syncDir := func(d string) error {
		synced = append(synced, d)
		return vfs.OS.SyncDir(d)
	}
	var stdout, stderr bytes.Buffer
	if code := salvage(salvageConfig{dir: dir, out: out, syncDir: syncDir}, &stdout, &stderr); code != exitOK {
		t.Fatalf("salvage into %s: exit status %d, %s", out, code, stderr.String())
	}
	checkWholeSalvage(t, out)
	if len(synced) < 2 || synced[0] != top || synced[1] != filepath.Join(top, "a") {
		t.Errorf("salvage synced %q, want %s and %s/a first", synced, top, top)
	}
}

// TestSalvage_DatasetDirectorySyncFails checks the fsyncs of a dataset
// salvage failing, built beside OUT and in OUT itself (".", an empty
// directory no rename can replace): before OUT names the whole copy (the
// marker's fsync, the whole copy's) salvage fails and leaves OUT as it
// was, missing or the empty directory; after it (OUT's parent's, beside
// OUT) OUT holds the whole copy, and salvage fails saying so, as a flat
// salvage does. Each error names the operation, and OUT once. The whole
// copy's failing used to remove an in-place OUT with the dataset (Remove
// takes a directory it empties: the marker was gone by then), and to add
// a second error for the temporary directory, removed twice; the fsyncs'
// errors named no operation.
func TestSalvage_DatasetDirectorySyncFails(t *testing.T) {
	dir := newDataset(t)
	errSync := errors.New("input/output error")
	for _, tc := range []struct {
		inPlace   bool
		n         int
		published bool
	}{
		{false, 1, false}, {false, 2, false}, {false, 3, true},
		{true, 1, false}, {true, 2, false},
	} {
		t.Run(fmt.Sprintf("inPlace=%v/sync %d", tc.inPlace, tc.n), func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			arg := out
			if tc.inPlace {
				if err := os.Mkdir(out, 0o700); err != nil {
					t.Fatal(err)
				}
				t.Chdir(out)
				arg = "."
			}
			calls := 0
			syncDir := func(d string) error {
				if calls++; calls == tc.n {
					return errSync
				}
				return vfs.OS.SyncDir(d)
			}
			var stdout, stderr bytes.Buffer
			if code := salvage(salvageConfig{dir: dir, out: arg, syncDir: syncDir}, &stdout, &stderr); code != exitFail {
				t.Fatalf("exit status %d, want %d\n%s", code, exitFail, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, "sync ") || !strings.Contains(msg, "input/output error") || strings.Count(msg, "\n") != 1 || !tc.inPlace && strings.Count(msg, out) != 1 {
				t.Errorf("stderr %q, want one line: the fsync's error, naming OUT once", msg)
			}
			if tc.published {
				if !strings.Contains(msg, out+" holds the whole copy") {
					t.Errorf("stderr %q, want that %s holds the whole copy", msg, out)
				}
				checkWholeSalvage(t, out)
				if got := listDir(t, parent); got != "[out]" {
					t.Errorf("%s holds %s, want [out]", parent, got)
				}
				return
			}
			if tc.n > 1 && !strings.Contains(msg, "was not written") { // the first fails the creation of OUT
				t.Errorf("stderr %q, want that OUT was not written", msg)
			}
			want := "[]"
			if tc.inPlace {
				want = "[out]"
				if got := listDir(t, out); got != "[]" {
					t.Errorf("OUT, an empty directory before, holds %s", got)
				}
			}
			if got := listDir(t, parent); got != want {
				t.Errorf("%s holds %s, want %s", parent, got, want)
			}
		})
	}
}

// TestSalvage_IntoMountPoint checks a dataset salvage into an empty
// directory that is a mount point (a tmpfs), which no rename can replace
// (EBUSY): salvage copies into it in place. Killed midway, the copy is
// marked partial and verify says so; run to the end, OUT is whole and
// unmarked, still the mount point, with nothing left beside it.
func TestSalvage_IntoMountPoint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir := newDataset(t)
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", out, "tmpfs", 0, "size=4m,mode=0750"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(out, syscall.MNT_DETACH) })

	runKilledSalvage(t, parent, dir, out, "open:3")
	if code, stdout, _ := runCmd(t, "verify", out); code != exitFail || !strings.Contains(stdout, "did not finish") {
		t.Errorf("verify of the partial salvage: exit status %d, %q; want 1 and a salvage that did not finish", code, stdout)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(out, e.Name())); err != nil {
			t.Fatal(err)
		}
	}

	// OUT is another user's: the copy made in it is theirs too.
	if err := os.Chown(out, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := salvage(salvageConfig{dir: dir, out: out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("salvage: exit status %d, %s", code, stderr.String())
	}
	checkWholeSalvage(t, out)
	checkFilesOwner(t, out, 65534, 65534)
	pfi, err := os.Stat(parent)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Sys().(*syscall.Stat_t).Dev == pfi.Sys().(*syscall.Stat_t).Dev || fi.Mode() != fs.ModeDir|0o750 {
		t.Errorf("%s (%v) is no longer the mount point of mode 0750 it was", out, fi.Mode())
	}
	if got := listDir(t, parent); got != "[out]" {
		t.Errorf("%s holds %s, want [out]", parent, got)
	}
}

// TestSalvage_LongName checks a dataset OUT whose name is near the file
// system's limit of 255 bytes: the temporary directory's name, OUT's with a
// dot before and .salvage-N.tmp after, must still fit. It did not
// ('create OUT: file name too long'), where OUT itself could be made.
//
// The same holds for a flat OUT (OUT.salvage-N.tmp), and the cut must fall
// between characters: a name cut inside a UTF-8 sequence is not valid
// UTF-8, which file systems that require it (APFS) refuse.
func TestSalvage_LongName(t *testing.T) {
	dir := newDataset(t)
	for _, tc := range []struct {
		name, out string
		flat      bool
	}{
		{"dataset", strings.Repeat("o", 250), false},
		{"flat", strings.Repeat("f", 250), true},
		{"dataset, multi-byte", "o" + strings.Repeat("é", 126), false}, // 253 bytes; byte 200 is inside an é
		{"flat, multi-byte", "f" + strings.Repeat("é", 126), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, tc.out)
			var stdout, stderr bytes.Buffer
			if code := salvage(salvageConfig{dir: dir, out: out, flat: tc.flat, syncDir: checkValidNames(t)}, &stdout, &stderr); code != exitOK {
				t.Fatalf("salvage: exit status %d, %s", code, stderr.String())
			}
			if tc.flat {
				if _, err := os.Stat(out); err != nil {
					t.Fatal(err)
				}
			} else {
				checkWholeSalvage(t, out)
			}
			if got := listDir(t, parent); got != "["+tc.out+"]" {
				t.Errorf("%s holds %s, want only OUT", parent, got)
			}
		})
	}
}

// checkValidNames returns a syncDir for salvageConfig that syncs each
// directory after checking that its name and every name in it are valid
// UTF-8: it sees the temporary names while they exist.
func checkValidNames(t *testing.T) func(string) error {
	t.Helper()
	return func(dir string) error {
		if name := filepath.Base(dir); !utf8.ValidString(name) {
			t.Errorf("salvage synced a directory named %q, not valid UTF-8", name)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !utf8.ValidString(e.Name()) {
				t.Errorf("%s holds %q, not valid UTF-8", dir, e.Name())
			}
		}
		return vfs.OS.SyncDir(dir)
	}
}

// TestSalvage_OutPathAsKernelReadsIt checks that salvage writes the OUT
// that checkOut examined, the one the kernel names: "L/../x" where L is a
// symlink is x beside L's target, and "S/" where S is a symlink to a
// directory is that directory. salvage used to clean OUT as text first
// ("L/../x" became "x" in the current directory, "S/" the symlink S): it
// made the copy in another directory than the one it reported, and with
// "L/../ds", ds being DIR, it copied into DIR itself, which it opened
// read-write, marked and called a dataset "created since it was checked".
func TestSalvage_OutPathAsKernelReadsIt(t *testing.T) {
	dir := newDataset(t)
	top := filepath.Dir(dir)
	t.Chdir(top)
	if err := os.MkdirAll(filepath.Join("x", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("empty", 0o750); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{"x/sub", "L"}, {"empty", "S"}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ out, want string }{
		{"L/../new", "x/new"},
		{"L/../ds", "x/ds"},
		{"S/", "empty"},
		{"dot/.", "dot"},
	} {
		t.Run(tc.out, func(t *testing.T) {
			before := snapshot(t, dir)
			var stdout, stderr bytes.Buffer
			if code := salvage(salvageConfig{dir: dir, out: tc.out}, &stdout, &stderr); code != exitOK {
				t.Fatalf("salvage into %s: exit status %d, %s", tc.out, code, stderr.String())
			}
			checkUnchanged(t, dir, before)
			checkWholeSalvage(t, tc.want)
			if fi, err := os.Lstat(tc.want); err != nil || fi.Mode().Perm() != 0o755 && tc.want != "empty" || fi.Mode().Perm() != 0o750 && tc.want == "empty" {
				t.Errorf("Lstat(%s) = %v, %v; want a directory of its mode", tc.want, fi, err)
			}
			if _, err := os.Lstat("new"); err == nil {
				t.Errorf("salvage into %s made ./new", tc.out)
			}
		})
	}
}

// TestSalvage_FlatOutPathAsKernelReadsIt is TestSalvage_OutPathAsKernelReadsIt
// for a flat OUT: "L/../flat", L a symlink to x/sub, is x/flat, and the
// directory whose fsync makes its name durable is x. salvage fsync'd
// filepath.Dir of OUT, which cleans "L/.." as text to the current
// directory, and left x's new entry unsynced.
func TestSalvage_FlatOutPathAsKernelReadsIt(t *testing.T) {
	dir := newDataset(t)
	top := filepath.Dir(dir)
	t.Chdir(top)
	if err := os.MkdirAll(filepath.Join("x", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("x/sub", "L"); err != nil {
		t.Fatal(err)
	}
	x, err := os.Stat("x")
	if err != nil {
		t.Fatal(err)
	}
	var syncedX bool
	syncDir := func(d string) error {
		if fi, err := os.Stat(d); err == nil && os.SameFile(fi, x) {
			syncedX = true
		}
		return vfs.OS.SyncDir(d)
	}
	var stdout, stderr bytes.Buffer
	if code := salvage(salvageConfig{dir: dir, out: "L/../flat", flat: true, syncDir: syncDir}, &stdout, &stderr); code != exitOK {
		t.Fatalf("salvage -flat into L/../flat: exit status %d, %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join("x", "flat")); err != nil {
		t.Fatalf("salvage -flat into L/../flat made no x/flat: %v", err)
	}
	if !syncedX {
		t.Errorf("salvage -flat into L/../flat did not fsync x, the directory that names it")
	}
	for _, d := range []string{".", "x"} {
		if got := listDir(t, d); strings.Contains(got, "salvage") {
			t.Errorf("%s holds %s after the salvage", d, got)
		}
	}
}

// TestSalvage_StoppedFollowsNoMarkerSymlink checks that a salvage stopped
// midway, which makes its marker again before it removes the dataset,
// creates no file where a symlink put under the marker's name points: the
// directory it builds in belongs to OUT's owner, who may put one there
// while a root salvage copies. The marker was made again with O_CREATE
// alone, which follows a symlink and created its target.
func TestSalvage_StoppedFollowsNoMarkerSymlink(t *testing.T) {
	dir := newDataset(t)
	top := t.TempDir()
	out := filepath.Join(top, "out")
	victim := filepath.Join(top, "victim")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opens := 0
	cfg := salvageConfig{ctx: ctx, dir: dir, out: out,
		open: func(path string) (chunkFile, error) {
			if filepath.Base(path) == chunk.Name(1) {
				if opens++; opens == 2 { // the first is checkAccess's
					tmps, err := filepath.Glob(filepath.Join(top, ".out.salvage-*.tmp"))
					if err != nil || len(tmps) != 1 {
						t.Errorf("temporary directories %q, %v; want one", tmps, err)
					} else {
						marker := filepath.Join(tmps[0], salvageMarker)
						if err := os.Remove(marker); err != nil {
							t.Error(err)
						}
						if err := os.Symlink(victim, marker); err != nil {
							t.Error(err)
						}
					}
					cancel()
				}
			}
			return openChunkFile(path)
		},
	}
	var stdout, stderr bytes.Buffer
	if code := salvage(cfg, &stdout, &stderr); code != exitFail {
		t.Fatalf("exit status %d, want %d\n%s", code, exitFail, stderr.String())
	}
	if _, err := os.Lstat(victim); err == nil {
		t.Errorf("salvage created %s, the target of a symlink under %s's name", victim, salvageMarker)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Errorf("salvage left %s", out)
	}
}

// TestSalvage_FromPartialSalvage checks a salvage whose DIR is a partial
// salvage (SALVAGE-INCOMPLETE, left by one killed in place): the copy is
// made, but salvage says that DIR's bytes may be zeros where that salvage
// had not reached, and exits with status 3, as for lost bytes. It used to
// report "copied all N bytes; nothing lost" with status 0, and OUT, with
// no marker, then passed verify: the partial copy read as a whole one.
func TestSalvage_FromPartialSalvage(t *testing.T) {
	dir := newDataset(t)
	partial := filepath.Join(t.TempDir(), "partial")
	if err := os.Mkdir(partial, 0o755); err != nil {
		t.Fatal(err)
	}
	runKilledSalvage(t, partial, dir, ".", "open:3")
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCmd(t, "salvage", partial, out)
	if code != exitDamaged || !strings.Contains(stdout, "did not finish") || !strings.Contains(stderr, "did not finish") || strings.Contains(stdout, "nothing lost") {
		t.Errorf("salvage of a partial salvage: exit status %d\n%s%s\nwant 3 and a salvage that did not finish", code, stdout, stderr)
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line", stderr)
	}
}

// TestSalvage_FailedRemovesParentsItMade stops a salvage into an OUT whose
// parents it had to make (see TestSalvage_MissingParents). A salvage that
// fails leaves OUT as it was, and so the directories above it: those it
// made go again, innermost first, and those that were there before stay.
// They used to be left behind, empty, so that a failed salvage into
// backups/2026/out made backups/2026.
func TestSalvage_FailedRemovesParentsItMade(t *testing.T) {
	dir := newDataset(t)
	for _, tc := range []struct {
		name   string
		before []string // directories under top that exist before salvage
		want   []string // directories under top that remain after it
	}{
		{"all new", nil, nil},
		{"first exists", []string{"a"}, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			for _, d := range tc.before {
				must(t, os.Mkdir(filepath.Join(top, d), 0o755))
			}
			out := filepath.Join(top, "a", "b", "out")
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // stopped before its first copy
			var stdout, stderr bytes.Buffer
			if code := salvage(salvageConfig{ctx: ctx, dir: dir, out: out}, &stdout, &stderr); code != exitFail {
				t.Fatalf("salvage stopped: exit status %d, want %d\n%s", code, exitFail, stderr.String())
			}
			var left []string
			must(t, filepath.WalkDir(top, func(p string, _ fs.DirEntry, err error) error {
				if err == nil && p != top {
					rel, _ := filepath.Rel(top, p)
					left = append(left, rel)
				}
				return err
			}))
			if !slices.Equal(left, tc.want) {
				t.Errorf("after a failed salvage into %s, %s holds %q, want %q", out, top, left, tc.want)
			}
		})
	}
}
