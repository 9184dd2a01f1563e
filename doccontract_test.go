package chunkmap_test

// This file checks claims of the package's doc comments (go doc -all) that
// no other test pins down as third-party code would read them: the edges of
// each call (zero lengths, offsets at Start, at Size and at MaxInt64), the
// state an error leaves, and what Stats and the small accessors report.
// Each test names the doc comment it checks.

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// dcDataset opens a dataset of 64 KiB chunks whose front chunk was dropped:
// Start is cs and Size is 3*cs+100, and the bytes from Start on are
// pattern(1, ...) so that a read from the wrong place shows.
func dcDataset(t *testing.T) (m *chunkmap.Manager, start, size int64) {
	t.Helper()
	m = newTestManager(t, nil)
	size = 3*cs + 100
	writeAt(t, m, pattern(1, int(size)), 0)
	if err := m.DropBefore(cs); err != nil {
		t.Fatalf("DropBefore(%d): %v", cs, err)
	}
	return m, cs, size
}

// TestDocContract_ZeroLength: ReadAt and WriteAt "a zero-length read (write)
// ... returns 0 and nil at any offset that is not negative", below Start and
// past Size included, and changes nothing; Append of nothing "returns the
// current end".
func TestDocContract_ZeroLength(t *testing.T) {
	m, start, size := dcDataset(t)
	offs := []int64{0, 12, start, size - 1, size, size + 1, 5 * cs, math.MaxInt64 - 1, math.MaxInt64}
	for _, off := range offs {
		if n, err := m.ReadAt(nil, off); n != 0 || err != nil {
			t.Errorf("ReadAt(nil, %d) = %d, %v, want 0, nil", off, n, err)
		}
		if n, err := m.WriteAt([]byte{}, off); n != 0 || err != nil {
			t.Errorf("WriteAt(empty, %d) = %d, %v, want 0, nil", off, n, err)
		}
	}
	for _, off := range []int64{-1, math.MinInt64} {
		if _, err := m.ReadAt(nil, off); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("ReadAt(nil, %d): %v, want ErrOutOfRange", off, err)
		}
		if _, err := m.WriteAt(nil, off); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("WriteAt(nil, %d): %v, want ErrOutOfRange", off, err)
		}
	}
	if got, err := m.Append(nil); got != size || err != nil {
		t.Errorf("Append(nil) = %d, %v, want %d, nil", got, err, size)
	}
	if m.Size() != size || m.Start() != start {
		t.Errorf("after zero-length calls: Start, Size = %d, %d, want %d, %d", m.Start(), m.Size(), start, size)
	}
	if st := m.Stats(); st.Chunks != 3 {
		t.Errorf("after zero-length calls: Stats().Chunks = %d, want 3", st.Chunks)
	}
}

// TestDocContract_DropBeforeEdges: DropBefore "moves Start up to the first
// remaining chunk (off rounded down to a multiple of ChunkSize)"; "dropping
// past Size, or at a negative offset, returns ErrOutOfRange; dropping at or
// below Start otherwise does nothing"; offsets of the rest do not change.
func TestDocContract_DropBeforeEdges(t *testing.T) {
	tests := []struct {
		name      string
		off       int64
		wantStart int64
		wantErr   error
	}{
		{"below start", 10, cs, nil},
		{"at start", cs, cs, nil},
		{"inside a chunk", 2*cs + 7, 2 * cs, nil},
		{"at a boundary", 3 * cs, 3 * cs, nil},
		{"at size", 3*cs + 100, 3 * cs, nil},
		{"past size", 3*cs + 101, cs, chunkmap.ErrOutOfRange},
		{"negative", -1, cs, chunkmap.ErrOutOfRange},
		{"MaxInt64", math.MaxInt64, cs, chunkmap.ErrOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, size := dcDataset(t)
			err := m.DropBefore(tc.off)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("DropBefore(%d) = %v, want %v", tc.off, err, tc.wantErr)
			}
			if m.Start() != tc.wantStart || m.Size() != size {
				t.Errorf("after DropBefore(%d): Start, Size = %d, %d, want %d, %d", tc.off, m.Start(), m.Size(), tc.wantStart, size)
			}
			if got := readAt(t, m, m.Start(), int(size-m.Start())); !bytes.Equal(got, pattern(1, int(size))[m.Start():]) {
				t.Errorf("after DropBefore(%d): the bytes from Start on changed", tc.off)
			}
		})
	}
}

