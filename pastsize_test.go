package chunkmap_test

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestStoresPastSizeAfterTruncate stores a value at an offset in chunk 2
// over and over, by each kind of store, while the dataset is truncated
// below chunk 2 (deleting it) and grown back to short of the offset
// (making chunk 2 anew): a store whose range check came before the
// Truncates must not land in the new chunk past Size, where no growth
// zeroes it. After the stores stop, growing the dataset over the offset
// must show zeros there. A reader keeps chunk 2 mapped, so that the lock-
// free paths find the new chunk in its slot.
func TestStoresPastSizeAfterTruncate(t *testing.T) {
	const off, val = 2*cs + 200, 0x5ca77e5ca77e
	src := binary.LittleEndian.AppendUint64(nil, val)
	stores := []struct {
		name  string
		store func(m *chunkmap.Manager) error
	}{
		{"Scatter", func(m *chunkmap.Manager) error { return m.Scatter(src, []int64{off}, 8) }},
		{"StoreUint64", func(m *chunkmap.Manager) error { return m.StoreUint64(off, val) }},
		{"AddUint64", func(m *chunkmap.Manager) error { _, err := m.AddUint64(off, 1); return err }},
		{"PinWritable", func(m *chunkmap.Manager) error {
			p, err := m.PinWritable(off, 8)
			if err != nil {
				return err
			}
			copy(p.Bytes(), src)
			p.Release()
			return nil
		}},
		{"Batch.WritableBytes", func(m *chunkmap.Manager) error {
			return m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.WritableBytes(off, 8)
				if err == nil {
					copy(p, src)
				}
				return err
			})
		}},
		{"accessor Batch", func(m *chunkmap.Manager) error {
			return accessor.New(m, nil).Batch(func(b *accessor.Batch) error { return b.WriteUint64(off, val) })
		}},
	}
	d := stormFor(400 * time.Millisecond)
	if testing.Short() {
		d = 100 * time.Millisecond
	}
	for _, st := range stores {
		for _, noAdmission := range []bool{false, true} {
			name := st.name + map[bool]string{false: "/admission", true: "/no-admission"}[noAdmission]
			t.Run(name, func(t *testing.T) {
				m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 4, NoAdmission: noAdmission})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if err := m.Truncate(4 * cs); err != nil {
					t.Fatal(err)
				}
				rounds := 0
				for deadline := time.Now().Add(d); time.Now().Before(deadline); rounds++ {
					var stop atomic.Bool
					var wg sync.WaitGroup
					failed := make(chan error, 1)
					wg.Go(func() {
						for !stop.Load() {
							if err := st.store(m); err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
								failed <- err
								return
							}
						}
					})
					wg.Go(func() {
						buf := make([]byte, 8)
						for !stop.Load() {
							m.ReadAt(buf, off) // maps chunk 2 again once it is back
						}
					})
					time.Sleep(50 * time.Microsecond)
					for _, size := range []int64{cs + 4, 2*cs + 100} {
						if err := m.Truncate(size); err != nil {
							t.Fatal(err)
						}
					}
					stop.Store(true)
					wg.Wait()
					select {
					case err := <-failed:
						t.Fatal(err)
					default:
					}
					if err := m.Truncate(4 * cs); err != nil {
						t.Fatal(err)
					}
					if v := binary.LittleEndian.Uint64(readAt(t, m, off, 8)); v != 0 {
						t.Fatalf("round %d: after Truncate(%d), Truncate(%d), the stores' end and Truncate(%d), offset %d reads %#x, want 0: a store landed past Size",
							rounds, cs+4, 2*cs+100, 4*cs, off, v)
					}
				}
				t.Logf("%d rounds", rounds)
			})
		}
	}
}
