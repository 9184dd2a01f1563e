//go:build unix

package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestStatePage_ValuesWrittenOverUnderWriter has another program write
// over the Start and Size of the state page of a dataset a writer has
// open, leaving its magic and boot ID: the page then says what no writer
// recorded. The writer's next change of Size or Start, its Sync and its
// Close must write the page whole again (Manager.Sync and the README's
// ErrCorrupt row promise so), so that a follower reads the writer's bytes
// again and a crash of the process from there recovers what the calls that
// returned did. The writer checked only the magic: it went on storing Size
// alone, Sync and Close returned nil and Close marked the page clean with
// the other program's Start, so a follower, and every reader opened after
// Close, hid the chunks below it (or failed with ErrCorrupt for a Start
// past Size), and a recovery after a crash followed the record instead
// (the page's Start was past the record's first chunk), losing the Append
// that returned since the last Sync.
func TestStatePage_ValuesWrittenOverUnderWriter(t *testing.T) {
	const cs = 64 << 10
	overs := []struct {
		name        string
		start, size int64
	}{
		{"Start past Size", 3 * cs, cs},
		{"Start raised", 3 * cs, 6 * cs},
		{"Size cut", 0, cs},
	}
	steps := []struct {
		name string
		do   func(m *chunkmap.Manager) error
	}{
		{"Append", func(m *chunkmap.Manager) error { _, err := m.Append([]byte("appended")); return err }},
		{"Sync", func(m *chunkmap.Manager) error { return m.Sync() }},
		{"DropBefore", func(m *chunkmap.Manager) error { return m.DropBefore(cs) }},
		{"Close", func(m *chunkmap.Manager) error { return m.Close() }},
	}
	for _, over := range overs {
		for _, step := range steps {
			t.Run(over.name+"/"+step.name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "ds")
				m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				want := make([]byte, 6*cs)
				for i := range want {
					want[i] = byte(i/cs + 1)
				}
				if _, err := m.WriteAt(want, 0); err != nil {
					t.Fatal(err)
				}
				if err := m.Sync(); err != nil {
					t.Fatal(err)
				}
				r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()

				editManifestFile(t, dir, func(b []byte) {
					binary.LittleEndian.PutUint64(b[stateStartOff:], uint64(over.start))
					binary.LittleEndian.PutUint64(b[stateSizeOff:], uint64(over.size))
				})
				if err := step.do(m); err != nil {
					t.Fatalf("%s after the page was written over: %v", step.name, err)
				}
				start, size := m.Start(), m.Size()
				if step.name == "Close" {
					start, size = 0, int64(len(want))
				}
				b := readManifestFile(t, dir)
				gotStart := int64(binary.LittleEndian.Uint64(b[stateStartOff:]))
				gotSize := int64(binary.LittleEndian.Uint64(b[stateSizeOff:]))
				if gotStart != start || gotSize != size {
					t.Errorf("after %s the page says Start %d, Size %d; the writer's are %d, %d", step.name, gotStart, gotSize, start, size)
				}
				check := func(who string, r *chunkmap.Manager) {
					t.Helper()
					got := make([]byte, len(want)-int(start))
					if _, err := r.ReadAt(got, start); err != nil || !bytes.Equal(got, want[start:]) {
						t.Errorf("%s after the writer's %s: ReadAt(%d) = %v, equal %v; Start %d, Size %d", who, step.name, start, err, bytes.Equal(got, want[start:]), r.Start(), r.Size())
					}
				}
				check("the follower", r)
				if step.name == "Close" {
					r2, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
					if err != nil {
						t.Fatalf("ReadOnly Open after the writer's Close: %v", err)
					}
					check("a reader opened after Close", r2)
					r2.Close()
				}
			})
		}
	}
}