// TestDocContract_Truncate: "Truncating below Start returns ErrOutOfRange"
// and leaves Size; "bytes past [the new Size] read as zeros if the dataset
// is extended again"; chunk files wholly past the new Size are deleted.
func TestDocContract_Truncate(t *testing.T) {
	m, start, size := dcDataset(t)
	for _, bad := range []int64{-1, start - 1, 0} {
		if err := m.Truncate(bad); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Truncate(%d) = %v, want ErrOutOfRange", bad, err)
		}
		if m.Size() != size {
			t.Errorf("after Truncate(%d): Size %d, want %d", bad, m.Size(), size)
		}
	}
	cut := start + 10
	if err := m.Truncate(cut); err != nil {
		t.Fatalf("Truncate(%d): %v", cut, err)
	}
	if st := m.Stats(); st.Chunks != 1 || m.Size() != cut {
		t.Errorf("after Truncate(%d): Chunks %d, Size %d, want 1, %d", cut, st.Chunks, m.Size(), cut)
	}
	if err := m.Truncate(size); err != nil {
		t.Fatalf("Truncate(%d): %v", size, err)
	}
	got := readAt(t, m, start, int(size-start))
	want := append(pattern(1, int(cut))[start:], make([]byte, size-cut)...)
	if i := firstDiff(got, want); i >= 0 {
		t.Errorf("after cutting to %d and extending to %d: byte at %d = %#x, want %#x", cut, size, start+int64(i), got[i], want[i])
	}
	// Truncate to Start is allowed: an empty dataset that keeps its Start.
	if err := m.Truncate(start); err != nil || m.Size() != start || m.Start() != start {
		t.Errorf("Truncate(Start) = %v; Start, Size = %d, %d, want %d, %d", err, m.Start(), m.Size(), start, start)
	}
}

