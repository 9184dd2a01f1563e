package chunkmap_test

// Tests of Grow, Truncate and DropBefore.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
)

func TestManager_Grow(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	writeAt(t, m, pattern(1, 100), 0)
	tests := []struct {
		name       string
		n          int64
		wantErr    error
		wantChunks int64
	}{
		{"zero", 0, nil, 1},
		{"within the last chunk", cs - 100, nil, 1},
		{"one byte more", cs - 99, nil, 2},
		{"five chunks", 5 * cs, nil, 6},
		{"less than before", 10, nil, 6},
		{"negative", -1, chunkmap.ErrOutOfRange, 6},
		{"overflow", math.MaxInt64, chunkmap.ErrOutOfRange, 6},
		{"min int64", math.MinInt64, chunkmap.ErrOutOfRange, 6},
	}
	for _, tc := range tests {
		wantErr(t, fmt.Sprintf("Grow(%d)", tc.n), m.Grow(tc.n), tc.wantErr)
		if got := m.Size(); got != 100 {
			t.Errorf("Grow(%d): Size() = %d, want 100", tc.n, got)
		}
		if got := m.Stats().Chunks; got != int(tc.wantChunks) {
			t.Errorf("Grow(%d): Stats().Chunks = %d, want %d", tc.n, got, tc.wantChunks)
		}
		wantChunkFiles(t, m.Dir(), 0, tc.wantChunks)
	}
	// Writes into grown space create nothing; the grown space reads as
	// zeros once Size covers it.
	md := model{data: readAt(t, m, 0, 100)}
	p := pattern(2, 10)
	writeAt(t, m, p, 6*cs-10)
	md.writeAt(p, 6*cs-10)
	if got := m.Stats().Chunks; got != 6 {
		t.Errorf("after writing into grown space: Stats().Chunks = %d, want 6", got)
	}
	md.check(t, m)
	// Grown chunks past Size hold no data: a reopen removes them, so that
	// disk use follows Size.
	if err := m.Truncate(cs); err != nil {
		t.Fatal(err)
	}
	md.truncate(cs)
	if err := m.Grow(3 * cs); err != nil {
		t.Fatal(err)
	}
	m = reopen(t, m, nil)
	if got := m.Stats().Chunks; got != 1 {
		t.Errorf("after reopen: Stats().Chunks = %d, want 1", got)
	}
	wantChunkFiles(t, m.Dir(), 0, 1)
	md.check(t, m)
}

// TestManager_Truncate shrinks a dataset of stale 0xff bytes and extends it
// again: what comes back must be zeros, whichever way it is extended and
// whether or not the dataset was reopened in between.
func TestManager_Truncate(t *testing.T) {
	type extend int
	const (
		byWriteAt extend = iota
		byTruncate
		byAppend
	)
	tests := []struct {
		name       string
		initial    int64 // bytes of 0xff written first
		truncate   int64
		reopen     bool
		how        extend
		to         int64 // extend to this size
		wantChunks int64 // after the truncate
	}{
		{"within last chunk", 2*cs - 10, cs + 100, false, byWriteAt, 2*cs - 1, 2},
		{"within last chunk by Truncate", 2*cs - 10, cs + 100, false, byTruncate, 2 * cs, 2},
		{"within last chunk by Append", 2*cs - 10, cs + 100, false, byAppend, 2*cs + 50, 2},
		{"across chunks", 5*cs + 10, cs / 2, false, byWriteAt, 5*cs + 20, 1},
		{"across chunks by Truncate", 5*cs + 10, cs / 2, false, byTruncate, 6 * cs, 1},
		{"across chunks by Append", 5*cs + 10, cs / 2, false, byAppend, 5 * cs, 1},
		{"to boundary", 4 * cs, 2 * cs, false, byWriteAt, 4 * cs, 2},
		{"to zero", 3 * cs, 0, false, byWriteAt, 3*cs + 1, 0},
		{"to zero by Append", 3 * cs, 0, false, byAppend, cs + 1, 0},
		{"same size", 3*cs + 5, 3*cs + 5, false, byWriteAt, 4 * cs, 4},
		{"within last chunk, reopen", 2*cs - 10, cs + 100, true, byWriteAt, 2*cs - 1, 2},
		{"within last chunk by Truncate, reopen", 2*cs - 10, cs + 100, true, byTruncate, 2 * cs, 2},
		{"across chunks, reopen", 5*cs + 10, cs / 2, true, byWriteAt, 5*cs + 20, 1},
		{"across chunks by Append, reopen", 5*cs + 10, cs / 2, true, byAppend, 5 * cs, 1},
		{"to zero, reopen", 3 * cs, 0, true, byTruncate, 3 * cs, 0},
		{"extend only", cs, 0, false, byTruncate, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
			var md model
			ff := bytes.Repeat([]byte{0xff}, int(tc.initial))
			writeAt(t, m, ff, 0)
			md.writeAt(ff, 0)
			if err := m.Truncate(tc.truncate); err != nil {
				t.Fatalf("Truncate(%d): %v", tc.truncate, err)
			}
			md.truncate(tc.truncate)
			md.check(t, m)
			if got := m.Stats().Chunks; got != int(tc.wantChunks) {
				t.Errorf("after Truncate(%d): Stats().Chunks = %d, want %d", tc.truncate, got, tc.wantChunks)
			}
			wantChunkFiles(t, m.Dir(), 0, tc.wantChunks)
			if tc.reopen {
				m = reopen(t, m, nil)
				md.check(t, m)
			}
			if tc.to == 0 {
				return
			}
			switch tc.how {
			case byWriteAt:
				writeAt(t, m, []byte{1}, tc.to-1)
				md.writeAt([]byte{1}, tc.to-1)
			case byTruncate:
				if err := m.Truncate(tc.to); err != nil {
					t.Fatalf("Truncate(%d) to extend: %v", tc.to, err)
				}
				md.truncate(tc.to)
			case byAppend:
				// A short append, then an extension past it: both the
				// appended bytes and what follows must be right.
				p := pattern(5, 7)
				if off, err := m.Append(p); off != tc.truncate || err != nil {
					t.Fatalf("Append = %d, %v, want %d, nil", off, err, tc.truncate)
				}
				md.writeAt(p, tc.truncate)
				if err := m.Truncate(tc.to); err != nil {
					t.Fatal(err)
				}
				md.truncate(tc.to)
			}
			md.check(t, m)
			wantChunkFiles(t, m.Dir(), 0, max((tc.to+cs-1)/cs, tc.wantChunks))
			m = reopen(t, m, nil)
			md.check(t, m)
		})
	}
}

