package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// scanCase describes one typed scan through the bit patterns of its
// values: scan runs it and collects what it yields, read reads one value
// with the matching single-value read.
type scanCase struct {
	name string
	size int
	scan func(s *accessor.Scanner, off int64, n int) (offs []int64, bits []uint64)
	read func(va *accessor.ViewAccessor, off int64) (uint64, error)
}

// collect ranges over seq and returns the offsets and the values' bits.
func collect[T any](seq func(func(int64, T) bool), bits func(T) uint64) (offs []int64, out []uint64) {
	for off, x := range seq {
		offs = append(offs, off)
		out = append(out, bits(x))
	}
	return offs, out
}

var scanCases = []scanCase{
	{"Uint16s", 2,
		func(s *accessor.Scanner, off int64, n int) ([]int64, []uint64) {
			return collect(s.Uint16s(off, n), func(x uint16) uint64 { return uint64(x) })
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadUint16(off)
			return uint64(x), err
		}},
	{"Int16s", 2,
		func(s *accessor.Scanner, off int64, n int) ([]int64, []uint64) {
			return collect(s.Int16s(off, n), func(x int16) uint64 { return uint64(x) })
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadInt16(off)
			return uint64(x), err
		}},
	{"Uint32s", 4,
		func(s *accessor.Scanner, off int64, n int) ([]int64, []uint64) {
			return collect(s.Uint32s(off, n), func(x uint32) uint64 { return uint64(x) })
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadUint32(off)
			return uint64(x), err
		}},
	{"Int32s", 4,
		func(s *accessor.Scanner, off int64, n int) ([]int64, []uint64) {
			return collect(s.Int32s(off, n), func(x int32) uint64 { return uint64(x) })
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadInt32(off)
			return uint64(x), err
		}},
	{"Float32s", 4,
		func(s *accessor.Scanner, off int64, n int) ([]int64, []uint64) {
			return collect(s.Float32s(off, n), func(x float32) uint64 { return uint64(math.Float32bits(x)) })
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadFloat32(off)
			return uint64(math.Float32bits(x)), err
		}},
	{"Uint64s", 8,
		func(s *accessor.Scanner, off int64, n int) ([]int64, []uint64) {
			return collect(s.Uint64s(off, n), func(x uint64) uint64 { return x })
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			return va.ReadUint64(off)
		}},
	{"Int64s", 8,
		func(s *accessor.Scanner, off int64, n int) ([]int64, []uint64) {
			return collect(s.Int64s(off, n), func(x int64) uint64 { return uint64(x) })
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadInt64(off)
			return uint64(x), err
		}},
	{"Float64s", 8,
		func(s *accessor.Scanner, off int64, n int) ([]int64, []uint64) {
			return collect(s.Float64s(off, n), func(x float64) uint64 { return math.Float64bits(x) })
		},
		func(va *accessor.ViewAccessor, off int64) (uint64, error) {
			x, err := va.ReadFloat64(off)
			return math.Float64bits(x), err
		}},
}

