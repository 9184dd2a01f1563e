package bench

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edsrzf/mmap-go"

	"github.com/chunkmap/chunkmap"
)

// testDataset makes a small dataset of 64 KiB chunks in t's cache, so the
// kernels cross many chunks.
func testDataset(t *testing.T, size int64) Dataset {
	t.Helper()
	flatPath, err := cache.FlatFile(size)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := cache.ChunkDataset(size, smallChunk)
	if err != nil {
		t.Fatal(err)
	}
	return Dataset{Size: size, Flat: flatPath, Dir: dir,
		Options: chunkmap.Options{ChunkSize: smallChunk, MaxMapped: 4}}
}

// TestContenders checks every kernel of every contender against Value.
func TestContenders(t *testing.T) {
	const size = 3<<20 + 5*smallChunk
	d := testDataset(t, size)
	offs := offsets(size, 4*block, 9)
	want := values(offs)
	for _, impl := range Impls {
		t.Run(impl.Name, func(t *testing.T) {
			c, err := impl.Open(d)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			if err := Warm(c, size); err != nil {
				t.Fatal(err)
			}
			p := make([]byte, 4096)
			if _, err := c.ReadAt(p, size-4096); err != nil {
				t.Fatalf("ReadAt: %v", err)
			}
			wantP := make([]byte, len(p))
			Fill(wantP, size-4096)
			if !bytes.Equal(p, wantP) {
				t.Errorf("ReadAt(%d) returned other bytes than Fill", size-4096)
			}
			if w, ok := c.(RandWriter); ok {
				// Store the values back over zeros: reading them back
				// then proves both kernels.
				zeros := make([]uint64, len(offs))
				if err := w.WriteUint64s(offs, zeros); err != nil {
					t.Fatalf("WriteUint64s(zeros): %v", err)
				}
				if err := w.WriteUint64s(offs, want); err != nil {
					t.Fatalf("WriteUint64s: %v", err)
				}
			}
			if r, ok := c.(RandReader); ok {
				got := make([]uint64, len(offs))
				if err := r.ReadUint64s(offs, got); err != nil {
					t.Fatalf("ReadUint64s: %v", err)
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("ReadUint64s: at %d = %#x, want %#x", offs[i], got[i], want[i])
					}
				}
			}
			if r, ok := c.(RunReader); ok {
				// A run across a chunk boundary.
				off := int64(2*smallChunk - 4096)
				got := make([]uint64, 1024)
				if err := r.ReadRun(off, got); err != nil {
					t.Fatalf("ReadRun: %v", err)
				}
				for i := range got {
					if w := Value(off + 8*int64(i)); got[i] != w {
						t.Fatalf("ReadRun(%d): [%d] = %#x, want %#x", off, i, got[i], w)
					}
				}
			}
			if s, ok := c.(Syncer); ok {
				if err := s.Sync(); err != nil {
					t.Fatalf("Sync: %v", err)
				}
			}
		})
	}
}