// TestStatePage_SizeRaisedThenWriterChanges has another program raise the
// Size of a live writer's state page (magic and boot ID left standing)
// over bytes a Truncate cut, then the writer Append: the README promises
// that the writer's next change of Size writes the page whole again, so
// that its followers follow it from there. The writer checked the page
// only after it stored its own Size, which hid the other program's, and
// moved no epoch; a follower, which raises Size lock-free within an epoch
// and never lowers it there, kept the other program's Size, and its Pin,
// LoadUint64, Gather and Batch returned the bytes the Truncate had cut,
// with a nil error, after the writer's change.
func TestStatePage_SizeRaisedThenWriterChanges(t *testing.T) {
	const cs = 64 << 10
	reads := []struct {
		name string
		read func(r *chunkmap.Manager, off int64) ([]byte, error)
	}{
		{"Pin", func(r *chunkmap.Manager, off int64) ([]byte, error) {
			p, err := r.Pin(off, 8)
			if err != nil {
				return nil, err
			}
			defer p.Release()
			return bytes.Clone(p.Bytes()), nil
		}},
		{"LoadUint64", func(r *chunkmap.Manager, off int64) ([]byte, error) {
			v, err := r.LoadUint64(off)
			return binary.NativeEndian.AppendUint64(nil, v), err
		}},
		{"Gather", func(r *chunkmap.Manager, off int64) ([]byte, error) {
			b := make([]byte, 8)
			return b, r.Gather(b, []int64{off}, 8)
		}},
		{"Batch", func(r *chunkmap.Manager, off int64) (b []byte, err error) {
			err = r.Batch(func(bt *chunkmap.Batch) error {
				p, err := bt.Bytes(off, 8)
				b = bytes.Clone(p)
				return err
			})
			return b, err
		}},
		{"ReadAt", func(r *chunkmap.Manager, off int64) ([]byte, error) {
			b := make([]byte, 8)
			n, err := r.ReadAt(b, off)
			return b[:n], err
		}},
	}
	for _, rd := range reads {
		t.Run(rd.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.WriteAt(bytes.Repeat([]byte{0xcc}, 2*cs), 0); err != nil {
				t.Fatal(err)
			}
			r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			const cut = cs + 64
			if err := m.Truncate(cut); err != nil {
				t.Fatal(err)
			}
			if _, err := rd.read(r, 0); err != nil {
				t.Fatalf("%s at 0 before the page was written over: %v", rd.name, err)
			}
			editManifestFile(t, dir, func(b []byte) {
				binary.LittleEndian.PutUint64(b[stateSizeOff:], uint64(2*cs))
			})
			// The follower may believe the other program until the
			// writer's next change; read so that it has.
			_, _ = rd.read(r, 0)
			if _, err := m.Append([]byte{1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
				t.Fatal(err)
			}
			size := m.Size()
			const off = cut + 1024 // cut off, past the writer's Size
			got, err := rd.read(r, off)
			if err == nil {
				t.Errorf("%s at %d, past the writer's Size %d, after the writer's Append: %x, nil error (follower's Size %d)", rd.name, off, size, got, r.Size())
			}
			if got, err := rd.read(r, cut); err != nil || !bytes.Equal(got, []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
				t.Errorf("%s at %d, the Append's bytes: %x, %v", rd.name, int64(cut), got, err)
			}
		})
	}
}