// TestScanner_Values checks every typed scan against the single-value
// reads, in every byte order, over ranges that cross chunk boundaries (with
// values straddling them), that span many of the scan's pieces, that are
// short, and that are empty.
func TestScanner_Values(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 2, NoAdmission: true})
	fill(t, m, 0, 3*cs)
	ranges := []struct {
		name string
		off  int64
		n    int // bytes; rounded down to whole values
	}{
		{"first", 0, 64},
		{"whole", 0, 3 * cs},
		{"straddle", cs - 13, 64},
		{"across", 5, 2*cs + 100},
		{"tail", 3*cs - 24, 24},
		{"one", cs - 3, 8},
		{"odd", cs - 501, 1003}, // counts that are not multiples of 4
		{"empty", 100, 0},
		{"empty-at-size", 3 * cs, 0},
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian, swapOrder{}} {
		va := accessor.New(m, order)
		for _, sc := range scanCases {
			for _, r := range ranges {
				t.Run(fmt.Sprintf("order=%v/%s/%s", order, sc.name, r.name), func(t *testing.T) {
					n := r.n / sc.size
					s := va.Scan()
					offs, got := sc.scan(s, r.off, n)
					if err := s.Err(); err != nil {
						t.Fatalf("Err() = %v after a scan of %d values at %d", err, n, r.off)
					}
					if len(got) != n {
						t.Fatalf("scan of %d values at %d yielded %d", n, r.off, len(got))
					}
					for i := range got {
						off := r.off + int64(i*sc.size)
						if offs[i] != off {
							t.Fatalf("value %d yielded at offset %d, want %d", i, offs[i], off)
						}
						want, err := sc.read(va, off)
						if err != nil {
							t.Fatal(err)
						}
						if got[i] != want {
							t.Fatalf("value at %d = %#x, want %#x (the single-value read)", off, got[i], want)
						}
					}
				})
			}
		}
	}
}

// TestScanner_Again ranges over one iterator twice (each range scans
// afresh, seeing a store made in between) and nests a scan in another on
// the same Scanner.
func TestScanner_Again(t *testing.T) {
	m := newTestManager(t, nil)
	va := accessor.New(m, nil)
	if err := va.WriteUint64s(0, []uint64{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	s := va.Scan()
	seq := s.Uint64s(0, 3)
	sum := func() (n uint64) {
		for _, x := range seq {
			n += x
		}
		return n
	}
	if got := sum(); got != 6 {
		t.Errorf("first range: sum = %d, want 6", got)
	}
	if err := va.WriteUint64(8, 20); err != nil {
		t.Fatal(err)
	}
	if got := sum(); got != 24 {
		t.Errorf("second range: sum = %d, want 24", got)
	}
	var pairs []string
	for _, x := range s.Uint64s(0, 2) {
		for _, y := range s.Uint64s(16, 1) {
			pairs = append(pairs, fmt.Sprint(x, y))
		}
	}
	if got, want := strings.Join(pairs, " "), "1 3 20 3"; got != want {
		t.Errorf("nested scans yielded %q, want %q", got, want)
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

// block is a block yielded by a block scan, copied.
type block struct {
	off int64
	b   []byte
}

// collectBlocks runs a block scan and copies what it yields.
func collectBlocks(s *accessor.Scanner, off, n int64) []block {
	var out []block
	for o, b := range s.Blocks(off, n) {
		out = append(out, block{o, bytes.Clone(b)})
	}
	return out
}

// TestScanner_Blocks checks that a block scan yields the bytes of the
// range, in order, one block per chunk, each within its chunk.
func TestScanner_Blocks(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	data := fill(t, m, 0, 4*cs)
	va := accessor.New(m, nil)
	for _, tc := range []struct {
		name    string
		off, n  int64
		nblocks int
	}{
		{"chunk", 0, cs, 1},
		{"whole", 0, 4 * cs, 4},
		{"inside", 100, 200, 1},
		{"across", cs - 10, cs + 20, 3},
		{"tail", 4*cs - 1, 1, 1},
		{"empty", 10, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := va.Scan()
			blocks := collectBlocks(s, tc.off, tc.n)
			if err := s.Err(); err != nil {
				t.Fatalf("Err() = %v", err)
			}
			if len(blocks) != tc.nblocks {
				t.Errorf("%d blocks, want %d", len(blocks), tc.nblocks)
			}
			var got []byte
			for _, b := range blocks {
				if b.off != tc.off+int64(len(got)) {
					t.Errorf("block at %d, want %d", b.off, tc.off+int64(len(got)))
				}
				if len(b.b) == 0 || b.off/cs != (b.off+int64(len(b.b))-1)/cs {
					t.Errorf("block of %d bytes at %d is empty or crosses a chunk boundary", len(b.b), b.off)
				}
				got = append(got, b.b...)
			}
			if !bytes.Equal(got, data[tc.off:tc.off+tc.n]) {
				t.Errorf("blocks of [%d, %d) differ from the data written", tc.off, tc.off+tc.n)
			}
		})
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("after the scans: %d chunks pinned, want 0", st.Pinned)
	}
}

// scanKinds run a scan of n bytes at off, each kind of scan, and return
// how many times it yielded.
var scanKinds = []struct {
	name string
	scan func(s *accessor.Scanner, off, n int64) int
}{
	{"uint64s", func(s *accessor.Scanner, off, n int64) int {
		c := 0
		for range s.Uint64s(off, int(n/8)) {
			c++
		}
		return c
	}},
	{"float32s", func(s *accessor.Scanner, off, n int64) int {
		c := 0
		for range s.Float32s(off, int(n/4)) {
			c++
		}
		return c
	}},
	{"blocks", func(s *accessor.Scanner, off, n int64) int {
		c := 0
		for range s.Blocks(off, n) {
			c++
		}
		return c
	}},
}

// scanDataset returns a Manager holding [cs, 3*cs) (its first chunk
// dropped), and an accessor over it, for the scans' range tests.
func scanDataset(t *testing.T) (*chunkmap.Manager, *accessor.ViewAccessor) {
	t.Helper()
	m := newTestManager(t, nil)
	fill(t, m, 0, 3*cs)
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	return m, accessor.New(m, nil)
}

// TestScanner_OutOfRange checks that a range not wholly inside
// [Start, Size) yields nothing and leaves ErrOutOfRange in Err, and that
// the first error sticks.
func TestScanner_OutOfRange(t *testing.T) {
	_, va := scanDataset(t)
	for _, k := range scanKinds {
		for _, tc := range []struct {
			name   string
			off, n int64
		}{
			{"negative-offset", -8, 8},
			{"negative-count", cs, -8},
			{"below-start", cs - 8, 16},
			{"past-size", 3*cs - 8, 16},
			{"at-size", 3 * cs, 8},
			{"overflow", cs, math.MaxInt64 &^ 7},
		} {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				s := va.Scan()
				if c := k.scan(s, tc.off, tc.n); c != 0 {
					t.Errorf("scan of %d bytes at %d yielded %d times, want 0", tc.n, tc.off, c)
				}
				err := s.Err()
				if !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Fatalf("Err() = %v, want an error matching ErrOutOfRange", err)
				}
				// Sticky: a good range yields nothing after it.
				if c := k.scan(s, cs, 64); c != 0 {
					t.Errorf("a scan after the error yielded %d times, want 0", c)
				}
				if s.Err() != err {
					t.Errorf("Err() = %v after another scan, want the first error %v", s.Err(), err)
				}
			})
		}
	}
}

