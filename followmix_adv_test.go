package chunkmap_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/chunkmap/chunkmap"
)

// TestFollowMix_EveryReadPath races every read path of followers (ReadAt,
// Gather, LoadUint64, Pin, a Batch's Bytes), with mapped chunks and with
// pread, and Refresh, against a writer that cuts into its last chunks
// (deleting them), grows them again, writes them anew, grows spare chunks
// and cuts them, drops its first chunks, and closes and reopens. Every
// word a follower returns must be of its offset and of a generation at
// least the one the word had when the call began, or zero if the call
// began with the word cut, or a cut ran during the call.
func TestFollowMix_EveryReadPath(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	seed := testSeed(t, "CHUNKMAP_SEED")
	dir := t.TempDir()
	opts := &chunkmap.Options{ChunkSize: cs, MaxMapped: 8}
	w, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(shrinkWords(1, 0, fmSpan), 0); err != nil {
		t.Fatal(err)
	}
	md := newFmModel(make([]byte, 8*(2+fmSpan/8)))
	for i := range md.floor {
		md.floor[i].Store(1 << 1)
	}
	var done, failed atomic.Bool
	var wg sync.WaitGroup
	fmFollow(t, dir, seed, md, &done, &failed, &wg, func(error) bool { return false })
	rng := rand.New(rand.NewPCG(seed, 99))
	start := int64(0)
	gens := uint64(600)
	if raceEnabled || testing.Short() {
		gens = 120
	}
	for gen := uint64(2); gen < gens && !failed.Load(); gen++ {
		if gen%4 == 0 {
			runtime.Gosched()
		}
		if err := fmStep(w, md, rng, gen, start); err != nil {
			t.Fatal(err)
		}
		if gen%97 == 0 && start < 2*cs {
			start += cs
			if err := w.DropBefore(start); err != nil {
				t.Fatal(err)
			}
		}
		if gen%61 == 0 {
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w, err = chunkmap.Open(dir, opts); err != nil {
				t.Fatal(err)
			}
		}
		if gen%23 == 0 {
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// fmModel is what a writer had at each word of the span, for followers
// to check the words they read against: floor[i] is gen<<1 | zero, the
// least generation word i holds for a call that begins now, and whether
// it may be zero (cut, grown again, not yet written); cuts moves before
// every cut, after the floors it may zero say so; gen is the writer's
// last generation begun. It lives in memory shared with writer processes
// in the cross-process test.
type fmModel struct {
	cuts, gen *atomic.Uint64
	floor     []atomic.Uint64
}

// fmTornOverZero reports whether v may be the word of offset at, of a
// generation up to gen, caught part way through its write over zeros: a
// copy (Go's memmove for stores through a mapping, the kernel's for a
// pwrite) moves bytes in pieces of any size, down to single bytes, on
// 64-bit platforms as on 32-bit, so that a follower copying the word as it
// is written may see any of its bytes still zero. As for plain memory,
// nothing promises more (the README's Concurrency). Each byte of v's low
// half, the offset, must then be zero or the offset's; its high half, the
// generation, can be no more than the latest begun.
func fmTornOverZero(v uint64, at int64, gen uint64) bool {
	want := uint64(at / 8)
	for i := range 4 {
		if b := v >> (8 * i) & 0xff; b != 0 && b != want>>(8*i)&0xff {
			return false
		}
	}
	return v>>32 <= gen
}

// fmSpan is the span of the dataset the tests write: chunks 0 to 5.
const fmSpan = 6 * chunkmap.MinChunkSize

// newFmModel returns a model kept in mem, 8*(2+fmSpan/8) bytes.
func newFmModel(mem []byte) fmModel {
	w := unsafe.Slice((*atomic.Uint64)(unsafe.Pointer(unsafe.SliceData(mem))), len(mem)/8)
	return fmModel{cuts: &w[0], gen: &w[1], floor: w[2 : 2+fmSpan/8]}
}

// fmFollow runs followers of the dataset in dir, one Manager per reader
// option, two goroutines each, through every read path until done is
// set, and checks each word they return against md; it fails the test
// (once) through failed. lenient says which errors, besides io.EOF and
// ErrOutOfRange, a call may return.
func fmFollow(t *testing.T, dir string, seed uint64, md fmModel, done, failed *atomic.Bool, wg *sync.WaitGroup, lenient func(error) bool) {
	t.Helper()
	const cs = chunkmap.MinChunkSize
	const span = fmSpan
	fail := func(format string, args ...any) {
		if !failed.Swap(true) {
			t.Errorf(format, args...)
		}
	}
	// check checks the words of b, read from off by a call that began
	// with the floors lo and cuts c0.
	var diag func(at int64) string
	check := func(what string, b []byte, off int64, lo []uint64, c0 uint64) {
		for j := 0; j+8 <= len(b); j += 8 {
			v := binary.LittleEndian.Uint64(b[j:])
			f := lo[j/8]
			at := off + int64(j)
			if v == 0 {
				if f&1 == 0 && md.cuts.Load() == c0 {
					fail("%s at %d len %d: word at %d is zero, want generation >= %d (no cut since the call began); %s", what, off, len(b), at, f>>1, diag(at))
				}
				continue
			}
			gen, o := v>>32, int64(uint32(v))*8
			if (f&1 != 0 || md.cuts.Load() != c0) && fmTornOverZero(v, at, md.gen.Load()) {
				// Zeros may be read here, and so may the word being
				// written over them, part way (see fmTornOverZero).
				continue
			}
			if o != at || gen < f>>1 {
				fail("%s at %d: word at %d is %#x (gen %d, offset %d), want offset %d of gen >= %d",
					what, off, at, v, gen, o, at, f>>1)
				return
			}
		}
	}
	okErr := func(err error) bool {
		return err == nil || errors.Is(err, io.EOF) || errors.Is(err, chunkmap.ErrOutOfRange)
	}
	readerOpts := []chunkmap.Options{
		{ReadOnly: true, MaxMapped: 8},
		{ReadOnly: true, MaxMapped: 1},
		{ReadOnly: true, MaxMapped: 2, NoAdmission: true},
		// Two places in the arena: chunks two apart share one, and
		// reads across chunks take views.
		{ReadOnly: true, MaxMapped: 4, ArenaSize: 2 * cs},
	}
	for i, ro := range readerOpts {
		r, err := chunkmap.Open(dir, &ro)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if i == 0 {
			diag = func(at int64) string {
				var b [8]byte
				_, err := r.ReadAt(b[:], at)
				r2, err2 := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
				var c [8]byte
				if err2 == nil {
					_, err2 = r2.ReadAt(c[:], at)
					r2.Close()
				}
				return fmt.Sprintf("reader 0 reads %#x (%v), a new reader %#x (%v)", b, err, c, err2)
			}
		}
		for g := range 2 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(seed, uint64(10*i+g)))
				buf := make([]byte, 3*cs)
				lo := make([]uint64, 3*cs/8)
				for n := 0; !done.Load() && !failed.Load(); n++ {
					if n%32 == 0 {
						runtime.Gosched()
					}
					start := r.Start()
					if start >= span {
						continue
					}
					k := 8 * (1 + rng.IntN(3*cs/8))
					if rng.IntN(2) == 0 {
						k = 8 * (1 + rng.IntN(64))
					}
					off := start + 8*rng.Int64N((span-start)/8)
					if off+int64(k) > span {
						k = int(span - off)
					}
					c0 := md.cuts.Load()
					for j := range k / 8 {
						lo[j] = md.floor[off/8+int64(j)].Load()
					}
					b := buf[:k]
					if rng.IntN(16) == 0 {
						// Refresh checks every file the follower holds,
						// beside the other goroutine's reads.
						if err := r.Refresh(); err != nil && !lenient(err) {
							fail("Refresh: %v", err)
							return
						}
					}
					switch op := rng.IntN(5); op {
					case 0:
						m, err := r.ReadAt(b, off)
						if !okErr(err) && !lenient(err) {
							fail("ReadAt(%d, %d): %v", k, off, err)
							return
						}
						check("ReadAt", b[:m], off, lo, c0)
					case 1:
						offs := make([]int64, min(k/8, 256))
						for j := range offs {
							offs[j] = off + 8*int64(j)
						}
						err := r.Gather(b[:8*len(offs)], offs, 8)
						if err != nil {
							if !okErr(err) && !lenient(err) {
								fail("Gather(%d at %d): %v", len(offs), off, err)
								return
							}
							continue
						}
						check("Gather", b[:8*len(offs)], off, lo, c0)
					case 2:
						x, err := r.LoadUint64(off)
						if err != nil {
							if !okErr(err) && !lenient(err) {
								fail("LoadUint64(%d): %v", off, err)
								return
							}
							continue
						}
						binary.LittleEndian.PutUint64(b, x)
						check("LoadUint64", b[:8], off, lo, c0)
					case 3:
						p, err := r.Pin(off, k)
						if err != nil {
							if !okErr(err) && !lenient(err) {
								fail("Pin(%d, %d): %v", off, k, err)
								return
							}
							continue
						}
						copy(b, p.Bytes())
						p.Release()
						check("Pin", b, off, lo, c0)
					case 4:
						err := r.Batch(func(bt *chunkmap.Batch) error {
							for it := range 3 {
								p, err := bt.Bytes(off, k)
								if err != nil {
									return err
								}
								copy(b, p)
								check(fmt.Sprintf("Batch.Bytes (reader %d, call %d)", i, it), b, off, lo, c0)
								// The next call begins now.
								c0 = md.cuts.Load()
								for j := range k / 8 {
									lo[j] = md.floor[off/8+int64(j)].Load()
								}
							}
							return nil
						})
						if !okErr(err) && !lenient(err) {
							fail("Batch Bytes(%d, %d): %v", off, k, err)
							return
						}
					}
				}
			})
		}
	}
}

