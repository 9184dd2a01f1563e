//go:build linux

package chunkmap_test

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

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// bxPat is the byte every boundx storm keeps at offset off: writers only
// ever store it, so any read that returns something else read the wrong
// chunk (a slot reused under it, a stale mapping).
func bxPat(off int64) byte { return byte((off/bxChunk)*7 + off%bxChunk) }

func bxCheckPat(b []byte, off int64) (int64, bool) {
	for i := range b {
		if b[i] != bxPat(off+int64(i)) {
			return off + int64(i), false
		}
	}
	return 0, true
}

func bxPatBuf(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = bxPat(off + int64(i))
	}
	return b
}

var errBxPanic = errors.New("boundx: deliberate panic")

// bxStormCfg is one variant of the storm.
type bxStormCfg struct {
	maxMapped   int
	noAdmission bool
	arenaChunks int64 // 0: the default arena
	scratch     bool
}

func (c bxStormCfg) String() string {
	return fmt.Sprintf("max=%d/noadm=%v/arena=%d/scratch=%v", c.maxMapped, c.noAdmission, c.arenaChunks, c.scratch)
}

// TestBoundxStormBound runs a few hundred goroutines mixing every access
// that holds chunks (pins, writable pins, views, batches, block scans) with
// every one that does not (ReadAt, WriteAt, Gather, Scatter, typed scans,
// atomics, Advise, Stats) over a dataset of many more chunks than
// MaxMapped, while a sampler checks, through Stats and through the kernel's
// /proc/self/maps, that no more than MaxMapped chunks plus those held are
// ever mapped. Every byte read must be the dataset's pattern (no access may
// reach another chunk's bytes). At the end, with nothing held, the bound
// must hold exactly, and after Close every mapping, descriptor and
// goroutine must be gone.
func TestBoundxStormBound(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	cfgs := []bxStormCfg{
		{maxMapped: 1},
		{maxMapped: 2, noAdmission: true},
		{maxMapped: 3, arenaChunks: 4},
		{maxMapped: 2, noAdmission: true, arenaChunks: 4, scratch: true},
	}
	for _, c := range cfgs {
		t.Run(c.String(), func(t *testing.T) { bxStorm(t, c, 250*time.Millisecond) })
	}
}

