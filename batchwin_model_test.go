package chunkmap_test

// Adversarial tests of the fast path of Batch.Bytes and Batch.WritableBytes
// (the window over chunks held side by side, commit 6a8b0e8): one
// goroutine, an exact in-memory model, and batches whose functions resize
// the dataset themselves, so that every answer is known: a call succeeds
// exactly when [off, off+n) lies within [Start, Size) as of the call, and
// its bytes are exactly the model's.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

const bwCS = chunkmap.MinChunkSize // 64 KiB chunks

// bwCfg is one way of opening the dataset.
type bwCfg struct {
	name        string
	maxMapped   int
	arenaChunks int64 // Options.ArenaSize in chunks; 0 for the default
	scattered   bool
	noAdmission bool
}

// bwCfgs: MaxMapped small and large, tiny arenas (slots reused many times
// over), one slot, and the scattered arena.
var bwCfgs = []bwCfg{
	{name: "default", maxMapped: 64},
	{name: "max2", maxMapped: 2, noAdmission: true},
	{name: "arena2", maxMapped: 8, arenaChunks: 2},
	{name: "arena4-max1", maxMapped: 1, arenaChunks: 4},
	{name: "arena1", maxMapped: 4, arenaChunks: 1},
	{name: "arena64-max70", maxMapped: 70, arenaChunks: 64, noAdmission: true},
	{name: "scattered", maxMapped: 16, scattered: true},
	{name: "scattered-arena4", maxMapped: 3, arenaChunks: 4, scattered: true},
}

// bwOpen opens a new dataset in dir with c.
func bwOpen(t testing.TB, dir string, c bwCfg) *chunkmap.Manager {
	t.Helper()
	o := &chunkmap.Options{ChunkSize: bwCS, MaxMapped: c.maxMapped, NoAdmission: c.noAdmission}
	if c.arenaChunks > 0 {
		o.ArenaSize = c.arenaChunks * bwCS
	}
	was := chunkmap.SetScatteredArena(c.scattered)
	m, err := chunkmap.Open(dir, o)
	chunkmap.SetScatteredArena(was)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// bwDir returns a new directory on a tmpfs if there is one (fsync is
// free there, so the tests spend their time on accesses), else t.TempDir.
func bwDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "batchwin-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return filepath.Join(d, "ds")
		}
	}
	return filepath.Join(t.TempDir(), "ds")
}

// bwModel is what the dataset holds: data[i] is the byte at offset i, for
// offsets in [start, len(data)).
type bwModel struct {
	start int64
	data  []byte
}

func (md *bwModel) size() int64 { return int64(len(md.data)) }

// in reports whether Bytes(off, n) must succeed.
func (md *bwModel) in(off int64, n int) bool {
	switch {
	case n < 0 || off < md.start:
		return false
	case n == 0:
		return off < md.size()
	}
	return off <= md.size() && int64(n) <= md.size()-off
}

func (md *bwModel) truncate(size int64) {
	if size <= md.size() {
		md.data = md.data[:size]
		return
	}
	md.data = append(md.data, make([]byte, size-md.size())...)
}

// bwPick returns an offset and a length for a call: mostly in range, many
// at the edges that the window arithmetic must get right (Start, Size,
// chunk boundaries, both sides of each), some out of range or absurd.
func bwPick(r *rand.Rand, md *bwModel) (int64, int) {
	lens := []int{0, 1, 7, 8, 64, 4096, bwCS - 1, bwCS, bwCS + 1, 2*bwCS + 3}
	n := lens[r.IntN(len(lens))]
	if r.IntN(4) != 0 {
		n = 1 + r.IntN(64)
	}
	span := md.size() - md.start
	var off int64
	switch k := r.IntN(20); {
	case k < 8 && span > 0:
		off = md.start + r.Int64N(span)
	case k < 11: // around a chunk boundary
		c := md.start/bwCS + r.Int64N(span/bwCS+2)
		off = c*bwCS + int64(r.IntN(17)) - 8
	case k < 13: // ending at or around Size
		off = md.size() - int64(n) + int64(r.IntN(5)) - 2
	case k < 15: // at or around Start
		off = md.start + int64(r.IntN(5)) - 2
	case k == 15:
		off, n = []int64{-1, math.MinInt64, math.MaxInt64, math.MaxInt64 - 7, md.size()}[r.IntN(5)], []int{1, 8, -1, math.MaxInt}[r.IntN(4)]
	default:
		off = md.start + r.Int64N(span+3*bwCS+1) - bwCS
	}
	if n > 0 && r.IntN(2) == 0 {
		off &^= 7
	}
	return off, n
}

