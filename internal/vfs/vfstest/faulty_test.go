//go:build unix

package vfstest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// TestFaulty_Rules checks which operations a rule fails, with which error,
// and how many times.
func TestFaulty_Rules(t *testing.T) {
	type call struct {
		op   string // an Op constant
		name string // base name of the path
		want error  // nil: the operation succeeds
	}
	tests := []struct {
		name  string
		rule  Rule
		calls []call
		fired int
		// manifest, if set, is what MANIFEST must hold at the end.
		manifest string
	}{
		{
			name: "EMFILE opening chunks, once",
			rule: Rule{Match: OpOn(OpOpen, "*.chunk"), Err: syscall.EMFILE, Times: 1},
			calls: []call{
				{OpOpen, "MANIFEST", nil},
				{OpOpen, "7.chunk", syscall.EMFILE},
				{OpOpen, "7.chunk", nil},
			},
			fired: 1,
		},
		{
			name: "EIO on fsync of chunks, unlimited",
			rule: Rule{Match: OpOn(OpSync, "*.chunk"), Err: syscall.EIO},
			calls: []call{
				{OpWrite, "7.chunk", nil},
				{OpSync, "MANIFEST", nil},
				{OpSync, "7.chunk", syscall.EIO},
				{OpSync, "7.chunk", syscall.EIO},
				{OpSync, "8.chunk", syscall.EIO},
			},
			fired: 3,
		},
		{
			name: "ENOSPC writing the manifest, twice",
			rule: Rule{Match: OpOn(OpWrite, "MANIFEST"), Err: syscall.ENOSPC, Times: 2},
			calls: []call{
				{OpWrite, "7.chunk", nil},
				{OpWrite, "MANIFEST", syscall.ENOSPC},
				{OpSync, "MANIFEST", nil},
				{OpWrite, "MANIFEST", syscall.ENOSPC},
				{OpWrite, "MANIFEST", nil},
			},
			fired:    2,
			manifest: "new",
		},
		{
			name: "any operation but open and close, default error",
			rule: Rule{Match: func(op, _ string) bool { return op != OpOpen && op != OpClose }, Times: 4},
			calls: []call{
				{OpTruncate, "7.chunk", ErrInjected},
				{OpAllocate, "7.chunk", ErrInjected},
				{OpRemove, "8.chunk", ErrInjected},
				{OpSyncDir, ".", ErrInjected},
				{OpSyncDir, ".", nil},
			},
			fired: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			for _, n := range []string{"MANIFEST", "7.chunk", "8.chunk"} {
				must(t, os.WriteFile(filepath.Join(d, n), []byte("old"), 0o644))
			}
			f := NewFaulty(nil)
			r := f.Add(tt.rule)
			for i, c := range tt.calls {
				err := do(f, c.op, d, c.name)
				switch {
				case c.want == nil && err != nil:
					t.Errorf("call %d (%s %s): %v, want success", i, c.op, c.name, err)
				case c.want != nil && !errors.Is(err, c.want):
					t.Errorf("call %d (%s %s): %v, want %v", i, c.op, c.name, err, c.want)
				case c.want != nil:
					var pe *fs.PathError
					if !errors.As(err, &pe) || pe.Op != c.op || pe.Path != filepath.Join(d, c.name) {
						t.Errorf("call %d: error %#v, want an *fs.PathError for %s %s", i, err, c.op, c.name)
					}
				}
			}
			if got := f.Fired(r); got != tt.fired {
				t.Errorf("Fired = %d, want %d", got, tt.fired)
			}
			if got, _ := os.ReadFile(filepath.Join(d, "MANIFEST")); tt.manifest != "" && string(got) != tt.manifest {
				t.Errorf("MANIFEST holds %q, want %q", got, tt.manifest)
			}
		})
	}
}