func TestManager_TruncateErrors(t *testing.T) {
	m := newTestManager(t, nil)
	writeAt(t, m, pattern(1, 3*cs), 0)
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{cs - 1, 0, -1, math.MinInt64} {
		wantErr(t, fmt.Sprintf("Truncate(%d)", size), m.Truncate(size), chunkmap.ErrOutOfRange)
	}
	if m.Size() != 3*cs || m.Start() != cs {
		t.Errorf("after failed Truncates: Start, Size = %d, %d, want %d, %d", m.Start(), m.Size(), cs, 3*cs)
	}
	wantChunkFiles(t, m.Dir(), 1, 3)
	// Truncating to Start itself is allowed.
	if err := m.Truncate(cs); err != nil {
		t.Errorf("Truncate(Start): %v", err)
	}
	wantChunkFiles(t, m.Dir(), 1, 1)
}

func TestManager_DropBefore(t *testing.T) {
	const size = 5*cs + 100
	tests := []struct {
		name      string
		off       int64
		wantStart int64
		wantErr   error
	}{
		{"zero", 0, 0, nil},
		{"inside first chunk", cs - 1, 0, nil},
		{"at boundary", cs, cs, nil},
		{"inside", 2*cs + 5, 2 * cs, nil},
		{"last chunk", 5*cs + 1, 5 * cs, nil},
		{"at size", size, 5 * cs, nil},
		{"past size", size + 1, 0, chunkmap.ErrOutOfRange},
		{"far past size", 100 * cs, 0, chunkmap.ErrOutOfRange},
		{"negative", -1, 0, chunkmap.ErrOutOfRange},
		{"max int64", math.MaxInt64, 0, chunkmap.ErrOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
			md := model{data: pattern(1, size)}
			writeAt(t, m, md.data, 0)
			// Map chunks so that dropping has mappings to retire.
			readAt(t, m, 0, 10)
			readAt(t, m, 2*cs, 10)
			wantErr(t, fmt.Sprintf("DropBefore(%d)", tc.off), m.DropBefore(tc.off), tc.wantErr)
			md.start = tc.wantStart
			if got := m.Start(); got%cs != 0 {
				t.Errorf("Start() = %d, not a multiple of %d", got, cs)
			}
			md.check(t, m)
			first := tc.wantStart / cs
			wantChunkFiles(t, m.Dir(), first, 6)
			if got := m.Stats().Chunks; got != int(6-first) {
				t.Errorf("Stats().Chunks = %d, want %d", got, 6-first)
			}
			p := make([]byte, 10)
			for _, off := range []int64{0, tc.wantStart - 1, tc.wantStart - 5} {
				if off < 0 || tc.wantStart == 0 {
					continue
				}
				if _, err := m.ReadAt(p, off); !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("ReadAt(10 bytes, %d) below Start %d: %v, want ErrOutOfRange", off, tc.wantStart, err)
				}
				if _, err := m.WriteAt(p, off); !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("WriteAt(10 bytes, %d) below Start %d: %v, want ErrOutOfRange", off, tc.wantStart, err)
				}
				if _, err := m.Pin(off, 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("Pin(%d, 1) below Start %d: %v, want ErrOutOfRange", off, tc.wantStart, err)
				}
			}
			// Dropping less than before does nothing.
			if err := m.DropBefore(tc.wantStart / 2); err != nil || m.Start() != tc.wantStart {
				t.Errorf("DropBefore(%d) below Start = %v, Start %d; want nil, %d", tc.wantStart/2, err, m.Start(), tc.wantStart)
			}
			m = reopen(t, m, nil)
			md.check(t, m)
			wantChunkFiles(t, m.Dir(), first, 6)
		})
	}
}