// TestDocContract_Grow: Grow "does not change Size"; its chunks count in a
// writer's Stats.Chunks, not in a ReadOnly Manager's; a Truncate that keeps
// the Size deletes them; a negative n is ErrOutOfRange.
func TestDocContract_Grow(t *testing.T) {
	m := newTestManager(t, nil)
	writeAt(t, m, []byte{1}, 0)
	if err := m.Grow(2*cs + 1); err != nil {
		t.Fatalf("Grow: %v", err)
	}
	if m.Size() != 1 {
		t.Errorf("after Grow: Size %d, want 1", m.Size())
	}
	if st := m.Stats(); st.Chunks != 3 {
		t.Errorf("writer after Grow(2*cs+1) from Size 1: Chunks %d, want 3", st.Chunks)
	}
	r, err := chunkmap.Open(m.Dir(), &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Chunks != 1 {
		t.Errorf("reader after the writer's Grow: Chunks %d, want 1", st.Chunks)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Grow(-1); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("Grow(-1) = %v, want ErrOutOfRange", err)
	}
	if err := m.Truncate(m.Size()); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Chunks != 1 {
		t.Errorf("after Truncate(Size): Chunks %d, want 1 (Grow's chunks deleted)", st.Chunks)
	}
}

// TestDocContract_Pinned: Pin of 0 bytes "holds nothing, and its Bytes are
// empty"; Bytes "returns nil once Release has been called"; Release "again,
// on any copy, or on a nil Pinned, does nothing"; Stats.Pinned counts the
// held chunks meanwhile; PinWritable on a ReadOnly Manager is ErrReadOnly.
func TestDocContract_Pinned(t *testing.T) {
	m, start, size := dcDataset(t)
	p0, err := m.Pin(start+5, 0)
	if err != nil {
		t.Fatalf("Pin(%d, 0): %v", start+5, err)
	}
	if len(p0.Bytes()) != 0 || m.Stats().Pinned != 0 {
		t.Errorf("Pin of 0 bytes: len(Bytes) %d, Stats().Pinned %d, want 0, 0", len(p0.Bytes()), m.Stats().Pinned)
	}
	p0.Release()

	p, err := m.Pin(2*cs-3, 6)
	if err != nil {
		t.Fatalf("Pin across chunks: %v", err)
	}
	if got, want := p.Bytes(), pattern(1, int(size))[2*cs-3:2*cs+3]; !bytes.Equal(got, want) {
		t.Errorf("Pin across chunks: Bytes %x, want %x", got, want)
	}
	if st := m.Stats(); st.Pinned < 2 {
		t.Errorf("Pin across two chunks: Stats().Pinned %d, want at least 2", st.Pinned)
	}
	q, err := m.Pin(start, 1)
	if err != nil {
		t.Fatal(err)
	}
	cp := stormyCopyPinned(p)
	cp.Release()
	cp.Release()
	p.Release()
	if p.Bytes() != nil || cp.Bytes() != nil {
		t.Error("Bytes after Release is not nil")
	}
	if st := m.Stats(); st.Pinned != 1 {
		t.Errorf("after releasing a pin through its copy and itself: Stats().Pinned %d, want 1 (the other pin's)", st.Pinned)
	}
	if len(q.Bytes()) != 1 {
		t.Error("releasing a copy of one pin released another")
	}
	q.Release()
	var nilp *chunkmap.Pinned
	nilp.Release()
	if nilp.Bytes() != nil {
		t.Error("nil Pinned: Bytes not nil")
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("after every Release: Stats().Pinned %d, want 0", st.Pinned)
	}
}

// TestDocContract_MappedBound: Stats: "Mapped stays within MaxMapped plus
// Pinned"; Evictions counts the chunks unmapped to stay within MaxMapped;
// Maps - Unmaps is what is mapped.
func TestDocContract_MappedBound(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, NoAdmission: true})
	writeAt(t, m, make([]byte, 6*cs), 0)
	for i := range int64(6) {
		if _, err := m.LoadUint64(i * cs); err != nil {
			t.Fatal(err)
		}
		st := m.Stats()
		if st.Mapped > 2+st.Pinned {
			t.Errorf("after touching chunk %d: Mapped %d > MaxMapped 2 + Pinned %d", i, st.Mapped, st.Pinned)
		}
		if st.Maps-st.Unmaps != int64(st.Mapped) {
			t.Errorf("after touching chunk %d: Maps %d - Unmaps %d != Mapped %d", i, st.Maps, st.Unmaps, st.Mapped)
		}
	}
	if st := m.Stats(); st.Evictions < 4 {
		t.Errorf("six chunks through MaxMapped 2: Evictions %d, want at least 4", st.Evictions)
	}
	var pins []*chunkmap.Pinned
	for i := range int64(4) {
		p, err := m.Pin(i*cs, 8)
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, p)
	}
	if st := m.Stats(); st.Pinned != 4 || st.Mapped < 4 || st.Mapped > 2+st.Pinned {
		t.Errorf("four pins, MaxMapped 2: Pinned %d, Mapped %d, want 4 and in [4, 6]", st.Pinned, st.Mapped)
	}
	for _, p := range pins {
		p.Release()
	}
}

// TestDocContract_GatherScatterPartial: Gather fills dst "for the offsets
// before" the first offending one; Scatter writes "the values before the
// offending one"; neither extends Size.
func TestDocContract_GatherScatterPartial(t *testing.T) {
	m, start, size := dcDataset(t)
	want := pattern(1, int(size))
	offs := []int64{start, 2*cs - 2, size - 4, size - 2, start + 8}
	dst := make([]byte, len(offs)*4)
	err := m.Gather(dst, offs, 4)
	if !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Fatalf("Gather with a value past Size: %v, want ErrOutOfRange", err)
	}
	for k, off := range offs[:3] {
		if !bytes.Equal(dst[k*4:k*4+4], want[off:off+4]) {
			t.Errorf("Gather: value %d (offset %d) = %x, want %x", k, off, dst[k*4:k*4+4], want[off:off+4])
		}
	}
	src := bytes.Repeat([]byte{0xab}, len(offs)*4)
	if err := m.Scatter(src, offs, 4); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Fatalf("Scatter with a value past Size: %v, want ErrOutOfRange", err)
	}
	// Value 3 is the offending one (value 2 covers its first bytes) and
	// value 4 comes after it.
	for k, off := range offs {
		if k == 3 {
			continue
		}
		got := readAt(t, m, off, 4)
		wrote := k < 3
		if wrote != bytes.Equal(got, src[:4]) {
			t.Errorf("Scatter: value %d (offset %d) written = %v, want %v", k, off, !wrote, wrote)
		}
	}
	if m.Size() != size {
		t.Errorf("after Scatter: Size %d, want %d", m.Size(), size)
	}
	if err := m.Scatter(src[:7], offs[:2], 4); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("Scatter with a short src: %v, want ErrOutOfRange", err)
	}
	for _, n := range []int{0, -1, chunkmap.MinChunkSize + 1} {
		if err := m.Gather(make([]byte, 1<<17+8), []int64{start}, n); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Gather(n=%d) = %v, want ErrOutOfRange", n, err)
		}
		if err := m.Scatter(make([]byte, 1<<17+8), []int64{start}, n); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Scatter(n=%d) = %v, want ErrOutOfRange", n, err)
		}
	}
}