// TestBuilders checks that every builder leaves the appended bytes.
func TestBuilders(t *testing.T) {
	const size = 3<<20 + 4096
	p := make([]byte, BlockSize)
	Fill(p, 0)
	for _, impl := range BuildImpls {
		t.Run(impl.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data")
			bl, err := impl.Create(path, chunkmap.Options{ChunkSize: smallChunk})
			if err != nil {
				t.Fatal(err)
			}
			for off := int64(0); off < size; off += BlockSize {
				if err := bl.Append(p[:min(BlockSize, size-off)]); err != nil {
					t.Fatal(err)
				}
			}
			if err := bl.Close(); err != nil {
				t.Fatal(err)
			}
			var got []byte
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				m, err := chunkmap.Open(path, &chunkmap.Options{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				got = make([]byte, m.Size())
				if _, err := m.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
			} else if got, err = os.ReadFile(path); err != nil {
				t.Fatal(err)
			}
			if len(got) != size {
				t.Fatalf("built %d bytes, want %d", len(got), size)
			}
			for off := 0; off < size; off += BlockSize {
				if !bytes.Equal(got[off:min(off+BlockSize, size)], p[:min(BlockSize, size-off)]) {
					t.Fatalf("block at %d differs", off)
				}
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"256MiB", 256 << 20}, {"2GiB", 2 << 30}, {"64K", 64 << 10}, {"4096", 4096}, {"1G", 1 << 30}, {"12B", 12},
		{"64k", 64 << 10}, {"2 M", 2 << 20}, {"1.5GiB", 3 << 29}, {"1.5G", 3 << 29}, {"64kB", 64_000}, {"0x1000", 4096},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
		if back, _ := ParseSize(FormatSize(got)); back != got {
			t.Errorf("ParseSize(FormatSize(%d)) = %d", got, back)
		}
	}
	for _, in := range []string{"", "0", "-1MiB", "1.5B", "0.1K", "MiB", "10XB", "K", "8EiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

// TestGuardFloor checks that guardfloor's guard, and scopefloor's, turn a
// fault into an error: a load and a store past the end of a file truncated
// under its mapping.
func TestGuardFloor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 2*4096), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := mmap.Map(f, mmap.RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	if err := guardedStore(m, 8, 42); err != nil {
		t.Fatal(err)
	}
	if x, err := guardedLoad(m, 8); x != 42 || err != nil {
		t.Fatalf("guardedLoad = %d, %v, want 42", x, err)
	}
	if _, err := guardedLoad(m, int64(len(m))-4); err == nil {
		t.Error("guardedLoad out of range succeeded")
	}
	if err := f.Truncate(4096); err != nil {
		t.Fatal(err)
	}
	_, err = guardedLoad(m, 4096)
	t.Logf("load past the end: %v", err)
	if err == nil {
		t.Error("guardedLoad past the end of the file succeeded")
	}
	if err := guardedStore(m, 4096, 1); err == nil {
		t.Error("guardedStore past the end of the file succeeded")
	}
	// scopefloor's scope guards its accesses the same way.
	sf := &scopeFloor{flat{f: f, m: m}}
	dst := make([]uint64, 1)
	if err := sf.ReadUint64s([]int64{8}, dst); err != nil || dst[0] != 42 {
		t.Fatalf("scopefloor read = %d, %v, want 42", dst[0], err)
	}
	if err := sf.ReadUint64s([]int64{int64(len(m)) - 4}, dst); !errors.Is(err, errScopeRange) {
		t.Errorf("scopefloor read out of range: %v, want errScopeRange", err)
	}
	if err := sf.ReadUint64s([]int64{4096}, dst); err == nil {
		t.Error("scopefloor read past the end of the file succeeded")
	}
	if err := sf.WriteUint64s([]int64{4096}, dst); err == nil {
		t.Error("scopefloor write past the end of the file succeeded")
	}
}

// TestHoldFloor checks that holdfloor's scope, and holdfloor-asym's,
// holds each chunk it touches once, for as long as it runs, and no other,
// that its kernels read and write the right bytes, and that the asymmetric
// scope lets go of a chunk an evictor has marked. The file is sparse: two
// chunks of floorChunk cost only the pages touched.
func TestHoldFloor(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(Dataset) (Contender, error)
	}{
		{"holdfloor", openHoldFloor},
		{"holdfloor-asym", openAsymHoldFloor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(2 * floorChunk); err != nil {
				t.Fatal(err)
			}
			c, err := tc.open(Dataset{Flat: path})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			hf := c.(*holdFloor)
			holds := func(s *holdScope) [2]int64 {
				if s.asym {
					return [2]int64{int64(s.marks[0]), int64(s.marks[1])}
				}
				return [2]int64{s.counts[0].n.Load(), s.counts[1].n.Load()}
			}
			offs := []int64{8, floorChunk - 8, floorChunk + 16, 24}
			src := []uint64{1, 2, 3, 4}
			if err := hf.WriteUint64s(offs, src); err != nil {
				t.Fatal(err)
			}
			err = hf.scope(func(s *holdScope) error {
				for _, off := range offs {
					if _, err := s.bytes(off, 8); err != nil {
						return err
					}
				}
				if got := holds(s); got != [2]int64{1, 1} {
					t.Errorf("holds of chunks 0 and 1 inside the scope = %v, want [1 1]", got)
				}
				if len(s.list) != 2 {
					t.Errorf("the scope lists %v as held, want the 2 chunks once each", s.list)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := holds(&hf.s); got != [2]int64{0, 0} || hf.s.held[0] || hf.s.held[1] || len(hf.s.list) != 0 {
				t.Errorf("after the scope: holds %v, held %v, list %v; want all let go", got, hf.s.held, hf.s.list)
			}
			dst := make([]uint64, len(offs))
			if err := hf.ReadUint64s(offs, dst); err != nil || !slices.Equal(dst, src) {
				t.Fatalf("read back %v, %v; want %v", dst, err, src)
			}
			if err := hf.ReadUint64s([]int64{2*floorChunk - 4}, dst); !errors.Is(err, errScopeRange) {
				t.Errorf("%s read out of range: %v, want errScopeRange", tc.name, err)
			}
			if !hf.s.asym {
				return
			}
			hf.s.evicting[1].Store(1)
			if err := hf.ReadUint64s([]int64{8, floorChunk + 16}, dst); !errors.Is(err, errScopeRange) {
				t.Errorf("read of a chunk being evicted: %v, want errScopeRange", err)
			}
			if got := holds(&hf.s); got != [2]int64{0, 0} || len(hf.s.list) != 0 {
				t.Errorf("after a refused hold: holds %v, list %v; want all let go", got, hf.s.list)
			}
		})
	}
}