func bxStorm(t *testing.T, c bxStormCfg, dur time.Duration) {
	baseG := runtime.NumGoroutine()
	const chunks = 16
	const atomChunk = chunks - 1 // atomics only here; not checked against the pattern
	o := chunkmap.Options{MaxMapped: c.maxMapped, NoAdmission: c.noAdmission, Scratch: c.scratch}
	if c.arenaChunks > 0 {
		o.ArenaSize = c.arenaChunks * bxChunk
	}
	m, dir := bxOpen(t, o)
	for ch := int64(0); ch < chunks; ch++ {
		if _, err := m.WriteAt(bxPatBuf(ch*bxChunk, bxChunk), ch*bxChunk); err != nil {
			t.Fatal(err)
		}
	}
	va := accessor.New(m, nil)
	var errs bxErrs
	var held bxHeld
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const patEnd = atomChunk * bxChunk // pattern checked below here

	var smp bxSampler
	wg.Add(1)
	go func() { defer wg.Done(); smp.run(t, m, dir, c.maxMapped, &held, false, stop) }()

	randOff := func(r *rand.Rand, n int) int64 { return r.Int64N(patEnd - int64(n) + 1) }
	worker := func(id int) {
		defer wg.Done()
		r := rand.New(rand.NewPCG(uint64(id), 99))
		sc := va.Scan()
		for iter := 0; ; iter++ {
			select {
			case <-stop:
				return
			default:
			}
			switch op := r.IntN(14); op {
			case 0: // ReadAt
				n := 1 + r.IntN(3000)
				off := randOff(r, n)
				p := make([]byte, n)
				_, err := m.ReadAt(p, off)
				errs.check("ReadAt", err)
				if err == nil {
					if bad, ok := bxCheckPat(p, off); !ok {
						errs.add("ReadAt(%d, %d): byte at %d is %d, want %d", n, off, bad, p[bad-off], bxPat(bad))
					}
				}
			case 1: // WriteAt
				n := 1 + r.IntN(3000)
				off := randOff(r, n)
				_, err := m.WriteAt(bxPatBuf(off, n), off)
				errs.check("WriteAt", err)
			case 2, 3: // Pin / PinWritable, released once, twice, or through a copy
				n := 1 + r.IntN(3*bxChunk)
				off := randOff(r, n)
				k := chunksOf(off, n)
				held.add(k)
				var p *chunkmap.Pinned
				var err error
				if op == 2 {
					p, err = m.Pin(off, n)
				} else {
					p, err = m.PinWritable(off, n)
				}
				errs.check("Pin", err)
				if err == nil {
					b := p.Bytes()
					if len(b) != n {
						errs.add("Pin(%d, %d): %d bytes", off, n, len(b))
					} else if bad, ok := bxCheckPat(b, off); !ok {
						errs.add("Pin(%d, %d): byte at %d is %d, want %d", off, n, bad, b[bad-off], bxPat(bad))
					}
					if op == 3 {
						copy(b, bxPatBuf(off, n))
					}
					runtime.Gosched()
					switch r.IntN(3) {
					case 0:
						p.Release()
					case 1:
						p.Release()
						p.Release()
					case 2:
						cp := bxCopyPinned(p) // Release must act once across copies
						cp.Release()
						p.Release()
						cp.Release()
					}
					if p.Bytes() != nil {
						errs.add("Pinned.Bytes after Release is not nil")
					}
				}
				held.sub(k)
			case 4, 5: // Batch over a few chunks, sometimes panicking
				const touches = 3
				held.add(touches * 2)
				panicky := r.IntN(4) == 0
				func() {
					defer func() {
						if v := recover(); v != nil && v != errBxPanic { //nolint:errorlint
							errs.add("Batch: panic %v, want the function's own", v)
						}
					}()
					err := m.Batch(func(b *chunkmap.Batch) error {
						for i := 0; i < touches; i++ {
							n := 1 + r.IntN(bxChunk+bxChunk/2) // up to 2 chunks
							off := randOff(r, n)
							var p []byte
							var err error
							if op == 5 {
								p, err = b.WritableBytes(off, n)
							} else {
								p, err = b.Bytes(off, n)
							}
							if err != nil {
								return err
							}
							if bad, ok := bxCheckPat(p, off); !ok {
								errs.add("Batch.Bytes(%d, %d): byte at %d is %d, want %d", off, n, bad, p[bad-off], bxPat(bad))
							}
							if op == 5 {
								copy(p, bxPatBuf(off, n))
							}
							if panicky && i == 1 {
								panic(errBxPanic)
							}
						}
						return nil
					})
					errs.check("Batch", err)
				}()
				held.sub(touches * 2)
			case 6: // Gather
				offs := make([]int64, 1+r.IntN(600))
				for i := range offs {
					offs[i] = randOff(r, 8)
				}
				dst := make([]byte, 8*len(offs))
				err := m.Gather(dst, offs, 8)
				errs.check("Gather", err)
				if err == nil {
					for i, off := range offs {
						if bad, ok := bxCheckPat(dst[8*i:8*i+8], off); !ok {
							errs.add("Gather at %d: byte at %d wrong", off, bad)
							break
						}
					}
				}
			case 7: // Scatter
				offs := make([]int64, 1+r.IntN(600))
				src := make([]byte, 8*len(offs))
				for i := range offs {
					offs[i] = randOff(r, 8)
					copy(src[8*i:], bxPatBuf(offs[i], 8))
				}
				errs.check("Scatter", m.Scatter(src, offs, 8))
			case 8: // accessor view
				n := 1 + r.IntN(2*bxChunk)
				off := randOff(r, n)
				k := chunksOf(off, n)
				held.add(k)
				w, err := va.Slice(off, n)
				errs.check("Slice", err)
				if err == nil {
					if bad, ok := bxCheckPat(w.Bytes(), off); !ok {
						errs.add("Slice(%d, %d): byte at %d wrong", off, n, bad)
					}
					w.Release()
					w.Release()
				}
				held.sub(k)
			case 9: // typed scan
				n := 1 + r.IntN(2000)
				off := randOff(r, 8*n)
				for vo, x := range sc.Uint64s(off, n) {
					if want := binary.LittleEndian.Uint64(bxPatBuf(vo, 8)); x != want {
						errs.add("Scan.Uint64s at %d: %#x, want %#x", vo, x, want)
						break
					}
				}
				errs.check("Scan.Uint64s", sc.Err())
			case 10: // block scan, breaking early sometimes
				n := int64(1 + r.IntN(3*bxChunk))
				off := randOff(r, int(n))
				held.add(2)
				brk := r.IntN(3) == 0
				for bo, b := range sc.Blocks(off, n) {
					if bad, ok := bxCheckPat(b, bo); !ok {
						errs.add("Scan.Blocks at %d: byte at %d wrong", bo, bad)
						break
					}
					if brk {
						break
					}
				}
				held.sub(2)
				errs.check("Scan.Blocks", sc.Err())
			case 11: // atomics, in their own chunk
				off := atomChunk*bxChunk + 8*r.Int64N(64)
				_, err := m.AddUint64(off, 1)
				errs.check("AddUint64", err)
				_, err = va.LoadUint64(off)
				errs.check("LoadUint64", err)
			case 12: // Advise
				n := int64(1 + r.IntN(3*bxChunk))
				off := randOff(r, int(n))
				errs.check("Advise", m.Advise(off, n, chunkmap.Advice(r.IntN(5))))
			case 13:
				st := m.Stats()
				if st.Mapped < 0 || st.Pinned < 0 || st.Chunks != chunks {
					errs.add("Stats: %+v", st)
				}
			}
		}
	}
	const workers = 200
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go worker(i)
	}
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	errs.report(t)
	smp.report(t)

	bxQuietClose(t, m, dir, c.maxMapped)
	m, va = nil, nil
	bxWaitGone(t, dir, baseG)
}

