//go:build unix

package vfstest

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

// must fails the test on a non-nil error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// create creates name through fsys and writes s to it.
func create(t *testing.T, fsys vfs.FS, name, s string) vfs.File {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	must(t, err)
	if s != "" {
		_, err = f.WriteAt([]byte(s), 0)
		must(t, err)
	}
	return f
}

// contents returns the files of im as name -> bytes.
func contents(im *Image) map[string]string {
	got := make(map[string]string)
	for _, f := range im.Files {
		got[f.Name] = string(f.Data)
	}
	return got
}

// TestRecorder_Image records a small hand-made sequence and checks the
// image of every interesting cut against what a power loss there keeps.
func TestRecorder_Image(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		t.Run(map[bool]string{false: "fsync", true: "NoSync"}[noSync], func(t *testing.T) {
			d := t.TempDir()
			r := NewRecorder(nil, "A")
			r.NoSync = noSync
			p := func(name string) string { return filepath.Join(d, name) }

			a := create(t, r, p("a"), "one")      // 1 create a, 2 write
			must(t, a.Sync())                     // 3 sync a "one"
			must(t, r.SyncDir(d))                 // 4 syncdir {a}
			b := create(t, r, p("b"), "bee")      // 5 create b, 6 write
			_, err := a.WriteAt([]byte("two"), 0) // 7 write a "two"
			must(t, err)
			must(t, r.Rename(p("a"), p("c"))) // 8 rename a -> c
			must(t, b.Sync())                 // 9 sync b "bee"
			must(t, r.SyncDir(d))             // 10 syncdir {b, c}
			must(t, a.Sync())                 // 11 sync c "two"
			must(t, b.Close())
			must(t, r.Remove(p("b")))         // 12 remove b
			b2 := create(t, r, p("b"), "new") // 13 create b, 14 write
			must(t, r.SyncDir(d))             // 15 syncdir {b (new), c}
			must(t, errors.Join(a.Close(), b2.Close()))

			want := []Kind{KindCreate, KindWrite, KindSync, KindSyncDir, KindCreate, KindWrite, KindWrite,
				KindRename, KindSync, KindSyncDir, KindSync, KindRemove, KindCreate, KindWrite, KindSyncDir}
			if r.Steps() != len(want) {
				for _, s := range r.Log(1, r.Steps()) {
					t.Log(s)
				}
				t.Fatalf("Steps() = %d, want %d", r.Steps(), len(want))
			}
			for i, k := range want {
				if s := r.Step(i + 1); s.Kind != k || s.N != i+1 {
					t.Errorf("step %d = %v, want kind %v", i+1, s, k)
				}
			}
			if r.Step(13).ID == r.Step(5).ID {
				t.Errorf("the second b has the first one's FileID %v", r.Step(5).ID)
			}
			if r.Step(11).ID != r.Step(1).ID {
				t.Errorf("sync of c has FileID %v, want a's %v", r.Step(11).ID, r.Step(1).ID)
			}

			tests := []struct {
				cut  Cut
				want map[string]string
			}{
				{Cut{0, 0}, map[string]string{}},
				{Cut{3, 0}, map[string]string{}},           // synced, but no name yet
				{Cut{1, 1}, map[string]string{"a": ""}},    // name written out early
				{Cut{3, 1}, map[string]string{"a": "one"}}, // ... with the synced bytes
				{Cut{4, 0}, map[string]string{"a": "one"}},
				{Cut{7, 0}, map[string]string{"a": "one"}}, // unsynced write lost
				{Cut{8, 0}, map[string]string{"a": "one"}},
				{Cut{8, 1}, map[string]string{"a": "one", "b": ""}},
				{Cut{8, 2}, map[string]string{"b": "", "c": "one"}},
				{Cut{9, 2}, map[string]string{"b": "bee", "c": "one"}},
				{Cut{10, 0}, map[string]string{"b": "bee", "c": "one"}},
				{Cut{11, 0}, map[string]string{"b": "bee", "c": "two"}},
				{Cut{12, 1}, map[string]string{"c": "two"}},
				{Cut{14, 2}, map[string]string{"b": "", "c": "two"}}, // a new file, not the old b
				{Cut{15, 0}, map[string]string{"b": "", "c": "two"}},
			}
			for _, tt := range tests {
				im, err := r.Image(d, tt.cut)
				if err != nil {
					t.Errorf("Image(%+v): %v", tt.cut, err)
					continue
				}
				if got := contents(im); !maps.Equal(got, tt.want) {
					t.Errorf("Image(%+v) = %v, want %v (%v)", tt.cut, got, tt.want, im)
				}
			}

			for k, want := range map[int]int{0: 0, 1: 1, 3: 1, 4: 0, 7: 1, 8: 2, 12: 1, 14: 2, 15: 0} {
				if got := r.DirOps(d, k); got != want {
					t.Errorf("DirOps(%d) = %d, want %d", k, got, want)
				}
			}
			for _, c := range []Cut{{8, 3}, {16, 0}, {-1, 0}, {4, 1}} {
				if _, err := r.Image(d, c); err == nil {
					t.Errorf("Image(%+v) succeeded, want an error", c)
				}
			}

			k4, _ := r.Image(d, Cut{4, 0})
			k7, _ := r.Image(d, Cut{7, 0})
			k8, _ := r.Image(d, Cut{8, 1})
			if k4.Key() != k7.Key() || k4.Key() == k8.Key() {
				t.Errorf("keys %q, %q, %q: want the first two equal and the third different", k4.Key(), k7.Key(), k8.Key())
			}

			dst := filepath.Join(t.TempDir(), "image")
			must(t, r.Materialize(d, Cut{11, 0}, dst))
			ents, err := os.ReadDir(dst)
			must(t, err)
			got := make(map[string]string)
			for _, e := range ents {
				b, err := os.ReadFile(filepath.Join(dst, e.Name()))
				must(t, err)
				got[e.Name()] = string(b)
				if fi, _ := e.Info(); fi.Mode().Perm() != 0o644 {
					t.Errorf("%s: mode %v, want 0644", e.Name(), fi.Mode())
				}
			}
			if want := map[string]string{"b": "bee", "c": "two"}; !maps.Equal(got, want) {
				t.Errorf("materialized %v, want %v", got, want)
			}
		})
	}
}