// do performs operation op on dir/name through fsys.
func do(fsys vfs.FS, op, dir, name string) error {
	path := filepath.Join(dir, name)
	switch op {
	case OpRemove:
		return fsys.Remove(path)
	case OpSyncDir:
		return fsys.SyncDir(path)
	}
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	switch op {
	case OpWrite:
		_, err = f.WriteAt([]byte("new"), 0)
	case OpSync:
		err = f.Sync()
	case OpTruncate:
		err = f.Truncate(10)
	case OpAllocate:
		err = f.Allocate(0, 10)
	}
	return errors.Join(err, f.Close())
}

// TestFaulty_Disarm checks that a disarmed rule stops firing.
func TestFaulty_Disarm(t *testing.T) {
	d := t.TempDir()
	f := NewFaulty(nil)
	r := f.Add(Rule{Match: OpOn(OpMkdirAll, ""), Err: syscall.EACCES})
	if err := f.MkdirAll(filepath.Join(d, "x"), 0o755); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("MkdirAll: %v, want EACCES", err)
	}
	f.Disarm(r)
	must(t, f.MkdirAll(filepath.Join(d, "x"), 0o755))
	if got := f.Fired(r); got != 1 {
		t.Errorf("Fired = %d, want 1", got)
	}
}

// TestFaulty_Bugs checks the two simulated bugs through a Recorder: a
// skipped fsync leaves no sync step, and a reordered rename logs the sync
// after the rename.
func TestFaulty_Bugs(t *testing.T) {
	d := t.TempDir()
	rec := NewRecorder(nil, "A")
	f := NewFaulty(rec)
	a, aerr := f.BootID()
	b, berr := WithBootID(f, "B").BootID()
	if a != "A" || b != "B" || aerr != nil || berr != nil {
		t.Errorf("BootID = %q, %v, WithBootID(B) = %q, %v", a, aerr, b, berr)
	}
	skip := f.Add(Rule{Match: OpOn(OpSync, "*.chunk"), Mode: Skip})
	late := f.Add(Rule{Match: OpOn("", "MANIFEST.tmp"), Mode: SyncAfterRename})

	c := create(t, f, filepath.Join(d, "1.chunk"), "data")
	must(t, c.Sync()) // skipped
	must(t, c.Close())
	tmp := create(t, f, filepath.Join(d, "MANIFEST.tmp"), "record")
	must(t, tmp.Sync()) // held back
	must(t, tmp.Close())
	must(t, f.Rename(filepath.Join(d, "MANIFEST.tmp"), filepath.Join(d, "MANIFEST")))
	must(t, f.SyncDir(d))

	var kinds []Kind
	for _, s := range rec.Log(1, rec.Steps()) {
		kinds = append(kinds, s.Kind)
	}
	want := []Kind{KindCreate, KindWrite, KindCreate, KindWrite, KindRename, KindSync, KindSyncDir}
	if !slices.Equal(kinds, want) {
		t.Fatalf("recorded %v, want %v", rec.Log(1, rec.Steps()), want)
	}
	if s := rec.Step(6); s.ID != rec.Step(3).ID || string(s.Data) != "record" {
		t.Errorf("late sync %v of %q, want one of MANIFEST.tmp's file with %q", s, s.Data, "record")
	}
	if f.Fired(skip) != 1 || f.Fired(late) != 1 {
		t.Errorf("rules fired %d and %d times, want 1 and 1", f.Fired(skip), f.Fired(late))
	}
	// Between the rename and the late sync, the rename may be on disk and
	// the bytes not: MANIFEST is empty.
	im, err := rec.Image(d, Cut{After: 5, DirOps: 3})
	must(t, err)
	if m, ok := im.File("MANIFEST"); !ok || len(m.Data) != 0 {
		t.Errorf("image after the rename: %v, want an empty MANIFEST", im)
	}
	if ch, ok := im.File("1.chunk"); !ok || len(ch.Data) != 0 {
		t.Errorf("image after the rename: %v, want an empty 1.chunk", im)
	}
}
