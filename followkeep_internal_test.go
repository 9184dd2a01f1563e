package chunkmap

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// lstatCountFS counts the Lstat calls of a Manager, and runs onLstat, if
// set, before each.
type lstatCountFS struct {
	vfs.FS
	n       atomic.Int64
	onLstat func(name string)
}

func (c *lstatCountFS) Lstat(name string) (fs.FileInfo, error) {
	c.n.Add(1)
	if c.onLstat != nil {
		c.onLstat(name)
	}
	return c.FS.Lstat(name)
}

// followed fills writer w with chunks chunk files of the byte fill and
// opens a follower of its directory with options o (ReadOnly is set),
// closed when the test ends.
func followed(t *testing.T, w *Manager, chunks int, fill byte, o *Options) *Manager {
	t.Helper()
	if _, err := w.Append(bytes.Repeat([]byte{fill}, chunks*int(w.ChunkSize()))); err != nil {
		t.Fatal(err)
	}
	if o == nil {
		o = &Options{}
	}
	o.ReadOnly = true
	r, err := Open(w.Dir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// wantRead checks that r reads n bytes of fill at off.
func wantRead(t *testing.T, r *Manager, off int64, n int, fill byte, what string) {
	t.Helper()
	got := make([]byte, n)
	if _, err := r.ReadAt(got, off); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if i := bytes.IndexFunc(got, func(c rune) bool { return c != rune(fill) }); i >= 0 {
		t.Errorf("%s: byte %d of %d at %d is %q, want %q", what, i, n, off, got[i], fill)
	}
}

// followedPastWhatItKnows is followed with 4 chunks of 'A', then 4 more
// chunks of 'B' appended by w (synced, with sync): the follower's Size
// covers all 8, and it has looked for the files of the first 4 only.
func followedPastWhatItKnows(t *testing.T, w *Manager, o *Options, sync bool) *Manager {
	t.Helper()
	cs := w.ChunkSize()
	r := followed(t, w, 4, 'A', o)
	r.Size() // the first look: chunks 0 to 3
	if _, err := w.Append(bytes.Repeat([]byte{'B'}, 4*int(cs))); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := w.Sync(); err != nil { // the records say 8 chunks too
			t.Fatal(err)
		}
	}
	if got := r.Size(); got != 8*cs { // takes the writer's Size, looks for no file
		t.Fatalf("follower Size = %d, want %d", got, 8*cs)
	}
	r.mu.Lock()
	known := r.mu.first + r.mu.nchunks
	r.mu.Unlock()
	if known != 4 {
		t.Fatalf("the follower knows %d chunk files, want 4: the test needs it not to know chunks 4 to 7", known)
	}
	return r
}

// TestFollow_ReconcileKeepsChunksBelowCuts checks that a following reader
// that reconciles after its writer's cuts (keptBelowLocked) keeps the
// chunks below the lowest cut without looking at their names, lets go of
// those past it, and reads the bytes the writer wrote anew there.
func TestFollow_ReconcileKeepsChunksBelowCuts(t *testing.T) {
	const chunks = 32
	w := openWriter(t, t.TempDir())
	cs := w.ChunkSize()
	counter := &lstatCountFS{FS: vfs.OS}
	o := &Options{MaxMapped: 2 * chunks}
	SetFS(o, counter)
	r := followed(t, w, chunks, 'A', o)
	all := make([]byte, chunks*cs)
	// Twice: the first reconcile after Open looks at every name.
	for range 2 {
		if _, err := r.ReadAt(all, 0); err != nil {
			t.Fatal(err)
		}
		if err := w.Truncate(int64(len(all)) - 16); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append(bytes.Repeat([]byte{'A'}, 16)); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 50
	before := counter.n.Load()
	b := make([]byte, 1)
	for i := range rounds {
		if err := w.Truncate(int64(len(all)) - 16); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append(bytes.Repeat([]byte{'A'}, 16)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(b, int64(i%chunks)*cs); err != nil || b[0] != 'A' {
			t.Fatalf("round %d: read %q, %v", i, b, err)
		}
	}
	// Looking at every held chunk's name would take rounds*chunks calls.
	if n := counter.n.Load() - before; n >= rounds {
		t.Errorf("%d reconciles after cuts in the last chunk made %d Lstat calls, want fewer than one each", rounds, n)
	}

	// A cut that deletes chunks, and growth that makes them anew with
	// other bytes: the reader lets go of the old files.
	if err := w.Truncate(cs + 8); err != nil {
		skipIfHeldDelete(t, err)
		t.Fatal(err)
	}
	if _, err := w.Append(bytes.Repeat([]byte{'B'}, len(all)-int(cs)-8)); err != nil {
		t.Fatal(err)
	}
	wantRead(t, r, 0, int(cs)+8, 'A', "the bytes the cut kept")
	wantRead(t, r, cs+8, len(all)-int(cs)-8, 'B', "the bytes growth wrote after the cut")
}

// failRemoveFS is the real file system, whose Remove of the file named
// fail fails.
type failRemoveFS struct {
	vfs.FS
	fail atomic.Pointer[string]
}

func (f *failRemoveFS) Remove(name string) error {
	if p := f.fail.Load(); p != nil && *p == name {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrPermission}
	}
	return f.FS.Remove(name)
}

// TestFollow_FileLeftPastSizeIsLetGo checks a follower beside a Truncate
// whose unlink of a chunk file failed, so that the file stays past Size,
// followed by more cuts than the state page's stack of cuts holds (older
// entries answer then): growth later replaces the file without a cut
// (createFileLocked). The follower must not keep it.
func TestFollow_FileLeftPastSizeIsLetGo(t *testing.T) {
	dir := t.TempDir()
	ffs := &failRemoveFS{FS: vfs.OS}
	wo := &Options{ChunkSize: MinChunkSize}
	SetFS(wo, ffs)
	w, err := Open(dir, wo)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cs := w.ChunkSize()
	r := followed(t, w, 4, 'A', nil)
	wantRead(t, r, 0, 4*int(cs), 'A', "before the cuts")
	left := filepath.Join(dir, chunk.Name(3))
	ffs.fail.Store(&left)
	if err := w.Truncate(3 * cs); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Truncate whose unlink fails: %v, want fs.ErrPermission", err)
	}
	ffs.fail.Store(nil)
	// Cuts each above the last, more than the page's stack holds.
	for i := range int64(cutLowsCap + 2) {
		if err := w.Truncate(3*cs - 1000 + i); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append([]byte{'A', 'A'}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.ReadAt(make([]byte, 1), 0); err != nil {
		t.Fatal(err)
	}
	// Growth over chunk 3 replaces the file left there.
	if _, err := w.Append(bytes.Repeat([]byte{'B'}, int(4*cs-w.Size()))); err != nil {
		t.Fatal(err)
	}
	wantRead(t, r, 3*cs+100, 16, 'B', "chunk 3 made anew")
}

// TestFollow_PageSetUpAgain checks a follower whose writer writes the state
// page whole again after another program zeroed it (the manifest truncated
// and grown again), which numbers cuts from 0 again: the follower's count
// of cuts from before must not be taken for one of the new numbering,
// which would let it keep a chunk file a new cut deleted.
func TestFollow_PageSetUpAgain(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, dir)
	cs := w.ChunkSize()
	r := followed(t, w, 4, 'A', nil)
	for range 6 { // cuts at the end, each followed
		wantRead(t, r, 0, 4*int(cs), 'A', "before the page was set up again")
		if err := w.Truncate(4*cs - 1); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append([]byte{'A'}); err != nil {
			t.Fatal(err)
		}
	}
	wantRead(t, r, 0, 4*int(cs)-1, 'A', "before the page was set up again")
	mpath := filepath.Join(dir, ManifestName)
	if err := os.Truncate(mpath, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Truncate(4*cs - 2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Truncate with the manifest cut to 0 bytes: %v, want ErrCorrupt", err)
	}
	if err := os.Truncate(mpath, manifestLen); err != nil {
		t.Fatal(err)
	}
	// The writer writes the page again, cuts chunk 3 away and makes it
	// anew, then cuts enough at the end for the new count to pass the
	// follower's.
	if err := w.Truncate(2 * cs); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(bytes.Repeat([]byte{'B'}, 2*int(cs))); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if err := w.Truncate(4*cs - 1); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append([]byte{'B'}); err != nil {
			t.Fatal(err)
		}
	}
	wantRead(t, r, 3*cs, 8, 'B', "chunk 3 made anew after the page was set up again")
}

// TestRefresh_ChecksReplacedFiles checks that Refresh looks at the name of
// every chunk file a follower holds, though no cut since its last look
// touched them: another program replaced one.
func TestRefresh_ChecksReplacedFiles(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, dir)
	cs := w.ChunkSize()
	r := followed(t, w, 3, 'A', nil)
	for range 2 { // past the first reconcile, which looks at every name
		wantRead(t, r, cs, 8, 'A', "before the cuts")
		if err := w.Truncate(3*cs - 1); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append([]byte{'A'}); err != nil {
			t.Fatal(err)
		}
	}
	wantRead(t, r, cs, 8, 'A', "after the cuts")
	p := filepath.Join(dir, chunk.Name(1))
	if err := os.WriteFile(p+".new", bytes.Repeat([]byte{'Z'}, int(cs)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	wantRead(t, r, cs, 8, 'Z', "after Refresh, the file another program put under the name")
}

// returnsWithin runs f and fails the test if it has not returned within
// 10 seconds (a hang, which the test would otherwise share).
func returnsWithin(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not return within a minute", what)
	}
}

// TestFollow_ChunksPastWhatItKnows checks a follower whose Size covers
// chunk files it has not looked for yet (the writer grew the dataset since
// it last did), when another program wipes the state page or removes one
// of those files: its calls must fail with a clear error, never spin, and
// after a wiped page, Refresh makes it follow the manifest's records.
func TestFollow_ChunksPastWhatItKnows(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   error
	}{
		{"page wiped", zeroPage, ErrCorrupt},
		{"chunk file removed", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, chunk.Name(6))); err != nil {
				skipIfHeldDelete(t, err)
				t.Fatal(err)
			}
		}, ErrFault},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openWriter(t, dir)
			cs := w.ChunkSize()
			r := followedPastWhatItKnows(t, w, nil, true)
			tc.tamper(t, dir)
			got := make([]byte, 16)
			var n int
			var err error
			returnsWithin(t, "ReadAt", func() { n, err = r.ReadAt(got, 6*cs) })
			if !errors.Is(err, tc.want) || n != 0 {
				t.Errorf("ReadAt in chunk 6 = %d, %v; want 0 and an error matching %v", n, err, tc.want)
			}
			returnsWithin(t, "Gather", func() { err = r.Gather(got[:8], []int64{6 * cs}, 8) })
			if !errors.Is(err, tc.want) {
				t.Errorf("Gather in chunk 6 = %v; want an error matching %v", err, tc.want)
			}
			if tc.want == ErrCorrupt {
				if err := r.Refresh(); err != nil {
					t.Fatalf("Refresh after the page was wiped: %v", err)
				}
				wantRead(t, r, 6*cs, 16, 'B', "chunk 6 after Refresh, as the records say")
			}
		})
	}
}