// TestManager_DropBeforeAll drops every chunk of a dataset whose Size is a
// multiple of ChunkSize, leaving no chunk file at all.
func TestManager_DropBeforeAll(t *testing.T) {
	m := newTestManager(t, nil)
	var md model
	md.writeAt(pattern(1, 4*cs), 0)
	writeAt(t, m, md.data, 0)
	if err := m.DropBefore(4 * cs); err != nil {
		t.Fatal(err)
	}
	md.start = 4 * cs
	md.check(t, m)
	wantChunkFiles(t, m.Dir(), 4, 4)
	if n, err := m.ReadAt(make([]byte, 1), 4*cs); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at Start == Size = %d, %v, want 0, io.EOF", n, err)
	}
	m = reopen(t, m, nil)
	md.check(t, m)
	p := pattern(2, 100)
	if off, err := m.Append(p); off != 4*cs || err != nil {
		t.Fatalf("Append = %d, %v, want %d, nil", off, err, 4*cs)
	}
	md.writeAt(p, 4*cs)
	md.check(t, m)
	wantChunkFiles(t, m.Dir(), 4, 5)
}

// TestTruncate_NoStaleBytes truncates a chunk full of 0xee, then extends
// the dataset by an Append and a WriteAt further on at the same time: the
// WriteAt may cover the Append's range before the Append has written it,
// and a reader must then see zeros there, never the truncated bytes.
func TestTruncate_NoStaleBytes(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
	for round := range 30 {
		if err := m.Truncate(0); err != nil {
			t.Fatal(err)
		}
		writeAt(t, m, bytes.Repeat([]byte{0xee}, cs), 0)
		if err := m.Truncate(100); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := m.Append(bytes.Repeat([]byte{0xaa}, 60000)); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := m.WriteAt([]byte{1}, 5*cs); err != nil {
				t.Error(err)
			}
		})
		buf := make([]byte, cs-100)
		for range 20 {
			n, _ := m.ReadAt(buf, 100)
			if j := bytes.IndexByte(buf[:n], 0xee); j >= 0 {
				t.Fatalf("round %d: truncated byte 0xee visible at offset %d (Size %d)", round, 100+j, m.Size())
			}
		}
		wg.Wait()
	}
}

// TestManager_TruncateDeletesGrowSpare proves the Truncate and Grow docs'
// promise that a Truncate deletes the chunk files wholly past its new Size,
// those Grow made included, also when it extends the dataset or keeps its
// Size (the way to give back what a Grow reserved), and that the bytes
// kept read as before.
func TestManager_TruncateDeletesGrowSpare(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	data := pattern(7, cs+100)
	writeAt(t, m, data, 0)
	files := func() int { t.Helper(); return len(regularChunks(t, dir)) }
	steps := []struct {
		name  string
		do    func() error
		size  int64
		files int
	}{
		{"grow 4 chunks", func() error { return m.Grow(4 * cs) }, cs + 100, 6},
		{"truncate extends into the third", func() error { return m.Truncate(2*cs + 1) }, 2*cs + 1, 3},
		{"grow again", func() error { return m.Grow(2 * cs) }, 2*cs + 1, 5},
		{"truncate to Size", func() error { return m.Truncate(m.Size()) }, 2*cs + 1, 3},
		{"grow to a boundary", func() error { return m.Grow(cs - 1) }, 2*cs + 1, 3},
		{"grow one more", func() error { return m.Grow(cs) }, 2*cs + 1, 4},
		{"truncate to the boundary", func() error { return m.Truncate(3 * cs) }, 3 * cs, 3},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := m.Size(); got != s.size {
			t.Errorf("%s: Size() = %d, want %d", s.name, got, s.size)
		}
		if got, st := files(), m.Stats(); got != s.files || st.Chunks != s.files {
			t.Errorf("%s: %d chunk files, Stats().Chunks %d, want %d", s.name, got, st.Chunks, s.files)
		}
	}
	got := make([]byte, 3*cs)
	if _, err := m.ReadAt(got, 0); err != nil {
		t.Fatalf("ReadAt: %v", err)
	}
	want := append(append([]byte{}, data...), make([]byte, 3*cs-len(data))...)
	if !bytes.Equal(got, want) {
		t.Errorf("ReadAt after the Truncates: bytes differ from what was written, zeros past it")
	}
	if _, err := m.Append([]byte("tail")); err != nil {
		t.Fatalf("Append after: %v", err)
	}
}
