package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// clxRecord is a self-checking log record: length, sequence, payload, CRC.
func clxRecord(seq uint32, n int) []byte {
	b := make([]byte, 12+n)
	binary.LittleEndian.PutUint32(b, uint32(n))
	binary.LittleEndian.PutUint32(b[4:], seq)
	for i := range n {
		b[8+i] = byte(seq*31 + uint32(i))
	}
	binary.LittleEndian.PutUint32(b[8+n:], crc32.ChecksumIEEE(b[:8+n]))
	return b
}

// clxWalk parses records from r over [from, size) and returns how many it
// found, or an error naming the first bad one.
func clxWalk(r io.ReaderAt, from, size int64) (int, error) {
	var hdr [8]byte
	count := 0
	for off := from; off < size; {
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			return count, fmt.Errorf("header at %d (size %d): %w", off, size, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[:]))
		if n > 4*clxChunk || off+12+n > size {
			return count, fmt.Errorf("record at %d: length %d runs past size %d (header %x)", off, n, size, hdr)
		}
		b := make([]byte, 12+n)
		if _, err := r.ReadAt(b, off); err != nil {
			return count, fmt.Errorf("record at %d: %w", off, err)
		}
		if crc32.ChecksumIEEE(b[:8+n]) != binary.LittleEndian.Uint32(b[8+n:]) {
			return count, fmt.Errorf("record at %d (%d bytes, size %d): bad checksum", off, n, size)
		}
		off += 12 + n
		count++
	}
	return count, nil
}

// TestClientxAppendLogFollowers appends self-checking records from several
// goroutines, as a log would, while readers in the same Manager and a
// ReadOnly follower walk the log up to Size over and over: every record
// below Size must be whole (an Append counts in Size only once it and every
// earlier one are written), and no two appends may overlap.
func TestClientxAppendLogFollowers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	m := clxOpen(t, dir, &chunkmap.Options{ChunkSize: clxChunk, MaxMapped: 2})
	defer m.Close()
	fol := clxOpen(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2})
	defer fol.Close()

	var stop atomic.Bool
	var wg sync.WaitGroup
	var appended atomic.Int64
	offsets := make([][]int64, 3)
	for w := range offsets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && m.Size() < 40*clxChunk; i++ {
				n := (i*7919 + w*104729) % (clxChunk + 1000)
				if i%5 != 0 {
					n %= 300
				}
				off, err := m.Append(clxRecord(uint32(w<<24|i), n))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				offsets[w] = append(offsets[w], off)
				appended.Add(1)
			}
		}()
	}
	readErr := make(chan error, 4)
	for _, r := range []*chunkmap.Manager{m, fol} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := clxWalk(r, 0, r.Size()); err != nil {
					readErr <- err
					return
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-readErr:
		t.Fatal(err)
	default:
	}
	count, err := clxWalk(m, 0, m.Size())
	if err != nil {
		t.Fatal(err)
	}
	if int64(count) != appended.Load() {
		t.Fatalf("%d records in the log, %d appended", count, appended.Load())
	}
	seen := map[int64]bool{}
	for _, offs := range offsets {
		for _, o := range offs {
			if seen[o] {
				t.Fatalf("two appends returned offset %d", o)
			}
			seen[o] = true
		}
	}
	if n, err := clxWalk(fol, 0, fol.Size()); err != nil || n != count {
		t.Fatalf("follower: %d records, %v; want %d", n, err, count)
	}
}

// TestClientxRetentionWhileReading runs a log with retention: an appender
// and a DropBefore loop beside readers that walk from Start. A reader whose
// range was dropped under it must get ErrOutOfRange (never bytes of another
// chunk, never a short read without an error).
func TestClientxRetentionWhileReading(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ret")
	m := clxOpen(t, dir, &chunkmap.Options{ChunkSize: clxChunk, MaxMapped: 3})
	defer m.Close()
	fol := clxOpen(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2})
	defer fol.Close()
	// Fixed-size records that never straddle a chunk, so that every
	// chunk starts with a record.
	const rec = 4096
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if _, err := m.Append(clxRecord(uint32(i), rec-12)); err != nil {
				t.Errorf("Append: %v", err)
				return
			}
			if m.Size()-m.Start() > 6*clxChunk {
				if err := m.DropBefore(m.Size() - 3*clxChunk); err != nil {
					t.Errorf("DropBefore: %v", err)
					return
				}
			}
		}
	}()
	for _, r := range []*chunkmap.Manager{m, fol} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, rec)
			for !stop.Load() {
				start, size := r.Start(), r.Size()
				for off := start; off+rec <= size; off += rec {
					n, err := r.ReadAt(buf, off)
					if err != nil {
						if n != 0 || !errors.Is(err, chunkmap.ErrOutOfRange) && !errors.Is(err, chunkmap.ErrFault) {
							t.Errorf("ReadAt(%d) behind retention: %d, %v", off, n, err)
							return
						}
						if r.Start() <= off {
							t.Errorf("ReadAt(%d): %v, but Start is %d", off, err, r.Start())
							return
						}
						break
					}
					if _, err := clxWalk(bytes.NewReader(buf), 0, rec); err != nil {
						if r.Start() > off {
							break // dropped while being read: bytes of a deleted chunk
						}
						t.Errorf("record at %d (start %d): %v", off, r.Start(), err)
						return
					}
				}
			}
		}()
	}
	time.Sleep(600 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
}

