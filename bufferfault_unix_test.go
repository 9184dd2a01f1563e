//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/faulttest"
)

// TestBufferFault passes every call that copies between the dataset and a
// caller's buffer a buffer that faults. The caller's memory is at fault,
// not the dataset: each call returns ErrIO with EFAULT, as pread and pwrite
// do for such a buffer, never ErrFault naming a chunk file as "truncated or
// removed by another process", and the dataset and the Manager are as they
// were. A following reader's calls are checked too. Chunks mapped (lock-free and locked paths) and not (pread and
// pwrite, MaxMapped 1 under admission) are both reached.
func TestBufferFault(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := make([]byte, 16*cs)
	for i := range want {
		want[i] = byte(i*7 + i>>16)
	}
	if _, err := m.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadAt(make([]byte, 8), 0); err != nil { // maps chunk 0
		t.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bad := faulttest.Buffer(t, cs)
	va := accessor.New(m, nil)
	u64s := func(b []byte) []uint64 { return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8) }
	const unmapped = 9 * cs // a chunk admission serves by pread and pwrite
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"ReadAt 8 mapped", func() error { _, err := m.ReadAt(bad[:8], 0); return err }},
		{"ReadAt 4096 mapped", func() error { _, err := m.ReadAt(bad[:4096], 100); return err }},
		{"ReadAt across chunks", func() error { _, err := m.ReadAt(bad[:4096], cs-100); return err }},
		{"ReadAt 8 unmapped", func() error { _, err := m.ReadAt(bad[:8], unmapped); return err }},
		{"reader's ReadAt", func() error { _, err := r.ReadAt(bad[:8], 0); return err }},
		{"reader's Gather", func() error { return r.Gather(bad[:8], []int64{cs}, 8) }},
		{"WriteAt 8 mapped", func() error { _, err := m.WriteAt(bad[:8], 0); return err }},
		{"WriteAt 4096 mapped", func() error { _, err := m.WriteAt(bad[:4096], 100); return err }},
		{"WriteAt whole chunk", func() error { _, err := m.WriteAt(bad, 0); return err }},
		{"WriteAt 8 unmapped", func() error { _, err := m.WriteAt(bad[:8], unmapped); return err }},
		{"Gather", func() error { return m.Gather(bad[:16], []int64{0, 8}, 8) }},
		{"Scatter", func() error { return m.Scatter(bad[:16], []int64{0, 8}, 8) }},
		{"accessor ReadUint64s", func() error { return va.ReadUint64s(0, u64s(bad[:128])) }},
		{"accessor WriteUint64s", func() error { return va.WriteUint64s(0, u64s(bad[:128])) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EFAULT) || errors.Is(err, chunkmap.ErrFault) {
				t.Fatalf("got %v; want ErrIO matching EFAULT, not ErrFault", err)
			}
			if msg := err.Error(); strings.Contains(msg, "truncated or removed") {
				t.Errorf("the message blames the dataset: %q", msg)
			} else if !strings.Contains(msg, "the buffer passed") || strings.Contains(msg, ".chunk") {
				// A pread or pwrite refused with EFAULT is the
				// buffer's fault as a guarded copy's is, and says so
				// alike, not naming a chunk file.
				t.Errorf("the message does not blame the buffer, or names a chunk file: %q", msg)
			}
		})
	}
	got := make([]byte, len(want))
	if _, err := m.ReadAt(got, 0); err != nil {
		t.Fatalf("ReadAt after the faults: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the dataset changed under writes whose buffer faulted at its first byte")
	}
	if _, err := m.WriteAt([]byte("fine"), 0); err != nil {
		t.Fatalf("WriteAt after the faults: %v", err)
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync after the faults: %v", err)
	}
}

