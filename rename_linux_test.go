package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/unpriv"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

func TestRename_Replaces(t *testing.T) {
	parent := t.TempDir()
	from, to := filepath.Join(parent, "a"), filepath.Join(parent, "b")
	renameDataset(t, from, 'A')
	renameDataset(t, to, 'B')
	if err := chunkmap.Rename(from, to); err != nil {
		t.Fatal(err)
	}
	wantRenamed(t, to, 'A')
	wantGone(t, from)
	wantOnly(t, parent, "b") // the old dataset, and no directory set aside
}

// TestRename_ReplaceLocked checks that a dataset a writer has open is not
// replaced, and that the writer goes on.
func TestRename_ReplaceLocked(t *testing.T) {
	parent := t.TempDir()
	from, to := filepath.Join(parent, "a"), filepath.Join(parent, "b")
	renameDataset(t, from, 'A')
	renameDataset(t, to, 'B')
	w := clxOpen(t, to, nil)
	defer w.Close()
	before := snapshot(t, parent)
	err := chunkmap.Rename(from, to)
	if !errors.Is(err, chunkmap.ErrLocked) {
		t.Fatalf("Rename over a dataset a writer has open = %v, want ErrLocked", err)
	}
	if after := snapshot(t, parent); !maps.Equal(after, before) {
		t.Fatalf("a refused Rename changed the files under %s", parent)
	}
	if _, err := w.Append([]byte("B")); err != nil {
		t.Fatal(err)
	}
}

