package chunkmap_test

// Concurrent adversarial test of the Batch fast path (see
// batchwin_model_test.go): goroutines run batches of random Bytes and
// WritableBytes over many chunks while a controller truncates, drops,
// appends and closes. Every 8-byte word of the dataset holds its own
// offset (and a tag), so bytes of another chunk or slot show; while the
// controller is idle Start and Size are known exactly, so every answer is.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/chunkmap/chunkmap"
)

// bwWord is the word at offset off (a multiple of 8) with tag g (not 0):
// a word reads as 0 (a gap) or with its own offset in its top 56 bits.
func bwWord(off int64, g byte) uint64 { return uint64(off)<<8 | uint64(g) }

// bwLoad and bwStore access the word at p[0:8] (8-aligned in memory, as
// every offset the workers use is) with one 8-byte access, so that
// concurrent stores and loads never tear, under -race too (which stores
// PutUint64's bytes one by one), and on 386.
func bwLoad(p []byte) uint64 {
	_ = p[7]
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&p[0])))
}

func bwStore(p []byte, w uint64) {
	_ = p[7]
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&p[0])), w)
}

// bwWords returns n bytes of words from off, tagged g.
func bwWords(off int64, n int, g byte) []byte {
	p := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(p[i:], bwWord(off+int64(i), g))
	}
	return p
}

// bwCheckWords returns a description of the first word of p (the bytes at
// off, a multiple of 8) that is neither 0 nor its offset's, or "".
func bwCheckWords(p []byte, off int64) string {
	for i := 0; i+8 <= len(p); i += 8 {
		o := off + int64(i)
		if w := bwLoad(p[i:]); w != 0 && w>>8 != uint64(o) {
			return fmt.Sprintf("word at offset %d (chunk %d) = %#x: the word of offset %d (chunk %d)", o, o/bwCS, w, int64(w>>8), int64(w>>8)/bwCS)
		}
	}
	return ""
}

// bwCtl is the controller's state as the workers see it: while seq is even
// and does not move across a call, Start and Size are start and size (and
// the Manager is closed if it is the one closed holds).
type bwCtl struct {
	seq         atomic.Uint64
	start, size atomic.Int64
	// closed and folClosed are the writer and the follower whose Close
	// has returned: a Manager, not a flag, so that a worker that meets the
	// next writer before open has finished does not take it for closed.
	closed, folClosed atomic.Pointer[chunkmap.Manager]
	m, fol            atomic.Pointer[chunkmap.Manager]
}

// bwErrs collects failures from many goroutines, keeping the first few.
type bwErrs struct {
	mu   sync.Mutex
	n    int
	msgs []string
}

func (e *bwErrs) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.msgs) < 12 {
		e.msgs = append(e.msgs, fmt.Sprintf(format, args...))
	}
}

func (e *bwErrs) report(t *testing.T, seed uint64) {
	t.Helper()
	for _, s := range e.msgs {
		t.Errorf("seed %d: %s", seed, s)
	}
	if e.n > len(e.msgs) {
		t.Errorf("seed %d: ... %d failures in all", seed, e.n)
	}
}

// TestBatchWin_Concurrent runs, per configuration, three writer-side
// workers and one on a ReadOnly follower, each in batches of random reads
// and stores (some through copies of the Batch, some kept and used after
// the batch), against a controller that truncates (within a chunk and
// across many), drops, appends, grows sparsely, and closes and reopens the
// dataset under them. It checks: no bytes of another offset (slot reuse,
// cache collisions, a window past its chunks); nothing below a Start
// already in force; exactly the in-range calls succeed while the dataset
// stands still; ErrClosed once Close returned; ErrClosed from a Batch (and
// its copies) after its function returned.
func TestBatchWin_Concurrent(t *testing.T) {
	dur := 300 * time.Millisecond
	if raceEnabled {
		dur = 250 * time.Millisecond
	}
	for _, c := range bwCfgs {
		t.Run(c.name, func(t *testing.T) {
			seed := testSeed(t, "BATCHWIN_SEED")
			bwConcurrent(t, c, seed, dur)
		})
	}
}

