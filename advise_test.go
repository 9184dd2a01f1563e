package chunkmap_test

import (
	"errors"
	"io"
	"math"
	"math/bits"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap"
)

func TestManager_Advise(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, Advice: chunkmap.AdviceRandom})
	data := pattern(3, 4*cs+10)
	writeAt(t, m, data, 0)
	readAt(t, m, 0, 8) // chunk 0 mapped; chunks 1-3 reached through their files
	for _, a := range []chunkmap.Advice{chunkmap.AdviceNormal, chunkmap.AdviceRandom, chunkmap.AdviceSequential, chunkmap.AdviceWillNeed, chunkmap.AdviceDontNeed} {
		if err := m.Advise(0, m.Size(), a); err != nil {
			t.Errorf("Advise(all, %v): %v", a, err)
		}
		if err := m.Advise(cs-3, 7, a); err != nil {
			t.Errorf("Advise(across a boundary, %v): %v", a, err)
		}
	}
	// Hints never change the bytes, DontNeed included.
	if got := readAt(t, m, 0, len(data)); firstDiff(got, data) >= 0 {
		t.Fatalf("bytes changed after the hints at %d", firstDiff(got, data))
	}
	for _, tc := range []struct {
		name   string
		off, n int64
		a      chunkmap.Advice
	}{
		{"past size", m.Size() - 1, 2, chunkmap.AdviceRandom},
		{"empty, at size", m.Size(), 0, chunkmap.AdviceRandom},
		{"empty, far past size", math.MaxInt64, 0, chunkmap.AdviceRandom},
		{"negative offset", -1, 1, chunkmap.AdviceRandom},
		{"negative length", 0, -1, chunkmap.AdviceRandom},
		{"overflow", 1 << 62, 1 << 62, chunkmap.AdviceRandom},
		{"unknown advice", 0, 1, chunkmap.Advice(99)},
	} {
		if err := m.Advise(tc.off, tc.n, tc.a); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Advise %s = %v, want ErrOutOfRange", tc.name, err)
		}
	}
	if err := m.Advise(0, 0, chunkmap.AdviceRandom); err != nil {
		t.Errorf("Advise of nothing = %v, want nil", err)
	}
	if _, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, Advice: -1}); !errors.Is(err, chunkmap.ErrInvalidOptions) {
		t.Errorf("Open with Advice -1 = %v, want ErrInvalidOptions", err)
	}
	if _, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, ArenaSize: -1}); !errors.Is(err, chunkmap.ErrInvalidOptions) {
		t.Errorf("Open with ArenaSize -1 = %v, want ErrInvalidOptions", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Advise(0, 1, chunkmap.AdviceRandom); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Advise after Close = %v, want ErrClosed", err)
	}
}

// TestOpen_ArenaSize checks that the arena follows Options.ArenaSize, and
// that a dataset far larger than a tiny arena still reads and writes right.
func TestOpen_ArenaSize(t *testing.T) {
	for _, tc := range []struct {
		arena int64
		want  int
	}{{cs, 1}, {3 * cs, 4}, {5*cs - 1, 8}, {64 * cs, 64}} {
		m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 3, ArenaSize: tc.arena})
		if got := m.Slots(); got != tc.want {
			t.Errorf("ArenaSize %d: %d slots, want %d", tc.arena, got, tc.want)
		}
		data := pattern(uint64(tc.arena), 9*cs+5)
		writeAt(t, m, data, 0)
		if got := readAt(t, m, 0, len(data)); firstDiff(got, data) >= 0 {
			t.Errorf("ArenaSize %d: byte %d differs", tc.arena, firstDiff(got, data))
		}
		p, err := m.Pin(cs-5, 3*cs) // across the arena's end for the small ones
		if err != nil {
			t.Fatalf("ArenaSize %d: Pin across 4 chunks: %v", tc.arena, err)
		}
		if firstDiff(p.Bytes(), data[cs-5:4*cs-5]) >= 0 {
			t.Errorf("ArenaSize %d: pinned bytes differ", tc.arena)
		}
		p.Release()
	}
}

