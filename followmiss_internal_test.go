//go:build unix

package chunkmap

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// missHookFS is the real file system, with a hook run before every open
// of a file whose name ends in hookName, and after run after it (and, with
// lstat, hook before every
// Lstat of it: the look a follower takes at a file it opened as the epoch
// moved), and counts of such opens. bootID, if set, replaces the machine's
// boot ID (a reader that runs "after a reboot").
type missHookFS struct {
	vfs.FS
	hookName string
	hook     func() // run before the open, if not nil
	after    func() // run after the open, if not nil
	lstat    bool
	opens    atomic.Int64
	bootID   string
}

func (h *missHookFS) hooked(name string) bool {
	return h.hookName != "" && strings.HasSuffix(name, string(filepath.Separator)+h.hookName)
}

func (h *missHookFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if !h.hooked(name) {
		return h.FS.OpenFile(name, flag, perm)
	}
	h.opens.Add(1)
	if h.hook != nil {
		h.hook()
	}
	f, err := h.FS.OpenFile(name, flag, perm)
	if h.after != nil {
		h.after()
	}
	return f, err
}

func (h *missHookFS) Lstat(name string) (fs.FileInfo, error) {
	if h.lstat && h.hooked(name) && h.hook != nil {
		h.hook()
	}
	return h.FS.Lstat(name)
}

// hookedFollower opens a writer of chunks chunk files of the byte fill
// (64 KiB chunks) and a follower with options o whose opens of the file
// hookName run h.hook; both are closed when the test ends.
func hookedFollower(t *testing.T, chunks int, fill byte, hookName string, o Options) (w, r *Manager, h *missHookFS) {
	t.Helper()
	w = openWriter(t, t.TempDir())
	h = &missHookFS{FS: vfs.OS, hookName: hookName}
	SetFS(&o, h)
	return w, followed(t, w, chunks, fill, &o), h
}

func (h *missHookFS) BootID() (string, error) {
	if h.bootID != "" {
		return h.bootID, nil
	}
	return h.FS.BootID()
}

// TestFollow_FailedPinUnmapsDoomedSlot checks a follower's Pin over two
// chunks that holds chunk 0 in the arena and then, mapping chunk 1, finds
// that the writer truncated both meanwhile: the Pin fails, and the slot of
// chunk 0, doomed by the follow, must be unmapped with its last hold (and
// the arena given back after Close), not left doomed for good.
func TestFollow_FailedPinUnmapsDoomedSlot(t *testing.T) {
	const cs = MinChunkSize
	dir := t.TempDir()
	w := openWriter(t, dir)
	if _, err := w.WriteAt(bytes.Repeat([]byte{7}, 2*cs), 0); err != nil {
		t.Fatal(err)
	}
	h := &missHookFS{FS: vfs.OS, hookName: chunk.Name(1)}
	o := &Options{ReadOnly: true, NoAdmission: true, MaxMapped: 4}
	SetFS(o, h)
	r, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.contiguous {
		t.Skip("needs a contiguous arena")
	}
	b := make([]byte, 8)
	if _, err := r.ReadAt(b, 0); err != nil { // maps chunk 0
		t.Fatal(err)
	}
	var fired atomic.Bool
	h.hook = func() {
		if !fired.Swap(true) {
			if err := w.Truncate(0); err != nil {
				t.Error(err)
			}
		}
	}
	p, err := r.Pin(0, 2*cs)
	if err == nil {
		p.Release()
	}
	t.Logf("Pin racing Truncate(0): %v", err)
	if _, doomed, _ := r.Mappings(); doomed != 0 {
		t.Errorf("after the failed Pin released everything: %d doomed mappings left (slot never unmapped)", doomed)
	}
	if err := r.Close(); err != nil {
		t.Logf("Close: %v", err)
	}
	if !r.ArenaReleased() {
		t.Errorf("after Close with nothing held, the arena was not released")
	}
}

