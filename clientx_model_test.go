package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// clxModel is the file a Manager claims to be: bytes [base, base+len(data))
// of which [start, base+len(data)) are readable. base is the Options.Start
// the dataset was created with (0 for most tests).
type clxModel struct {
	base  int64
	data  []byte
	start int64
}

func (f *clxModel) size() int64 { return f.base + int64(len(f.data)) }

// bytes returns the model's n bytes at off, which lie in [base, size()).
func (f *clxModel) bytes(off, n int64) []byte { return f.data[off-f.base : off-f.base+n] }

// readAt is what ReadAt must return on the model: n, and the error kind
// (nil, io.EOF, or ErrOutOfRange).
func (f *clxModel) readAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, chunkmap.ErrOutOfRange
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off > math.MaxInt64-int64(len(p)) {
		return 0, chunkmap.ErrOutOfRange
	}
	if off < f.start {
		return 0, chunkmap.ErrOutOfRange
	}
	if off >= f.size() {
		return 0, io.EOF
	}
	n := copy(p, f.data[off-f.base:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *clxModel) writeAt(p []byte, off int64) {
	if len(p) == 0 {
		return // as os.File: an empty write past the end extends nothing
	}
	if end := off + int64(len(p)); end > f.size() {
		f.data = append(f.data, make([]byte, end-f.size())...)
	}
	copy(f.data[off-f.base:], p)
}

func (f *clxModel) truncate(n int64) {
	if n < f.size() {
		// Keep the backing bytes zero for a later growth.
		clear(f.data[n-f.base:])
		f.data = f.data[:n-f.base]
		return
	}
	f.data = append(f.data, make([]byte, n-f.size())...)
}

// clxCheckRead reads p at off through r and compares with the model.
func clxCheckRead(t *testing.T, what string, r io.ReaderAt, f *clxModel, off int64, n int) {
	t.Helper()
	got := make([]byte, n)
	want := make([]byte, n)
	for i := range got {
		got[i] = 0xA5
		want[i] = 0xA5
	}
	gn, gerr := r.ReadAt(got, off)
	wn, werr := f.readAt(want, off)
	switch {
	case gn != wn:
		t.Fatalf("%s: ReadAt(%d bytes, %d) = %d, %v; want %d, %v (start %d size %d)", what, n, off, gn, gerr, wn, werr, f.start, f.size())
	case gn < n && gerr == nil:
		t.Fatalf("%s: ReadAt(%d bytes, %d) = %d, nil: short read without error", what, n, off, gn)
	case werr == nil && gerr != nil:
		t.Fatalf("%s: ReadAt(%d bytes, %d) = %d, %v; want nil error", what, n, off, gn, gerr)
	case werr == io.EOF && gerr != io.EOF:
		t.Fatalf("%s: ReadAt(%d bytes, %d) = %d, %v; want bare io.EOF (start %d size %d)", what, n, off, gn, gerr, f.start, f.size())
	case werr != nil && werr != io.EOF:
		if d := clxErr(gerr, werr, "read", fmt.Sprintf("offset %d", off)); d != "" {
			t.Fatalf("%s: ReadAt(%d bytes, %d): %s", what, n, off, d)
		}
	}
	if gn > 0 && !bytes.Equal(got[:gn], want[:gn]) {
		i := 0
		for got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: ReadAt(%d bytes, %d): byte %d (offset %d) is %#x, want %#x (start %d size %d)",
			what, n, off, i, off+int64(i), got[i], want[i], f.start, f.size())
	}
}

// clxCheckAll compares every readable byte of r with the model, and Size
// and Start of m.
func clxCheckAll(t *testing.T, what string, m *chunkmap.Manager, f *clxModel) {
	t.Helper()
	if m.Size() != f.size() || m.Start() != f.start {
		t.Fatalf("%s: Start, Size = %d, %d; want %d, %d", what, m.Start(), m.Size(), f.start, f.size())
	}
	if f.size() > f.start {
		clxCheckRead(t, what, m, f, f.start, int(f.size()-f.start))
	}
	clxCheckRead(t, what+" (at size)", m, f, f.size(), 1)
}

