package chunkmap_test

// Tests of the arena's promises: eviction that depends on no goroutine or
// function name, a real MaxMapped bound with batches open, scopes that
// unwind, pins and views across chunk boundaries, and stores that never
// land in another chunk when slots change owner.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// chunkByte is the byte that the dataset of evictionDataset holds at off:
// it names the chunk, so that a read from the wrong chunk shows.
func chunkByte(off int64) byte { return byte(off/cs*7 + off%251) }

// evictionDataset returns a dataset of n chunks filled with chunkByte.
func evictionDataset(t testing.TB, n int64, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m := newTestManager(t, opts)
	buf := make([]byte, n*cs)
	for i := range buf {
		buf[i] = chunkByte(int64(i))
	}
	writeAt(t, m, buf, 0)
	return m
}

// TestEviction_ManyIdleGoroutines evicts on almost every read while tens of
// thousands of goroutines sit parked: eviction must not look at them (the
// first version walked every goroutine's stack, so this test took minutes
// and stopped the world on every walk). Speed is measured by
// BenchmarkEvictIdle; this checks the bytes.
func TestEviction_ManyIdleGoroutines(t *testing.T) {
	const idle = 20000
	m := evictionDataset(t, 64, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, NoAdmission: true})
	park := make(chan struct{})
	var wg sync.WaitGroup
	for range idle {
		wg.Go(func() { <-park })
	}
	defer func() { close(park); wg.Wait() }()
	seed := testSeed(t, "CHUNKMAP_SEED")
	reads := 2000
	if testing.Short() || raceEnabled {
		reads = 700 // still evicts on nearly every read: over 2,500 evictions
	}
	var readers sync.WaitGroup
	for w := range 4 {
		readers.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)+2))
			var b [16]byte
			for range reads {
				off := r.Int64N(64*cs - 16)
				if _, err := m.ReadAt(b[:], off); err != nil {
					t.Errorf("ReadAt(%d): %v", off, err)
					return
				}
				for i := range b {
					if b[i] != chunkByte(off+int64(i)) {
						t.Errorf("ReadAt(%d): byte %d = %d, want %d", off, i, b[i], chunkByte(off+int64(i)))
						return
					}
				}
			}
		})
	}
	readers.Wait()
	if st := m.Stats(); st.Evictions < 1000 || st.Mapped > 2 {
		t.Errorf("Stats() = %+v, want at least 1000 evictions and at most 2 mapped", st)
	}
}

// TestBatch_IdleBatchKeepsBound keeps a Batch open, idle, in another
// goroutine while ReadAt walks 2,000 chunks: the batch holds its one chunk,
// and nothing else may stay mapped beyond MaxMapped.
func TestBatch_IdleBatchKeepsBound(t *testing.T) {
	const chunks, maxMapped = 2000, 4
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped})
	if err := m.Truncate(chunks * cs); err != nil {
		t.Fatal(err)
	}
	opened, done := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- m.Batch(func(b *chunkmap.Batch) error {
			if _, err := b.Bytes(0, 8); err != nil {
				return err
			}
			close(opened)
			<-done
			return nil
		})
	}()
	<-opened
	var buf [8]byte
	for i := range int64(chunks) {
		if _, err := m.ReadAt(buf[:], i*cs+8); err != nil {
			t.Fatal(err)
		}
		if st := m.Stats(); st.Mapped > maxMapped+1 {
			t.Fatalf("after reading chunk %d: Stats().Mapped = %d with one batch holding one chunk, want at most %d", i, st.Mapped, maxMapped+1)
		}
	}
	if n, ok := datasetMappings(t, m.Dir()); ok && n > maxMapped+1 {
		t.Errorf("the kernel lists %d mappings of the dataset, want at most %d", n, maxMapped+1)
	}
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Mapped > maxMapped || st.Pinned != 0 {
		t.Errorf("after the batch: Stats() = %+v, want at most %d mapped and none pinned", st, maxMapped)
	}
}