// TestScanner_NestedFailureEndsOuter runs a scan that fails (out of range)
// in the loop body of another on the same Scanner: the outer scan must end
// once it has yielded what it had read, the typed one within a piece (2
// KiB) of values and the block scan with the block it yields, so that a
// scan that ran to its end never leaves an error in Err.
func TestScanner_NestedFailureEndsOuter(t *testing.T) {
	m := newTestManager(t, nil)
	fill(t, m, 0, 3*cs)
	va := accessor.New(m, nil)
	for _, tc := range []struct {
		name string
		scan func(s *accessor.Scanner, inner func()) (yields int64, covered int64)
		most int64 // the most bytes the outer scan may cover after the failure
	}{
		{"Uint64s", func(s *accessor.Scanner, inner func()) (int64, int64) {
			var n int64
			for range s.Uint64s(0, 3*cs/8) {
				if n++; n == 1 {
					inner()
				}
			}
			return n, n * 8
		}, 2 << 10},
		{"Blocks", func(s *accessor.Scanner, inner func()) (int64, int64) {
			var n, covered int64
			for _, p := range s.Blocks(0, 3*cs) {
				covered += int64(len(p))
				if n++; n == 1 {
					inner()
				}
			}
			return n, covered
		}, cs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := va.Scan()
			_, covered := tc.scan(s, func() {
				for range s.Uint64s(3*cs, 1) { // past Size
					t.Fatal("the failing scan yielded")
				}
			})
			if !errors.Is(s.Err(), chunkmap.ErrOutOfRange) {
				t.Fatalf("Err() = %v, want the nested scan's ErrOutOfRange", s.Err())
			}
			if covered > tc.most {
				t.Errorf("the outer scan went on over %d bytes after the nested one failed, want at most %d", covered, tc.most)
			}
		})
	}
}