// TestDocContract_ReadOnlyManager: on a ReadOnly Manager every write returns
// ErrReadOnly and changes nothing, reads and atomic loads work, Sync "does
// nothing and returns nil", ReadOnly() reports it; on a read-write Manager
// Refresh "does nothing".
func TestDocContract_ReadOnlyManager(t *testing.T) {
	w, start, size := dcDataset(t)
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if w.ReadOnly() || w.Refresh() != nil {
		t.Errorf("writer: ReadOnly() %v, Refresh() %v, want false, nil", w.ReadOnly(), w.Refresh())
	}
	r, err := chunkmap.Open(w.Dir(), &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.ReadOnly() || r.Sync() != nil {
		t.Errorf("reader: ReadOnly() %v, Sync() %v, want true, nil", r.ReadOnly(), r.Sync())
	}
	if _, err := r.LoadUint64(start); err != nil {
		t.Errorf("reader: LoadUint64: %v", err)
	}
	writes := map[string]func() error{
		"WriteAt":       func() error { _, err := r.WriteAt([]byte{1}, start); return err },
		"WriteAt empty": func() error { _, err := r.WriteAt(nil, start); return err },
		"Append":        func() error { _, err := r.Append([]byte{1}); return err },
		"Append empty":  func() error { _, err := r.Append(nil); return err },
		"Truncate":      func() error { return r.Truncate(start) },
		"DropBefore":    func() error { return r.DropBefore(2 * cs) },
		"Grow":          func() error { return r.Grow(cs) },
		"Scatter":       func() error { return r.Scatter([]byte{1}, []int64{start}, 1) },
		"PinWritable":   func() error { _, err := r.PinWritable(start, 1); return err },
		"StoreUint64":   func() error { return r.StoreUint64(start, 1) },
		"AddUint32":     func() error { _, err := r.AddUint32(start, 1); return err },
		"CAS":           func() error { _, err := r.CompareAndSwapUint64(start, 0, 1); return err },
		"WritableBytes": func() error {
			return r.Batch(func(b *chunkmap.Batch) error { _, err := b.WritableBytes(start, 1); return err })
		},
		"HoldWritable": func() error {
			return r.Batch(func(b *chunkmap.Batch) error { return b.HoldWritable(start, 1) })
		},
	}
	for name, do := range writes {
		if err := do(); !errors.Is(err, chunkmap.ErrReadOnly) {
			t.Errorf("reader: %s = %v, want ErrReadOnly", name, err)
		}
	}
	if r.Size() != size || r.Start() != start || w.Size() != size || w.Start() != start {
		t.Errorf("after refused writes: reader Start, Size %d, %d, writer %d, %d, want %d, %d", r.Start(), r.Size(), w.Start(), w.Size(), start, size)
	}
	if got := readAt(t, r, start, int(size-start)); !bytes.Equal(got, pattern(1, int(size))[start:]) {
		t.Error("refused writes changed the bytes")
	}
}

// TestDocContract_Options: Open "copies the struct and never keeps or
// modifies the caller's"; Dir returns the directory "as it was given to
// Open"; Start of a new dataset is Options.Start, and its Size too; an
// existing dataset keeps its own Start; a Start that is not a multiple of the
// chunk size is ErrInvalidOptions; Scratch with ReadOnly is
// ErrInvalidOptions; Scratch's Sync returns nil.
func TestDocContract_Options(t *testing.T) {
	dir := t.TempDir() + "/ds/"
	o := &chunkmap.Options{ChunkSize: cs, MaxMapped: 3, Start: 4 * cs}
	saved := *o
	m, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if *o != saved {
		t.Errorf("Open changed its Options: %+v, want %+v", *o, saved)
	}
	o.MaxMapped, o.ChunkSize = -1, 3 // a Manager that kept o would now misbehave
	if m.Dir() != dir || m.Start() != 4*cs || m.Size() != 4*cs || m.ChunkSize() != cs {
		t.Errorf("new dataset: Dir %q, Start %d, Size %d, ChunkSize %d, want %q, %d, %d, %d", m.Dir(), m.Start(), m.Size(), m.ChunkSize(), dir, 4*cs, 4*cs, cs)
	}
	if off, err := m.Append([]byte("x")); off != 4*cs || err != nil {
		t.Errorf("first Append = %d, %v, want %d, nil", off, err, 4*cs)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = chunkmap.Open(dir, &chunkmap.Options{Start: 8 * cs})
	if err != nil {
		t.Fatal(err)
	}
	if m.Start() != 4*cs || m.Size() != 4*cs+1 || m.ChunkSize() != cs {
		t.Errorf("reopened with another Start: Start %d, Size %d, ChunkSize %d, want %d, %d, %d", m.Start(), m.Size(), m.ChunkSize(), 4*cs, 4*cs+1, cs)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, Start: cs + 1}); !errors.Is(err, chunkmap.ErrInvalidOptions) {
		t.Errorf("Open of a new dataset with Start cs+1 = %v, want ErrInvalidOptions", err)
		if err == nil {
			m.Close()
		}
	}
	bad := []chunkmap.Options{
		{ChunkSize: cs, Start: -cs},
		{ChunkSize: cs, Scratch: true, ReadOnly: true},
		{ChunkSize: 3 * cs},
		{ChunkSize: cs / 2},
		{ChunkSize: 2 * cs}, // differs from the dataset's
		{ChunkSize: cs, MaxMapped: -1},
		{ChunkSize: cs, FileMode: 0o1644},
		{ChunkSize: cs, Advice: chunkmap.Advice(99)},
		{ChunkSize: cs, ArenaSize: -1},
	}
	for _, o := range bad {
		if m, err := chunkmap.Open(dir, &o); !errors.Is(err, chunkmap.ErrInvalidOptions) {
			t.Errorf("Open(%+v) = %v, want ErrInvalidOptions", o, err)
			if err == nil {
				m.Close()
			}
		}
	}
	s, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, s, []byte{1}, 0)
	if err := s.Sync(); err != nil {
		t.Errorf("Scratch Sync = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Scratch Close = %v", err)
	}
}