func bwConcurrent(t *testing.T, c bwCfg, seed uint64, dur time.Duration) {
	dir := bwDir(t)
	var ctl bwCtl
	var errs bwErrs
	open := func() {
		m := bwOpen(t, dir, c)
		fol, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: c.maxMapped, ArenaSize: c.arenaChunks * bwCS})
		if err != nil {
			t.Fatal(err)
		}
		ctl.start.Store(m.Start())
		ctl.size.Store(m.Size())
		ctl.m.Store(m)
		ctl.fol.Store(fol)
	}
	first := bwOpen(t, dir, c)
	if _, err := first.Append(bwWords(0, 24*bwCS, 1)); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	ctl.seq.Add(1)
	open()
	ctl.seq.Add(1)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, fast atomic.Int64
	worker := func(id int, follower bool) {
		defer wg.Done()
		r := rand.New(rand.NewPCG(seed, uint64(id)))
		var kept *chunkmap.Batch
		var keptCopy chunkmap.Batch
		for {
			select {
			case <-stop:
				return
			default:
			}
			m := ctl.m.Load()
			if follower {
				m = ctl.fol.Load()
			}
			err := m.Batch(func(b *chunkmap.Batch) error {
				kept = b
				for k := 20 + r.IntN(400); k > 0; k-- {
					if k%16 == 0 {
						runtime.Gosched() // let the controller in: 2 cores, 5 goroutines
					}
					if r.IntN(64) == 0 {
						keptCopy = *b // with a window, most likely
					}
					h := b
					if r.IntN(10) == 0 {
						cp := *b
						h = &cp
					}
					s1 := ctl.seq.Load()
					st, sz := ctl.start.Load(), ctl.size.Load()
					// Closed: Close returned on m, or m was replaced (after its Close).
					cl := !follower && (ctl.closed.Load() == m || ctl.m.Load() != m) || follower && (ctl.folClosed.Load() == m || ctl.fol.Load() != m)
					var off int64
					if span := sz - st; span > 0 && r.IntN(8) != 0 {
						// Mostly within the first few dozen chunks from Start
						// (a window's reach), sometimes anywhere.
						if r.IntN(3) != 0 {
							span = min(span, 40*bwCS)
						}
						off = st + r.Int64N(span)
					} else {
						off = st + r.Int64N(sz-st+4*bwCS+1) - 2*bwCS
					}
					off &^= 7
					n := 8 * (1 + r.IntN(8))
					if r.IntN(20) == 0 {
						n = 8 * r.IntN(bwCS/4)
					}
					write := !follower && r.IntN(2) == 0
					var p []byte
					var err error
					t0 := time.Now()
					if write {
						p, err = h.WritableBytes(off, n)
					} else {
						p, err = h.Bytes(off, n)
					}
					if time.Since(t0) < 200*time.Nanosecond {
						fast.Add(1)
					}
					calls.Add(1)
					s2 := ctl.seq.Load()
					what := fmt.Sprintf("worker %d: Bytes(%d, %d)", id, off, n)
					if write {
						what = fmt.Sprintf("worker %d: WritableBytes(%d, %d)", id, off, n)
					}
					if err == nil {
						if len(p) != n {
							errs.add("%s: %d bytes", what, len(p))
							continue
						}
						if cl {
							errs.add("%s succeeded after Close returned", what)
						}
						if off < st {
							errs.add("%s succeeded below Start %d, in force before the call", what, st)
						}
						if s := bwCheckWords(p, off); s != "" {
							errs.add("%s: %s", what, s)
						}
						if write {
							g := byte(2 + id)
							for i := 0; i+8 <= n; i += 8 {
								bwStore(p[i:], bwWord(off+int64(i), g))
							}
						}
					}
					if s1 != s2 || s1%2 != 0 {
						if err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) && !errors.Is(err, chunkmap.ErrClosed) {
							errs.add("%s: %v", what, err)
						}
						continue
					}
					// The dataset stood still during the call.
					in := off >= st && (n > 0 && off+int64(n) <= sz || n == 0 && off < sz)
					switch {
					case cl:
						if !errors.Is(err, chunkmap.ErrClosed) {
							errs.add("%s on a closed Manager: %v, want ErrClosed", what, err)
						}
					case in && err != nil:
						errs.add("%s within [%d, %d): %v", what, st, sz, err)
					case !in && err == nil:
						errs.add("%s succeeded outside [%d, %d)", what, st, sz)
					case !in && !errors.Is(err, chunkmap.ErrOutOfRange):
						errs.add("%s outside [%d, %d): %v, want ErrOutOfRange", what, st, sz, err)
					}
				}
				keptCopy = *b
				return nil
			})
			if err != nil && !errors.Is(err, chunkmap.ErrClosed) {
				errs.add("worker %d: Batch: %v", id, err)
			}
			if kept != nil {
				for _, h := range []*chunkmap.Batch{kept, &keptCopy} {
					if _, err := h.Bytes(ctl.start.Load(), 8); !errors.Is(err, chunkmap.ErrClosed) {
						errs.add("worker %d: Bytes after the batch: %v, want ErrClosed", id, err)
					}
					if _, err := h.WritableBytes(ctl.start.Load(), 8); !errors.Is(err, chunkmap.ErrClosed) {
						errs.add("worker %d: WritableBytes after the batch: %v, want ErrClosed", id, err)
					}
				}
				kept = nil
			}
		}
	}
	for id := range 3 {
		wg.Add(1)
		go worker(id, false)
	}
	wg.Add(1)
	go worker(3, true)

	r := rand.New(rand.NewPCG(seed, seed^0xc7c7))
	deadline := time.Now().Add(dur)
	nextClose := time.Now().Add(dur / 3)
	var mutations int
	for time.Now().Before(deadline) {
		m := ctl.m.Load()
		st, sz := ctl.start.Load(), ctl.size.Load()
		ctl.seq.Add(1) // odd: changing
		var err error
		var what string
		switch op := r.IntN(100); {
		case time.Now().After(nextClose):
			nextClose = time.Now().Add(dur / 3)
			what = "Close"
			if err = m.Close(); err != nil && errors.Is(err, chunkmap.ErrBusy) {
				err = nil // batches were open, as they should be
			}
			ctl.closed.Store(m)
			ctl.seq.Add(1)
			time.Sleep(time.Millisecond) // workers meet the closed Manager
			ctl.seq.Add(1)
			fol := ctl.fol.Load()
			if err == nil {
				if err = fol.Close(); errors.Is(err, chunkmap.ErrBusy) {
					err = nil
				}
				ctl.folClosed.Store(fol)
			}
			if err == nil {
				open()
			}
		case op < 35: // Truncate within the last chunk
			size := max(st, sz-int64(r.IntN(4096))) &^ 7
			what = fmt.Sprintf("Truncate(%d)", size)
			err = m.Truncate(size)
		case op < 50: // Truncate across chunks
			size := (st + r.Int64N(sz-st+1)) &^ 7
			what = fmt.Sprintf("Truncate(%d)", size)
			err = m.Truncate(size)
		case op < 60: // Truncate up: a sparse gap that reads as zeros
			size := (sz + r.Int64N(2*bwCS)) &^ 7
			what = fmt.Sprintf("Truncate(%d)", size)
			err = m.Truncate(size)
		case op < 68:
			if st > 150*bwCS {
				ctl.seq.Add(1)
				continue
			}
			off := st + r.Int64N(min(sz-st, 3*bwCS)+1)
			what = fmt.Sprintf("DropBefore(%d)", off)
			err = m.DropBefore(off)
		default: // Append words up to a span of 60 chunks
			if sz-st > 60*bwCS {
				ctl.seq.Add(1)
				continue
			}
			n := 8 * (1 + r.IntN(3*bwCS/8))
			what = fmt.Sprintf("Append(%d bytes at %d)", n, sz)
			var off int64
			off, err = m.Append(bwWords(sz, n, byte(0x80|r.IntN(0x7f))))
			if err == nil && off != sz {
				err = fmt.Errorf("appended at %d, want %d", off, sz)
			}
		}
		if err != nil {
			errs.add("controller: %s: %v", what, err)
			ctl.seq.Add(1)
			break
		}
		m = ctl.m.Load()
		ctl.start.Store(m.Start())
		ctl.size.Store(m.Size())
		ctl.seq.Add(1) // even: standing still
		mutations++
		if r.IntN(4) == 0 {
			time.Sleep(time.Duration(r.IntN(100)) * time.Microsecond)
		}
	}
	close(stop)
	wg.Wait()
	errs.report(t, seed)
	m := ctl.m.Load()
	if st := m.Stats(); st.Pinned != 0 || st.Mapped > c.maxMapped {
		t.Errorf("with no batch open: Stats %+v, want Pinned 0 and Mapped <= %d", st, c.maxMapped)
	}
	ctl.fol.Load().Close()
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if live, doomed, views := m.Mappings(); live+doomed+views != 0 {
		t.Errorf("after Close with nothing held: %d live, %d doomed, %d views mapped", live, doomed, views)
	}
	t.Logf("%d mutations, %d calls, %d of them under 200ns", mutations, calls.Load(), fast.Load())
}
