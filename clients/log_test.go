package clients

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// A record: 4-byte length of the body, 4-byte CRC-32C of the body, body.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func record(rng *rand.Rand, writer, seq int) []byte {
	n := 8 + rng.IntN(9000)
	p := make([]byte, 8+n)
	binary.LittleEndian.PutUint32(p[0:], uint32(n))
	binary.LittleEndian.PutUint32(p[8:], uint32(writer))
	binary.LittleEndian.PutUint32(p[12:], uint32(seq))
	for i := 16; i < len(p); i++ {
		p[i] = byte(rng.Uint32())
	}
	binary.LittleEndian.PutUint32(p[4:], crc32.Checksum(p[8:], castagnoli))
	return p
}

// scan reads every record in [0, Size) of r and checks it. It returns the
// number of records and where the last one ends, which must be size: a
// reader never sees part of an Append.
func scan(r io.ReaderAt, size int64) (int, error) {
	var hdr [8]byte
	off, count := int64(0), 0
	for off < size {
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			return count, fmt.Errorf("header at %d (size %d): %v", off, size, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:]))
		if n < 8 || off+8+n > size {
			return count, fmt.Errorf("record at %d (size %d): length %d", off, size, n)
		}
		body := make([]byte, n)
		if k, err := r.ReadAt(body, off+8); int64(k) != n || (err != nil && err != io.EOF) {
			return count, fmt.Errorf("body at %d: %d %v", off+8, k, err)
		}
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			return count, fmt.Errorf("record at %d (size %d, length %d): bad CRC", off, size, n)
		}
		off += 8 + n
		count++
	}
	if off != size {
		return count, fmt.Errorf("records end at %d, size %d", off, size)
	}
	return count, nil
}

// TestLogConcurrent: several goroutines Append self-checking records while
// readers, on the writer's Manager and on a ReadOnly Manager following it,
// scan [0, Size) over and over: they must always find whole records.
func TestLogConcurrent(t *testing.T) {
	dir := t.TempDir()
	w := openCM(t, dir, chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 3})
	defer w.Close()
	ro := openCM(t, dir, chunkmap.Options{ReadOnly: true, MaxMapped: 2})
	defer ro.Close()

	const writers, perWriter = 3, 400
	var stop atomic.Bool
	var wg, rwg sync.WaitGroup
	errs := make(chan error, 16)
	offsets := make([][]int64, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 5))
			for s := range perWriter {
				off, err := w.Append(record(rng, i, s))
				if err != nil {
					errs <- err
					return
				}
				offsets[i] = append(offsets[i], off)
			}
		}()
	}
	for i, m := range []*chunkmap.Manager{w, w, ro} {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			scans := 0
			for !stop.Load() {
				if _, err := scan(m, m.Size()); err != nil {
					errs <- fmt.Errorf("reader %d, scan %d: %v", i, scans, err)
					return
				}
				scans++
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for _, m := range []*chunkmap.Manager{w, ro} {
		if n, err := scan(m, m.Size()); err != nil || n != writers*perWriter {
			t.Fatalf("final scan: %d records, %v", n, err)
		}
	}
	// Every record is where its Append said.
	var hdr [16]byte
	for i := range writers {
		for s, off := range offsets[i] {
			if _, err := ro.ReadAt(hdr[:], off); err != nil {
				t.Fatal(err)
			}
			if binary.LittleEndian.Uint32(hdr[8:]) != uint32(i) || binary.LittleEndian.Uint32(hdr[12:]) != uint32(s) {
				t.Fatalf("writer %d record %d: not at %d", i, s, off)
			}
		}
	}
}

// TestParallelWriteAt writes disjoint pieces of a file in random order from
// several goroutines, as a downloader does, all of them past Size.
func TestParallelWriteAt(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	m := openCM(t, t.TempDir(), chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	defer m.Close()
	const pieces, piece = 200, 23456 // pieces straddle chunks
	want := make([]byte, pieces*piece)
	for i := range want {
		want[i] = byte(i*7 + i>>16)
	}
	order := rand.New(rand.NewPCG(1, 1)).Perm(pieces)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1) - 1
				if k >= pieces {
					return
				}
				p := order[k]
				if _, err := m.WriteAt(want[p*piece:(p+1)*piece], int64(p*piece)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if m.Size() != int64(len(want)) {
		t.Fatalf("Size %d, want %d", m.Size(), len(want))
	}
	got := make([]byte, len(want))
	if _, err := m.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("byte %d: %#x, want %#x", i, got[i], want[i])
		}
	}
}