// TestFollow_LastTryIsOutOfRange checks a follower whose writer deletes
// the chunk it opens during each of its tries: the follower must report
// ErrOutOfRange (or io.EOF), taking the state again after its last try,
// never ErrFault.
func TestFollow_LastTryIsOutOfRange(t *testing.T) {
	const cs = MinChunkSize
	w, r, h := hookedFollower(t, 2, 7, chunk.Name(1), Options{NoAdmission: true})
	block := bytes.Repeat([]byte{7}, 2*cs)
	var n atomic.Int64
	h.hook = func() {
		// The writer truncates chunk 1 away and grows it again, twice;
		// the third time it only truncates.
		if err := w.Truncate(cs); err != nil {
			t.Error(err)
		}
		if n.Add(1) < 3 {
			if _, err := w.WriteAt(block[cs:], cs); err != nil {
				t.Error(err)
			}
		}
	}
	b := make([]byte, 8)
	_, err := r.ReadAt(b, cs+8)
	t.Logf("ReadAt racing three Truncates: %v (opens of chunk 1: %d)", err, h.opens.Load())
	if errors.Is(err, ErrFault) || errors.Is(err, ErrCorrupt) {
		t.Errorf("healthy follower racing its writer's Truncate: %v; want ErrOutOfRange or io.EOF", err)
	}
}

