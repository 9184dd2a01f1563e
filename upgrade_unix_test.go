//go:build unix

package chunkmap_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/unpriv"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// v1Dataset makes a version 1 dataset in dir: three chunk files holding
// data, and a 44-byte manifest of mode perm recording Size len(data).
func v1Dataset(t *testing.T, dir string, perm os.FileMode) []byte {
	t.Helper()
	data := pattern(44, 3*cs-10)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range int64(3) {
		b := make([]byte, cs)
		copy(b, data[i*cs:])
		if err := os.WriteFile(filepath.Join(dir, chunk.Name(i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := manifestPath(dir)
	if err := os.WriteFile(path, encodeV1(cs, 0, int64(len(data))), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return data
}

// TestManifest_UpgradeKeepsAccess: the upgrade of a version 1 manifest
// keeps its mode, with the owner's write bit (the FileMode of the Open that
// upgrades it, and the umask, do not apply), and its owner and group where
// the process may
// give them (root upgrading another user's dataset). The new manifest had
// the upgrading process's owner and mode 0o644: root's upgrade of a
// service's dataset left the service refused its next read-write Open,
// as every writer opens the manifest for writing since format version 2.
// It also checks that the first Sync after the upgrade fsyncs every chunk,
// as after a crash, and the next none: a version 1 manifest does not say
// whether its writer died with stores that no Sync covered.
func TestManifest_UpgradeKeepsAccess(t *testing.T) {
	for _, perm := range []os.FileMode{0o640, 0o666, 0o600, 0o444} {
		t.Run(perm.String(), func(t *testing.T) {
			// Version 2 writes its manifest in place: the owner's
			// write bit is added, or no read-write Open of the owner's
			// could open the dataset again.
			want := perm | 0o200
			dir := filepath.Join(t.TempDir(), "ds")
			data := v1Dataset(t, dir, perm)
			const owner = unpriv.UID
			root := os.Geteuid() == 0
			if root {
				if err := os.Chown(manifestPath(dir), owner, owner); err != nil {
					t.Fatal(err)
				}
			}
			rec := vfstest.NewRecorder(vfs.OS, "upgrade")
			opts := chunkmap.Options{FileMode: 0o644}
			chunkmap.SetFS(&opts, rec)
			m, err := chunkmap.Open(dir, &opts)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			fi, err := os.Stat(manifestPath(dir))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() == 44 {
				t.Fatal("the manifest was not upgraded")
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("upgraded manifest: mode %v, want %v (%v as it was, writable by its owner)", got, want, perm)
			}
			if st := fi.Sys().(*syscall.Stat_t); root && (st.Uid != owner || st.Gid != owner) {
				t.Errorf("upgraded manifest: owner %d:%d, want %d:%d as it was", st.Uid, st.Gid, owner, owner)
			}
			chunkSyncs := func(from int) int {
				n := 0
				for _, s := range rec.Log(from, rec.Steps()) {
					if s.Kind == vfstest.KindSync && strings.HasSuffix(s.Path, ".chunk") {
						n++
					}
				}
				return n
			}
			from := rec.Steps()
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if n := chunkSyncs(from); n != 3 {
				t.Errorf("first Sync after the upgrade fsynced %d chunks, want all 3", n)
			}
			from = rec.Steps()
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if n := chunkSyncs(from); n != 0 {
				t.Errorf("second Sync fsynced %d chunks, want none", n)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			checkDataset(t, dir, &chunkmap.Options{ChunkSize: cs}, 0, data)
		})
	}
}

// chmodFiles gives every entry of dir mode perm, so that another user may
// use the files root made there.
func chmodFiles(t *testing.T, dir string, perm os.FileMode) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(dir, e.Name()), perm); err != nil {
			t.Fatal(err)
		}
	}
}

// TestManifest_UpgradeRefusedOthersManifest: a user other than root cannot
// give a file away, so its read-write Open of a version 1 dataset whose
// manifest another user owns (root's, mode 0o666, in a directory anyone
// may write), or whose group it is not in where that group's bits grant
// more than others get, fails with ErrIO matching fs.ErrPermission, saying
// what it could not keep, and leaves the version 1 manifest as it was, and
// no temporary file; a ReadOnly Open still reads the dataset. Upgraded, the
// manifest would have been the child's, mode 0o666 at best: the owner's
// access would hang on the mode alone. A group that grants nothing more
// than others get (0o644) is not kept, and the upgrade goes on.
func TestManifest_UpgradeRefusedOthersManifest(t *testing.T) {
	const env = "CHUNKMAP_TEST_UPGRADE_OTHERS"
	// Each dataset's manifest: its owner and group (root's, or the
	// child's user with root's group), its mode, and what the child's
	// read-write Open must do: refuse, naming what it could not keep, or
	// upgrade (a group that grants no more than others get need not be
	// kept).
	cases := []struct {
		name       string
		uid, gid   int
		perm       os.FileMode
		refusedFor string // "" for an upgrade
	}{
		{"root's", 0, 0, 0o666, "owner"},
		{"group grants more", unpriv.UID, 0, 0o664, "group"},
		{"group grants no more", unpriv.UID, 0, 0o644, ""},
	}
	if os.Geteuid() == 0 {
		base := unpriv.Reachable(t)
		for i, tc := range cases {
			dir := filepath.Join(base, fmt.Sprint(i))
			v1Dataset(t, dir, tc.perm)
			chmodFiles(t, dir, 0o666)
			if err := os.Chmod(manifestPath(dir), tc.perm); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(manifestPath(dir), tc.uid, tc.gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv(env, base)
		if !unpriv.Run(t) {
			t.Fatal("unpriv.Run ran nothing as root")
		}
		return
	}
	if unpriv.Run(t) {
		return
	}
	base := os.Getenv(env)
	if base == "" {
		t.Skip("needs version 1 datasets of another user's: run as root, which makes them and runs the test as another user")
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, fmt.Sprint(i))
			before, err := os.ReadFile(manifestPath(dir))
			if err != nil {
				t.Fatal(err)
			}
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if tc.refusedFor == "" {
				if err != nil {
					t.Fatalf("Open: %v; want the upgrade", err)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(manifestPath(dir))
				if err != nil || fi.Size() == 44 || fi.Mode().Perm() != tc.perm {
					t.Fatalf("upgraded manifest: %v, %v; want 4096 bytes of mode %v", fi.Mode(), err, tc.perm)
				}
				return
			}
			if err == nil {
				m.Close()
				t.Fatal("read-write Open upgraded a manifest whose owner or group it could not keep")
			}
			t.Logf("Open: %v", err)
			if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "keep the "+tc.refusedFor) {
				t.Errorf("Open: %v; want ErrIO and fs.ErrPermission, saying it could not keep the %s", err, tc.refusedFor)
			}
			after, err := os.ReadFile(manifestPath(dir))
			if err != nil || string(after) != string(before) {
				t.Errorf("the refused Open changed the manifest (%d bytes, was %d; %v)", len(after), len(before), err)
			}
			if _, err := os.Lstat(filepath.Join(dir, chunkmap.ManifestName+".tmp")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the refused Open left %s.tmp (Lstat: %v)", chunkmap.ManifestName, err)
			}
			r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("ReadOnly Open after the refusal: %v", err)
			}
			defer r.Close()
			if got := r.Size(); got != 3*cs-10 {
				t.Errorf("Size() = %d, want %d", got, 3*cs-10)
			}
		})
	}
}

// TestManifest_UpgradeInterruptedStillSyncsAll: an Open that upgrades a
// version 1 manifest and then fails (here the open of the new manifest
// after the rename is refused a descriptor; a kill there is the same)
// leaves a version 2 manifest whose next Open must still fsync every chunk
// at its first Sync: version 1 did not say whether v0.1.0's writer died
// with unsynced stores, and only the upgrading Open had taken that into
// account. The new manifest's state page said nothing (zeros), so the next
// Open took the dataset for a cleanly closed one, and its first Sync
// fsynced no chunk.
func TestManifest_UpgradeInterruptedStillSyncsAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	data := v1Dataset(t, dir, 0o644)
	faulty := vfstest.NewFaulty(vfs.OS)
	var renamed atomic.Bool
	faulty.Add(vfstest.Rule{Match: func(op, path string) bool {
		if op == vfstest.OpRename && filepath.Base(path) == chunkmap.ManifestName+".tmp" {
			renamed.Store(true)
			return false
		}
		return renamed.Load() && op == vfstest.OpOpen && filepath.Base(path) == chunkmap.ManifestName
	}, Err: syscall.EMFILE, Times: 1})
	opts := chunkmap.Options{ChunkSize: cs}
	chunkmap.SetFS(&opts, faulty)
	if m, err := chunkmap.Open(dir, &opts); err == nil {
		m.Close()
		t.Fatal("Open succeeded past the refused open of the new manifest")
	} else {
		t.Logf("Open: %v", err)
	}
	if fi, err := os.Stat(manifestPath(dir)); err != nil || fi.Size() == 44 {
		t.Fatalf("the manifest was not upgraded before the failure (%v)", err)
	}
	boot, err := vfs.OS.BootID() // the same boot: the kill was no restart
	if err != nil {
		t.Skipf("no boot ID here: %v", err)
	}
	rec := vfstest.NewRecorder(vfs.OS, boot)
	opts = chunkmap.Options{ChunkSize: cs}
	chunkmap.SetFS(&opts, rec)
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	from := rec.Steps()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range rec.Log(from, rec.Steps()) {
		if s.Kind == vfstest.KindSync && strings.HasSuffix(s.Path, ".chunk") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("first Sync after an interrupted upgrade fsynced %d chunks, want all 3", n)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	checkDataset(t, dir, &chunkmap.Options{ChunkSize: cs}, 0, data)
}
