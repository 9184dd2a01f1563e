package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestManager_Batch reads and writes through a Batch while other goroutines
// force evictions, and checks every value against what was written.
func TestManager_Batch(t *testing.T) {
	dir := t.TempDir()
	const chunkSize = 64 << 10
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkSize, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const n = 16 * chunkSize / 8
	if err := m.Truncate(n * 8); err != nil {
		t.Fatal(err)
	}
	err = m.Batch(func(b *chunkmap.Batch) error {
		for i := range int64(n) {
			p, err := b.WritableBytes(i*8, 8)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint64(p, uint64(i)*3)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // keeps the LRU churning
		buf := make([]byte, 8)
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := m.ReadAt(buf, (i%16)*chunkSize); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 3 {
		err = m.Batch(func(b *chunkmap.Batch) error {
			for i := int64(n - 1); i >= 0; i -= 7 {
				p, err := b.Bytes(i*8, 8)
				if err != nil {
					return err
				}
				if got := binary.LittleEndian.Uint64(p); got != uint64(i)*3 {
					t.Fatalf("value %d = %d, want %d", i, got, i*3)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if st := m.Stats(); st.Mapped > 2 {
		t.Errorf("Stats().Mapped = %d after batches ended, want <= 2", st.Mapped)
	}
	// Errors inside a batch.
	err = m.Batch(func(b *chunkmap.Batch) error {
		if _, err := b.Bytes(n*8, 8); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("Bytes past Size: %v, want ErrOutOfRange", err)
		}
		// A range across a chunk boundary is one contiguous slice.
		want := make([]byte, 8)
		if _, err := m.ReadAt(want, chunkSize-4); err != nil {
			t.Fatal(err)
		}
		if got, err := b.Bytes(chunkSize-4, 8); err != nil || !bytes.Equal(got, want) {
			t.Errorf("Bytes across a boundary = %v, %v; want %v", got, err, want)
		}
		if _, err := b.WritableBytes(-8, 8); !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Errorf("WritableBytes at -8: %v, want ErrOutOfRange", err)
		}
		return errors.New("mine")
	})
	if err == nil || err.Error() != "mine" {
		t.Errorf("Batch returned %v, want fn's error", err)
	}
	// Stores made in a batch are durable after Sync and survive reopen.
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Batch(func(*chunkmap.Batch) error { return nil }); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Batch after Close: %v, want ErrClosed", err)
	}
	m2, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	buf := make([]byte, 8)
	for _, i := range []int64{0, 1, n / 2, n - 1} {
		if _, err := m2.ReadAt(buf, i*8); err != nil || binary.LittleEndian.Uint64(buf) != uint64(i)*3 {
			t.Fatalf("after reopen value %d = %d (%v), want %d", i, binary.LittleEndian.Uint64(buf), err, i*3)
		}
	}
	if err := m2.Batch(func(b *chunkmap.Batch) error {
		_, err := b.WritableBytes(0, 8)
		return err
	}); !errors.Is(err, chunkmap.ErrReadOnly) {
		t.Errorf("WritableBytes on ReadOnly: %v, want ErrReadOnly", err)
	}
}

// TestClose_ReleasesRetiredMappings evicts chunks so that retired mappings
// wait to be unmapped, then checks that Close unmaps them and returns: the
// stack walk that decides when they may go must not find itself.
func TestClose_ReleasesRetiredMappings(t *testing.T) {
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: 64 << 10, MaxMapped: 1, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(5 * 64 << 10); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for i := range int64(5) {
		if _, err := m.ReadAt(buf, i*64<<10); err != nil {
			t.Fatal(err)
		}
	}
	if st := m.Stats(); st.Evictions < 4 {
		t.Fatalf("Stats() = %+v, want at least 4 evictions", st)
	}
	done := make(chan error)
	go func() { done <- m.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close did not return within a minute with retired mappings waiting")
	}
	if st := m.Stats(); st.Mapped != 0 {
		t.Errorf("after Close: Stats().Mapped = %d, want 0", st.Mapped)
	}
}
