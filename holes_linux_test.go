package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// holeReads are the read paths TestHoles_ReadOnFullTmpfs takes, those
// prefixed "follower " on a ReadOnly Manager opened on the writer's
// dataset.
var holeReads = []string{"ReadAt", "Gather", "ReadUint64", "Uint64s", "Pin", "Batch",
	"Blocks", "LoadUint64", "accessor Batch", "follower ReadAt", "follower Pin", "follower Batch"}

// TestHoles_ReadOnFullTmpfs makes the holes, then fills the tmpfs, then
// reads 12 KiB of never-written bytes in chunk 2 through each read path,
// on the writer and on a ReadOnly follower: each must read zeros. Each way
// of making holes runs in a child process, which takes every read path in
// turn and says which it starts, so that a SIGBUS (a read pin's fault is
// not guarded) fails that child and names the path.
func TestHoles_ReadOnFullTmpfs(t *testing.T) {
	if maker := os.Getenv("CHUNKMAP_HOLES_MAKER"); maker != "" {
		holesChild(t, maker, os.Getenv("CHUNKMAP_HOLES_DIR"))
		return
	}
	for _, maker := range []string{"truncate", "gap", "bulkgap"} {
		t.Run(maker, func(t *testing.T) {
			mnt := mountTmpfs(t, 1<<20)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHoles_ReadOnFullTmpfs$", "-test.v")
			cmd.Env = append(os.Environ(), "CHUNKMAP_HOLES_MAKER="+maker, "CHUNKMAP_HOLES_DIR="+mnt)
			out, err := cmd.CombinedOutput()
			if err == nil && bytes.Count(out, []byte("holes: read ok: ")) != len(holeReads) {
				err = errors.New("not every read path reported")
			}
			if err != nil {
				path := "(none started)"
				if i := bytes.LastIndex(out, []byte("holes: reading ")); i >= 0 {
					path = string(out[i+len("holes: reading "):][:bytes.IndexByte(out[i:], '\n')-len("holes: reading ")])
				}
				if i := bytes.Index(out, []byte("fatal error")); i >= 0 {
					out = out[max(0, i-200):min(len(out), i+300)]
				}
				t.Errorf("reads of never-written bytes below Size on a full tmpfs (%s), last path started %s: %v\n%s", maker, path, err, out)
			}
		})
	}
}

// holesChild makes the holes in a dataset on the tmpfs at mnt, fills the
// tmpfs and reads them through every path of holeReads.
func holesChild(t *testing.T, maker, mnt string) {
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
	f, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, what := range holeReads {
		fmt.Printf("holes: reading %s\n", what)
		r := m
		if w, ok := strings.CutPrefix(what, "follower "); ok {
			r, what = f, w
		}
		if err := holesRead(r, what); err != nil {
			t.Errorf("%s of never-written bytes below Size (%s): %v", what, maker, err)
			continue
		}
		fmt.Printf("holes: read ok: %s\n", what)
	}
}