// TestBatchWin_ExactModel runs, per configuration, random batches whose
// functions mix Bytes and WritableBytes (through the Batch and through
// copies of it) with Truncate, DropBefore, Append, WriteAt and Sync made
// from inside the function, and checks every answer against the model:
// success exactly in range, the model's bytes exactly, stores landing at
// their offsets. After each batch its handle and a copy must report
// ErrClosed.
func TestBatchWin_ExactModel(t *testing.T) {
	for _, c := range bwCfgs {
		t.Run(c.name, func(t *testing.T) {
			seed := testSeed(t, "BATCHWIN_SEED")
			d := stormFor(300 * time.Millisecond)
			if testing.Short() {
				d = 100 * time.Millisecond
			}
			bwExact(t, c, seed, d)
		})
	}
}

func bwExact(t *testing.T, c bwCfg, seed uint64, dur time.Duration) {
	r := rand.New(rand.NewPCG(seed, seed^0xba7c4))
	m := bwOpen(t, bwDir(t), c)
	defer m.Close()
	md := &bwModel{}
	fill := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.Uint32()) | 1
		}
		return p
	}
	if _, err := m.Append(fill(20 * bwCS)); err != nil {
		t.Fatal(err)
	}
	// Read the initial bytes back rather than keep fill's: one source of truth.
	md.data = make([]byte, 20*bwCS)
	if _, err := m.ReadAt(md.data, 0); err != nil {
		t.Fatal(err)
	}
	const maxSpan = 80 * bwCS // past 64 chunks: cache entries collide
	deadline := time.Now().Add(dur)
	ops, batches, fails := 0, 0, 0
	fail := func(format string, args ...any) {
		fails++
		if fails <= 10 {
			t.Errorf("seed %d op %d: "+format, append([]any{seed, ops}, args...)...)
		}
	}
	var stale *chunkmap.Batch
	var staleCopy chunkmap.Batch
	for time.Now().Before(deadline) && fails < 10 {
		batches++
		err := m.Batch(func(b *chunkmap.Batch) error {
			stale, staleCopy = b, *b
			for k := 200 + r.IntN(800); k > 0 && fails < 10; k-- {
				ops++
				h := b
				if r.IntN(8) == 0 {
					cp := *b // a copy acts for b
					h = &cp
				}
				switch op := r.IntN(100); {
				case op < 55:
					off, n := bwPick(r, md)
					p, err := h.Bytes(off, n)
					if want := md.in(off, n); want != (err == nil) {
						fail("Bytes(%d, %d) with Start %d, Size %d: err %v, want success %v", off, n, md.start, md.size(), err, want)
					} else if err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
						fail("Bytes(%d, %d): %v, want ErrOutOfRange", off, n, err)
					} else if err == nil {
						if len(p) != n || cap(p) < n {
							fail("Bytes(%d, %d): len %d cap %d", off, n, len(p), cap(p))
						} else if i := firstDiff(p, md.data[off:off+int64(n)]); i >= 0 {
							fail("Bytes(%d, %d): byte at offset %d (chunk %d) = %#x, want %#x (Start %d, Size %d)",
								off, n, off+int64(i), (off+int64(i))/bwCS, p[i], md.data[off+int64(i)], md.start, md.size())
						}
					}
				case op < 90:
					off, n := bwPick(r, md)
					p, err := h.WritableBytes(off, n)
					if want := md.in(off, n); want != (err == nil) {
						fail("WritableBytes(%d, %d) with Start %d, Size %d: err %v, want success %v", off, n, md.start, md.size(), err, want)
					} else if err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
						fail("WritableBytes(%d, %d): %v, want ErrOutOfRange", off, n, err)
					} else if err == nil {
						if len(p) != n {
							fail("WritableBytes(%d, %d): len %d", off, n, len(p))
							break
						}
						if i := firstDiff(p, md.data[off:off+int64(n)]); i >= 0 {
							fail("WritableBytes(%d, %d): byte at offset %d = %#x, want %#x", off, n, off+int64(i), p[i], md.data[off+int64(i)])
						}
						q := fill(n)
						copy(p, q)
						copy(md.data[off:], q)
					}
				case op < 92: // Truncate, mostly down, often within a chunk
					size := md.start + r.Int64N(min(md.size()-md.start+2*bwCS, maxSpan)+1)
					if r.IntN(3) == 0 {
						size = md.size() - int64(r.IntN(64))
					}
					size = max(size, md.start)
					if err := m.Truncate(size); err != nil {
						return fmt.Errorf("Truncate(%d): %w", size, err)
					}
					md.truncate(size)
				case op < 93: // DropBefore
					if md.start > 200*bwCS {
						break
					}
					off := md.start + r.Int64N(min(md.size()-md.start, 4*bwCS)+1)
					if err := m.DropBefore(off); err != nil {
						return fmt.Errorf("DropBefore(%d): %w", off, err)
					}
					md.start = max(md.start, off/bwCS*bwCS)
				case op < 97: // Append
					if md.size()-md.start > maxSpan {
						break
					}
					q := fill(1 + r.IntN(2*bwCS))
					off, err := m.Append(q)
					if err != nil || off != md.size() {
						return fmt.Errorf("Append: %d, %w (Size %d)", off, err, md.size())
					}
					md.data = append(md.data, q...)
				case op < 99: // WriteAt, maybe past Size
					n := 1 + r.IntN(bwCS)
					off := md.start + r.Int64N(md.size()-md.start+bwCS)
					if off+int64(n)-md.start > maxSpan {
						break
					}
					q := fill(n)
					if _, err := m.WriteAt(q, off); err != nil {
						return fmt.Errorf("WriteAt(%d bytes at %d): %w", n, off, err)
					}
					if end := off + int64(n); end > md.size() {
						md.truncate(end)
					}
					copy(md.data[off:], q)
				default:
					if err := m.Sync(); err != nil {
						return fmt.Errorf("Sync: %w", err)
					}
				}
				if got := m.Size(); got != md.size() {
					return fmt.Errorf("Size %d, model %d", got, md.size())
				}
				if r.IntN(64) == 0 {
					staleCopy = *b // with a window, most likely
				}
			}
			if r.IntN(2) == 0 {
				staleCopy = *b
			}
			return nil
		})
		if err != nil {
			t.Fatalf("seed %d op %d: batch: %v", seed, ops, err)
		}
		for _, h := range []*chunkmap.Batch{stale, &staleCopy} {
			if p, err := h.Bytes(md.start, 1); !errors.Is(err, chunkmap.ErrClosed) {
				fail("Bytes after the batch ended: %v, %v, want ErrClosed", p, err)
			}
			if p, err := h.WritableBytes(md.start, 1); !errors.Is(err, chunkmap.ErrClosed) {
				fail("WritableBytes after the batch ended: %v, %v, want ErrClosed", p, err)
			}
		}
		if st := m.Stats(); st.Pinned != 0 || st.Mapped > c.maxMapped {
			fail("after the batch Stats %+v, want Pinned 0 and Mapped <= %d", st, c.maxMapped)
		}
	}
	got := make([]byte, md.size()-md.start)
	if _, err := m.ReadAt(got, md.start); err != nil && len(got) > 0 {
		t.Fatal(err)
	}
	if i := firstDiff(got, md.data[md.start:]); i >= 0 {
		t.Errorf("seed %d: at the end, byte at offset %d = %#x, want %#x", seed, md.start+int64(i), got[i], md.data[md.start+int64(i)])
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if live, doomed, views := m.Mappings(); live+doomed+views != 0 {
		t.Errorf("after Close with nothing held: %d live, %d doomed, %d views mapped", live, doomed, views)
	}
	t.Logf("%d batches, %d ops, Start %d, Size %d", batches, ops, md.start, md.size())
}