// TestOpen_ArenaDefault checks the default arena's size against MaxMapped,
// up to its largest value: four times MaxMapped slots, at least 64, at most
// 65,536 and the platform's bound (256 GiB, 256 MiB on 32-bit platforms).
func TestOpen_ArenaDefault(t *testing.T) {
	maxArena := int64(1) << 38
	if bits.UintSize == 32 {
		maxArena = 1 << 28
	}
	most := min(1<<16, int(maxArena/cs))
	for _, tc := range []struct {
		maxMapped int
		want      int
	}{
		{1, 64}, {16, 64}, {17, 128}, {1 << 12, min(1<<14, most)}, {1 << 14, most},
		{1 << 20, most}, {math.MaxInt/4 + 1, most}, {math.MaxInt, most},
	} {
		if bits.UintSize == 32 && int64(tc.maxMapped) > (1<<30)/cs {
			continue // refused there: ChunkSize × MaxMapped beyond 1 GiB
		}
		m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: tc.maxMapped})
		if got := m.Slots(); got != tc.want {
			t.Errorf("MaxMapped %d: %d slots, want %d", tc.maxMapped, got, tc.want)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAdviceSequential_ScanMapsNothing reads a dataset in large blocks with
// AdviceSequential: the bytes are right and no chunk is mapped for it.
func TestAdviceSequential_ScanMapsNothing(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	data := pattern(9, 6*cs)
	writeAt(t, m, data, 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, Advice: chunkmap.AdviceSequential})
	got := make([]byte, len(data))
	for off := 0; off < len(data); off += 2 * cs {
		if _, err := m.ReadAt(got[off:off+2*cs], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if i := firstDiff(got, data); i >= 0 {
		t.Fatalf("scan: byte %d differs", i)
	}
	if st := m.Stats(); st.Maps != 0 {
		t.Errorf("scan mapped %d chunks, want 0", st.Maps)
	}
	readAt(t, m, 10, 8) // small reads still map
	if st := m.Stats(); st.Maps != 1 {
		t.Errorf("after a small read: %d maps, want 1", st.Maps)
	}
}

// TestOpen_ArenaTooLarge asks for more address space than the machine has:
// Open reserves as much as it can get, halving the request. (Nothing is
// written: one chunk of 2 GiB would be too much disk for a test.)
func TestOpen_ArenaTooLarge(t *testing.T) {
	chunkSize := int64(chunkmap.MaxChunkSize)
	if bits.UintSize == 32 {
		chunkSize = 1 << 30 // the largest a 32-bit platform takes
	}
	m := newTestManager(t, &chunkmap.Options{ChunkSize: chunkSize, ArenaSize: 1 << 62})
	if got := m.Slots(); got < 1 || uint64(got)*uint64(chunkSize) > 1<<(bits.UintSize-1) {
		t.Fatalf("%d slots of %d bytes reserved, want at least one and no more than the address space holds", got, chunkSize)
	}
	if _, err := m.ReadAt(make([]byte, 1), 0); err != io.EOF {
		t.Fatalf("ReadAt of an empty dataset = %v, want io.EOF", err)
	}
}

// TestAdvise_CutMeanwhileNamesTheCallOnce has Advise over 16 chunks race a
// Truncate that cuts them all off and growth that brings them back: an
// Advise that finds chunks cut off meanwhile returns ErrOutOfRange with a
// message of one line, naming the call once, however many of its chunks
// were cut.
func TestAdvise_CutMeanwhileNamesTheCallOnce(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	const n = 16 * cs
	writeAt(t, m, pattern(5, n), 0)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			if err := m.Truncate(cs); err != nil {
				t.Error(err)
				return
			}
			if err := m.Truncate(n); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	failed := 0
	for range 20000 {
		err := m.Advise(cs, n-cs, chunkmap.AdviceDontNeed)
		if err == nil {
			continue
		}
		failed++
		if !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Fatalf("Advise racing Truncate: %v, want ErrOutOfRange", err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || strings.Count(msg, "advise") != 1 {
			t.Fatalf("Advise racing Truncate: message %q, want one line naming the call once", msg)
		}
	}
	stop.Store(true)
	<-done
	t.Logf("%d of 20000 Advise calls met a cut", failed)
}
