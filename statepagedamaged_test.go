package chunkmap_test

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestOpen_DamagedStatePage: a writer syncs 3 chunks, writes 7 more, and
// its process dies (Abandon); the page cache holds the 10 chunks, and the
// state page their Size, which a crash of the process must keep. Then
// another program writes over the state page. Where that leaves the page
// without its magic but not blank, the Size it kept is lost, and a
// read-write Open took the last record's Size and deleted the 7 chunk
// files past it, with every write that returned into them. It must refuse
// with ErrCorrupt, naming the manifest and the files, and change nothing; a
// ReadOnly Open shows the dataset as of the last Sync; once the files past
// Size are removed, a read-write Open works and sets the page up again.
// A page written over to zeros reads as one no writer set up, and one
// whose magic stands as a page of another boot (neither can be told from
// what a power loss leaves): Open takes the record and deletes the files,
// as documented.
func TestOpen_DamagedStatePage(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	const synced, written = 3*cs - 100, 10*cs - 100
	for _, c := range []struct {
		name    string
		edit    func(b []byte)
		refused bool
	}{
		{"magic", func(b []byte) { copy(b[stateOff:], "XXXXXXXX") }, true},
		{"magic-zeroed", func(b []byte) { clear(b[stateOff : stateOff+8]) }, true},
		{"garbage", func(b []byte) {
			for i := stateOff; i < manifestLen; i++ {
				b[i] = byte(i*7 + 1)
			}
		}, true},
		{"blank", func(b []byte) { clear(b[stateOff:]) }, false},
		{"boot", func(b []byte) { copy(b[stateBootOff:], "another boot") }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			data := make([]byte, written)
			for i := range data {
				data[i] = byte(i*31 + i>>16)
			}
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt(data[:synced], 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt(data[synced:], synced); err != nil {
				t.Fatal(err)
			}
			if err := chunkmap.Abandon(m); err != nil {
				t.Fatal(err)
			}
			editManifestFile(t, dir, c.edit)
			before := snapshot(t, dir)

			m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if !c.refused {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer m.Close()
				if m.Size() != synced {
					t.Errorf("Size %d, want the record's %d", m.Size(), synced)
				}
				if _, err := os.Stat(filepath.Join(dir, chunkmap.ChunkFileName(9))); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("chunk file 9 past the record's Size: %v, want it deleted", err)
				}
				return
			}
			if err == nil {
				m.Close()
				t.Fatalf("Open took the damaged page: Size %d", m.Size())
			}
			for _, want := range []string{chunkmap.ManifestName, "state page is damaged", "7 chunk files", chunkmap.ChunkFileName(3), chunkmap.ChunkFileName(9), "chunkmap salvage"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open: %v\nwant %q in it", err, want)
				}
			}
			if !errors.Is(err, chunkmap.ErrCorrupt) {
				t.Errorf("Open: %v, want ErrCorrupt", err)
			}
			if after := snapshot(t, dir); !maps.Equal(after, before) {
				wantSameSnapshot(t, before, after)
				t.Fatalf("the refused Open changed the directory")
			}

			// A reader takes the record, and deletes nothing.
			r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("ReadOnly Open: %v", err)
			}
			got := make([]byte, r.Size())
			if _, err := r.ReadAt(got, 0); err != nil || r.Size() != synced || !bytes.Equal(got, data[:synced]) {
				t.Errorf("ReadOnly: Size %d (want %d), ReadAt %v, bytes equal %v", r.Size(), synced, err, bytes.Equal(got, data[:synced]))
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, dir); !maps.Equal(after, before) {
				wantSameSnapshot(t, before, after)
				t.Fatalf("the ReadOnly Open changed the directory")
			}

			// The files past Size hold what the writer wrote: the way out
			// the message gives, removing them, opens the dataset as of
			// its last Sync, and its page is set up anew.
			for i := int64(3); i < 10; i++ {
				p := filepath.Join(dir, chunkmap.ChunkFileName(i))
				b, err := os.ReadFile(p)
				if err != nil || !bytes.Equal(b[:min(cs, written-int(i)*cs)], data[int(i)*cs:min(written, int(i+1)*cs)]) {
					t.Fatalf("chunk file %d: %v, or not the bytes written", i, err)
				}
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
			m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatalf("Open without the files past Size: %v", err)
			}
			if m.Size() != synced {
				t.Errorf("Size %d, want %d", m.Size(), synced)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if b := readManifestFile(t, dir); string(b[stateOff:stateOff+8]) != "CMSTATE2" {
				t.Errorf("state page magic %q after a writer's Open and Close", b[stateOff:stateOff+8])
			}
		})
	}
}