// TestBoundxStormShrink is TestBoundxStormBound with the calls that change
// the dataset's extent mixed in (Append, WriteAt past Size, Grow, Truncate,
// DropBefore, Sync), so that chunks are deleted while held and made again:
// every byte read is the pattern or zero (extended again after a
// Truncate), Stats never shows more mapped than MaxMapped plus Pinned, the
// kernel never more than that allows, and at the end the bound holds
// exactly and Close leaves nothing behind.
func TestBoundxStormShrink(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	for _, c := range []bxStormCfg{
		{maxMapped: 2},
		{maxMapped: 1, noAdmission: true, arenaChunks: 4},
	} {
		t.Run(c.String(), func(t *testing.T) { bxStormShrink(t, c, 300*time.Millisecond) })
	}
}

func bxStormShrink(t *testing.T, c bxStormCfg, dur time.Duration) {
	baseG := runtime.NumGoroutine()
	o := chunkmap.Options{MaxMapped: c.maxMapped, NoAdmission: c.noAdmission}
	if c.arenaChunks > 0 {
		o.ArenaSize = c.arenaChunks * bxChunk
	}
	m, dir := bxOpen(t, o)
	if _, err := m.WriteAt(bxPatBuf(0, 8*bxChunk), 0); err != nil {
		t.Fatal(err)
	}
	va := accessor.New(m, nil)
	var errs bxErrs
	var held bxHeld
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var smp bxSampler
	wg.Add(1)
	go func() { defer wg.Done(); smp.run(t, m, dir, c.maxMapped, &held, true, stop) }()
	worker := func(id int) {
		defer wg.Done()
		r := rand.New(rand.NewPCG(uint64(id), 7))
		sc := va.Scan()
		for {
			select {
			case <-stop:
				return
			default:
			}
			start, size := m.Start(), m.Size()
			span := max(size-start, 1)
			off := start + r.Int64N(span)
			n := 1 + r.IntN(2*bxChunk)
			switch r.IntN(12) {
			case 0:
				p := make([]byte, n)
				k, err := m.ReadAt(p, off)
				errs.check("ReadAt", err, chunkmap.ErrOutOfRange)
				if bad, ok := bxPatOrZero(p[:k], off); !ok {
					errs.add("ReadAt(%d, %d): byte at %d is %d, want %d or 0", off, n, bad, p[bad-off], bxPat(bad))
				}
			case 1:
				wo := start + r.Int64N(span+bxChunk)
				_, err := m.WriteAt(bxPatBuf(wo, n), wo)
				errs.check("WriteAt", err, chunkmap.ErrOutOfRange)
			case 2:
				_, err := m.Append(make([]byte, 1+r.IntN(4000)))
				errs.check("Append", err)
			case 3:
				if size-start > 12*bxChunk {
					errs.check("Truncate", m.Truncate(start+r.Int64N(span)), chunkmap.ErrOutOfRange)
				}
			case 4:
				if r.IntN(3) == 0 && size-start > 6*bxChunk {
					errs.check("DropBefore", m.DropBefore(start+bxChunk), chunkmap.ErrOutOfRange)
				}
			case 5:
				errs.check("Sync", m.Sync())
			case 6, 7:
				k := chunksOf(off, n)
				held.add(k)
				p, err := m.PinWritable(off, n)
				errs.check("PinWritable", err, chunkmap.ErrOutOfRange)
				if err == nil {
					if bad, ok := bxPatOrZero(p.Bytes(), off); !ok {
						errs.add("Pin(%d, %d): byte at %d wrong", off, n, bad)
					}
					runtime.Gosched()
					p.Release()
				}
				held.sub(k)
			case 8:
				held.add(6)
				err := m.Batch(func(b *chunkmap.Batch) error {
					for i := 0; i < 3; i++ {
						bo := m.Start() + r.Int64N(max(m.Size()-m.Start(), 1))
						bn := 1 + r.IntN(bxChunk)
						p, err := b.WritableBytes(bo, bn)
						if err != nil {
							return err
						}
						if bad, ok := bxPatOrZero(p, bo); !ok {
							errs.add("Batch(%d, %d): byte at %d wrong", bo, bn, bad)
						}
						copy(p, bxPatBuf(bo, bn))
					}
					return nil
				})
				held.sub(6)
				errs.check("Batch", err, chunkmap.ErrOutOfRange)
			case 9:
				offs := make([]int64, 1+r.IntN(300))
				for i := range offs {
					offs[i] = start + r.Int64N(span)
				}
				dst := make([]byte, len(offs))
				err := m.Gather(dst, offs, 1)
				errs.check("Gather", err, chunkmap.ErrOutOfRange)
				if err == nil {
					for i, o := range offs {
						if dst[i] != 0 && dst[i] != bxPat(o) {
							errs.add("Gather at %d: %d", o, dst[i])
							break
						}
					}
				}
			case 10:
				held.add(2)
				for bo, b := range sc.Blocks(off, int64(n)) {
					if bad, ok := bxPatOrZero(b, bo); !ok {
						errs.add("Blocks at %d wrong", bad)
					}
				}
				held.sub(2)
				errs.check("Blocks", sc.Err(), chunkmap.ErrOutOfRange)
				sc = va.Scan()
			case 11:
				errs.check("Grow", m.Grow(int64(r.IntN(2*bxChunk))))
			}
		}
	}
	for i := 0; i < 150; i++ {
		wg.Add(1)
		go worker(i)
	}
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	errs.report(t)
	smp.report(t)
	bxQuietClose(t, m, dir, c.maxMapped)
	m, va = nil, nil
	bxWaitGone(t, dir, baseG)
}