// TestClientxParallelGapWrites is a parallel downloader: goroutines write
// the disjoint blocks of a file with WriteAt in random order, most of them
// past Size over a gap that an earlier block will fill, into a dataset that
// a Truncate left with stale bytes past Size, while readers read random
// ranges. io.WriterAt allows parallel WriteAt calls on disjoint ranges.
// Every read must return each byte as zero (a gap) or as written, never a
// stale one, fill p whenever it lies below the Size seen before it, and the
// file must end as written. Each writer clears its buffer once WriteAt
// returns, which a write that retained p would then store.
func TestClientxParallelGapWrites(t *testing.T) {
	seed := testSeed(t, "CLIENTX_SEED")
	for round := range uint64(8) {
		rs := seed + round
		t.Run(fmt.Sprint("seed", rs), func(t *testing.T) { clxGapWrites(t, rs) })
		if t.Failed() {
			return
		}
	}
}

func clxGapWrites(t *testing.T, seed uint64) {
	const cs = clxChunk
	const stale = 0xff // in no block: a read that returns it read stale bytes
	rng := rand.New(rand.NewPCG(seed, 3))
	m := clxOpen(t, filepath.Join(t.TempDir(), "ds"), &chunkmap.Options{
		ChunkSize:   cs,
		MaxMapped:   1 + rng.IntN(3),
		NoAdmission: rng.IntN(2) == 0,
		ArenaSize:   int64(rng.IntN(2)) * 4 * cs,
	})
	defer m.Close()
	total := int64(6*cs + rng.IntN(cs))
	if _, err := m.WriteAt(bytes.Repeat([]byte{stale}, int(total)), 0); err != nil {
		t.Fatal(err)
	}
	keep := rng.Int64N(2 * cs) // chunks 0 and 1 keep stale bytes past it
	if err := m.Truncate(keep); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, total)
	for i := range want {
		want[i] = byte(1 + rng.IntN(stale-1))
	}
	copy(want, bytes.Repeat([]byte{stale}, int(keep)))
	var blocks [][2]int64
	for at := keep; at < total; {
		n := min(total-at, 1+rng.Int64N([]int64{100, 5000, cs, 3 * cs}[rng.IntN(4)]))
		blocks = append(blocks, [2]int64{at, at + n})
		at += n
	}
	rng.Shuffle(len(blocks), func(i, j int) { blocks[i], blocks[j] = blocks[j], blocks[i] })

	var next atomic.Int64
	var done atomic.Bool
	var writers, readers sync.WaitGroup
	for range 4 {
		writers.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(blocks)) {
					return
				}
				b := blocks[i]
				p := bytes.Clone(want[b[0]:b[1]])
				if n, err := m.WriteAt(p, b[0]); n != len(p) || err != nil {
					t.Errorf("WriteAt(%d, %d) = %d, %v", len(p), b[0], n, err)
					return
				}
				clear(p)
			}
		})
	}
	for r := range uint64(2) {
		readers.Go(func() {
			rr := rand.New(rand.NewPCG(seed, r))
			buf := make([]byte, 3*cs)
			for !done.Load() {
				off, n := keep+rr.Int64N(total-keep), rr.IntN(len(buf))
				size := m.Size()
				k, err := m.ReadAt(buf[:n], off)
				if k < n && (err == nil || off+int64(n) <= size) {
					t.Errorf("ReadAt(%d, %d) with Size %d before it = %d, %v", n, off, size, k, err)
					return
				}
				for i, c := range buf[:k] {
					if c != 0 && c != want[off+int64(i)] {
						t.Errorf("ReadAt(%d, %d): byte at %d is %#x, want 0 or %#x", n, off, off+int64(i), c, want[off+int64(i)])
						return
					}
				}
			}
		})
	}
	writers.Wait()
	done.Store(true)
	readers.Wait()
	got := make([]byte, total)
	if n, err := m.ReadAt(got, 0); n != len(got) || err != nil {
		t.Fatalf("ReadAt of the whole file = %d, %v; want %d, nil", n, err, total)
	}
	if i := advFirstDiff(got, want); i >= 0 {
		t.Fatalf("byte at %d is %#x, want %#x", i, got[i], want[i])
	}
}