// clxStepWrite writes p at off through m, as step what of a model test:
// below Start it must be refused with ErrOutOfRange and change nothing;
// elsewhere it must write all of p, which it then writes into f.
func clxStepWrite(t *testing.T, what string, m *chunkmap.Manager, f *clxModel, p []byte, off int64) {
	t.Helper()
	got, err := m.WriteAt(p, off)
	if off < f.start && len(p) > 0 {
		if d := clxErr(err, chunkmap.ErrOutOfRange, "write", fmt.Sprintf("offset %d", off)); d != "" || got != 0 {
			t.Fatalf("%s = %d: %s", what, got, d)
		}
		return
	}
	if err != nil || got != len(p) {
		t.Fatalf("%s = %d, %v", what, got, err)
	}
	f.writeAt(p, off)
}

// clxStepAppend appends p through m, as step what of a model test: it must
// land at the model's Size, and then lands there in f.
func clxStepAppend(t *testing.T, what string, m *chunkmap.Manager, f *clxModel, p []byte) {
	t.Helper()
	got, err := m.Append(p)
	if err != nil || got != f.size() {
		t.Fatalf("%s = %d, %v; want %d, nil", what, got, err, f.size())
	}
	f.writeAt(p, f.size())
}

// clxStepTruncate truncates m to n, as step what of a model test: below
// Start it must be refused with ErrOutOfRange; elsewhere it must succeed,
// and f is truncated too. It reports whether the Truncate was made.
func clxStepTruncate(t *testing.T, what string, m *chunkmap.Manager, f *clxModel, n int64) bool {
	t.Helper()
	err := m.Truncate(n)
	if n < f.start {
		if d := clxErr(err, chunkmap.ErrOutOfRange, "truncate", fmt.Sprint(n)); d != "" {
			t.Fatalf("%s: %s", what, d)
		}
		return false
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	f.truncate(n)
	return true
}

// clxStepDrop drops m before n, as step what of a model test whose chunks
// are cs bytes: past Size it must be refused with ErrOutOfRange; elsewhere
// it must succeed, moving Start up to n's chunk. It reports whether the
// DropBefore was made.
func clxStepDrop(t *testing.T, what string, m *chunkmap.Manager, f *clxModel, n, cs int64) bool {
	t.Helper()
	err := m.DropBefore(n)
	if n > f.size() {
		if d := clxErr(err, chunkmap.ErrOutOfRange, "drop", fmt.Sprint(n)); d != "" {
			t.Fatalf("%s: %s", what, d)
		}
		return false
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	f.start = max(f.start, n/cs*cs)
	return true
}

// TestClientxModel runs random sequences of every size-changing call against
// a Manager with a small mapped window and against a byte-slice model of a
// file, comparing every byte, Size, Start and the io.ReaderAt contract, with
// a ReadOnly follower beside the writer and reopens in between.
func TestClientxModel(t *testing.T) {
	seed := testSeed(t, "CLIENTX_SEED")
	deadline := time.Now().Add(stormFor(1500 * time.Millisecond))
	for round := 0; time.Now().Before(deadline); round++ {
		rs := seed + uint64(round)
		t.Run(fmt.Sprint("seed", rs), func(t *testing.T) { clxModelRound(t, rs, round%4 == 3) })
		if t.Failed() {
			return
		}
	}
}

func clxModelRound(t *testing.T, seed uint64, scratch bool) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	dir := filepath.Join(t.TempDir(), "ds")
	opts := func() *chunkmap.Options {
		return &chunkmap.Options{
			ChunkSize:   clxChunk,
			MaxMapped:   1 + rng.IntN(3),
			NoAdmission: rng.IntN(2) == 0,
			ArenaSize:   int64(rng.IntN(2)) * 4 * clxChunk, // 0 (default) or a tiny arena that wraps
			Advice:      chunkmap.Advice(rng.IntN(3)),
			Scratch:     scratch,
		}
	}
	m := clxOpen(t, dir, opts())
	defer func() { m.Close() }()
	var fol *chunkmap.Manager
	if !scratch {
		fol = clxOpen(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1 + rng.IntN(2)})
		defer func() { fol.Close() }()
	}
	f := &clxModel{}
	const maxSize = 20 * clxChunk
	randOff := func() int64 {
		switch rng.IntN(6) {
		case 0:
			return f.start + rng.Int64N(max(1, f.size()-f.start+1))
		case 1: // near a chunk boundary
			c := rng.Int64N(maxSize / clxChunk)
			return c*clxChunk + rng.Int64N(17) - 8
		case 2:
			return f.size() + rng.Int64N(3) - 1
		default:
			return rng.Int64N(maxSize)
		}
	}
	randLen := func() int {
		switch rng.IntN(5) {
		case 0:
			return rng.IntN(9)
		case 1:
			return clxChunk - 8 + rng.IntN(17)
		case 2:
			return rng.IntN(3 * clxChunk)
		default:
			return rng.IntN(5000)
		}
	}
	for step := 0; step < 120; step++ {
		what := fmt.Sprintf("step %d", step)
		switch op := rng.IntN(100); {
		case op < 25: // WriteAt
			off, n := randOff(), randLen()
			if off < 0 {
				off = 0
			}
			if off+int64(n) > maxSize {
				continue
			}
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(rng.Uint32()) | 1
			}
			clxStepWrite(t, what+fmt.Sprintf(" WriteAt(%d bytes, %d)", n, off), m, f, p, off)
		case op < 35: // Append
			n := randLen()
			if f.size()+int64(n) > maxSize {
				continue
			}
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(rng.Uint32()) | 2
			}
			clxStepAppend(t, what+fmt.Sprintf(" Append(%d bytes)", n), m, f, p)
		case op < 55: // ReadAt
			off, n := randOff(), randLen()
			clxCheckRead(t, what, m, f, off, n)
			if fol != nil {
				clxCheckRead(t, what+" (follower)", fol, f, off, n)
			}
		case op < 67: // Truncate
			var n int64
			switch rng.IntN(4) {
			case 0: // within the last chunk
				n = max(f.start, f.size()-rng.Int64N(100))
			case 1:
				n = rng.Int64N(maxSize)
			case 2:
				n = f.start + rng.Int64N(max(1, f.size()-f.start+1))
			default:
				n = (f.size()/clxChunk)*clxChunk + rng.Int64N(3) - 1
			}
			clxStepTruncate(t, what+fmt.Sprintf(" Truncate(%d)", n), m, f, n)
		case op < 72: // DropBefore
			n := f.start + rng.Int64N(max(1, f.size()-f.start+clxChunk))
			clxStepDrop(t, what+fmt.Sprintf(" DropBefore(%d)", n), m, f, n, clxChunk)
		case op < 77:
			if err := m.Sync(); err != nil {
				t.Fatalf("%s Sync: %v", what, err)
			}
		case op < 82 && scratch:
			clxCheckAll(t, what, m, f)
		case op < 82: // Close and reopen
			if err := m.Close(); err != nil {
				t.Fatalf("%s Close: %v", what, err)
			}
			if _, err := m.ReadAt(make([]byte, 1), 0); !errors.Is(err, chunkmap.ErrClosed) {
				t.Fatalf("%s: ReadAt after Close: %v, want ErrClosed", what, err)
			}
			m = clxOpen(t, dir, opts())
			what += " (reopened)"
			clxCheckAll(t, what, m, f)
		case op < 85 && scratch:
		case op < 85: // a fresh follower
			fol.Close()
			fol = clxOpen(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1 + rng.IntN(2)})
		case op < 90: // Grow changes nothing visible
			n := rng.Int64N(3 * clxChunk)
			if f.size()+n > maxSize {
				continue
			}
			if err := m.Grow(n); err != nil {
				t.Fatalf("%s Grow(%d): %v", what, n, err)
			}
		case op < 93:
			clxModelScoped(t, what, rng, m, f, randOff, randLen)
			if fol != nil {
				clxModelScoped(t, what+" (follower)", rng, fol, f, randOff, randLen)
			}
		default:
			clxCheckAll(t, what, m, f)
		}
		if m.Size() != f.size() || m.Start() != f.start {
			t.Fatalf("%s: Start, Size = %d, %d; want %d, %d", what, m.Start(), m.Size(), f.start, f.size())
		}
		if fol != nil && (fol.Size() != f.size() || fol.Start() != f.start) {
			t.Fatalf("%s: follower Start, Size = %d, %d; want %d, %d", what, fol.Start(), fol.Size(), f.start, f.size())
		}
	}
	clxCheckAll(t, "end", m, f)
	if scratch {
		return
	}
	if f.size() > f.start {
		clxCheckRead(t, "end (follower)", fol, f, f.start, int(f.size()-f.start))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// The chunk files hold exactly the readable range.
	m = clxOpen(t, dir, &chunkmap.Options{ReadOnly: true})
	clxCheckAll(t, "reopened read-only", m, f)
	// The chunk files hold the readable range, and none lies below Start
	// (Grow may leave spare ones past Size).
	ents, _ := os.ReadDir(dir)
	have := map[int64]bool{}
	for _, e := range ents {
		var idx int64
		if _, err := fmt.Sscanf(e.Name(), "%016x.chunk", &idx); err == nil {
			have[idx] = true
			if idx < f.start/clxChunk {
				t.Errorf("chunk file %s below Start %d after Close", e.Name(), f.start)
			}
		}
	}
	for idx := f.start / clxChunk; idx < (f.size()+clxChunk-1)/clxChunk; idx++ {
		if !have[idx] {
			t.Errorf("chunk %d missing (start %d size %d)", idx, f.start, f.size())
		}
	}
}