// TestFollow_RefreshOnUnfollowablePage checks that Refresh on a follower
// whose state page is not followable (set up in an earlier boot) leaves
// the epoch it has seen as it was, so that a later miss opens the chunk
// file once, not three times.
func TestFollow_RefreshOnUnfollowablePage(t *testing.T) {
	const cs = MinChunkSize
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(bytes.Repeat([]byte{7}, 4*cs), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h := &missHookFS{FS: vfs.OS, hookName: chunk.Name(2), bootID: "another-boot-0000000000000000000000"}
	o := &Options{ReadOnly: true, NoAdmission: true}
	SetFS(o, h)
	r, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	if _, err := r.ReadAt(b, 2*cs); err != nil {
		t.Fatal(err)
	}
	if got := h.opens.Load(); got != 1 {
		t.Errorf("one miss on chunk 2 after Refresh opened its file %d times, want 1", got)
	}
}

// TestSync_ViewWriteToReplacedFile checks stores through a private view (a
// writable Pin across chunks whose slots are not side by side) to a chunk
// whose file another program replaces: Sync must report them lost, not
// fsync the new file by name and acknowledge them.
func TestSync_ViewWriteToReplacedFile(t *testing.T) {
	const cs = MinChunkSize
	defer SetScatteredArena(SetScatteredArena(true))
	dir := t.TempDir()
	m := openWriter(t, dir)
	if _, err := m.WriteAt(make([]byte, 2*cs), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	p, err := m.PinWritable(cs-4, 8)
	if err != nil {
		t.Fatal(err)
	}
	if p.view == nil {
		t.Skip("the pin did not take a private view")
	}
	copy(p.Bytes(), "ABCDEFGH")
	// Another program replaces chunk 0's file with a copy taken before
	// the store reached it... or after: either way the file under the
	// name is not the one the view wrote to.
	ReplaceChunkFile(t, dir, 0)
	copy(p.Bytes(), "abcdefgh") // lands in the old, unlinked file
	p.Release()
	if err := m.Sync(); err == nil {
		t.Errorf("Sync = nil, but the stores to chunk 0 through the view went to a file another program replaced; want ErrFault")
	} else {
		t.Logf("Sync: %v", err)
	}
}

// TestFollow_ReadOutOfTries checks a follower whose writer cuts into the
// bytes it reads during every try (followedRead): after followTries tries
// the read fails with ErrOutOfRange and returns none of the bytes it read,
// which no try could vouch for; once the writer stops, it reads them.
func TestFollow_ReadOutOfTries(t *testing.T) {
	const cs = MinChunkSize
	w, r, h := hookedFollower(t, 2, 7, chunk.Name(1), Options{NoAdmission: true})
	h.lstat = true
	block := bytes.Repeat([]byte{7}, 2*cs)
	var cutting atomic.Bool
	var cuts atomic.Int64
	h.hook = func() {
		// Chunk 1 goes and comes back, with the same bytes, while the
		// reader opens it or looks at its name: every try sees a cut
		// into its bytes.
		if !cutting.Load() {
			return
		}
		if err := w.Truncate(cs); err != nil {
			t.Error(err)
		}
		if _, err := w.WriteAt(block[cs:], cs); err != nil {
			t.Error(err)
		}
		cuts.Add(1)
	}
	cutting.Store(true)
	b := make([]byte, 16)
	n, err := r.ReadAt(b, cs+8)
	cutting.Store(false)
	if n != 0 || !errors.Is(err, ErrOutOfRange) || !strings.Contains(err.Error(), "tries") {
		t.Errorf("ReadAt while every try is cut into (%d cuts) = %d, %v; want 0 and ErrOutOfRange after %d tries", cuts.Load(), n, err, followTries)
	}
	if c := cuts.Load(); c < followTries {
		t.Errorf("%d cuts during the read, want one a try at least (%d)", c, followTries)
	}
	if n, err := r.ReadAt(b, cs+8); n != len(b) || err != nil || !bytes.Equal(b, block[:len(b)]) {
		t.Errorf("ReadAt once the writer stopped = %d, %v, %v", n, err, b)
	}
}

// TestFollow_PinAcrossReplacedChunks checks a follower's Pin over two
// chunks that holds (or opens) the first and then, opening the second,
// finds that the writer cut both away and wrote them anew: the Pin must
// hand out the new bytes of both, never the old first chunk beside the
// new second one. "slots" pins where the arena places the chunks side by
// side; "view" where it cannot, and the Pin maps a private view. A writer
// that remakes them at every open of the second, and at every look at its
// name, makes the Pin fail with ErrOutOfRange after its last try.
func TestFollow_PinAcrossReplacedChunks(t *testing.T) {
	const cs = MinChunkSize
	tests := []struct {
		name   string
		arena  int64 // Options.ArenaSize
		off    int64 // of the 16 bytes pinned, across chunks off/cs and the next
		always bool  // the writer remakes the chunks at every open, not once
	}{
		{"slots", 0, cs - 8, false},
		{"view", 2 * cs, 2*cs - 8, false}, // chunks 1 and 2: slots 1 and 0
		{"slots, every time", 0, cs - 8, true},
		{"view, every time", 2 * cs, 2*cs - 8, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			second := chunk.Name(tc.off/cs + 1)
			w, r, h := hookedFollower(t, 3, 'A', second, Options{NoAdmission: true, MaxMapped: 4, ArenaSize: tc.arena})
			if tc.arena == 0 && !r.contiguous {
				t.Skip("needs a contiguous arena")
			}
			if _, err := r.ReadAt(make([]byte, 1), 0); err != nil {
				t.Fatal(err)
			}
			h.lstat = tc.always
			var fired atomic.Bool
			h.hook = func() {
				if fired.Swap(true) && !tc.always {
					return
				}
				if err := w.Truncate(0); err != nil {
					t.Error(err)
				}
				if _, err := w.WriteAt(bytes.Repeat([]byte{'B'}, 3*cs), 0); err != nil {
					t.Error(err)
				}
			}
			p, err := r.Pin(tc.off, 16)
			if tc.always {
				if !errors.Is(err, ErrOutOfRange) || !strings.Contains(err.Error(), "each of") {
					t.Errorf("Pin across chunks remade at every open = %v; want ErrOutOfRange after its last try", err)
				}
				if err == nil {
					p.Release()
				}
				return
			}
			if err != nil {
				t.Fatalf("Pin across %s after the writer remade both chunks once: %v", second, err)
			}
			defer p.Release()
			if got := p.Bytes(); !bytes.Equal(got, bytes.Repeat([]byte{'B'}, 16)) {
				t.Errorf("Pin across chunks remade during it = %q, want the B's of both new files", got)
			}
			if !fired.Load() {
				t.Errorf("the writer never remade the chunks during the Pin: the test tests nothing")
			}
		})
	}
}

// TestFollow_MissThenPageWiped checks a follower's read and gather whose
// open of a chunk file it knows finds the file gone (the writer truncated
// it away meanwhile) and, taking the writer's state to learn why
// (openFollowed), finds the state page wiped by another program: the call
// must return that (ErrCorrupt), not call the file missing (ErrFault) nor
// try again for ever.
func TestFollow_MissThenPageWiped(t *testing.T) {
	const cs = MinChunkSize
	calls := []struct {
		name string
		call func(r *Manager, off int64) error
	}{
		{"ReadAt", func(r *Manager, off int64) error { _, err := r.ReadAt(make([]byte, 8), off); return err }},
		{"Gather", func(r *Manager, off int64) error { return r.Gather(make([]byte, 8), []int64{off}, 8) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			w, r, h := hookedFollower(t, 2, 7, chunk.Name(1), Options{NoAdmission: true})
			var fired atomic.Bool
			h.hook = func() {
				if fired.Swap(true) {
					return
				}
				if err := w.Truncate(cs); err != nil {
					t.Error(err)
				}
				f, err := os.OpenFile(filepath.Join(w.dir, ManifestName), os.O_WRONLY, 0)
				if err != nil {
					t.Error(err)
					return
				}
				defer f.Close()
				if _, err := f.WriteAt(make([]byte, manifestLen-stateOff), stateOff); err != nil {
					t.Error(err)
				}
			}
			var err error
			returnsWithin(t, c.name, func() { err = c.call(r, cs+8) })
			t.Logf("%s after the file went and the page was wiped: %v", c.name, err)
			if !fired.Load() {
				t.Fatal("the follower never opened chunk 1: the test needs it to")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s = %v; want an error matching ErrCorrupt (the state page is gone)", c.name, err)
			}
		})
	}
}

// TestFollow_PinCutMeanwhile checks a follower's Pin whose hold of a chunk
// takes the writer's state (the miss follows) after the writer cut the
// range and wrote part of it again: the Pin must fail with ErrOutOfRange,
// as a range no longer within Size, not hand out bytes past the writer's
// Size (zeros) beside its new ones. Cases: a pin across two chunks held in
// the arena's slots and mapped in a private view, and one in one chunk.
func TestFollow_PinCutMeanwhile(t *testing.T) {
	const cs = MinChunkSize
	tests := []struct {
		name  string
		arena int64
		off   int64 // the pin is [off, off+16)
	}{
		{"across chunks, slots", 0, cs - 8},
		{"across chunks, view", 2 * cs, 2*cs - 8},
		{"one chunk", 0, cs + 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hooked := chunk.Name((tc.off + 15) / cs) // the pin's last chunk, opened last
			w, r, h := hookedFollower(t, 3, 'A', hooked, Options{NoAdmission: true, MaxMapped: 4, ArenaSize: tc.arena})
			if tc.arena == 0 && !r.contiguous {
				t.Skip("needs a contiguous arena")
			}
			wantRead(t, r, 0, 1, 'A', "chunk 0") // maps chunk 0
			newSize := tc.off + 12               // covers 12 of the pin's 16 bytes
			var fired atomic.Bool
			h.hook = func() {
				if fired.Swap(true) {
					return
				}
				if err := w.Truncate(0); err != nil {
					t.Error(err)
				}
				if _, err := w.WriteAt(bytes.Repeat([]byte{'B'}, int(newSize)), 0); err != nil {
					t.Error(err)
				}
			}
			p, err := r.Pin(tc.off, 16)
			if !fired.Load() {
				t.Fatalf("the follower never opened %s: the test needs it to", hooked)
			}
			if err == nil {
				t.Errorf("Pin(%d, 16) with the writer's Size now %d = %q, nil; want ErrOutOfRange", tc.off, w.Size(), p.Bytes())
				p.Release()
			} else if !errors.Is(err, ErrOutOfRange) {
				t.Errorf("Pin(%d, 16) = %v; want ErrOutOfRange", tc.off, err)
			}
			if live, doomed, views := r.Mappings(); doomed != 0 || views != 0 || live > 4 {
				t.Errorf("after the refused Pin: %d live, %d doomed, %d view mappings; want at most MaxMapped live and nothing else", live, doomed, views)
			}
			wantRead(t, r, 0, int(newSize), 'B', "the bytes the writer wrote again")
		})
	}
}