// TestScanner_Break breaks out of scans early, and returns from inside
// them: nothing stays held, the Manager works, and Close succeeds (no
// ErrBusy from a Batch left open).
func TestScanner_Break(t *testing.T) {
	m := newTestManager(t, nil)
	data := fill(t, m, 0, 3*cs)
	va := accessor.New(m, nil)
	s := va.Scan()
	calls := 0
	for range s.Blocks(0, 3*cs) {
		calls++
		break
	}
	for range s.Uint64s(0, 3*cs/8) {
		calls++
		break
	}
	first := func() int64 {
		for off := range s.Float64s(8, 100) {
			return off
		}
		return -1
	}
	if off := first(); off != 8 {
		t.Errorf("returned offset %d from inside a scan, want 8", off)
	}
	firstBlock := func() int64 {
		for off := range s.Blocks(cs+1, cs) {
			return off
		}
		return -1
	}
	if off := firstBlock(); off != cs+1 {
		t.Errorf("returned offset %d from inside a block scan, want %d", off, cs+1)
	}
	if calls != 2 || s.Err() != nil {
		t.Errorf("%d loop bodies ran, Err() = %v; want 2, nil", calls, s.Err())
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("after break: %d chunks pinned, want 0", st.Pinned)
	}
	if got := readBack(t, m, cs-4, 8); !bytes.Equal(got, data[cs-4:cs+4]) {
		t.Errorf("ReadAt after break = % x, want % x", got, data[cs-4:cs+4])
	}
	if _, err := m.Append([]byte("more")); err != nil {
		t.Errorf("Append after break: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after break = %v, want nil", err)
	}
}

// TestScanner_BreakAt breaks after each of the first values, at every
// position in the groups of values the typed scans yield per step, and at
// the last value of a piece: the loop body runs exactly once per value up
// to the break, and never again.
func TestScanner_BreakAt(t *testing.T) {
	m := newTestManager(t, nil)
	fill(t, m, 0, cs)
	va := accessor.New(m, nil)
	for _, stop := range []int{0, 1, 2, 3, 4, 5, 6, 7, 255, 256, 511, 512, 600} {
		s := va.Scan()
		runs := 0
		var last int64
		for off, x := range s.Uint64s(16, 1000) {
			runs++
			last = off
			if want, _ := va.ReadUint64(off); x != want {
				t.Errorf("value at %d = %#x, want %#x", off, x, want)
			}
			if runs == stop+1 {
				break
			}
		}
		if runs != stop+1 || last != 16+int64(8*stop) {
			t.Errorf("break after value %d: the body ran %d times, last at offset %d; want %d, %d", stop, runs, last, stop+1, 16+8*stop)
		}
	}
}

// errBody is the value the loop bodies of TestScanner_Panic panic with.
var errBody = errors.New("loop body panicked")

