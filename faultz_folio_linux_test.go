package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// fzFolioRole is the child role of TestFaultz_FullDiskStoresBesidePartialAllocation.
const fzFolioRole = "folio"

// TestFaultz_FullDiskStoresBesidePartialAllocation stores through mappings
// into holes of a dataset on a full ext4, where an allocation that covers
// a store's own bytes does not cover the rest of its page or folio: with
// 1 KiB blocks, a fallocate of the 8 bytes a pin asks for allocates one
// block of the page's four; with 4 KiB blocks and 1 MiB chunks, a step of
// 64 KiB leaves the rest of a larger folio a hole. A store there makes
// Linux allocate the whole folio, which fails on a full disk with SIGBUS.
// Each store must instead succeed, or its call fail with ErrNoSpace (never
// ErrFault, never a signal), and what was stored must read back. The
// stores run in a child process, which a SIGBUS would kill.
func TestFaultz_FullDiskStoresBesidePartialAllocation(t *testing.T) {
	fzNeedRoot(t)
	if fzIsChild(fzFolioRole) {
		fzFolioChild(t)
		return
	}
	fzSkipInChild(t)
	watchdog.Start(t, 120*time.Second)
	for _, tc := range []struct {
		name  string
		block int
		chunk int64
		slack int64 // bytes freed after filling the disk
	}{
		{"1KiB blocks, 64KiB chunks, 1KiB free", 1024, chunkmap.MinChunkSize, 1 << 10},
		{"1KiB blocks, 1MiB chunks, 2KiB free", 1024, 1 << 20, 2 << 10},
		{"4KiB blocks, 1MiB chunks, 64KiB free", 4096, 1 << 20, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := fzMountExt4(t, fzMount(t, "size=40m"), 32<<20, tc.block)
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			run := "TestFaultz_FullDiskStoresBesidePartialAllocation"
			cmd := exec.Command(exe, "-test.run=^"+run+"$", "-test.count=1", "-test.v", "-test.timeout=100s")
			cmd.Env = append(os.Environ(), fzChildEnv+"="+fzFolioRole, fzGorace(),
				"FAULTZ_DIR="+filepath.Join(mnt, "ds"), "FAULTZ_MNT="+mnt,
				fmt.Sprintf("FAULTZ_CHUNK=%d", tc.chunk), fmt.Sprintf("FAULTZ_SLACK=%d", tc.slack))
			out, err := cmd.CombinedOutput()
			fzChildPassed(t, run, string(out), err)
		})
	}
}