// fmStep is one generation of the writer w of the tests: it cuts into
// the last chunks past start (deleting up to two), perhaps grows them
// with zeros or grows spare chunks, writes them anew, and writes some
// words below the cut again, keeping md up to date.
func fmStep(w *chunkmap.Manager, md fmModel, rng *rand.Rand, gen uint64, start int64) error {
	const cs = chunkmap.MinChunkSize
	const span = fmSpan
	md.gen.Store(gen)
	// Cut into the last chunks, deleting up to two of them.
	cut := max(start, span-3*cs+8*rng.Int64N(3*cs/8))
	// Zeros are allowed from before the cut's count moves, for a
	// call that loaded the count before and the floors after.
	for i := cut / 8; i < span/8; i++ {
		md.floor[i].Store(md.floor[i].Load() | 1)
	}
	md.cuts.Add(1)
	if err := w.Truncate(cut); err != nil {
		return err
	}
	for i := cut / 8; i < span/8; i++ {
		md.floor[i].Store(gen<<1 | 1)
	}
	switch rng.IntN(4) {
	case 0:
		// Grow with zeros first, then write.
		if err := w.Truncate(span); err != nil {
			return err
		}
	case 1:
		// Spare chunks past Size, cut again by the next Truncate.
		if err := w.Grow(2 * cs); err != nil {
			return err
		}
	}
	// Written in two parts, the second first.
	mid := cut + 8*rng.Int64N((span-cut)/8+1)
	if _, err := w.WriteAt(shrinkWords(uint32(gen), mid, int(span-mid)), mid); err != nil {
		return err
	}
	if _, err := w.WriteAt(shrinkWords(uint32(gen), cut, int(mid-cut)), cut); err != nil {
		return err
	}
	for i := cut / 8; i < span/8; i++ {
		md.floor[i].Store(gen << 1)
	}
	// Some words below the cut are written again too.
	if start < cut {
		o := start + 8*rng.Int64N((cut-start)/8)
		n := min(8*(1+rng.Int64N(512)), cut-o)
		if _, err := w.WriteAt(shrinkWords(uint32(gen), o, int(n)), o); err != nil {
			return err
		}
		for i := o / 8; i < (o+n)/8; i++ {
			md.floor[i].Store(gen << 1)
		}
	}
	return nil
}
