package chunkmap_test

// Tests of Pin, PinWritable and Pinned.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

func TestManager_Pin(t *testing.T) {
	m := newTestManager(t, nil)
	data := pattern(1, 3*cs+100)
	writeAt(t, m, data, 0)
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	size := int64(len(data))
	tests := []struct {
		name    string
		off     int64
		n       int
		chunks  int // chunks the pin holds
		wantErr error
	}{
		{"inside", cs + 10, 100, 1, nil},
		{"whole chunk", 2 * cs, cs, 1, nil},
		{"chunk end", 2*cs - 8, 8, 1, nil},
		{"to size", size - 100, 100, 1, nil},
		{"empty", cs + 1, 0, 0, nil},
		{"across boundary", 2*cs - 8, 9, 2, nil},
		{"across two boundaries", cs + 1, 2 * cs, 3, nil},
		{"all", cs, int(size - cs), 3, nil},
		{"past size", size - 10, 11, 0, chunkmap.ErrOutOfRange},
		{"at size", size, 1, 0, chunkmap.ErrOutOfRange},
		{"empty at size", size, 0, 0, chunkmap.ErrOutOfRange},
		{"below start", cs - 1, 1, 0, chunkmap.ErrOutOfRange},
		{"negative", -1, 1, 0, chunkmap.ErrOutOfRange},
		{"negative length", cs, -1, 0, chunkmap.ErrOutOfRange},
		{"end overflows", math.MaxInt64 - 5, 10, 0, chunkmap.ErrOutOfRange},
	}
	for _, tc := range tests {
		for _, writable := range []bool{false, true} {
			pin := m.Pin
			if writable {
				pin = m.PinWritable
			}
			p, err := pin(tc.off, tc.n)
			what := fmt.Sprintf("Pin(%d, %d) writable=%v", tc.off, tc.n, writable)
			wantErr(t, what, err, tc.wantErr)
			if err != nil {
				continue
			}
			if !bytes.Equal(p.Bytes(), data[tc.off:tc.off+int64(tc.n)]) {
				t.Errorf("%s: Bytes() differ from what was written", what)
			}
			if got := m.Stats().Pinned; got != tc.chunks {
				t.Errorf("%s: Stats().Pinned = %d, want %d", what, got, tc.chunks)
			}
			p.Release()
			if got := m.Stats().Pinned; got != 0 {
				t.Errorf("%s: after Release Stats().Pinned = %d, want 0", what, got)
			}
		}
	}
}

func TestManager_PinWritable(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	var md model
	md.writeAt(pattern(1, 4*cs), 0)
	writeAt(t, m, md.data, 0)
	p, err := m.PinWritable(cs+100, 50)
	if err != nil {
		t.Fatal(err)
	}
	q := pattern(2, 50)
	copy(p.Bytes(), q)
	md.writeAt(q, cs+100)
	// Another chunk is mapped while this one stays pinned; ReadAt sees the
	// stores through the pin.
	readAt(t, m, 3*cs, 10)
	if got := readAt(t, m, cs+100, 50); !bytes.Equal(got, q) {
		t.Error("ReadAt does not see stores through a writable pin")
	}
	p.Release()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(m.Dir(), chunk.Name(1)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[100:150], q) {
		t.Error("chunk file does not hold the stores made through a writable pin after Sync")
	}
	m = reopen(t, m, nil)
	md.check(t, m)
}