// clxModelScoped checks the calls that do not go through ReadAt and WriteAt
// against the model: Pin, Gather, Scatter, Batch, Advise and the atomics.
func clxModelScoped(t *testing.T, what string, rng *rand.Rand, m *chunkmap.Manager, f *clxModel, randOff func() int64, randLen func() int) {
	t.Helper()
	ro := m.ReadOnly()
	inside := func(off int64, n int) bool {
		return off >= f.start && n >= 0 && off+int64(n) <= f.size() && (n > 0 || off < f.size())
	}
	switch rng.IntN(6) {
	case 0: // Pin
		off, n := randOff(), randLen()
		p, err := m.Pin(off, n)
		if !inside(off, n) {
			if d := clxErr(err, chunkmap.ErrOutOfRange, "pin", fmt.Sprintf("offset %d", off)); d != "" {
				t.Fatalf("%s Pin(%d, %d): %s", what, off, n, d)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s Pin(%d, %d): %v", what, off, n, err)
		}
		if !bytes.Equal(p.Bytes(), f.data[off:off+int64(n)]) {
			t.Fatalf("%s Pin(%d, %d): bytes differ from the model", what, off, n)
		}
		p.Release()
	case 1: // Gather
		n := 1 + rng.IntN(16)
		offs := make([]int64, 1+rng.IntN(600))
		for i := range offs {
			offs[i] = f.start + rng.Int64N(max(1, f.size()-f.start-int64(n)+1))
		}
		bad := -1
		if rng.IntN(4) == 0 {
			bad = rng.IntN(len(offs))
			offs[bad] = f.size() - int64(n) + 1 + rng.Int64N(3)
		}
		dst := make([]byte, len(offs)*n)
		err := m.Gather(dst, offs, n)
		first := -1
		for i, o := range offs {
			if !inside(o, n) {
				first = i
				break
			}
		}
		if first >= 0 {
			if d := clxErr(err, chunkmap.ErrOutOfRange, "gather", fmt.Sprintf("offset %d", offs[first])); d != "" {
				t.Fatalf("%s Gather: %s", what, d)
			}
			offs = offs[:first]
		} else if err != nil {
			t.Fatalf("%s Gather: %v", what, err)
		}
		for i, o := range offs {
			if !bytes.Equal(dst[i*n:(i+1)*n], f.data[o:o+int64(n)]) {
				t.Fatalf("%s Gather: value %d at %d differs", what, i, o)
			}
		}
	case 2: // Scatter
		n := 1 + rng.IntN(16)
		if ro || f.size()-f.start < int64(n) {
			return
		}
		offs := make([]int64, 1+rng.IntN(600))
		src := make([]byte, len(offs)*n)
		for i := range offs {
			offs[i] = f.start + rng.Int64N(f.size()-f.start-int64(n)+1)
		}
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		if err := m.Scatter(src, offs, n); err != nil {
			t.Fatalf("%s Scatter: %v", what, err)
		}
		for i, o := range offs {
			f.writeAt(src[i*n:(i+1)*n], o)
		}
	case 3: // Batch
		off, n := randOff(), randLen()
		err := m.Batch(func(b *chunkmap.Batch) error {
			p, err := b.Bytes(off, n)
			if err != nil {
				return err
			}
			if !bytes.Equal(p, f.data[off:off+int64(n)]) {
				return fmt.Errorf("batch bytes differ")
			}
			if n > 0 && !ro {
				w, err := b.WritableBytes(off, n)
				if err != nil {
					return err
				}
				w[n/2] ^= 0xff
				f.data[off+int64(n/2)] ^= 0xff
			}
			return nil
		})
		if !inside(off, n) {
			if d := clxErr(err, chunkmap.ErrOutOfRange, "batch read", fmt.Sprintf("offset %d", off)); d != "" {
				t.Fatalf("%s Batch.Bytes(%d, %d): %s", what, off, n, d)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s Batch.Bytes(%d, %d): %v", what, off, n, err)
		}
	case 4: // Advise changes speed, never results
		off := f.start + rng.Int64N(max(1, f.size()-f.start))
		n := rng.Int64N(max(1, f.size()-off+1))
		a := chunkmap.Advice(rng.IntN(5))
		err := m.Advise(off, n, a)
		if !inside(off, int(n)) { // an empty range too, as for Pin
			if err == nil {
				t.Fatalf("%s Advise(%d, %d, %v): nil error out of range", what, off, n, a)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s Advise(%d, %d, %v): %v", what, off, n, a, err)
		}
		clxCheckAll(t, what+fmt.Sprintf(" after Advise(%d, %d, %v)", off, n, a), m, f)
	case 5: // atomics, native order
		off := (f.start + rng.Int64N(max(1, f.size()-f.start))) &^ 7
		if ro {
			got, err := m.LoadUint64(off)
			if inside(off, 8) && (err != nil || got != binary.NativeEndian.Uint64(f.data[off:])) {
				t.Fatalf("%s LoadUint64(%d) = %#x, %v; want %#x", what, off, got, err, binary.NativeEndian.Uint64(f.data[off:]))
			}
			return
		}
		got, err := m.AddUint64(off, 3)
		if !inside(off, 8) {
			if d := clxErr(err, chunkmap.ErrOutOfRange, "atomic", fmt.Sprintf("offset %d", off)); d != "" {
				t.Fatalf("%s AddUint64(%d): %s", what, off, d)
			}
			return
		}
		want := binary.NativeEndian.Uint64(f.data[off:]) + 3
		if err != nil || got != want {
			t.Fatalf("%s AddUint64(%d) = %#x, %v; want %#x", what, off, got, err, want)
		}
		binary.NativeEndian.PutUint64(f.data[off:], want)
	}
}