// TestScanner_Panic panics in the loop body: the panic reaches the caller
// unchanged, after the scan released what it held.
func TestScanner_Panic(t *testing.T) {
	for _, tc := range []struct {
		name string
		loop func(s *accessor.Scanner)
	}{
		{"uint64s", func(s *accessor.Scanner) {
			for off := range s.Uint64s(0, 3*cs/8) {
				if off == cs+8 {
					panic(errBody)
				}
			}
		}},
		{"blocks", func(s *accessor.Scanner) {
			for off := range s.Blocks(0, 3*cs) {
				if off == cs {
					panic(errBody)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, nil)
			fill(t, m, 0, 3*cs)
			s := accessor.New(m, nil).Scan()
			func() {
				defer func() {
					if r := recover(); r != errBody {
						t.Errorf("recovered %v, want the loop body's panic %v", r, errBody)
					}
				}()
				tc.loop(s)
				t.Error("the loop returned without panicking")
			}()
			if st := m.Stats(); st.Pinned != 0 {
				t.Errorf("after the panic: %d chunks pinned, want 0", st.Pinned)
			}
			if err := s.Err(); err != nil {
				t.Errorf("Err() = %v after a panic in the loop body, want nil", err)
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close after the panic = %v, want nil", err)
			}
		})
	}
}

// withDeadline runs fn and fails the test if it does not return within a
// minute: a deadlock shows up as a failure, not a hung test binary.
func withDeadline(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("deadlock: the scan did not finish within a minute")
	}
}

// TestScanner_BodyCallsManager calls Manager methods from the loop body
// of a block scan and of a typed scan: reads, writes, appends, Sync, a
// nested scan of every kind, then a Truncate that cuts the range short (the
// scan ends with ErrOutOfRange) or a Close (it ends with ErrClosed).
// Nothing may deadlock.
func TestScanner_BodyCallsManager(t *testing.T) {
	// outer runs a scan of the 4 chunks and calls body at the start of
	// each chunk it reaches.
	outers := []struct {
		name string
		scan func(s *accessor.Scanner, body func(off int64))
	}{
		{"blocks", func(s *accessor.Scanner, body func(off int64)) {
			for off := range s.Blocks(0, 4*cs) {
				body(off)
			}
		}},
		{"uint64s", func(s *accessor.Scanner, body func(off int64)) {
			for off := range s.Uint64s(0, 4*cs/8) {
				if off%cs == 0 {
					body(off)
				}
			}
		}},
	}
	for _, outer := range outers {
		for _, last := range []string{"Truncate", "Close"} {
			t.Run(outer.name+"/"+last, func(t *testing.T) {
				m := newTestManager(t, &chunkmap.Options{MaxMapped: 1, NoAdmission: true})
				fill(t, m, 0, 4*cs)
				va := accessor.New(m, nil)
				s := va.Scan()
				steps := 0
				var closeErr error
				withDeadline(t, func() {
					outer.scan(s, func(off int64) {
						steps++
						buf := make([]byte, 16)
						if _, err := m.ReadAt(buf, 3*cs-8); err != nil {
							t.Errorf("ReadAt in the loop body: %v", err)
						}
						if _, err := m.WriteAt(buf, off+cs); err != nil {
							t.Errorf("WriteAt in the loop body: %v", err)
						}
						if _, err := m.Append(buf); err != nil {
							t.Errorf("Append in the loop body: %v", err)
						}
						if err := m.Sync(); err != nil {
							t.Errorf("Sync in the loop body: %v", err)
						}
						for _, k := range scanKinds {
							inner := va.Scan()
							if c := k.scan(inner, 2*cs-64, 128); c == 0 || inner.Err() != nil {
								t.Errorf("nested %s scan in the loop body: %d steps, Err() = %v", k.name, c, inner.Err())
							}
						}
						if off != cs {
							return
						}
						if last == "Truncate" {
							if err := m.Truncate(2 * cs); err != nil {
								t.Errorf("Truncate in the loop body: %v", err)
							}
							return
						}
						closeErr = m.Close()
						if _, err := m.Append(buf); !errors.Is(err, chunkmap.ErrClosed) {
							t.Errorf("Append after Close in the loop body = %v, want ErrClosed", err)
						}
					})
				})
				// The body ran for chunks 0 and 1, and the range ends at 2.
				if steps != 2 {
					t.Errorf("the body ran at %d chunk starts, want 2", steps)
				}
				want := chunkmap.ErrOutOfRange
				if last == "Close" {
					want = chunkmap.ErrClosed
					// A block is yielded from inside a Batch: Close
					// there closes the Manager and says a batch was
					// open. A typed scan holds nothing while its body
					// runs.
					if outer.name == "blocks" && !errors.Is(closeErr, chunkmap.ErrBusy) {
						t.Errorf("Close in the loop body = %v, want ErrBusy", closeErr)
					} else if outer.name != "blocks" && closeErr != nil {
						t.Errorf("Close in the loop body = %v, want nil", closeErr)
					}
				}
				if err := s.Err(); !errors.Is(err, want) {
					t.Errorf("Err() = %v, want an error matching %v", err, want)
				}
				if st := m.Stats(); st.Pinned != 0 {
					t.Errorf("after the scan: %d chunks pinned, want 0", st.Pinned)
				}
			})
		}
	}
}