// TestManager_PinEviction pins a chunk with MaxMapped 1 and touches 50 other
// chunks: the pinned chunk stays mapped with its bytes intact, and mapping
// others goes on (one past MaxMapped) instead of waiting.
func TestManager_PinEviction(t *testing.T) {
	const nchunks = 52
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
	var md model
	md.writeAt(pattern(1, nchunks*cs), 0)
	writeAt(t, m, md.data, 0)
	p, err := m.PinWritable(7*cs, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	mark := pattern(3, cs)
	copy(p.Bytes(), mark)
	md.writeAt(mark, 7*cs)
	for i := int64(0); i < nchunks; i++ {
		if i == 7 {
			continue
		}
		off := i*cs + i
		q := pattern(uint64(i+100), 100)
		writeAt(t, m, q, off)
		md.writeAt(q, off)
		if got := readAt(t, m, off, 100); !bytes.Equal(got, q) {
			t.Fatalf("chunk %d: read back other bytes", i)
		}
		s := m.Stats()
		if s.Pinned != 1 || s.Mapped != 2 {
			t.Fatalf("after touching chunk %d: Stats().Pinned, Mapped = %d, %d, want 1, 2", i, s.Pinned, s.Mapped)
		}
	}
	if !bytes.Equal(p.Bytes(), mark) {
		t.Fatalf("pinned bytes changed at byte %d", firstDiff(p.Bytes(), mark))
	}
	if s := m.Stats(); s.Evictions < nchunks-3 {
		t.Errorf("Stats().Evictions = %d, want at least %d", s.Evictions, nchunks-3)
	}
	p.Release()
	readAt(t, m, 0, 1)
	readAt(t, m, 2*cs, 1)
	if s := m.Stats(); s.Pinned != 0 || s.Mapped != 1 {
		t.Errorf("after Release: Stats().Pinned, Mapped = %d, %d, want 0, 1", s.Pinned, s.Mapped)
	}
	md.check(t, m)
}

// TestManager_PinMany pins more chunks than MaxMapped: nothing waits, all
// stay mapped, and the bound comes back once they are released.
func TestManager_PinMany(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, NoAdmission: true})
	data := pattern(1, 8*cs)
	writeAt(t, m, data, 0)
	var pins []*chunkmap.Pinned
	for i := range int64(5) {
		p, err := m.Pin(i*cs, cs)
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, p)
	}
	readAt(t, m, 6*cs, cs) // maps one more; nothing to evict
	if s := m.Stats(); s.Pinned != 5 || s.Mapped != 6 {
		t.Errorf("with 5 pins: Stats().Pinned, Mapped = %d, %d, want 5, 6", s.Pinned, s.Mapped)
	}
	for i, p := range pins {
		if !bytes.Equal(p.Bytes(), data[int64(i)*cs:int64(i+1)*cs]) {
			t.Errorf("pin of chunk %d holds other bytes", i)
		}
	}
	// Pinning a pinned chunk twice counts it once.
	p, err := m.Pin(100, 10)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Pinned != 5 {
		t.Errorf("chunk pinned twice: Stats().Pinned = %d, want 5", s.Pinned)
	}
	p.Release()
	for i := range pins {
		pins[i].Release()
	}
	readAt(t, m, 7*cs, 1)
	if s := m.Stats(); s.Pinned != 0 || s.Mapped > 2 {
		t.Errorf("after Release: Stats().Pinned, Mapped = %d, %d, want 0, at most 2", s.Pinned, s.Mapped)
	}
}

func TestPinned_ReleaseTwice(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	writeAt(t, m, pattern(1, 2*cs), 0)
	p, err := m.Pin(10, 10)
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	p.Release()
	if p.Bytes() != nil {
		t.Errorf("Bytes() after Release = %d bytes, want nil", len(p.Bytes()))
	}
	var zero chunkmap.Pinned
	zero.Release()
	// A second Release must not have taken another pin's count: a new
	// pin still counts, and after its release the chunk can be evicted.
	q, err := m.Pin(10, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Pinned; got != 1 {
		t.Errorf("Stats().Pinned = %d with one pin, want 1", got)
	}
	q.Release()
	readAt(t, m, cs, 1) // evicts chunk 0
	if s := m.Stats(); s.Pinned != 0 || s.Mapped != 1 {
		t.Errorf("Stats().Pinned, Mapped = %d, %d, want 0, 1", s.Pinned, s.Mapped)
	}
}

// TestManager_PinOutlivesDelete pins a chunk and then removes it with
// Truncate, DropBefore or Close: the pinned bytes stay readable (and
// writable) until Release.
func TestManager_PinOutlivesDelete(t *testing.T) {
	tests := []struct {
		name     string
		pinAt    int64
		remove   func(m *chunkmap.Manager) error
		fileGone bool
	}{
		{"Truncate", 3*cs + 5, func(m *chunkmap.Manager) error { return m.Truncate(cs) }, true},
		{"Truncate to zero", 5, func(m *chunkmap.Manager) error { return m.Truncate(0) }, true},
		{"DropBefore", cs + 5, func(m *chunkmap.Manager) error { return m.DropBefore(2 * cs) }, true},
		{"Close", 2*cs + 5, func(m *chunkmap.Manager) error { return m.Close() }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
			data := pattern(1, 4*cs)
			writeAt(t, m, data, 0)
			p, err := m.PinWritable(tc.pinAt, 100)
			if err != nil {
				t.Fatal(err)
			}
			want := data[tc.pinAt : tc.pinAt+100]
			if err := tc.remove(m); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(m.Dir(), chunk.Name(tc.pinAt/cs))
			if _, err := os.Stat(path); tc.fileGone != errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat(%s) = %v, want removed: %v", path, err, tc.fileGone)
			}
			s := m.Stats()
			if s.Pinned != 1 || s.Mapped < 1 {
				t.Errorf("Stats().Pinned, Mapped = %d, %d, want 1, at least 1", s.Pinned, s.Mapped)
			}
			// Accesses through the pin still work: a use after unmap
			// would fault and kill the test binary.
			if !bytes.Equal(p.Bytes(), want) {
				t.Errorf("pinned bytes changed after %s", tc.name)
			}
			copy(p.Bytes(), "still writable")
			if got := string(p.Bytes()[:14]); got != "still writable" {
				t.Errorf("pinned bytes = %q after a store, want %q", got, "still writable")
			}
			p.Release()
			if s := m.Stats(); s.Pinned != 0 {
				t.Errorf("after Release: Stats().Pinned = %d, want 0", s.Pinned)
			}
			if _, _, doomed := m.Mappings(); doomed != 0 {
				t.Errorf("after Release: %d doomed mappings, want 0", doomed)
			}
		})
	}
}
