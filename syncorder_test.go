package chunkmap_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// syncLogFS passes every operation to vfs.OS and watches fsyncs: for each
// chunk file it keeps the largest uint64 found at offset 8 when an fsync of
// the file started, and it checks that no chunk fsync is in flight when the
// directory or the manifest is fsync'd.
type syncLogFS struct {
	vfs.FS
	inflight atomic.Int64
	peak     atomic.Int64
	mu       sync.Mutex
	seen     map[string]uint64
	bad      []string
}

func newSyncLogFS() *syncLogFS { return &syncLogFS{FS: vfs.OS, seen: map[string]uint64{}} }

func (s *syncLogFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := s.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &syncLogFile{File: f, s: s}, nil
}

func (s *syncLogFS) SyncDir(dir string) error {
	if n := s.inflight.Load(); n != 0 {
		s.mu.Lock()
		s.bad = append(s.bad, fmt.Sprintf("directory fsync with %d chunk fsyncs in flight", n))
		s.mu.Unlock()
	}
	return s.FS.SyncDir(dir)
}

func (s *syncLogFS) maxAt(name string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[name]
}

type syncLogFile struct {
	vfs.File
	s *syncLogFS
}

func (f *syncLogFile) Sync() error {
	s := f.s
	base := filepath.Base(f.Name())
	if !strings.HasSuffix(base, ".chunk") {
		if base == chunkmap.ManifestName {
			if n := s.inflight.Load(); n != 0 {
				s.mu.Lock()
				s.bad = append(s.bad, fmt.Sprintf("manifest fsync with %d chunk fsyncs in flight", n))
				s.mu.Unlock()
			}
		}
		return f.File.Sync()
	}
	n := s.inflight.Add(1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	var b [8]byte
	if _, err := f.File.ReadAt(b[:], 8); err == nil {
		v := binary.LittleEndian.Uint64(b[:])
		s.mu.Lock()
		if v > s.seen[base] {
			s.seen[base] = v
		}
		s.mu.Unlock()
	}
	time.Sleep(50 * time.Microsecond) // lets fsyncs overlap
	err := f.File.Sync()
	s.inflight.Add(-1)
	return err
}

// TestBatchStoreIsFsyncedByLaterSync has a Batch store a growing value
// into chunks that lock-free writers keep dirty (so the Batch's first
// writable touch finds the dirty flag set), and after each store calls
// Sync: an fsync of the chunk must have begun after the store. Other
// goroutines Sync all along, so that Syncs take the flag at every moment.
// It also checks that the directory and the manifest are never fsync'd
// while a chunk fsync of the same Sync is still running.
func TestBatchStoreIsFsyncedByLaterSync(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	const nch = 40
	fsys := newSyncLogFS()
	o := chunkmap.Options{ChunkSize: cs, MaxMapped: 8}
	chunkmap.SetFS(&o, fsys)
	m, err := chunkmap.Open(t.TempDir(), &o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(make([]byte, nch*cs), 0); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() { // lock-free writers: keep the dirty flags set
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				idx := int64((i*7 + g) % nch)
				m.WriteAt([]byte{byte(i)}, idx*cs+100)
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := m.Sync(); err != nil {
				t.Errorf("background Sync: %v", err)
				return
			}
		}
	})
	deadline := time.Now().Add(stormFor(1500 * time.Millisecond))
	var v uint64
	for time.Now().Before(deadline) && !t.Failed() {
		v++
		idx := int64(v % nch)
		err := m.Batch(func(b *chunkmap.Batch) error {
			p, err := b.WritableBytes(idx*cs+8, 8)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint64(p, v)
			if err := m.Sync(); err != nil {
				return err
			}
			name := fmt.Sprintf("%016x.chunk", idx)
			if got := fsys.maxAt(name); got < v {
				return fmt.Errorf("Sync after the Batch's store of %d in chunk %d returned, but no fsync of it began after the store (latest seen %d)", v, idx, got)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	for _, b := range fsys.bad {
		t.Error(b)
	}
	t.Logf("%d batch stores; at most %d chunk fsyncs at once", v, fsys.peak.Load())
}