// truncateChunk truncates the file of chunk idx to 0 bytes from outside,
// as another process might, and puts its size back at cleanup, so that the
// Manager can close.
func truncateChunk(t *testing.T, m *chunkmap.Manager, idx int64) {
	t.Helper()
	path := filepath.Join(m.Dir(), chunk.Name(idx))
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Truncate(path, cs); err != nil {
			t.Error(err)
		}
	})
}

// TestScanner_Fault truncates a chunk file from outside during a scan: the
// scan ends, when it reaches the chunk, with ErrFault in Err, after
// yielding everything before it; the process survives.
func TestScanner_Fault(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows cannot truncate a mapped file")
	}
	for _, k := range []string{"uint64s", "blocks"} {
		t.Run(k, func(t *testing.T) {
			m := newTestManager(t, &chunkmap.Options{MaxMapped: 4, NoAdmission: true})
			fill(t, m, 0, 4*cs)
			readBack(t, m, 0, 4*cs) // map every chunk
			s := accessor.New(m, nil).Scan()
			var last int64 = -1
			truncated := false
			body := func(off int64) {
				last = off
				if !truncated {
					truncated = true
					truncateChunk(t, m, 2)
				}
			}
			if k == "blocks" {
				for off := range s.Blocks(0, 4*cs) {
					body(off)
				}
			} else {
				for off := range s.Uint64s(0, 4*cs/8) {
					body(off)
				}
			}
			err := s.Err()
			if !errors.Is(err, chunkmap.ErrFault) {
				t.Fatalf("Err() = %v, want an error matching ErrFault", err)
			}
			if !strings.Contains(err.Error(), chunk.Name(2)) {
				t.Errorf("error %q does not name the chunk file %s", err, chunk.Name(2))
			}
			if want := int64(2*cs - 8); k == "blocks" && last != cs || k == "uint64s" && last != want {
				t.Errorf("last offset yielded = %d, want the last before chunk 2", last)
			}
			if st := m.Stats(); st.Pinned != 0 {
				t.Errorf("after the fault: %d chunks pinned, want 0", st.Pinned)
			}
			// Chunk 3 is intact.
			if x, err := accessor.New(m, nil).ReadUint8(3*cs + 1); err != nil || x != byte((3*cs+1)%251) {
				t.Errorf("ReadUint8 on an intact chunk after the fault = %d, %v", x, err)
			}
		})
	}
}