// TestFollow_PageZeroedWriterRewrites checks a state page that another
// program writes zeros over while the writer runs (no fault: the file
// keeps its length): the follower's calls fail with ErrCorrupt, and the
// writer's next change of Size or Start, or Sync, writes the page whole again,
// returning nil, after which the follower follows it again, without a
// Refresh, and reads what the writer wrote.
func TestFollow_PageZeroedWriterRewrites(t *testing.T) {
	changes := []struct {
		name   string
		change func(w *Manager) error
	}{
		{"Append", func(w *Manager) error { _, err := w.Append(bytes.Repeat([]byte{'B'}, 100)); return err }},
		{"Truncate", func(w *Manager) error { return w.Truncate(w.Size() - 100) }},
		{"DropBefore", func(w *Manager) error { return w.DropBefore(w.ChunkSize()) }},
		{"Sync", func(w *Manager) error { return w.Sync() }},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openWriter(t, dir)
			r := followed(t, w, 3, 'A', nil)
			wantRead(t, r, 0, 16, 'A', "before the page was zeroed")
			zeroPage(t, dir)
			if _, err := r.ReadAt(make([]byte, 8), 0); !errors.Is(err, ErrCorrupt) {
				t.Errorf("follower's ReadAt with the page zeroed = %v; want ErrCorrupt", err)
			}
			if err := c.change(w); err != nil {
				skipIfHeldDelete(t, err)
				t.Fatalf("writer's %s after the page was zeroed: %v", c.name, err)
			}
			var start, size int64
			returnsWithin(t, "follower's Start and Size", func() { start, size = r.Start(), r.Size() })
			if start != w.Start() || size != w.Size() {
				t.Errorf("follower's Start, Size = %d, %d after the writer's %s; want the writer's %d, %d", start, size, c.name, w.Start(), w.Size())
			}
			got := make([]byte, 16)
			if _, err := r.ReadAt(got, size-16); err != nil {
				t.Errorf("follower's ReadAt of the last 16 bytes after the writer's %s: %v", c.name, err)
			}
			want := make([]byte, 16)
			if _, err := w.ReadAt(want, size-16); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("follower read %q, the writer %q", got, want)
			}
		})
	}
}