// TestBufferFault_PinOfTheDataset passes each call a buffer that is a pin
// of the same Manager, whose chunk file another program truncated: the
// fault lies in the dataset's memory, a chunk other than the one the call
// copies, and the call returns ErrFault naming that chunk's file, as any
// access through its mapping does, not ErrIO with EFAULT, whose
// documentation says the dataset is not at fault.
func TestBufferFault_PinOfTheDataset(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, scattered := range []bool{false, true} {
		t.Run(fmt.Sprintf("scattered=%v", scattered), func(t *testing.T) {
			defer chunkmap.SetScatteredArena(chunkmap.SetScatteredArena(scattered))
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.WriteAt(bytes.Repeat([]byte{'a'}, 2*cs), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := m.ReadAt(make([]byte, 8), 0); err != nil { // maps chunk 0
				t.Fatal(err)
			}
			pin, err := m.PinWritable(cs, cs)
			if err != nil {
				t.Fatal(err)
			}
			defer pin.Release()
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range ents {
				if e.Name() != chunkmap.ManifestName && !e.IsDir() {
					names = append(names, e.Name())
				}
			}
			slices.Sort(names)
			if len(names) != 2 {
				t.Fatalf("chunk files %q, want 2", names)
			}
			chunk1 := filepath.Join(dir, names[1])
			if err := os.Truncate(chunk1, 0); err != nil { // another program
				t.Fatal(err)
			}
			b := pin.Bytes()
			for _, c := range []struct {
				name string
				call func() error
			}{
				{"ReadAt into it", func() error { _, err := m.ReadAt(b[:8], 0); return err }},
				{"ReadAt 4096 into it", func() error { _, err := m.ReadAt(b[:4096], 100); return err }},
				{"WriteAt from it", func() error { _, err := m.WriteAt(b[:8], 0); return err }},
				{"WriteAt 4096 from it", func() error { _, err := m.WriteAt(b[:4096], 100); return err }},
				{"WriteAt of a chunk from it (pwrite)", func() error { _, err := m.WriteAt(b[:cs], 0); return err }},
				{"Gather into it", func() error { return m.Gather(b[:16], []int64{0, 8}, 8) }},
				{"Scatter from it", func() error { return m.Scatter(b[:16], []int64{0, 8}, 8) }},
			} {
				t.Run(c.name, func(t *testing.T) {
					err := c.call()
					if !errors.Is(err, chunkmap.ErrFault) || errors.Is(err, syscall.EFAULT) {
						t.Fatalf("got %v; want ErrFault", err)
					}
					if !strings.Contains(err.Error(), chunk1) {
						t.Errorf("the error does not name %s, whose file faulted: %v", chunk1, err)
					}
				})
			}
		})
	}
}

// TestBufferFault_GrowthAcrossChunks writes a buffer that faults, whole or
// from its second chunk's worth on, as the bytes of an Append or a WriteAt
// past Size that grows the dataset by several chunks: such a write is
// spread over two goroutines (spread.go), and its pieces for the other one
// are copied out of the buffer first. Each call must fail as a write of a
// bad buffer does, ErrIO matching EFAULT, leave Size as it was and the
// Manager usable; the copy faulted outside any guard before, which killed
// the process (SIGBUS, "unexpected fault address").
func TestBufferFault_GrowthAcrossChunks(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	const n = 6 * cs // spread: at least spreadPieces chunks
	for _, good := range []int{0, cs} {
		for _, c := range []struct {
			name string
			call func(m *chunkmap.Manager, b []byte) error
		}{
			{"Append", func(m *chunkmap.Manager, b []byte) error { _, err := m.Append(b); return err }},
			{"WriteAt past Size", func(m *chunkmap.Manager, b []byte) error { _, err := m.WriteAt(b, m.Size()+100); return err }},
			{"WriteAt across Size", func(m *chunkmap.Manager, b []byte) error { _, err := m.WriteAt(b, m.Size()-100); return err }},
		} {
			t.Run(fmt.Sprintf("%s/good=%d", c.name, good), func(t *testing.T) {
				m, err := chunkmap.Open(filepath.Join(t.TempDir(), "ds"), &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if _, err := m.WriteAt(bytes.Repeat([]byte{'a'}, cs+5), 0); err != nil {
					t.Fatal(err)
				}
				size := m.Size()
				err = c.call(m, faulttest.PartlyFaulting(t, n, good))
				if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EFAULT) {
					t.Fatalf("got %v; want ErrIO matching EFAULT", err)
				}
				if msg := err.Error(); !strings.Contains(msg, "the buffer passed") || strings.Contains(msg, ".chunk") {
					t.Errorf("the message does not blame the buffer, or names a chunk file: %q", msg)
				}
				if got := m.Size(); got != size {
					t.Errorf("Size %d after the failed write, want %d", got, size)
				}
				if off, err := m.Append([]byte("fine")); err != nil || off != size {
					t.Errorf("Append after the failed write: offset %d, %v; want %d, nil", off, err, size)
				}
				if err := m.Sync(); err != nil {
					t.Errorf("Sync after the failed write: %v", err)
				}
			})
		}
	}
}
