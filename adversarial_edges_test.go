package chunkmap_test

import (
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestAdversarial_EdgeArguments calls every entry point with offsets near
// math.MaxInt64, negative offsets and lengths, nil slices and zero lengths,
// on a small dataset of 64 KiB chunks. It proves that none of them panics or
// hangs, that each returns exactly the documented outcome (a sentinel
// matched with errors.Is, io.EOF, or success), that every error names its
// operation, and that none of these calls changes Size or Start.
func TestAdversarial_EdgeArguments(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	m := advOpen(t, t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 4 * cs})
	defer m.Close()
	const size = 3*cs + 100
	if _, err := m.WriteAt(make([]byte, size), 0); err != nil {
		t.Fatal(err)
	}
	va := accessor.New(m, nil)
	const big = math.MaxInt64
	buf8 := make([]byte, 8)

	// want is the sentinel expected; nil means success, io.EOF means io.EOF.
	// Where two outcomes are both defensible, alt is the other.
	cases := []struct {
		name string
		op   []string // one of these must appear in the message
		want error
		alt  error
		call func() error
	}{
		{"ReadAt/neg", []string{"read"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.ReadAt(buf8, -1); return err }},
		{"ReadAt/minint", []string{"read"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.ReadAt(buf8, math.MinInt64); return err }},
		{"ReadAt/overflow", []string{"read"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.ReadAt(buf8, big); return err }},
		{"ReadAt/endAtMax", []string{"read"}, io.EOF, nil, func() error { _, err := m.ReadAt(buf8, big-8); return err }},
		{"ReadAt/nilAtMax", []string{"read"}, nil, nil, func() error { _, err := m.ReadAt(nil, big); return err }},
		{"ReadAt/nilAtSize", []string{"read"}, nil, nil, func() error { _, err := m.ReadAt(nil, size); return err }},
		{"ReadAt/straddleSize", []string{"read"}, io.EOF, nil, func() error {
			n, err := m.ReadAt(buf8, size-3)
			if n != 3 {
				return errors.New("short read did not return the 3 bytes before Size")
			}
			return err
		}},
		{"WriteAt/neg", []string{"write"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.WriteAt(buf8, -1); return err }},
		{"WriteAt/minint", []string{"write"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.WriteAt(buf8, math.MinInt64); return err }},
		{"WriteAt/overflow", []string{"write"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.WriteAt(buf8, big-6); return err }},
		{"WriteAt/endAtMax", []string{"write"}, chunkmap.ErrNoSpace, chunkmap.ErrOutOfRange, func() error { _, err := m.WriteAt(buf8, big-8); return err }},
		{"WriteAt/nilAtMax", []string{"write"}, nil, nil, func() error { _, err := m.WriteAt(nil, big); return err }},
		{"Append/nil", []string{"append"}, nil, nil, func() error {
			off, err := m.Append(nil)
			if err == nil && off != size {
				return errors.New("empty Append did not return Size")
			}
			return err
		}},
		{"Grow/neg", []string{"grow"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Grow(-1) }},
		{"Grow/minint", []string{"grow"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Grow(math.MinInt64) }},
		{"Grow/overflow", []string{"grow"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Grow(big) }},
		{"Grow/absurd", []string{"grow"}, chunkmap.ErrNoSpace, nil, func() error { return m.Grow(big - size) }},
		{"Grow/zero", []string{"grow"}, nil, nil, func() error { return m.Grow(0) }},
		{"Truncate/neg", []string{"truncate"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Truncate(-1) }},
		{"Truncate/minint", []string{"truncate"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Truncate(math.MinInt64) }},
		{"Truncate/absurd", []string{"truncate"}, chunkmap.ErrNoSpace, nil, func() error { return m.Truncate(big) }},
		{"Truncate/same", []string{"truncate"}, nil, nil, func() error { return m.Truncate(size) }},
		{"DropBefore/neg", []string{"drop"}, chunkmap.ErrOutOfRange, nil, func() error { return m.DropBefore(-1) }},
		{"DropBefore/max", []string{"drop"}, chunkmap.ErrOutOfRange, nil, func() error { return m.DropBefore(big) }},
		{"DropBefore/zero", []string{"drop"}, nil, nil, func() error { return m.DropBefore(0) }},
		{"Pin/negLen", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.Pin(0, -1)) }},
		{"Pin/minLen", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.Pin(0, math.MinInt)) }},
		{"Pin/negOff", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.Pin(-1, 1)) }},
		{"Pin/overflow", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.Pin(1, math.MaxInt)) }},
		{"Pin/atMax", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.Pin(big, 1)) }},
		{"Pin/pastSize", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.Pin(size-1, 2)) }},
		{"Pin/emptyAtSize", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.Pin(size, 0)) }},
		{"Pin/empty", []string{"pin"}, nil, nil, func() error { return pinErr(m.Pin(5, 0)) }},
		{"PinWritable/negLen", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.PinWritable(0, -1)) }},
		{"PinWritable/negOff", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.PinWritable(-8, 8)) }},
		{"PinWritable/overflow", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.PinWritable(big-2, 8)) }},
		{"PinWritable/pastSize", []string{"pin"}, chunkmap.ErrOutOfRange, nil, func() error { return pinErr(m.PinWritable(size, 1)) }},
		{"Gather/zeroN", []string{"gather"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Gather(buf8, []int64{0}, 0) }},
		{"Gather/negN", []string{"gather"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Gather(buf8, []int64{0}, -8) }},
		{"Gather/hugeN", []string{"gather"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Gather(buf8, []int64{0}, math.MaxInt) }},
		{"Gather/shortDst", []string{"gather"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Gather(buf8, []int64{0, 8}, 8) }},
		{"Gather/nil", []string{"gather"}, nil, nil, func() error { return m.Gather(nil, nil, 8) }},
		{"Gather/negOff", []string{"gather"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Gather(buf8, []int64{-8}, 8) }},
		{"Gather/overflow", []string{"gather"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Gather(buf8, []int64{big - 3}, 8) }},
		{"Gather/minint", []string{"gather"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Gather(buf8, []int64{math.MinInt64}, 8) }},
		{"Gather/atMax", []string{"gather"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Gather(buf8, []int64{big - 8}, 8) }},
		{"Scatter/zeroN", []string{"scatter"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Scatter(buf8, []int64{0}, 0) }},
		{"Scatter/negN", []string{"scatter"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Scatter(buf8, []int64{0}, -1) }},
		{"Scatter/shortSrc", []string{"scatter"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Scatter(buf8[:7], []int64{0}, 8) }},
		{"Scatter/nil", []string{"scatter"}, nil, nil, func() error { return m.Scatter(nil, nil, 8) }},
		{"Scatter/negOff", []string{"scatter"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Scatter(buf8, []int64{-1}, 8) }},
		{"Scatter/overflow", []string{"scatter"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Scatter(buf8, []int64{big - 3}, 8) }},
		{"Scatter/minint", []string{"scatter"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Scatter(buf8, []int64{math.MinInt64}, 8) }},
		{"Scatter/pastSize", []string{"scatter"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Scatter(buf8, []int64{size - 4}, 8) }},
		{"Load64/neg", []string{"atomic"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.LoadUint64(-8); return err }},
		{"Load64/minint", []string{"atomic"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.LoadUint64(math.MinInt64); return err }},
		{"Load64/atMax", []string{"atomic"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.LoadUint64(big - 7); return err }},
		{"Load64/maxUnaligned", []string{"atomic"}, chunkmap.ErrUnaligned, chunkmap.ErrOutOfRange, func() error { _, err := m.LoadUint64(big); return err }},
		{"Store64/atMax", []string{"atomic"}, chunkmap.ErrOutOfRange, nil, func() error { return m.StoreUint64(big-7, 1) }},
		{"Store64/pastSize", []string{"atomic"}, chunkmap.ErrOutOfRange, nil, func() error { return m.StoreUint64((size+7)&^7, 1) }},
		{"Add32/neg", []string{"atomic"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.AddUint32(-4, 1); return err }},
		{"CAS32/atMax", []string{"atomic"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := m.CompareAndSwapUint32(big-3, 0, 1); return err }},
		{"Advise/negLen", []string{"advise"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Advise(0, -1, chunkmap.AdviceRandom) }},
		{"Advise/minLen", []string{"advise"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Advise(0, math.MinInt64, chunkmap.AdviceRandom) }},
		{"Advise/negOff", []string{"advise"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Advise(-1, 1, chunkmap.AdviceRandom) }},
		{"Advise/overflow", []string{"advise"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Advise(1, big, chunkmap.AdviceRandom) }},
		{"Advise/badAdvice", []string{"advise"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Advise(0, 1, chunkmap.Advice(-1)) }},
		{"Advise/badAdvice2", []string{"advise"}, chunkmap.ErrOutOfRange, nil, func() error { return m.Advise(0, 1, chunkmap.Advice(99)) }},
		{"Advise/zero", []string{"advise"}, nil, nil, func() error { return m.Advise(0, 0, chunkmap.AdviceNormal) }},
		{"Advise/all", []string{"advise"}, nil, nil, func() error { return m.Advise(0, size, chunkmap.AdviceDontNeed) }},
		{"Batch/nil", []string{"batch"}, chunkmap.ErrInvalidOptions, nil, func() error { return m.Batch(nil) }},
		{"Batch/Bytes/negLen", []string{"batch"}, chunkmap.ErrOutOfRange, nil, batchCall(m, func(b *chunkmap.Batch) error { _, err := b.Bytes(0, -1); return err })},
		{"Batch/Bytes/minLen", []string{"batch"}, chunkmap.ErrOutOfRange, nil, batchCall(m, func(b *chunkmap.Batch) error { _, err := b.Bytes(0, math.MinInt); return err })},
		{"Batch/Bytes/negOff", []string{"batch"}, chunkmap.ErrOutOfRange, nil, batchCall(m, func(b *chunkmap.Batch) error { _, err := b.Bytes(-1, 1); return err })},
		{"Batch/Bytes/overflow", []string{"batch"}, chunkmap.ErrOutOfRange, nil, batchCall(m, func(b *chunkmap.Batch) error { _, err := b.Bytes(1, math.MaxInt); return err })},
		{"Batch/Bytes/atMax", []string{"batch"}, chunkmap.ErrOutOfRange, nil, batchCall(m, func(b *chunkmap.Batch) error { _, err := b.Bytes(big, 1); return err })},
		{"Batch/Bytes/cachedThenNeg", []string{"batch"}, chunkmap.ErrOutOfRange, nil, batchCall(m, func(b *chunkmap.Batch) error {
			if _, err := b.Bytes(0, 8); err != nil {
				return err
			}
			// The fast path's cache now holds chunk 0: a negative length
			// at a cached offset must still be refused.
			_, err := b.Bytes(8, -1)
			return err
		})},
		{"Batch/Writable/cachedThenNeg", []string{"batch"}, chunkmap.ErrOutOfRange, nil, batchCall(m, func(b *chunkmap.Batch) error {
			if _, err := b.WritableBytes(0, 8); err != nil {
				return err
			}
			_, err := b.WritableBytes(8, -1)
			return err
		})},
		{"Batch/Bytes/cachedPastSize", []string{"batch"}, chunkmap.ErrOutOfRange, nil, batchCall(m, func(b *chunkmap.Batch) error {
			if _, err := b.Bytes(3*cs, 8); err != nil {
				return err
			}
			_, err := b.Bytes(size-4, 8)
			return err
		})},
		{"Batch/Writable/pastSize", []string{"batch"}, chunkmap.ErrOutOfRange, nil, batchCall(m, func(b *chunkmap.Batch) error { _, err := b.WritableBytes(size, 1); return err })},
		{"Batch/Writable/overflow", []string{"batch"}, chunkmap.ErrOutOfRange, nil, batchCall(m, func(b *chunkmap.Batch) error { _, err := b.WritableBytes(big-1, 8); return err })},
		{"Batch/Bytes/emptyInside", []string{"batch"}, nil, nil, batchCall(m, func(b *chunkmap.Batch) error {
			p, err := b.Bytes(10, 0)
			if err == nil && len(p) != 0 {
				return errors.New("empty Bytes returned bytes")
			}
			return err
		})},
		{"va.ReadUint64/neg", []string{"read"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := va.ReadUint64(-1); return err }},
		{"va.ReadUint64/atMax", []string{"read", "uint64", "Uint64"}, chunkmap.ErrOutOfRange, nil, func() error { _, err := va.ReadUint64(big - 3); return err }},
		{"va.WriteUint64/overflow", []string{"write", "uint64", "Uint64"}, chunkmap.ErrOutOfRange, nil, func() error { return va.WriteUint64(big-3, 1) }},
		{"va.ReadUint64s/overflow", []string{"read", "uint64", "Uint64"}, chunkmap.ErrOutOfRange, nil, func() error { return va.ReadUint64s(big-8, make([]uint64, 2)) }},
		{"va.WriteUint64s/overflow", []string{"write", "uint64", "Uint64"}, chunkmap.ErrOutOfRange, nil, func() error { return va.WriteUint64s(big-8, make([]uint64, 2)) }},
		{"va.ReadUint64s/nil", []string{"read"}, nil, nil, func() error { return va.ReadUint64s(size, nil) }},
		{"va.WriteUint64s/nilAtMax", []string{"write"}, nil, chunkmap.ErrOutOfRange, func() error { return va.WriteUint64s(big, nil) }},
		{"va.ReadUint64sAt/short", []string{"read", "gather"}, chunkmap.ErrOutOfRange, nil, func() error { return va.ReadUint64sAt([]int64{0, 8}, make([]uint64, 1)) }},
		{"va.WriteUint64sAt/overflow", []string{"write", "scatter"}, chunkmap.ErrOutOfRange, nil, func() error { return va.WriteUint64sAt([]int64{big - 3}, []uint64{1}) }},
		{"va.Slice/neg", []string{"slice", "pin"}, chunkmap.ErrOutOfRange, nil, func() error { return viewErr(va.Slice(-1, 1)) }},
		{"va.Slice/negLen", []string{"slice", "pin"}, chunkmap.ErrOutOfRange, nil, func() error { return viewErr(va.Slice(0, -1)) }},
		{"va.Slice/overflow", []string{"slice", "pin"}, chunkmap.ErrOutOfRange, nil, func() error { return viewErr(va.Slice(big, 2)) }},
		{"va.Batch/straddleMax", []string{"batch"}, chunkmap.ErrOutOfRange, nil, func() error {
			return va.Batch(func(b *accessor.Batch) error { _, err := b.ReadUint64(big - 3); return err })
		}},
		{"va.Batch/writeStraddleMax", []string{"batch"}, chunkmap.ErrOutOfRange, nil, func() error {
			return va.Batch(func(b *accessor.Batch) error { return b.WriteUint64(big-3, 1) })
		}},
		{"va.Batch/neg", []string{"batch"}, chunkmap.ErrOutOfRange, nil, func() error {
			return va.Batch(func(b *accessor.Batch) error { _, err := b.ReadUint32(-2); return err })
		}},
		{"va.Scan/overflow", []string{"scan", "uint64", "Uint64"}, chunkmap.ErrOutOfRange, nil, func() error {
			s := va.Scan()
			for range s.Uint64s(big-8, 2) {
				return errors.New("yielded a value")
			}
			return s.Err()
		}},
		{"va.Scan/negCount", []string{"scan", "uint64", "Uint64"}, chunkmap.ErrOutOfRange, nil, func() error {
			s := va.Scan()
			for range s.Uint64s(0, -1) {
				return errors.New("yielded a value")
			}
			return s.Err()
		}},
		{"va.Scan/blocksNeg", []string{"scan", "block"}, chunkmap.ErrOutOfRange, nil, func() error {
			s := va.Scan()
			for range s.Blocks(0, -1) {
				return errors.New("yielded a block")
			}
			return s.Err()
		}},
		{"va.Scan/blocksMinint", []string{"scan", "block"}, chunkmap.ErrOutOfRange, nil, func() error {
			s := va.Scan()
			for range s.Blocks(math.MinInt64, 1) {
				return errors.New("yielded a block")
			}
			return s.Err()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			advWithin(t, 10*time.Second, c.name, func() { err = c.call() })
			switch {
			case c.want == nil && err == nil:
			case c.want == io.EOF && err == io.EOF:
			case c.want != nil && c.want != io.EOF && errors.Is(err, c.want):
			case c.alt != nil && errors.Is(err, c.alt):
			default:
				t.Errorf("%s: got %v, want %v (or %v)", c.name, err, c.want, c.alt)
			}
			if msg := advErrCheck(err, c.op...); msg != "" {
				t.Errorf("%s: %s", c.name, msg)
			}
			if got := m.Size(); got != size {
				t.Fatalf("%s changed Size to %d (want %d)", c.name, got, size)
			}
			if got := m.Start(); got != 0 {
				t.Fatalf("%s changed Start to %d", c.name, got)
			}
		})
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("after every call, Stats.Pinned = %d, want 0", st.Pinned)
	}
}

// pinErr releases p if the call succeeded and returns err.
func pinErr(p *chunkmap.Pinned, err error) error {
	if err == nil {
		p.Release()
	}
	return err
}

// viewErr releases w if the call succeeded and returns err.
func viewErr(w *accessor.View, err error) error {
	if err == nil {
		w.Release()
	}
	return err
}

// batchCall returns a call that runs fn in a Batch of m.
func batchCall(m *chunkmap.Manager, fn func(*chunkmap.Batch) error) func() error {
	return func() error { return m.Batch(fn) }
}