// TestDocContract_Advice: "String returns the advice's name", and an
// unknown Advice, which Advise refuses, says its number.
func TestDocContract_Advice(t *testing.T) {
	for a, want := range map[chunkmap.Advice]string{
		chunkmap.AdviceNormal:     "normal",
		chunkmap.AdviceRandom:     "random",
		chunkmap.AdviceSequential: "sequential",
		chunkmap.AdviceWillNeed:   "will-need",
		chunkmap.AdviceDontNeed:   "dont-need",
		chunkmap.Advice(99):       "Advice(99)",
	} {
		if got := a.String(); got != want {
			t.Errorf("Advice(%d).String() = %q, want %q", int(a), got, want)
		}
	}
}

// TestDocContract_Batch: Batch "returns fn's error" as it is; a nil fn is
// ErrInvalidOptions; a Batch used after its function returned is ErrClosed;
// Bytes of n 0 at an offset in range is empty; Bytes across a chunk boundary
// is contiguous; a panic in fn releases what the Batch holds and goes on.
func TestDocContract_Batch(t *testing.T) {
	m, start, size := dcDataset(t)
	errMine := errors.New("mine")
	if err := m.Batch(func(*chunkmap.Batch) error { return errMine }); err != errMine {
		t.Errorf("Batch returned %v, want fn's error itself", err)
	}
	if err := m.Batch(nil); !errors.Is(err, chunkmap.ErrInvalidOptions) {
		t.Errorf("Batch(nil) = %v, want ErrInvalidOptions", err)
	}
	var kept *chunkmap.Batch
	err := m.Batch(func(b *chunkmap.Batch) error {
		kept = b
		p, err := b.Bytes(2*cs-3, 6)
		if err != nil {
			return err
		}
		if !bytes.Equal(p, pattern(1, int(size))[2*cs-3:2*cs+3]) {
			t.Errorf("Batch.Bytes across chunks = %x", p)
		}
		if p, err := b.Bytes(start+1, 0); err != nil || len(p) != 0 {
			t.Errorf("Batch.Bytes(n 0) = %d bytes, %v, want 0, nil", len(p), err)
		}
		if _, err := b.Bytes(size-1, 2); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Batch.Bytes past Size = %v, want ErrOutOfRange", err)
		}
		if _, err := b.WritableBytes(size, 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Batch.WritableBytes at Size = %v, want ErrOutOfRange (a Batch does not extend)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Bytes(start, 1); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Batch.Bytes after fn returned = %v, want ErrClosed", err)
	}
	if _, err := kept.WritableBytes(start, 1); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Batch.WritableBytes after fn returned = %v, want ErrClosed", err)
	}
	if err := kept.HoldWritable(start, 1); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Batch.HoldWritable after fn returned = %v, want ErrClosed", err)
	}
	func() {
		defer func() {
			if r := recover(); r != errMine {
				t.Errorf("panic in fn: recovered %v, want fn's value", r)
			}
		}()
		_ = m.Batch(func(b *chunkmap.Batch) error {
			if err := b.Hold(start, 2*cs); err != nil {
				t.Error(err)
			}
			panic(errMine)
		})
	}()
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("after a Batch panicked: Stats().Pinned %d, want 0", st.Pinned)
	}
}