// holesRead reads 12 KiB of never-written bytes in chunk 2 through the
// read path what, and checks that they are zeros.
func holesRead(r *chunkmap.Manager, what string) error {
	off, n := int64(2*holesChunk+3*4096), 3*4096
	va := accessor.New(r, nil)
	var got []byte
	var err error
	word := func(x uint64, err error) error {
		got = binary.LittleEndian.AppendUint64(nil, x)
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
			got = binary.LittleEndian.AppendUint64(got, x)
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
		return fmt.Errorf("unknown read path %q", what)
	}
	if err != nil {
		return fmt.Errorf("%w (a file reads zeros)", err)
	}
	if len(got) == 0 {
		return errors.New("read nothing")
	}
	if i := bytes.IndexFunc(got, func(r rune) bool { return r != 0 }); i >= 0 {
		return fmt.Errorf("byte %d is %#x, want 0", i, got[i])
	}
	return nil
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

// TestHoles_FailedGapLeavesNoAllocation leaves room for about one and a
// half chunks of 1 MiB (16 allocation steps each), then extends the
// dataset by ten chunks: the call fails with ErrNoSpace, and must leave
// Size, the chunk files and the file system's free space as they were (no
// step of the existing chunk allocated past Size, no new chunk file).
func TestHoles_FailedGapLeavesNoAllocation(t *testing.T) {
	const cs = 1 << 20
	for _, name := range []string{"gap", "bulkgap", "truncate"} {
		t.Run(name, func(t *testing.T) {
			mnt := mountTmpfs(t, 16<<20)
			dir := filepath.Join(mnt, "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.WriteAt([]byte("hello"), 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mnt, "fill"), make([]byte, freeBytes(t, mnt)-cs-cs/2), 0o644); err != nil {
				t.Fatal(err)
			}
			free, chunks := freeBytes(t, mnt), chunkFilesIn(t, dir)
			switch name {
			case "gap":
				_, err = m.WriteAt([]byte("x"), 10*cs)
			case "bulkgap":
				_, err = m.WriteAt(bytes.Repeat([]byte{1}, cs), 10*cs)
			case "truncate":
				err = m.Truncate(10 * cs)
			}
			if !errors.Is(err, chunkmap.ErrNoSpace) {
				t.Fatalf("%s: %v, want ErrNoSpace", name, err)
			}
			if got := m.Size(); got != 5 {
				t.Errorf("Size after the failed %s = %d, want 5", name, got)
			}
			if got := chunkFilesIn(t, dir); !slices.Equal(got, chunks) {
				t.Errorf("chunk files after the failed %s: %v, before: %v", name, got, chunks)
			}
			if got := freeBytes(t, mnt); got != free {
				t.Errorf("%d bytes free after the failed %s, %d before: it left blocks allocated past Size", got, name, free)
			}
		})
	}
}

// TestHoles_FailedWriteAcrossSizeCountsWhatItChanged writes 70,000 bytes
// from 10,000 below Size on a full tmpfs: the write fails with ErrNoSpace,
// Size stays, and the bytes below Size are the new ones exactly as far as
// n says and the old ones after. (A pwrite of the whole range stores into
// the pages that exist and then, on tmpfs, reports nothing written.)
func TestHoles_FailedWriteAcrossSizeCountsWhatItChanged(t *testing.T) {
	mnt := mountTmpfs(t, 1<<20)
	m, err := chunkmap.Open(filepath.Join(mnt, "ds"), &chunkmap.Options{ChunkSize: holesChunk})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const size, off = 100000, 90000
	if _, err := m.WriteAt(bytes.Repeat([]byte{0x11}, size), 0); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, mnt, "fill")
	n, err := m.WriteAt(bytes.Repeat([]byte{0x22}, 70000), off)
	if !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Fatalf("WriteAt across Size on a full tmpfs: n %d, %v; want ErrNoSpace", n, err)
	}
	if got := m.Size(); got != size {
		t.Fatalf("Size after the failed write = %d, want %d", got, size)
	}
	got := make([]byte, size)
	if _, err := m.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	for i := off; i < size; i++ {
		want := byte(0x11)
		if i-off < n {
			want = 0x22
		}
		if got[i] != want {
			t.Fatalf("the failed WriteAt returned n %d, but the byte at %d is %#x, want %#x", n, i, got[i], want)
		}
	}
	if n != size-off {
		t.Errorf("the failed WriteAt returned n %d, want %d: the bytes below Size are allocated", n, size-off)
	}
}

// TestHoles_OverwriteAfterReopenOnFullDisk reopens a dataset on a full
// tmpfs: the new Manager does not know how far its chunks are allocated,
// yet stores into bytes below Size need no new blocks, and must work.
func TestHoles_OverwriteAfterReopenOnFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, 1<<20)
	dir := filepath.Join(mnt, "ds")
	opts := &chunkmap.Options{ChunkSize: holesChunk}
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(bytes.Repeat([]byte{0x11}, 100000), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, mnt, "fill")
	if m, err = chunkmap.Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, off := range []int64{8, holesChunk + 8, 100000 - 8} {
		if _, err := m.WriteAt([]byte("overwrit"), off); err != nil {
			t.Errorf("WriteAt(8 bytes at %d) below Size on a full disk after a reopen: %v", off, err)
		}
		if err := m.StoreUint64(off, 42); err != nil {
			t.Errorf("StoreUint64(%d) below Size on a full disk after a reopen: %v", off, err)
		}
	}
	// Past the pages the first write filled (to 102,400), blocks are
	// needed.
	if _, err := m.WriteAt([]byte("x"), 110000); !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Errorf("WriteAt past Size into pages never written on a full disk: %v, want ErrNoSpace", err)
	}
}