// TestFollow_OtherBootPastWhatItKnows checks a follower whose Size covers
// chunk files it has not looked for yet (taken without the lock) when a
// writer whose platform tells another boot opens the dataset: the reader
// stops following and keeps its Size, and must read every byte below it,
// looking for the files it did not know, not call them missing (ErrFault).
func TestFollow_OtherBootPastWhatItKnows(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	cs := w.ChunkSize()
	r := followedPastWhatItKnows(t, w, nil, false)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	o := Options{ChunkSize: MinChunkSize}
	SetFS(&o, &missHookFS{FS: vfs.OS, bootID: "another-boot-0000000000000000000000"})
	w2, err := Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	wantRead(t, r, 6*cs, 16, 'B', "ReadAt in chunk 6, below the follower's Size")
	got := make([]byte, 8)
	if err := r.Gather(got, []int64{7 * cs}, 8); err != nil || got[0] != 'B' {
		t.Errorf("Gather in chunk 7 = %q, %v; want B and nil", got, err)
	}
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	wantRead(t, r, 6*cs, 16, 'B', "chunk 6 after Refresh")
}

// TestFollow_ThirdOpenTakesNoFile checks a follower whose open of chunk 1
// sees the writer cut it away and make it anew during each of its three
// tries, the last time short of the bytes asked for: Pin and Batch.Bytes
// must not take the file the third open found (made after the state the
// reader has, and cut since) and hand out bytes past the writer's Size;
// they, and ReadAt and LoadUint64, fail with ErrOutOfRange (or io.EOF).
func TestFollow_ThirdOpenTakesNoFile(t *testing.T) {
	const cs = MinChunkSize
	calls := []struct {
		name string
		call func(r *Manager, off int64, n int) ([]byte, error)
	}{
		{"Pin", func(r *Manager, off int64, n int) ([]byte, error) {
			p, err := r.Pin(off, n)
			if err != nil {
				return nil, err
			}
			defer p.Release()
			return bytes.Clone(p.Bytes()), nil
		}},
		{"Batch.Bytes", func(r *Manager, off int64, n int) (got []byte, err error) {
			err = r.Batch(func(b *Batch) error {
				p, err := b.Bytes(off, n)
				got = bytes.Clone(p)
				return err
			})
			return got, err
		}},
		{"ReadAt", func(r *Manager, off int64, n int) ([]byte, error) {
			got := make([]byte, n)
			k, err := r.ReadAt(got, off)
			return got[:k], err
		}},
		{"LoadUint64", func(r *Manager, off int64, n int) ([]byte, error) {
			x, err := r.LoadUint64(off)
			if err != nil {
				return nil, err
			}
			var b [8]byte
			for i := range b {
				b[i] = byte(x >> (8 * i))
			}
			return b[:], nil
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			w, r, h := hookedFollower(t, 3, 'A', chunk.Name(1), Options{NoAdmission: true, MaxMapped: 4})
			wantRead(t, r, 0, 1, 'A', "chunk 0")
			var fires atomic.Int64
			h.hook = func() {
				k := fires.Add(1)
				if k > 3 {
					return
				}
				if err := w.Truncate(cs); err != nil {
					t.Error(err)
				}
				if k < 3 {
					if _, err := w.WriteAt(bytes.Repeat([]byte{'B'}, 2*cs), cs); err != nil {
						t.Error(err)
					}
					return
				}
				if _, err := w.WriteAt([]byte("CCCC"), cs); err != nil {
					t.Error(err)
				}
			}
			off, n := int64(cs+8), 8
			got, err := c.call(r, off, n)
			t.Logf("%s(%d, %d) with the writer's Size now %d: %q, %v (opens of chunk 1: %d)", c.name, off, n, w.Size(), got, err, h.opens.Load())
			if fires.Load() < 3 {
				t.Fatalf("the writer remade chunk 1 %d times, the test needs 3", fires.Load())
			}
			if err == nil || !errors.Is(err, ErrOutOfRange) && !errors.Is(err, io.EOF) {
				t.Errorf("%s(%d, %d) = %q, %v with the writer's Size %d: bytes past its Size; want ErrOutOfRange (or EOF)", c.name, off, n, got, err, w.Size())
			}
		})
	}
}