// bxSampler samples a storm until it stops: Stats against MaxMapped plus
// Pinned; the kernel's mappings of the dataset against Stats, listed while
// the Manager's lock keeps them as they are; and the kernel's against
// MaxMapped plus the test's own holds, plus one chunk released and not yet
// evicted.
type bxSampler struct {
	samples, statsOver, osOver atomic.Int64
	lastStats, lastOS          atomic.Pointer[string]
}

// run samples until stop. With pinned, the kernel may also map what Stats
// counts as held (a Sync holds the chunks it flushes, and chunks deleted
// while held stay mapped).
func (s *bxSampler) run(t *testing.T, m *chunkmap.Manager, dir string, maxMapped int, held *bxHeld, pinned bool, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		held.window()
		var raw []byte
		st := m.StatsHolding(func() { raw = bxReadMaps(t) })
		b, _ := bxMapsIn(raw, dir)
		hw := held.hw.Load()
		if st.Mapped > maxMapped+st.Pinned {
			s.statsOver.Add(1)
			msg := fmt.Sprintf("%+v", st)
			s.lastStats.Store(&msg)
		}
		lim := int64(maxMapped) + hw + 1
		if pinned {
			lim += int64(st.Pinned)
		}
		if b != int64(st.Mapped)*bxChunk || b > lim*bxChunk {
			s.osOver.Add(1)
			msg := fmt.Sprintf("kernel maps %.2f chunks, Stats %+v, MaxMapped %d, test holds at most %d:\n%s", float64(b)/bxChunk, st, maxMapped, hw, bxLinesOf(raw, dir))
			s.lastOS.Store(&msg)
		}
		s.samples.Add(1)
		time.Sleep(200 * time.Microsecond)
	}
}