// TestRename_FromLocked checks that a dataset a writer has open is not
// moved, to a free name or over another dataset, and that the writer goes
// on.
func TestRename_FromLocked(t *testing.T) {
	for _, replace := range []bool{false, true} {
		t.Run(fmt.Sprint("replace=", replace), func(t *testing.T) {
			parent := t.TempDir()
			from, to := filepath.Join(parent, "a"), filepath.Join(parent, "b")
			renameDataset(t, from, 'A')
			if replace {
				renameDataset(t, to, 'B')
			}
			w := clxOpen(t, from, nil)
			defer w.Close()
			before := snapshot(t, parent)
			if err := chunkmap.Rename(from, to); !errors.Is(err, chunkmap.ErrLocked) || !strings.Contains(err.Error(), from) {
				t.Fatalf("Rename of a dataset a writer has open = %v, want ErrLocked naming %s", err, from)
			}
			if after := snapshot(t, parent); !maps.Equal(after, before) {
				t.Fatalf("a refused Rename changed the files under %s", parent)
			}
			if _, err := w.Append([]byte("more")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRename_ReaderOfReplaced checks that a ReadOnly Manager of the dataset
// replaced never reads the new one's bytes: its reads return the old
// bytes it still maps or holds open, or fail.
func TestRename_ReaderOfReplaced(t *testing.T) {
	parent := t.TempDir()
	from, to := filepath.Join(parent, "a"), filepath.Join(parent, "b")
	renameDataset(t, from, 'A')
	renameDataset(t, to, 'B')
	r := clxOpen(t, to, &chunkmap.Options{ReadOnly: true, MaxMapped: 1})
	defer r.Close()
	p := make([]byte, 10)
	if _, err := r.ReadAt(p, 0); err != nil { // maps chunk 0
		t.Fatal(err)
	}
	if err := chunkmap.Rename(from, to); err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < int64(len(renameData('B'))); off += clxChunk / 2 {
		n, err := r.ReadAt(p, off)
		if bytes.IndexByte(p[:n], 'A') >= 0 {
			t.Fatalf("the reader of the replaced dataset read the new one's bytes at %d: %q", off, p[:n])
		}
		if err == nil && !bytes.Equal(p[:n], bytes.Repeat([]byte{'B'}, n)) {
			t.Fatalf("ReadAt(%d) = %q", off, p[:n])
		}
	}
	wantRenamed(t, to, 'A')
}

// TestRename_Kill replaces a dataset over and over in a child, each time
// with a new dataset of the next generation made under another name, and
// kills the child with SIGKILL at a random moment. Each time, the name
// replaced must hold one whole dataset: the generation of the last Rename
// reported returned, or of the one in flight; and Remove must clear what
// the child left under the other name.
func TestRename_Kill(t *testing.T) {
	if dir := os.Getenv("CHUNKMAP_RENAME_KILL_CHILD"); dir != "" {
		renameKillChild(t, dir)
		return
	}
	seed := testSeed(t, "RENAME_KILL_SEED")
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	live := filepath.Join(dir, "live")
	renameDataset(t, live, 0)
	gen := 0 // the generation live holds
	rounds := 12
	if testing.Short() {
		rounds = 6
	}
	renames := 0
	for round := range rounds {
		cmd, lines, stderr := crashStart(t, "TestRename_Kill", "CHUNKMAP_RENAME_KILL_CHILD="+dir)
		// The delay runs from the child's first Rename, which a child
		// under the race detector may take long to reach.
		delay := time.Duration(rng.IntN(200)) * time.Millisecond
		var kill <-chan time.Time
		killed := false
		limit := time.After(60 * time.Second)
		acked := gen
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				g, err := strconv.Atoi(strings.TrimPrefix(line, "renamed "))
				if err != nil {
					cmd.Process.Signal(syscall.SIGKILL)
					cmd.Wait()
					t.Fatalf("round %d (seed %d): child: %s\n%s", round, seed, line, stderr)
				}
				if renames++; !killed && kill == nil {
					kill = time.After(delay)
				}
				acked = g
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				killed, kill = true, nil
			case <-limit:
				cmd.Process.Signal(syscall.SIGKILL)
				t.Fatalf("round %d (seed %d): the child hung\n%s", round, seed, stderr)
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d (seed %d): the child exited before the kill\n%s", round, seed, stderr)
		}
		// Generations count modulo 256, a byte.
		got := renameGen(t, live)
		if got != acked && got != (acked+1)%256 {
			t.Fatalf("round %d (seed %d): %s holds generation %d; the last Rename returned put %d there", round, seed, live, got, acked)
		}
		gen = got
		// What the child left: a dataset being built, or one replaced,
		// under next or set aside; Remove clears each, and an emptied
		// directory set aside may be deleted.
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			switch {
			case name == "live":
				continue
			case name != "next" && !strings.HasPrefix(name, ".chunkmap-removing-"):
				t.Fatalf("round %d (seed %d): %s left in %s", round, seed, name, dir)
			}
			err := chunkmap.Remove(filepath.Join(dir, name))
			if errors.Is(err, os.ErrNotExist) {
				err = os.Remove(filepath.Join(dir, name))
			}
			if err != nil {
				t.Fatalf("round %d (seed %d): Remove of %s, which the child left: %v", round, seed, name, err)
			}
		}
		t.Logf("round %d: killed %v after its first Rename, generation %d", round, delay, gen)
	}
	t.Logf("%d Renames returned before a kill; none lost", renames)
}

// renameGen returns the generation of the dataset renameKillChild made in
// dir, checking that it is whole.
func renameGen(t *testing.T, dir string) int {
	t.Helper()
	m := clxOpen(t, dir, &chunkmap.Options{ReadOnly: true})
	defer m.Close()
	p := make([]byte, m.Size())
	if len(p) != len(renameData(0)) {
		t.Fatalf("%s: Size %d, want %d", dir, len(p), len(renameData(0)))
	}
	if _, err := m.ReadAt(p, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p, renameData(p[0])) {
		t.Fatalf("%s holds a mix of generations", dir)
	}
	return int(p[0])
}

// renameKillChild is TestRename_Kill's child: it makes the next
// generation under next, syncs it, renames it over live and reports the
// generation, until it is killed (generations wrap at 256).
func renameKillChild(t *testing.T, dir string) {
	report := os.NewFile(3, "report")
	live, next := filepath.Join(dir, "live"), filepath.Join(dir, "next")
	m := clxOpen(t, live, &chunkmap.Options{ReadOnly: true})
	p := make([]byte, 1)
	if _, err := m.ReadAt(p, 0); err != nil {
		t.Fatal(err)
	}
	m.Close()
	for gen := int(p[0]) + 1; ; gen++ {
		if err := chunkmap.Remove(next); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(report, "remove: %v\n", err)
			return
		}
		renameDataset(t, next, byte(gen))
		if err := chunkmap.Rename(next, live); err != nil {
			fmt.Fprintf(report, "rename: %v\n", err)
			return
		}
		fmt.Fprintf(report, "renamed %d\n", byte(gen))
	}
}

// TestRename_ReplaceRefused checks the replacements Rename must refuse
// with nothing changed, a call tried again included: a to (or a from)
// whose MANIFEST is another program's file, which used to be swapped in
// and then, by the call tried again, swapped back over the dataset and
// removed; a dataset inside the other, which the kernel's exchange refuses
// as it refuses a file system without the exchange (EINVAL), but is no
// want of support; a symlink given with a trailing slash.
func TestRename_ReplaceRefused(t *testing.T) {
	python := func(t *testing.T, dir string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string]string{"MANIFEST": "include *.py\n", "setup.py": "print()\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name     string
		setup    func(t *testing.T, parent string) (from, to string)
		target   error
		unwanted error
	}{
		{"to holds another program's MANIFEST", func(t *testing.T, parent string) (string, string) {
			from, to := filepath.Join(parent, "a"), filepath.Join(parent, "py")
			renameDataset(t, from, 'A')
			python(t, to)
			return from, to
		}, fs.ErrExist, nil},
		{"from holds another program's MANIFEST", func(t *testing.T, parent string) (string, string) {
			from, to := filepath.Join(parent, "py"), filepath.Join(parent, "b")
			python(t, from)
			renameDataset(t, to, 'B')
			return from, to
		}, chunkmap.ErrCorrupt, nil},
		{"to inside from", func(t *testing.T, parent string) (string, string) {
			from := filepath.Join(parent, "a")
			renameDataset(t, from, 'A')
			renameDataset(t, filepath.Join(from, "sub"), 'B')
			return from, filepath.Join(from, "sub")
		}, chunkmap.ErrIO, errors.ErrUnsupported},
		{"from inside to", func(t *testing.T, parent string) (string, string) {
			to := filepath.Join(parent, "b")
			renameDataset(t, to, 'B')
			renameDataset(t, filepath.Join(to, "sub"), 'A')
			return filepath.Join(to, "sub"), to
		}, chunkmap.ErrIO, errors.ErrUnsupported},
		{"from a symlink, with a trailing slash", func(t *testing.T, parent string) (string, string) {
			renameDataset(t, filepath.Join(parent, "a"), 'A')
			link := filepath.Join(t.TempDir(), "link") // outside parent, which snapshot reads
			if err := os.Symlink(filepath.Join(parent, "a"), link); err != nil {
				t.Fatal(err)
			}
			return link + "/", filepath.Join(parent, "b")
		}, chunkmap.ErrCorrupt, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			from, to := tc.setup(t, parent)
			before := snapshot(t, parent)
			for try := range 2 {
				err := chunkmap.Rename(from, to)
				if !errors.Is(err, tc.target) || tc.unwanted != nil && errors.Is(err, tc.unwanted) {
					t.Fatalf("try %d: Rename = %v, want an error matching %v and not %v", try, err, tc.target, tc.unwanted)
				}
				if after := snapshot(t, parent); !maps.Equal(after, before) {
					t.Fatalf("try %d: a refused Rename changed the files under %s", try, parent)
				}
			}
		})
	}
}

// TestRename_RemovalFails checks that where the dataset replaced cannot be
// removed (a FIFO stands under one of its chunk files' names, which
// Remove refuses before it removes anything), Rename says so (ErrLeftover), naming where
// it set that dataset aside, and leaves nothing under from: tried again,
// it finds no dataset there, where it once swapped the old dataset back
// over the new one and removed that.
func TestRename_RemovalFails(t *testing.T) {
	parent := t.TempDir()
	from, to := filepath.Join(parent, "a"), filepath.Join(parent, "b")
	renameDataset(t, from, 'A')
	renameDataset(t, to, 'B')
	fifo := filepath.Join(to, "0000000000000001.chunk")
	if err := os.Remove(fifo); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	err := chunkmap.Rename(from, to)
	if !errors.Is(err, chunkmap.ErrLeftover) || !strings.Contains(err.Error(), ".chunkmap-removing-") || !strings.Contains(err.Error(), "not a regular file (it is a FIFO)") {
		t.Fatalf("Rename = %v, want ErrLeftover naming where the old dataset was set aside, and why it was not removed", err)
	}
	wantRenamed(t, to, 'A')
	wantGone(t, from)
	if err := chunkmap.Rename(from, to); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Rename tried again = %v, want an error matching fs.ErrNotExist", err)
	}
	wantRenamed(t, to, 'A')
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var aside string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".chunkmap-removing-") {
			aside = filepath.Join(parent, e.Name())
		}
	}
	if aside == "" {
		t.Fatalf("no set-aside dataset in %s", parent)
	}
	if err := os.Remove(filepath.Join(aside, "0000000000000001.chunk")); err != nil {
		t.Fatal(err)
	}
	if err := chunkmap.Remove(aside); err != nil {
		t.Fatalf("Remove of the dataset set aside: %v", err)
	}
	wantOnly(t, parent, "b")
}