// TestFollow_DeletedAtEachOpenIsOutOfRange checks calls of a follower
// whose writer deletes chunk 1 just before each of its opens of the file
// and makes it anew just after: each open fails, but the epoch moved
// during each, so the chunk was the writer's to delete and the call must
// fail with ErrOutOfRange (or succeed), not call the file missing
// (ErrFault); ReadAt, Gather and LoadUint64 try again first.
func TestFollow_DeletedAtEachOpenIsOutOfRange(t *testing.T) {
	const cs = MinChunkSize
	calls := []struct {
		name string
		call func(r *Manager, off int64) error
	}{
		{"Pin", func(r *Manager, off int64) error {
			p, err := r.Pin(off, 8)
			if err == nil {
				p.Release()
			}
			return err
		}},
		{"Batch.Bytes", func(r *Manager, off int64) error {
			return r.Batch(func(b *Batch) error { _, err := b.Bytes(off, 8); return err })
		}},
		{"ReadAt", func(r *Manager, off int64) error { _, err := r.ReadAt(make([]byte, 8), off); return err }},
		{"Gather", func(r *Manager, off int64) error { return r.Gather(make([]byte, 8), []int64{off}, 8) }},
		{"LoadUint64", func(r *Manager, off int64) error { _, err := r.LoadUint64(off); return err }},
		{"Advise", func(r *Manager, off int64) error { return r.Advise(off, 8, AdviceWillNeed) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			w := openWriter(t, t.TempDir())
			h := &missHookFS{FS: vfs.OS, hookName: chunk.Name(1)}
			o := Options{NoAdmission: true, MaxMapped: 4}
			SetFS(&o, h)
			r := followed(t, w, 3, 'A', &o)
			wantRead(t, r, 0, 1, 'A', "chunk 0")
			block := bytes.Repeat([]byte{'B'}, 2*cs)
			var on atomic.Bool
			on.Store(true)
			h.hook = func() {
				if on.Load() {
					if err := w.Truncate(cs); err != nil {
						t.Error(err)
					}
				}
			}
			h.after = func() {
				if on.Load() {
					if _, err := w.WriteAt(block, cs); err != nil {
						t.Error(err)
					}
				}
			}
			var err error
			returnsWithin(t, c.name, func() { err = c.call(r, cs+8) })
			on.Store(false)
			t.Logf("%s: %v (opens of chunk 1: %d)", c.name, err, h.opens.Load())
			if errors.Is(err, ErrFault) || err != nil && !errors.Is(err, ErrOutOfRange) {
				t.Errorf("%s racing a writer that cut chunk 1 away at each open = %v; want ErrOutOfRange (or success), not ErrFault", c.name, err)
			}
		})
	}
}