// fzFolioChild is the child of TestFaultz_FullDiskStoresBesidePartialAllocation.
func fzFolioChild(t *testing.T) {
	dir, mnt := os.Getenv("FAULTZ_DIR"), os.Getenv("FAULTZ_MNT")
	cs, _ := strconv.ParseInt(os.Getenv("FAULTZ_CHUNK"), 10, 64)
	slack, _ := strconv.ParseInt(os.Getenv("FAULTZ_SLACK"), 10, 64)
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	va := accessor.New(m, nil)
	// One chunk of holes per way of storing; each chunk is read first, so
	// that the page cache holds its (zero) bytes in folios as large as
	// read-ahead makes them.
	type store struct {
		name string
		do   func(off int64) error
	}
	stores := []store{
		{"PinWritable", func(off int64) error {
			p, err := m.PinWritable(off, 8)
			if err != nil {
				return err
			}
			defer p.Release()
			copy(p.Bytes(), "ABCDEFGH")
			return nil
		}},
		{"StoreUint64", func(off int64) error { return m.StoreUint64(off, 0x4142434445464748) }},
		{"WriteAt", func(off int64) error { _, err := m.WriteAt([]byte("ABCDEFGH"), off); return err }},
		{"Scatter", func(off int64) error { return m.Scatter([]byte("ABCDEFGH"), []int64{off}, 8) }},
		{"Batch.WritableBytes", func(off int64) error {
			return m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.WritableBytes(off, 8)
				if err != nil {
					return err
				}
				copy(p, "ABCDEFGH")
				return nil
			})
		}},
		{"accessor WriteUint64", func(off int64) error { return va.WriteUint64(off, 0x4142434445464748) }},
	}
	// Past the chunks of holes, data that pwrite allocated: half of one
	// chunk and half of the next, whose other half stays a hole. A
	// Manager opened again does not know how far the chunks are allocated.
	base := int64(len(stores)) * cs
	if err := m.Truncate(base + cs/2); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, cs)
	for i := range data {
		data[i] = byte(i) | 1
	}
	if _, err := m.Append(data); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4, NoAdmission: true}); err != nil {
		t.Fatal(err)
	}
	va = accessor.New(m, nil)
	buf := make([]byte, cs)
	for i := range stores {
		if _, err := m.ReadAt(buf, int64(i)*cs); err != nil {
			t.Fatal(err)
		}
	}
	reserve := filepath.Join(mnt, "reserve")
	if slack > 0 {
		if err := os.WriteFile(reserve, make([]byte, slack), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fzFill(t, mnt)
	if slack > 0 {
		if err := os.Remove(reserve); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range stores {
		off := int64(i) * cs
		err := s.do(off)
		t.Logf("%s at %d on a full disk: %v", s.name, off, err)
		if err != nil {
			if !errors.Is(err, chunkmap.ErrNoSpace) {
				t.Errorf("%s at %d on a full disk: %v, want nil or ErrNoSpace", s.name, off, err)
			}
			continue
		}
		got := make([]byte, 8)
		if _, err := m.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		want := []byte("ABCDEFGH")
		switch s.name {
		case "StoreUint64": // the machine's byte order
			binary.NativeEndian.PutUint64(want, 0x4142434445464748)
		case "accessor WriteUint64": // the accessor's, little-endian
			binary.LittleEndian.PutUint64(want, 0x4142434445464748)
		}
		if string(got) != string(want) {
			t.Errorf("%s at %d stored %q, read back %q", s.name, off, want, got)
		}
	}
	// Over bytes that hold data, a WriteAt needs no new block: it must
	// succeed (by pwrite, where the blocks around it are not known to be
	// allocated), and an atomic store succeed or fail with ErrNoSpace.
	off := base + cs + 8
	if _, err := m.WriteAt([]byte("overdata"), off); err != nil {
		t.Errorf("WriteAt(8 bytes at %d) over data on a full disk after a reopen: %v", off, err)
	} else if got := make([]byte, 8); func() error { _, err := m.ReadAt(got, off); return err }() != nil || string(got) != "overdata" {
		t.Errorf("WriteAt(8 bytes at %d) over data: read back %q", off, got)
	}
	if err := m.StoreUint64(off+8, 1); err != nil && !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Errorf("StoreUint64(%d) over data on a full disk after a reopen: %v, want nil or ErrNoSpace", off+8, err)
	}
}

// TestFaultz_FullDiskPwriteFallbackCountsWhatChanged makes a small WriteAt
// into a mapped sparse chunk on a full tmpfs with one free page: its
// allocation fails, and it falls back to pwrite, which stores the first
// page and fails on the second. n must count the page: WriteAt counts in n
// the bytes the system reported written.
func TestFaultz_FullDiskPwriteFallbackCountsWhatChanged(t *testing.T) {
	fzNeedRoot(t)
	fzSkipInChild(t)
	mnt := fzMount(t, "size=1m")
	dir := filepath.Join(mnt, "ds")
	was := chunkmap.SetKeepHoles(true)
	m := fzOpen(t, dir, chunkmap.Options{MaxMapped: 8, NoAdmission: true})
	chunkmap.SetKeepHoles(was)
	defer m.Close()
	if _, err := m.WriteAt(make([]byte, 2*fzCS), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(4 * fzCS); err != nil {
		t.Fatal(err)
	}
	// Map chunk 2 (sparse) by reading it.
	if _, err := m.ReadAt(make([]byte, 8), 2*fzCS+32<<10); err != nil {
		t.Fatal(err)
	}
	filler := fzFill(t, mnt)
	fi, err := os.Stat(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filler, fi.Size()-fi.Size()%4096-4096); err != nil {
		t.Fatal(err)
	}
	p := bytes.Repeat([]byte{0xaa}, 8<<10)
	off := 2 * fzCS
	n, err := m.WriteAt(p, off)
	t.Logf("WriteAt(8 KiB at %d) = %d, %v", off, n, err)
	got := make([]byte, m.Size())
	if _, err := m.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	changed := bytes.Count(got, []byte{0xaa})
	if n != changed {
		t.Errorf("WriteAt returned n %d (err %v) but changed %d bytes", n, err, changed)
	}
}
