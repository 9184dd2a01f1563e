package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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