// TestDocContract_Close: Close with a Batch open "still closes the Manager
// and returns an error matching ErrBusy"; every later call returns
// ErrClosed, Close included; Close of a nil *Manager matches ErrClosed.
func TestDocContract_Close(t *testing.T) {
	m, start, _ := dcDataset(t)
	var inside error
	err := m.Batch(func(b *chunkmap.Batch) error {
		if _, err := b.Bytes(start, 1); err != nil {
			return err
		}
		inside = m.Close()
		_, err := b.Bytes(start, 1)
		return err
	})
	if !errors.Is(inside, chunkmap.ErrBusy) {
		t.Errorf("Close inside a Batch = %v, want ErrBusy", inside)
	}
	if !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Batch call after its Manager closed = %v, want ErrClosed", err)
	}
	if err := m.Close(); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, err := m.ReadAt(nil, start); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("zero-length ReadAt of a closed Manager = %v, want ErrClosed", err)
	}
	if st := m.Stats(); st.Mapped != 0 || st.Pinned != 0 {
		t.Errorf("after Close and the Batch's end: Mapped %d, Pinned %d, want 0, 0", st.Mapped, st.Pinned)
	}
}

// TestDocContract_Atomics: AddUint32 "returns the new value", subtracting
// with ^uint32(c-1) as sync/atomic does; CompareAndSwap "reports whether it
// did"; atomics never extend Size; misaligned offsets are ErrUnaligned.
func TestDocContract_Atomics(t *testing.T) {
	m, start, size := dcDataset(t)
	if err := m.StoreUint32(start, 10); err != nil {
		t.Fatal(err)
	}
	if got, err := m.AddUint32(start, 5); got != 15 || err != nil {
		t.Errorf("AddUint32(+5) = %d, %v, want 15, nil", got, err)
	}
	if got, err := m.AddUint32(start, ^uint32(3-1)); got != 12 || err != nil {
		t.Errorf("AddUint32(-3) = %d, %v, want 12, nil", got, err)
	}
	if ok, err := m.CompareAndSwapUint32(start, 11, 1); ok || err != nil {
		t.Errorf("CAS with a wrong old = %v, %v, want false, nil", ok, err)
	}
	if ok, err := m.CompareAndSwapUint32(start, 12, 1); !ok || err != nil {
		t.Errorf("CAS = %v, %v, want true, nil", ok, err)
	}
	if got, err := m.LoadUint32(start); got != 1 || err != nil {
		t.Errorf("LoadUint32 = %d, %v, want 1, nil", got, err)
	}
	end := size &^ 7
	if err := m.StoreUint64(end, 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("StoreUint64 across Size = %v, want ErrOutOfRange", err)
	}
	if _, err := m.AddUint64(end-8, 1); err != nil {
		t.Errorf("AddUint64 at the last whole word: %v", err)
	}
	if m.Size() != size {
		t.Errorf("after atomics: Size %d, want %d", m.Size(), size)
	}
	if _, err := m.LoadUint64(start + 4); !errors.Is(err, chunkmap.ErrUnaligned) {
		t.Errorf("LoadUint64 at a multiple of 4 only = %v, want ErrUnaligned", err)
	}
}