// TestRecorder_WriteOnly checks that the bytes of a file open for writing
// only are read back at its Sync.
func TestRecorder_WriteOnly(t *testing.T) {
	d := t.TempDir()
	r := NewRecorder(nil, "A")
	f, err := r.OpenFile(filepath.Join(d, "w"), os.O_WRONLY|os.O_CREATE, 0o600)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte("written"), 2)
	must(t, err)
	must(t, f.Sync())
	s := r.Step(r.Steps())
	if s.Kind != KindSync || string(s.Data) != "\x00\x00written" {
		t.Errorf("last step %v with %q, want a sync of %q", s, s.Data, "\x00\x00written")
	}
}

// openClose opens name with flag through fsys and closes it.
func openClose(fsys vfs.FS, name string, flag int) error {
	f, err := fsys.OpenFile(name, flag, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// wantErr turns the error an operation should have returned into nil, and
// its absence into an error.
func wantErr(err error) error {
	if err == nil {
		return errors.New("succeeded, want an error")
	}
	return nil
}

// TestRecorder_Steps checks what each mutating operation records, and that
// reads and failed operations record nothing.
func TestRecorder_Steps(t *testing.T) {
	d := t.TempDir()
	r := NewRecorder(nil, "boot-A")
	if got, err := r.BootID(); got != "boot-A" || err != nil {
		t.Errorf("BootID() = %q, %v", got, err)
	}
	name := filepath.Join(d, "f")
	tests := []struct {
		do   func() error
		want Kind // 0: nothing recorded
	}{
		{func() error { return r.MkdirAll(filepath.Join(d, "sub"), 0o755) }, KindMkdir},
		{func() error { return openClose(r, name, os.O_RDWR|os.O_CREATE) }, KindCreate},
		{func() error { return openClose(r, name, os.O_RDWR|os.O_CREATE) }, KindOpenCreate},
		{func() error { return openClose(r, name, os.O_RDWR) }, 0},
		{func() error {
			f, err := r.OpenFile(name, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(100)
		}, KindTruncate},
		{func() error {
			f, err := r.OpenFile(name, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Allocate(0, 10)
		}, KindAllocate},
		{func() error { _, err := r.Lstat(name); return err }, 0},
		{func() error { _, err := r.ReadDir(d); return err }, 0},
		{func() error { return wantErr(openClose(r, filepath.Join(d, "missing"), os.O_RDWR)) }, 0},
		{func() error { return wantErr(r.Remove(filepath.Join(d, "missing"))) }, 0},
		{func() error { return wantErr(r.Rename(filepath.Join(d, "missing"), name)) }, 0},
		{func() error { return r.Rename(name, name+"2") }, KindRename},
		{func() error { return r.Remove(name + "2") }, KindRemove},
	}
	for i, tt := range tests {
		before := r.Steps()
		if err := tt.do(); err != nil {
			t.Fatalf("operation %d: %v", i, err)
		}
		switch after := r.Steps(); {
		case tt.want == 0 && after != before:
			t.Errorf("operation %d recorded %v", i, r.Step(after))
		case tt.want != 0 && (after != before+1 || r.Step(after).Kind != tt.want):
			t.Errorf("operation %d recorded %d steps (%v), want one %v", i, after-before, r.Log(before+1, after), tt.want)
		}
	}
}
