package clients

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestFollowerServer runs a log writer that appends CRC-framed records,
// syncs, and then publishes the end of the log in a 16-byte header at
// offset 0 with a small WriteAt (the pwrite route of small writes after a
// Sync), while many goroutines, as a server's handlers would, read the
// header through ReadOnly Managers and check every record up to it.
func TestFollowerServer(t *testing.T) {
	dir := t.TempDir()
	opts := chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 2}
	w := openCM(t, dir, opts)
	defer w.Close()
	hdr := make([]byte, 16)
	binary.LittleEndian.PutUint64(hdr, 16)
	if _, err := w.Append(hdr); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	ro := opts
	ro.ReadOnly = true
	shared := openCM(t, dir, ro)
	defer shared.Close()
	ro.NoAdmission = true
	ro.MaxMapped = 1
	own := []*chunkmap.Manager{openCM(t, dir, ro), openCM(t, dir, ro)}
	for _, m := range own {
		defer m.Close()
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	reader := func(m *chunkmap.Manager, seed uint64) {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(seed, seed))
		var checked int64 = 16
		var b [16]byte
		for !stop.Load() {
			if _, err := m.ReadAt(b[:], 0); err != nil {
				errc <- err
				return
			}
			end := int64(binary.LittleEndian.Uint64(b[:]))
			sum := binary.LittleEndian.Uint32(b[8:])
			if end < checked {
				errc <- errors.New("header went back")
				return
			}
			if sz := m.Size(); sz < end {
				errc <- errors.New("Size below the published end")
				return
			}
			from := checked
			if rng.IntN(4) == 0 {
				from = 16 // a new client reads from the start
			}
			br := bufio.NewReaderSize(io.NewSectionReader(m, from, end-from), 1+rng.IntN(9000))
			var fh [8]byte
			var last uint32
			for off := from; off < end; {
				if _, err := io.ReadFull(br, fh[:]); err != nil {
					errc <- err
					return
				}
				n := binary.LittleEndian.Uint32(fh[:])
				p := make([]byte, n)
				if _, err := io.ReadFull(br, p); err != nil {
					errc <- err
					return
				}
				if crc32.ChecksumIEEE(p) != binary.LittleEndian.Uint32(fh[4:]) {
					errc <- errors.New("record CRC mismatch")
					return
				}
				last = crc32.ChecksumIEEE(p)
				off += 8 + int64(n)
			}
			if from < end && last != sum {
				// The header's 16 bytes are not written atomically:
				// a read racing the writer's may be torn. Fail only
				// if it is still what was read.
				var again [16]byte
				if _, err := m.ReadAt(again[:], 0); err != nil {
					errc <- err
					return
				}
				if again == b {
					errc <- errors.New("last record is not the one the header names")
					return
				}
			}
			checked = end
		}
	}
	for i := range 6 {
		wg.Add(1)
		go reader(shared, uint64(i))
	}
	for i, m := range own {
		wg.Add(1)
		go reader(m, uint64(100+i))
	}

	rng := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(2 * time.Second)
	var rec []byte
	for time.Now().Before(deadline) && w.Size() < 8<<20 {
		var last uint32
		for range 1 + rng.IntN(20) {
			n := rng.IntN(3000)
			if rng.IntN(20) == 0 {
				n = 70000 + rng.IntN(70000)
			}
			rec = rec[:0]
			rec = binary.LittleEndian.AppendUint32(rec, uint32(n))
			rec = append(rec, 0, 0, 0, 0)
			for range n {
				rec = append(rec, byte(rng.Uint32()))
			}
			last = crc32.ChecksumIEEE(rec[8:])
			binary.LittleEndian.PutUint32(rec[4:], last)
			if _, err := w.Append(rec); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint64(hdr, uint64(w.Size()))
		binary.LittleEndian.PutUint32(hdr[8:], last)
		if _, err := w.WriteAt(hdr, 0); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		default:
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	t.Logf("log of %d bytes", w.Size())
}