// TestFollow_RemovedChunkBesideAppends checks a follower whose Size covers
// a chunk file that another program removed, while its writer appends: a
// ReadAt or Gather there must report the missing file (ErrFault) at once,
// not try again for as long as Size keeps growing (growth never takes a
// chunk file away, so it cannot explain one gone). The writer appends a
// byte each time the follower looks for the file, so that Size has always
// grown when the follower asks why the file is not there.
func TestFollow_RemovedChunkBesideAppends(t *testing.T) {
	calls := []struct {
		name string
		call func(r *Manager, off int64) error
	}{
		{"ReadAt", func(r *Manager, off int64) error { _, err := r.ReadAt(make([]byte, 16), off); return err }},
		{"Gather", func(r *Manager, off int64) error { return r.Gather(make([]byte, 8), []int64{off + 8}, 8) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openWriter(t, dir)
			cs := w.ChunkSize()
			looks := &lstatCountFS{FS: vfs.OS}
			o := &Options{}
			SetFS(o, looks)
			r := followedPastWhatItKnows(t, w, o, false)
			if err := os.Remove(filepath.Join(dir, chunk.Name(6))); err != nil {
				skipIfHeldDelete(t, err)
				t.Fatal(err)
			}
			const most = 10000 // appends, so that even a spin ends
			var appends atomic.Int64
			looks.onLstat = func(name string) {
				if filepath.Base(name) == chunk.Name(6) && appends.Add(1) <= most {
					if _, err := w.Append([]byte{'C'}); err != nil {
						t.Error(err)
					}
				}
			}
			var err error
			returnsWithin(t, c.name, func() { err = c.call(r, 6*cs) })
			t.Logf("%s beside the writer's appends, after %d looks for the file: %v", c.name, appends.Load(), err)
			if !errors.Is(err, ErrFault) {
				t.Errorf("%s in the removed chunk 6 = %v; want ErrFault", c.name, err)
			}
			if n := appends.Load(); n > 20 {
				t.Errorf("%s looked for the removed file %d times: it tried again because Size grew", c.name, n)
			}
		})
	}
}