// TestFollow_EOFBesideCuts checks a follower's read past Size while the
// writer cuts the tail and grows it back during each of its tries: the
// read reads nothing and meets io.EOF, which stands whatever the writer
// did after it, and must not be tried again until it ends with
// ErrOutOfRange ("cut into the bytes read").
func TestFollow_EOFBesideCuts(t *testing.T) {
	const cs = MinChunkSize
	w := openWriter(t, t.TempDir())
	r := followed(t, w, 4, 'A', nil)
	size := int64(4 * cs)
	wantRead(t, r, 0, 16, 'A', "first read")
	off := size + 1000
	tries := 0
	p := make([]byte, 16)
	ok, err := r.followedRead("read", at(off, int64(len(p))), func() (int64, error) {
		tries++
		if err := w.Truncate(size - 10); err != nil {
			t.Fatal(err)
		}
		if err := w.Truncate(size); err != nil {
			t.Fatal(err)
		}
		k, err := r.readIn(p, off, at(off, int64(len(p))))
		if k == 0 {
			return 0, err
		}
		return off + int64(k), err
	})
	if !ok || !errors.Is(err, io.EOF) || tries != 1 {
		t.Errorf("read at %d past Size %d beside cuts of its tail = ok %v, %v after %d tries; want io.EOF after 1", off, size, ok, err, tries)
	}
}