// TestBatch_Panic panics inside a Batch function, recovered by the caller
// as net/http would: the batch must release what it holds, the panic must
// reach the caller unchanged, and the Manager must go on as before (the
// first version leaked the batch count, so every later miss leaked a
// mapping and Close never returned).
func TestBatch_Panic(t *testing.T) {
	m := evictionDataset(t, 8, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	type boom struct{}
	for range 3 {
		func() {
			defer func() {
				if r := recover(); r != (boom{}) {
					t.Fatalf("recovered %v, want the function's own panic", r)
				}
			}()
			m.Batch(func(b *chunkmap.Batch) error {
				for i := range int64(4) {
					if _, err := b.Bytes(i*cs, 8); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := b.WritableBytes(5*cs, 8); err != nil {
					t.Fatal(err)
				}
				panic(boom{})
			})
		}()
	}
	if st := m.Stats(); st.Pinned != 0 || st.Mapped > 1 {
		t.Errorf("after panicking batches: Stats() = %+v, want nothing pinned and at most 1 mapped", st)
	}
	readAt(t, m, 7*cs, 8)
	if err := m.Batch(nil); !errors.Is(err, chunkmap.ErrInvalidOptions) {
		t.Errorf("Batch(nil) = %v, want ErrInvalidOptions", err)
	}
	closed := make(chan error)
	go func() { closed <- m.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close did not return")
	}
}

// TestBatch_CloseInside calls Close, Append, Sync and Release from inside a
// Batch function and from other goroutines while it runs; none may hang.
func TestBatch_CloseInside(t *testing.T) {
	t.Run("close in fn", func(t *testing.T) {
		m := evictionDataset(t, 4, nil)
		var b0 []byte
		err := m.Batch(func(b *chunkmap.Batch) error {
			p, err := b.Bytes(cs, 16)
			if err != nil {
				return err
			}
			b0 = p
			if _, err := m.Append([]byte("x")); err != nil {
				return err
			}
			if err := m.Sync(); err != nil {
				return err
			}
			pin, err := m.Pin(0, 8)
			if err != nil {
				return err
			}
			if err := m.Close(); !errors.Is(err, chunkmap.ErrBusy) {
				t.Errorf("Close inside a batch = %v, want ErrBusy", err)
			} else if msg := err.Error(); strings.Count(msg, "still open") != 1 || !strings.Contains(msg, "still open: 1; its chunks") {
				t.Errorf("Close inside a batch: %q, want the sentinel's words once, then how many batches", msg)
			}
			pin.Release() // after Close, inside the batch
			// The batch's held bytes stay readable until it ends.
			if b0[0] != chunkByte(cs) {
				t.Errorf("held byte = %d after Close, want %d", b0[0], chunkByte(cs))
			}
			if _, err := b.Bytes(2*cs, 8); !errors.Is(err, chunkmap.ErrClosed) {
				t.Errorf("Bytes of a new chunk after Close = %v, want ErrClosed", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.ReadAt(make([]byte, 1), 0); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("ReadAt after Close = %v, want ErrClosed", err)
		}
		if !m.ArenaReleased() {
			t.Error("arena still reserved after Close and the batch's end")
		}
	})
	t.Run("close from another goroutine", func(t *testing.T) {
		m := evictionDataset(t, 4, nil)
		inFn := make(chan struct{})
		closed := make(chan error)
		err := m.Batch(func(b *chunkmap.Batch) error {
			go func() {
				<-inFn
				closed <- m.Close()
			}()
			close(inFn)
			// Append and Sync while Close runs or has run: each returns
			// nil or ErrClosed, never hangs.
			for range 100 {
				if _, err := m.Append([]byte("y")); err != nil && !errors.Is(err, chunkmap.ErrClosed) {
					return err
				}
				if err := m.Sync(); err != nil && !errors.Is(err, chunkmap.ErrClosed) {
					return err
				}
			}
			select {
			case err := <-closed:
				if err != nil && !errors.Is(err, chunkmap.ErrBusy) {
					t.Errorf("Close during a batch = %v, want nil or ErrBusy", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("Close did not return while a batch was open")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestBatch_UseAfterReturn uses a Batch after its function returned: an
// error, never a crash or another batch's bytes.
func TestBatch_UseAfterReturn(t *testing.T) {
	m := evictionDataset(t, 2, nil)
	var kept *chunkmap.Batch
	if err := m.Batch(func(b *chunkmap.Batch) error {
		kept = b
		_, err := b.Bytes(0, 8)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Bytes(0, 8); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Bytes after the function returned = %v, want ErrClosed", err)
	}
	if _, err := kept.WritableBytes(0, 8); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("WritableBytes after the function returned = %v, want ErrClosed", err)
	}
	var zero chunkmap.Batch
	if _, err := zero.Bytes(0, 8); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Bytes of a zero Batch = %v, want ErrClosed", err)
	}
	if _, err := zero.WritableBytes(0, 8); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("WritableBytes of a zero Batch = %v, want ErrClosed", err)
	}
	m.Batch(func(b *chunkmap.Batch) error {
		if _, err := b.Bytes(m.Size()-1, 2); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Bytes past Size = %v, want ErrOutOfRange", err)
		}
		if _, err := b.Bytes(1<<62, 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Bytes(1<<62, 1) = %v, want ErrOutOfRange", err)
		}
		if _, err := b.Bytes(math.MaxInt64, 1); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Bytes(MaxInt64, 1) = %v, want ErrOutOfRange", err)
		}
		if _, err := b.WritableBytes(math.MaxInt64-1, 2); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("WritableBytes(MaxInt64-1, 2) = %v, want ErrOutOfRange", err)
		}
		return nil
	})
}

// TestBatch_StateReuse runs batches on two Managers whose chunk 0 holds
// different bytes, one after another and with a stale Batch kept from each:
// a Batch's cache is recycled when it ends, so a batch must never see what
// an earlier batch cached (another dataset's bytes, another chunk's, or a
// writable run it did not allocate), and a stale Batch must reach nothing
// while the recycled state serves another batch.
func TestBatch_StateReuse(t *testing.T) {
	a := evictionDataset(t, 4, nil)
	b := newTestManager(t, nil)
	other := bytes.Repeat([]byte{0xA5}, 2*cs)
	writeAt(t, b, other, 0)
	var stale []*chunkmap.Batch
	check := func(m *chunkmap.Manager, want func(int64) byte) {
		t.Helper()
		err := m.Batch(func(bt *chunkmap.Batch) error {
			stale = append(stale, bt)
			for _, off := range []int64{0, 8, cs - 8, cs, cs + 64} {
				p, err := bt.Bytes(off, 8)
				if err != nil {
					return err
				}
				for i, c := range p {
					if c != want(off+int64(i)) {
						return fmt.Errorf("Bytes(%d, 8)[%d] = %#x, want %#x", off, i, c, want(off+int64(i)))
					}
				}
				for _, s := range stale[:len(stale)-1] {
					if _, err := s.Bytes(off, 8); !errors.Is(err, chunkmap.ErrClosed) {
						return fmt.Errorf("a stale Batch's Bytes(%d, 8) = %v, want ErrClosed", off, err)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
	for range 3 {
		check(a, chunkByte)
		check(b, func(int64) byte { return 0xA5 })
	}
	// A batch that cached writable runs of a, then one on b that only
	// reads: b's bytes, and a WritableBytes on b that goes the slow way.
	if err := a.Batch(func(bt *chunkmap.Batch) error {
		p, err := bt.WritableBytes(16, 8)
		if err != nil {
			return err
		}
		copy(p, "abcdefgh")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Batch(func(bt *chunkmap.Batch) error {
		p, err := bt.Bytes(16, 8)
		if err != nil {
			return err
		}
		if !bytes.Equal(p, other[16:24]) {
			return fmt.Errorf("Bytes(16, 8) on the second Manager = %q, want its own bytes", p)
		}
		q, err := bt.WritableBytes(16, 8)
		if err != nil {
			return err
		}
		copy(q, "ABCDEFGH")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8)
	if _, err := a.ReadAt(got, 16); err != nil || string(got) != "abcdefgh" {
		t.Errorf("first Manager at 16 = %q, %v; want abcdefgh", got, err)
	}
	if _, err := b.ReadAt(got, 16); err != nil || string(got) != "ABCDEFGH" {
		t.Errorf("second Manager at 16 = %q, %v; want ABCDEFGH", got, err)
	}
}

// TestPinned_CopyAndDoubleRelease releases a copy of a Pinned and the
// original, twice each, while another pin of the same chunk is held; that
// pin must stay mapped through heavy eviction (the first version dropped
// its count to zero, unmapped it, and the process died on SIGSEGV).
func TestPinned_CopyAndDoubleRelease(t *testing.T) {
	m := evictionDataset(t, 16, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	held, err := m.Pin(100, 8)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Pin(200, 8)
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the value, as a careless caller would make (reflect, so
	// that vet's copylocks check, which would catch it, lets the test be).
	c := new(chunkmap.Pinned)
	reflect.ValueOf(c).Elem().Set(reflect.ValueOf(p).Elem())
	c.Release()
	p.Release()
	c.Release()
	p.Release()
	if got := m.Stats().Pinned; got != 1 {
		t.Errorf("Stats().Pinned = %d with one pin left, want 1", got)
	}
	for i := range int64(200) {
		readAt(t, m, (i%15+1)*cs, 8)
	}
	for i, b := range held.Bytes() {
		if b != chunkByte(100+int64(i)) {
			t.Fatalf("held pin byte %d = %d, want %d", i, b, chunkByte(100+int64(i)))
		}
	}
	held.Release()
	if got := m.Stats().Pinned; got != 0 {
		t.Errorf("Stats().Pinned = %d after the last release, want 0", got)
	}
}

// TestPin_AcrossBoundariesUnderPressure pins ranges across chunk boundaries
// (writable and not) while other goroutines evict constantly: the bytes
// are contiguous, right, and stores through them read back.
func TestPin_AcrossBoundariesUnderPressure(t *testing.T) {
	for _, arena := range []int64{0, 4 * cs} { // 4 slots: pins wrap around the arena's end
		t.Run(fmt.Sprintf("arena=%d", arena), func(t *testing.T) {
			const n = 16
			m := evictionDataset(t, n, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: arena})
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(w), 9))
					var b [8]byte
					for {
						select {
						case <-stop:
							return
						default:
						}
						off := r.Int64N(n*cs - 8)
						if _, err := m.ReadAt(b[:], off); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			seed := testSeed(t, "CHUNKMAP_SEED")
			r := rand.New(rand.NewPCG(seed, 3))
			mirror := make([]byte, n*cs)
			for i := range mirror {
				mirror[i] = chunkByte(int64(i))
			}
			pins := 200
			if testing.Short() || raceEnabled {
				pins = 60
			}
			for range pins {
				off := r.Int64N(n*cs - 3*cs)
				size := 1 + r.IntN(3*cs)
				write := r.IntN(2) == 0
				pin := m.Pin
				if write {
					pin = m.PinWritable
				}
				p, err := pin(off, size)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(p.Bytes(), mirror[off:off+int64(size)]) {
					t.Fatalf("Pin(%d, %d) holds other bytes than written", off, size)
				}
				if write {
					for i := range p.Bytes() {
						p.Bytes()[i] ^= 0x5a
					}
					copy(mirror[off:], p.Bytes())
				}
				p.Release()
			}
			close(stop)
			wg.Wait()
			got := readAt(t, m, 0, int(n*cs))
			if i := firstDiff(got, mirror); i >= 0 {
				t.Fatalf("after the pins: byte %d = %d, want %d", i, got[i], mirror[i])
			}
		})
	}
}

// TestStragglers stores and loads through every lock-free path while slots
// change owner all the time (an arena of 4 slots for 24 chunks, MaxMapped
// 2) and another goroutine truncates, regrows and drops chunks: every word
// a goroutine owns must read back as it last wrote it, and at the end the
// whole dataset must equal the model. A store through an address that
// outlived its chunk's slot would land in another goroutine's word.
func TestStragglers(t *testing.T) {
	const (
		drop    = 4  // chunks [0, drop) are dropped one by one
		stable  = 16 // chunks [drop, drop+stable) are hammered
		tail    = 4  // chunks past those are truncated and regrown
		workers = 4
	)
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 4 * cs})
	if err := m.Truncate((drop + stable + tail) * cs); err != nil {
		t.Fatal(err)
	}
	lo, hi := int64(drop*cs), int64((drop+stable)*cs)
	words := (hi - lo) / 8
	seed := testSeed(t, "CHUNKMAP_SEED")
	owned := make([][]uint64, workers) // word k belongs to worker k%workers
	for w := range owned {
		owned[w] = make([]uint64, words)
	}
	iters := 3000
	if testing.Short() || raceEnabled {
		iters = 1000
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			mine := owned[w]
			var buf [8]byte
			for i := 0; i < iters && !t.Failed(); i++ {
				k := r.Int64N(words/workers)*workers + int64(w)
				off := lo + k*8
				v := r.Uint64() | 1
				var err error
				switch r.IntN(5) {
				case 0:
					binary.LittleEndian.PutUint64(buf[:], v)
					_, err = m.WriteAt(buf[:], off)
				case 1:
					// Atomics store in native order: store the word
					// whose bytes are v's little-endian bytes.
					binary.LittleEndian.PutUint64(buf[:], v)
					err = m.StoreUint64(off, binary.NativeEndian.Uint64(buf[:]))
				case 2:
					binary.LittleEndian.PutUint64(buf[:], v)
					err = m.Scatter(buf[:], []int64{off}, 8)
				case 3:
					err = m.Batch(func(b *chunkmap.Batch) error {
						p, err := b.WritableBytes(off, 8)
						if err == nil {
							binary.LittleEndian.PutUint64(p, v)
						}
						return err
					})
				case 4:
					p, perr := m.PinWritable(off, 8)
					if err = perr; err == nil {
						binary.LittleEndian.PutUint64(p.Bytes(), v)
						p.Release()
					}
				}
				if err != nil {
					t.Errorf("worker %d: store at %d: %v", w, off, err)
					return
				}
				mine[k] = v
				// Read one of my words back, by a random path.
				k = r.Int64N(words/workers)*workers + int64(w)
				off = lo + k*8
				switch r.IntN(3) {
				case 0:
					_, err = m.ReadAt(buf[:], off)
				case 1:
					err = m.Gather(buf[:], []int64{off}, 8)
				case 2:
					err = m.Batch(func(b *chunkmap.Batch) error {
						p, err := b.Bytes(off, 8)
						copy(buf[:], p)
						return err
					})
				}
				if err != nil {
					t.Errorf("worker %d: load at %d: %v", w, off, err)
					return
				}
				if got := binary.LittleEndian.Uint64(buf[:]); got != mine[k] {
					t.Errorf("worker %d: word at %d = %#x, want %#x", w, off, got, mine[k])
					return
				}
			}
		})
	}
	// The churner: regrow and truncate the tail, checking it, and drop the
	// chunks below the stable ones one by one.
	wg.Go(func() {
		r := rand.New(rand.NewPCG(seed, 99))
		tailData := make([]byte, tail*cs)
		for round := 0; !stop.Load() && round < 200 && !t.Failed(); round++ {
			if err := m.Truncate(hi + r.Int64N(tail*cs)); err != nil {
				t.Errorf("Truncate: %v", err)
				return
			}
			for i := range tailData {
				tailData[i] = byte(round + i)
			}
			if _, err := m.WriteAt(tailData, hi); err != nil {
				t.Errorf("WriteAt tail: %v", err)
				return
			}
			got := make([]byte, len(tailData))
			if _, err := m.ReadAt(got, hi); err != nil || !bytes.Equal(got, tailData) {
				t.Errorf("tail after round %d differs (%v)", round, err)
				return
			}
			if round%40 == 39 && round/40 < drop {
				if err := m.DropBefore(int64(round/40+1) * cs); err != nil {
					t.Errorf("DropBefore: %v", err)
					return
				}
			}
		}
	})
	wg.Wait()
	stop.Store(true)
	want := make([]byte, hi-lo)
	for k := range words {
		binary.LittleEndian.PutUint64(want[k*8:], owned[k%workers][k])
	}
	if got := readAt(t, m, lo, int(hi-lo)); !bytes.Equal(got, want) {
		i := firstDiff(got, want)
		t.Fatalf("stable chunks after the run: byte at %d = %d, want %d", lo+int64(i), got[i], want[i])
	}
}

// TestRead_SlotOwnerABA reads a whole chunk again and again while its slot
// is given to another chunk and back (own goes A, B, A) as fast as the
// Manager can remap it: a read that overlapped the other chunk's turn must
// be retried, never returned. (The own word alone cannot tell; the slot's
// generation can.)
func TestRead_SlotOwnerABA(t *testing.T) {
	const big = 16 << 20 // a long copy, so that remaps land inside it
	m := newTestManager(t, &chunkmap.Options{ChunkSize: big, MaxMapped: 1, ArenaSize: 2 * big})
	if err := m.Truncate(3 * big); err != nil {
		t.Fatal(err)
	}
	writeAt(t, m, bytes.Repeat([]byte{0xaa}, big), 0)
	writeAt(t, m, bytes.Repeat([]byte{0xbb}, big), 2*big) // chunk 2 shares slot 0 with chunk 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var b [1]byte
		for {
			select {
			case <-stop:
				return
			default:
			}
			m.ReadAt(b[:], 2*big)
			m.ReadAt(b[:], 0)
		}
	})
	p := make([]byte, big)
	for i := range 100 {
		if _, err := m.ReadAt(p, 0); err != nil {
			t.Fatal(err)
		}
		if j := bytes.IndexByte(p, 0xbb); j >= 0 {
			t.Fatalf("read %d of chunk 0 returned chunk 2's byte at %d", i, j)
		}
	}
	close(stop)
	wg.Wait()
}

// TestBatch_ShortBatchesBesideWriters runs one-write Batches on three
// goroutines and WriteAt on three others with MaxMapped 1, so chunks are
// evicted under open batches all the time: no call may fail (the first
// version reported false ErrFaults here, and piled up mappings and
// descriptors until EMFILE), and the mapped count must stay bounded.
func TestBatch_ShortBatchesBesideWriters(t *testing.T) {
	const chunks = 8
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	if err := m.Truncate(chunks * cs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var maxMapped atomic.Int64
	for w := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 5))
			var b [8]byte
			for range 3000 {
				off := r.Int64N(chunks*cs/8) * 8
				var err error
				if w < 3 {
					err = m.Batch(func(bt *chunkmap.Batch) error {
						p, err := bt.WritableBytes(off, 8)
						if err == nil {
							binary.LittleEndian.PutUint64(p, uint64(off))
						}
						return err
					})
				} else {
					binary.LittleEndian.PutUint64(b[:], uint64(off))
					_, err = m.WriteAt(b[:], off)
				}
				if err != nil {
					t.Errorf("goroutine %d at %d: %v", w, off, err)
					return
				}
				if n := int64(m.Stats().Mapped); n > maxMapped.Load() {
					maxMapped.Store(n)
				}
			}
		})
	}
	wg.Wait()
	// One chunk mapped, plus at most one held by each of three batches.
	if got := maxMapped.Load(); got > 1+3 {
		t.Errorf("up to %d chunks mapped, want at most 4", got)
	}
	for k := int64(0); k < chunks*cs/8; k += 997 {
		got := readAt(t, m, k*8, 8)
		if v := binary.LittleEndian.Uint64(got); v != 0 && v != uint64(k*8) {
			t.Fatalf("word at %d = %d, want 0 or %d", k*8, v, k*8)
		}
	}
}

// TestBatch_SeesTruncateAndRegrow truncates and regrows the dataset from
// inside a Batch function: the batch's next calls must reach the chunk as
// it is now, never the deleted one's bytes, and its stores must land in
// the dataset.
func TestBatch_SeesTruncateAndRegrow(t *testing.T) {
	m := newTestManager(t, nil)
	writeAt(t, m, bytes.Repeat([]byte{'A'}, cs), 0)
	err := m.Batch(func(b *chunkmap.Batch) error {
		if p, err := b.Bytes(0, 8); err != nil || string(p) != "AAAAAAAA" {
			t.Fatalf("Bytes before = %q, %v", p, err)
		}
		if err := m.Truncate(0); err != nil {
			return err
		}
		if _, err := b.Bytes(0, 8); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Bytes after Truncate(0) = %v, want ErrOutOfRange", err)
		}
		if _, err := m.WriteAt(bytes.Repeat([]byte{'B'}, cs), 0); err != nil {
			return err
		}
		for _, off := range []int64{0, 4096} {
			if p, err := b.Bytes(off, 8); err != nil || string(p) != "BBBBBBBB" {
				t.Errorf("Bytes(%d) after regrowing = %q, %v; want BBBBBBBB", off, p, err)
			}
		}
		p, err := b.WritableBytes(8192, 4)
		if err != nil {
			return err
		}
		copy(p, "CCCC")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(readAt(t, m, 8192, 4)); got != "CCCC" {
		t.Errorf("store through the batch after regrowing: ReadAt = %q, want CCCC", got)
	}
}

// TestPin_ReleaseDuringEviction releases a pin while a miss is evicting
// around it, many times: once everything is released, at most MaxMapped
// chunks may stay mapped (a release that read the over-the-bound flag at
// the wrong moment used to leave one more mapped for good).
func TestPin_ReleaseDuringEviction(t *testing.T) {
	m := evictionDataset(t, 4, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	for i := range 2000 {
		p, err := m.Pin(0, 8)
		if err != nil {
			t.Fatal(err)
		}
		// With chunk 0 pinned, a second chunk is mapped beyond the bound;
		// then the release lands at a different moment of a miss's
		// eviction and mapping each round.
		readAt(t, m, 3*cs, 8)
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			<-start
			time.Sleep(time.Duration(i%40) * time.Microsecond)
			p.Release()
		})
		close(start)
		readAt(t, m, int64(1+i%2)*cs, 8)
		wg.Wait()
		if st := m.Stats(); st.Pinned != 0 || st.Mapped > 1 {
			t.Fatalf("round %d: Stats() = %+v with nothing held, want at most 1 mapped", i, st)
		}
	}
}