// zeroPage writes zeros over the state page of dir's manifest, as another
// program might (the file keeps its length: nothing faults).
func zeroPage(t *testing.T, dir string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, ManifestName), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(make([]byte, manifestLen-stateOff), stateOff)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestFollow_RestoredPageEpoch checks the epoch of a state page that the
// writer writes whole again after another program zeroed it: were it to
// count on from the zeroed value, it would come back to the epoch a
// follower last reconciled at, and the follower would take nothing as
// changed after the writer's next cut, keeping the file of a chunk the cut
// deleted and serving its old bytes where the writer's dataset now holds
// zeros. The writer deletes chunk 2, cuts on until its epoch reaches the
// follower's (64 times at most), and makes chunk 2 anew.
func TestFollow_RestoredPageEpoch(t *testing.T) {
	restores := []struct {
		name    string
		restore func(w *Manager) error // run right after the page is zeroed
	}{
		{"by a Truncate", func(w *Manager) error { return w.Truncate(w.Size() - 1) }},
		{"by a Sync", func(w *Manager) error { return w.Sync() }},
		{"by an Append", func(w *Manager) error { _, err := w.Append([]byte{'A'}); return err }},
	}
	for _, tc := range restores {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openWriter(t, dir)
			cs := w.ChunkSize()
			r := followed(t, w, 3, 'A', nil)
			// Cuts inside the last chunk move the epoch and delete nothing.
			for i := int64(1); i <= 8; i++ {
				if err := w.Truncate(3*cs - i); err != nil {
					t.Fatal(err)
				}
			}
			wantRead(t, r, 2*cs, 16, 'A', "chunk 2 before the page was zeroed") // maps chunk 2
			seen := r.seen.Load()
			zeroPage(t, dir)
			if err := tc.restore(w); err != nil {
				t.Fatalf("writer's call after the page was zeroed: %v", err)
			}
			// The first cut deletes chunk 2; the others move the epoch on
			// to the follower's, if it is ahead.
			for i := int64(1); i == 1 || i <= 64 && w.shared.p.epoch.Load() < seen; i++ {
				if err := w.Truncate(2*cs - i); err != nil {
					skipIfHeldDelete(t, err)
					t.Fatal(err)
				}
			}
			if err := w.Truncate(3 * cs); err != nil { // chunk 2 made anew: zeros
				t.Fatal(err)
			}
			t.Logf("follower's epoch %d, writer's page epoch now %d", seen, w.shared.p.epoch.Load())
			wantRead(t, w, 2*cs, 16, 0, "writer, chunk 2 made anew")
			wantRead(t, r, 2*cs, 16, 0, "follower, chunk 2 made anew (the writer reads zeros)")
		})
	}
}