// report logs the Stats samples over the bound and fails on the kernel's.
func (s *bxSampler) report(t *testing.T) {
	t.Helper()
	if n := s.statsOver.Load(); n > 0 {
		// The instant between a last release and its eviction; see
		// TestBoundxStatsReleaseWindow, which checks that path closely.
		t.Logf("Stats: Mapped > MaxMapped + Pinned in %d of %d samples; last: %s", n, s.samples.Load(), *s.lastStats.Load())
	}
	if n := s.osOver.Load(); n > 0 {
		t.Errorf("kernel: more chunks mapped than MaxMapped plus the holds in %d of %d samples; last: %s", n, s.samples.Load(), *s.lastOS.Load())
	}
}

// bxQuietClose checks, once nothing is held, that Stats keeps the bound
// exactly and agrees with the kernel's mappings of dir, then closes m and
// checks that Stats shows nothing mapped or held.
func bxQuietClose(t *testing.T, m *chunkmap.Manager, dir string, maxMapped int) {
	t.Helper()
	st := m.Stats()
	if st.Pinned != 0 || st.Mapped > maxMapped {
		t.Errorf("quiet: Stats %+v, want Pinned 0 and Mapped <= %d", st, maxMapped)
	}
	if b, _ := bxMaps(t, dir); b != int64(st.Mapped)*bxChunk {
		t.Errorf("quiet: the kernel maps %.2f chunks of %s, Stats().Mapped = %d:\n%s", float64(b)/bxChunk, dir, st.Mapped, bxMapsOf(t, dir))
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if st := m.Stats(); st.Mapped != 0 || st.Pinned != 0 {
		t.Errorf("after Close: Stats %+v", st)
	}
}

// TestBoundxStatsReleaseWindow pins and releases chunks in turn with
// MaxMapped 1 while other goroutines read Stats: no snapshot may show more
// chunks mapped than MaxMapped plus those held (Pinned). A last Release
// that leaves eviction due must not lower the hold count before it takes
// the lock to evict: a Stats that got the lock in between would count a
// chunk that is mapped, not held, and beyond MaxMapped.
func TestBoundxStatsReleaseWindow(t *testing.T) {
	watchdog.Start(t, 20*time.Second)
	m, dir := bxOpen(t, chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	bxFill(t, m, 4)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var samples, over atomic.Int64
	var last atomic.Pointer[string]
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st := m.Stats()
				samples.Add(1)
				if st.Mapped > 1+st.Pinned {
					over.Add(1)
					s := fmt.Sprintf("%+v", st)
					last.Store(&s)
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p, err := m.Pin(int64((g+i)%4)*bxChunk, 100)
				if err != nil {
					t.Error(err)
					return
				}
				p.Release()
			}
		}(g)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := over.Load(); n > 0 {
		t.Errorf("Stats showed Mapped > MaxMapped (1) + Pinned in %d of %d snapshots; last: %s", n, samples.Load(), *last.Load())
	}
	bxQuiet(t, m, dir, 1, "quiet")
	m.Close()
}