// TestScanner_FaultInBody truncates the chunk of the block being yielded,
// so that the loop body itself faults reading it: that is a panic of the
// loop body, which must go on as a panic (Go allows nothing else), with an
// error matching ErrFault, after the scan released its chunk.
func TestScanner_FaultInBody(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows cannot truncate a mapped file")
	}
	m := newTestManager(t, nil)
	fill(t, m, 0, 2*cs)
	s := accessor.New(m, nil).Scan()
	var r any
	func() {
		defer func() { r = recover() }()
		var sum byte
		for off, b := range s.Blocks(0, 2*cs) {
			if off == cs {
				truncateChunk(t, m, 1)
			}
			for _, x := range b {
				sum += x
			}
		}
		t.Errorf("the scan ended without a panic (sum %d)", sum)
	}()
	err, _ := r.(error)
	if !errors.Is(err, chunkmap.ErrFault) {
		t.Fatalf("recovered %v, want an error matching ErrFault", r)
	}
	// The scan's place, once, and the chunk file.
	msg := err.Error()
	if want := fmt.Sprintf("scan blocks: the loop body faulted on the block of %d bytes at offset %d: ", cs, cs); !strings.HasPrefix(msg, want) ||
		strings.Count(msg, "at offset") != 1 || strings.Contains(msg, "batch") || !strings.Contains(msg, "0000000000000001.chunk") {
		t.Errorf("recovered %q, want it to start %q, name one offset, no batch, and the chunk file", msg, want)
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("after the fault: %d chunks pinned, want 0", st.Pinned)
	}
}

// TestScanner_Closed checks that a scan of a closed Manager yields nothing
// and leaves ErrClosed in Err.
func TestScanner_Closed(t *testing.T) {
	m := newTestManager(t, nil)
	fill(t, m, 0, cs)
	va := accessor.New(m, nil)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, k := range scanKinds {
		s := va.Scan()
		if c := k.scan(s, 0, 64); c != 0 || !errors.Is(s.Err(), chunkmap.ErrClosed) {
			t.Errorf("%s on a closed Manager: %d steps, Err() = %v; want 0, ErrClosed", k.name, c, s.Err())
		}
	}
}

func ExampleScanner() {
	dir, err := os.MkdirTemp("", "scan")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	va := accessor.New(m, nil)
	if err := va.WriteUint64s(0, []uint64{3, 1, 4, 1, 5}); err != nil {
		panic(err)
	}

	s := va.Scan()
	var sum uint64
	for off, x := range s.Uint64s(8, 4) {
		fmt.Println(off, x)
		sum += x
	}
	for off, b := range s.Blocks(0, m.Size()) {
		fmt.Println("block at", off, "of", len(b), "bytes")
	}
	for range s.Uint64s(0, 6) { // one value past Size
		sum = 0
	}
	if err := s.Err(); err != nil {
		fmt.Println(sum, errors.Is(err, chunkmap.ErrOutOfRange))
	}
	// Output:
	// 8 1
	// 16 4
	// 24 1
	// 32 5
	// block at 0 of 40 bytes
	// 11 true
}

// TestScanner_EmptyScans: a scan of nothing yields nothing and, as an empty
// ReadAt, reports no error at any offset of at least 0, below Start and
// past Size too, while a negative offset and a closed Manager are errors
// still, as the scans' docs say.
func TestScanner_EmptyScans(t *testing.T) {
	m, va := scanDataset(t)
	for _, k := range scanKinds {
		for _, off := range []int64{0, cs - 1, cs, 3 * cs, 3*cs + 1, math.MaxInt64} {
			s := va.Scan()
			if yields := k.scan(s, off, 0); yields != 0 || s.Err() != nil {
				t.Errorf("%s(%d, 0) with Start %d, Size %d: %d yields, Err %v; want none, nil", k.name, off, m.Start(), m.Size(), yields, s.Err())
			}
		}
		s := va.Scan()
		if yields := k.scan(s, -1, 0); yields != 0 || !errors.Is(s.Err(), chunkmap.ErrOutOfRange) {
			t.Errorf("%s(-1, 0): %d yields, Err %v; want none, ErrOutOfRange", k.name, yields, s.Err())
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, k := range scanKinds {
		s := va.Scan()
		if yields := k.scan(s, cs, 0); yields != 0 || !errors.Is(s.Err(), chunkmap.ErrClosed) {
			t.Errorf("%s(%d, 0) after Close: %d yields, Err %v; want none, ErrClosed", k.name, int64(cs), yields, s.Err())
		}
	}
}
