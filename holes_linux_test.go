package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// On tmpfs a read of a hole through a shared mapping needs a page of the
// file system's own, so on a full tmpfs it faults where read(2) returns
// zeros. These tests make bytes below Size that were never written (a
// Truncate that extends the dataset; the gap before a write past Size,
// as a page store that writes page 100 first leaves) and read them
// through every read path once the tmpfs is full.

const holesChunk = chunkmap.MinChunkSize

// holeMakers make bytes below Size that were never written, in chunk 2
// among others.
var holeMakers = map[string]func(m *chunkmap.Manager) error{
	"truncate": func(m *chunkmap.Manager) error { return m.Truncate(4 * holesChunk) },
	"gap": func(m *chunkmap.Manager) error {
		_, err := m.WriteAt([]byte("page"), 4*holesChunk-4)
		return err
	},
	"bulkgap": func(m *chunkmap.Manager) error {
		// A write of 64 KiB or more goes by pwrite, which allocates
		// only what it fills.
		_, err := m.WriteAt(bytes.Repeat([]byte{7}, holesChunk), 2*holesChunk+holesChunk/2)
		return err
	},
}

// TestHoles_ReadOnFullTmpfs makes the holes, then fills the tmpfs, then
// reads 12 KiB of never-written bytes in chunk 2 through each read path,
// on the writer and on a ReadOnly follower: each must read zeros. Each
// case runs in a child process, so that a SIGBUS (a read pin's fault is
// not guarded) fails only it.
func TestHoles_ReadOnFullTmpfs(t *testing.T) {
	if what := os.Getenv("CHUNKMAP_HOLES_CHILD"); what != "" {
		holesChild(t, what, os.Getenv("CHUNKMAP_HOLES_MAKER"), os.Getenv("CHUNKMAP_HOLES_DIR"))
		return
	}
	for _, maker := range []string{"truncate", "gap", "bulkgap"} {
		for _, what := range []string{"ReadAt", "Gather", "ReadUint64", "Uint64s", "Pin", "Batch",
			"Blocks", "LoadUint64", "accessor Batch", "follower ReadAt", "follower Pin", "follower Batch"} {
			t.Run(maker+"/"+strings.ReplaceAll(what, " ", "_"), func(t *testing.T) {
				mnt := mountTmpfs(t, 1<<20)
				cmd := exec.Command(os.Args[0], "-test.run=^TestHoles_ReadOnFullTmpfs$", "-test.v")
				cmd.Env = append(os.Environ(), "CHUNKMAP_HOLES_CHILD="+what, "CHUNKMAP_HOLES_MAKER="+maker, "CHUNKMAP_HOLES_DIR="+mnt)
				out, err := cmd.CombinedOutput()
				if err != nil {
					if i := bytes.Index(out, []byte("fatal error")); i >= 0 {
						out = out[max(0, i-200):min(len(out), i+300)]
					}
					t.Errorf("%s of never-written bytes below Size on a full tmpfs (%s): %v\n%s", what, maker, err, out)
				}
			})
		}
	}
}

func holesChild(t *testing.T, what, maker, mnt string) {
	dir := filepath.Join(mnt, "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: holesChunk, MaxMapped: 4, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if err := holeMakers[maker](m); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, mnt, "fill")
	r := m
	if w, ok := strings.CutPrefix(what, "follower "); ok {
		r, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, NoAdmission: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		what = w
	}
	off, n := int64(2*holesChunk+3*4096), 3*4096
	va := accessor.New(r, nil)
	var got []byte
	word := func(x uint64, err error) error {
		got = fmt.Appendf(nil, "%d", x)
		if x == 0 {
			got = []byte{0}
		}
		return err
	}
	switch what {
	case "ReadAt":
		got = make([]byte, n)
		_, err = r.ReadAt(got, off)
	case "Gather":
		got = make([]byte, 8)
		err = r.Gather(got, []int64{off}, 8)
	case "ReadUint64":
		err = word(va.ReadUint64(off))
	case "LoadUint64":
		err = word(r.LoadUint64(off))
	case "Uint64s":
		s := va.Scan()
		for _, x := range s.Uint64s(off, n/8) {
			got = append(got, byte(x), byte(x>>8))
		}
		err = s.Err()
	case "Blocks":
		s := va.Scan()
		for _, b := range s.Blocks(off, int64(n)) {
			got = append(got, b...)
		}
		err = s.Err()
	case "Pin":
		var p *chunkmap.Pinned
		if p, err = r.Pin(off, n); err == nil {
			got = bytes.Clone(p.Bytes()) // a fault here is a SIGBUS
			p.Release()
		}
	case "Batch":
		err = r.Batch(func(b *chunkmap.Batch) error {
			q, err := b.Bytes(off, n)
			got = bytes.Clone(q)
			return err
		})
	case "accessor Batch":
		err = va.Batch(func(b *accessor.Batch) error { return word(b.ReadUint64(off)) })
	default:
		t.Fatalf("unknown read path %q", what)
	}
	if err != nil {
		t.Fatalf("%s: %v (a file reads zeros)", what, err)
	}
	if len(got) == 0 {
		t.Fatalf("%s read nothing", what)
	}
	if i := bytes.IndexFunc(got, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Fatalf("%s: byte %d is %#x, want 0", what, i, got[i])
	}
}

// TestHoles_GrowOnFullTmpfs fills the tmpfs first: a call that would leave
// never-written bytes below Size must then fail with ErrNoSpace and leave
// Size as it was, since those bytes could not be read through a mapping.
func TestHoles_GrowOnFullTmpfs(t *testing.T) {
	for _, maker := range []string{"truncate", "gap", "bulkgap"} {
		t.Run(maker, func(t *testing.T) {
			mnt := mountTmpfs(t, 1<<20)
			m, err := chunkmap.Open(filepath.Join(mnt, "ds"), &chunkmap.Options{ChunkSize: holesChunk, MaxMapped: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.WriteAt([]byte("hello"), 0); err != nil {
				t.Fatal(err)
			}
			fillDisk(t, mnt, "fill")
			err = holeMakers[maker](m)
			if !errors.Is(err, chunkmap.ErrNoSpace) {
				t.Fatalf("%s on a full tmpfs: %v, want ErrNoSpace", maker, err)
			}
			if got := m.Size(); got != 5 {
				t.Fatalf("Size after the failed %s = %d, want 5", maker, got)
			}
			buf := make([]byte, 5)
			if _, err := m.ReadAt(buf, 0); err != nil || string(buf) != "hello" {
				t.Fatalf("ReadAt after the failed %s = %q, %v", maker, buf, err)
			}
			// Room again: the same call works.
			if err := os.Remove(filepath.Join(mnt, "fill")); err != nil {
				t.Fatal(err)
			}
			if err := holeMakers[maker](m); err != nil {
				t.Fatalf("%s with room again: %v", maker, err)
			}
		})
	}
}