// TestRename_Leftover checks that a Rename that replaced to, durably, but
// failed to remove the dataset it replaced returns an error matching
// ErrLeftover and no sentinel of its cause, so that a caller who checks
// ErrIO or ErrCorrupt does not take it for a refusal, naming the directory
// that holds the old dataset, which Remove then removes; and that a Rename
// whose directories could not be fsync'd after the swap, which may not
// survive a power loss, is no ErrLeftover.
func TestRename_Leftover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rule     func(from string) vfstest.Rule
		leftover bool
		left     string // where the old dataset is left: "from" or "aside"
		empty    bool   // only its directory is left, empty
	}{
		{
			name: "set-aside-refused",
			rule: func(from string) vfstest.Rule {
				return vfstest.Rule{Match: func(op, path string) bool { return op == vfstest.OpRename && path == from }, Times: 1}
			},
			leftover: true, left: "from",
		},
		{
			name: "removal-fails",
			rule: func(string) vfstest.Rule {
				return vfstest.Rule{Match: vfstest.OpOn(vfstest.OpRemove, "*.chunk"), Times: 1}
			},
			leftover: true, left: "aside",
		},
		{
			name: "directory-not-removed", // its files removed, the directory left
			rule: func(string) vfstest.Rule {
				return vfstest.Rule{Match: vfstest.OpOn(vfstest.OpRemove, ".chunkmap-removing-*"), Times: 1}
			},
			leftover: true, left: "aside", empty: true,
		},
		{
			name:     "sync-fails",
			rule:     func(string) vfstest.Rule { return vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSyncDir, ""), Times: 1} },
			leftover: false, left: "aside",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			from, to := filepath.Join(parent, "a"), filepath.Join(parent, "b")
			renameDataset(t, from, 'A')
			renameDataset(t, to, 'B')
			fsys := vfstest.NewFaulty(vfs.OS)
			rule := fsys.Add(tc.rule(from))
			err := chunkmap.RenameFS(fsys, from, to)
			if fsys.Fired(rule) != 1 {
				t.Fatalf("the fault never fired; Rename = %v", err)
			}
			if err == nil {
				t.Fatal("Rename succeeded despite the fault")
			}
			if got := errors.Is(err, chunkmap.ErrLeftover); got != tc.leftover {
				t.Fatalf("Rename = %v: matches ErrLeftover %v, want %v", err, got, tc.leftover)
			}
			if tc.leftover && (errors.Is(err, chunkmap.ErrIO) || errors.Is(err, chunkmap.ErrCorrupt) || errors.Is(err, vfstest.ErrInjected)) {
				t.Errorf("Rename = %v: matches its cause's sentinel beside ErrLeftover", err)
			}
			wantRenamed(t, to, 'A')
			left := from
			if tc.left == "aside" {
				wantGone(t, from)
				entries, rerr := os.ReadDir(parent)
				if rerr != nil {
					t.Fatal(rerr)
				}
				left = ""
				for _, e := range entries {
					if strings.HasPrefix(e.Name(), ".chunkmap-removing-") {
						left = filepath.Join(parent, e.Name())
					}
				}
				if left == "" {
					t.Fatalf("Rename = %v, and no set-aside dataset in %s", err, parent)
				}
			}
			if tc.leftover && !strings.Contains(err.Error(), " "+left+" ") {
				t.Errorf("Rename = %v: does not name %s as where the old dataset is left", err, left)
			}
			if tc.left == "from" {
				wantRenamed(t, from, 'B') // whole, as it was under to
			}
			if tc.empty {
				assertEmptyDir(t, left, "the directory Rename left")
				if err := os.Remove(left); err != nil {
					t.Fatal(err)
				}
			} else if err := chunkmap.Remove(left); err != nil {
				t.Fatalf("Remove(%s), of what Rename left: %v", left, err)
			}
			wantOnly(t, parent, "b")
			wantRenamed(t, to, 'A')
		})
	}
}

// TestRename_ReplacedNotSearchable checks that a to whose manifest cannot
// be looked at (a directory the process may read but not search) is
// refused with the system's error, not called another program's
// directory, and that nothing changes.
func TestRename_ReplacedNotSearchable(t *testing.T) {
	if unpriv.Run(t) {
		return // root searches any directory
	}
	parent := t.TempDir()
	from, to := filepath.Join(parent, "a"), filepath.Join(parent, "b")
	renameDataset(t, from, 'A')
	renameDataset(t, to, 'B')
	before := snapshot(t, parent)
	if err := os.Chmod(to, 0o400); err != nil {
		t.Fatal(err)
	}
	err := chunkmap.Rename(from, to)
	if err := os.Chmod(to, 0o755); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrExist) {
		t.Fatalf("Rename over a dataset that may not be searched = %v, want an error matching fs.ErrPermission and not fs.ErrExist", err)
	}
	if after := snapshot(t, parent); !maps.Equal(after, before) {
		t.Fatalf("a refused Rename changed the files under %s", parent)
	}
	wantRenamed(t, to, 'B')
}