// TestStatePage_BootIDWrittenOverUnderWriter has another program write
// over the boot ID in a live writer's state page, leaving its magic, Start
// and Size: a follower then stops following (a page of another boot is
// not one to follow), which it cannot tell from a writer of another boot.
// The writer's next change must write the page whole again, as the README
// promises for a page written over, so that the follower follows it from
// there. The writer compared only the magic, Start and Size, so it went on
// with the other program's boot ID for good, and after its Truncate and
// regrowth the follower, no longer following, read the deleted chunk
// files' bytes through its mappings with a nil error, past the writer's
// Size too.
func TestStatePage_BootIDWrittenOverUnderWriter(t *testing.T) {
	const cs = 64 << 10
	edits := []struct {
		name string
		edit func(b []byte)
	}{
		{"another boot ID", func(b []byte) { copy(b[stateBootOff:], "00000000-0000-4000-8000-000000000000") }},
		{"boot ID cleared", func(b []byte) { clear(b[stateBootOff : stateBootOff+48]) }},
	}
	words := func(off int64, n int, gen byte) []byte {
		b := make([]byte, n)
		for i := 0; i < n; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], uint64(off+int64(i))<<8|uint64(gen))
		}
		return b
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.WriteAt(words(0, 4*cs, 1), 0); err != nil {
				t.Fatal(err)
			}
			r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := make([]byte, 4*cs)
			if _, err := r.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			editManifestFile(t, dir, e.edit)
			if _, err := r.ReadAt(got[:8], 0); err != nil {
				t.Fatalf("ReadAt after the boot ID was written over: %v", err)
			}
			if err := m.Truncate(0); err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt(words(0, 2*cs, 2), 0); err != nil {
				t.Fatal(err)
			}
			for _, off := range []int64{0, cs, 3 * cs} {
				n, err := r.ReadAt(got[:8], off)
				if err == nil && !bytes.Equal(got[:8], words(off, 8, 2)) {
					t.Errorf("ReadAt(%d) after the writer's Truncate and regrowth: n %d, %x, nil error (the writer wrote %x; Size %d, the follower's %d)",
						off, n, got[:8], words(off, 8, 2), m.Size(), r.Size())
				}
			}
		})
	}
}

// TestStatePage_ValuesOutOfRangeThenRefresh has another program write a
// Start and Size no writer can leave (Start past Size, Start not at a
// chunk boundary, Size negative) into the state page a follower follows,
// leaving its magic and boot ID. The follower's calls fail with
// ErrCorrupt, and the README promises that a Refresh then makes it follow
// the manifest's records, where they are whole, as after a page written
// over with zeros. Refresh failed with the same ErrCorrupt instead, and so
// did every call after it, for good once the writer had closed.
func TestStatePage_ValuesOutOfRangeThenRefresh(t *testing.T) {
	const cs = 64 << 10
	overs := []struct {
		name        string
		start, size int64
	}{
		{"Start past Size", 3 * cs, cs},
		{"Start within a chunk", cs + 8, 2 * cs},
		{"Start negative", -cs, cs},
		{"Size negative", 0, -1},
	}
	for _, over := range overs {
		t.Run(over.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 4*cs)
			for i := range want {
				want[i] = byte(i/cs + 1)
			}
			if _, err := m.WriteAt(want, 0); err != nil {
				t.Fatal(err)
			}
			r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			orig := readManifestFile(t, dir)
			editManifestFile(t, dir, func(b []byte) {
				binary.LittleEndian.PutUint64(b[stateStartOff:], uint64(over.start))
				binary.LittleEndian.PutUint64(b[stateSizeOff:], uint64(over.size))
			})
			got := make([]byte, len(want))
			if _, err := r.ReadAt(got, 0); !errors.Is(err, chunkmap.ErrCorrupt) {
				t.Fatalf("ReadAt after the page was written over: %v, want ErrCorrupt", err)
			}
			if err := r.Refresh(); err != nil {
				t.Fatalf("Refresh: %v, want nil (the records are whole)", err)
			}
			if n, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
				t.Errorf("ReadAt after Refresh: n %d, %v, equal %v (Start %d, Size %d)", n, err, bytes.Equal(got, want), r.Start(), r.Size())
			}
			if _, err := r.LoadUint64(cs); err != nil {
				t.Errorf("LoadUint64 after Refresh: %v", err)
			}
			// The page put back as the writer left it: the follower
			// follows it again.
			editManifestFile(t, dir, func(b []byte) { copy(b, orig) })
			if n, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
				t.Errorf("ReadAt after the page was put back: n %d, %v, equal %v (Start %d, Size %d)", n, err, bytes.Equal(got, want), r.Start(), r.Size())
			}
		})
	}
}
