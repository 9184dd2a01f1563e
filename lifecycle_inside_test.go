package chunkmap_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

func TestLifecycle_ManagerCallsInsideWritableBatch(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	calls := []struct {
		name string
		f    func(m *chunkmap.Manager) error
	}{
		{"sync", func(m *chunkmap.Manager) error { return m.Sync() }},
		{"truncate0", func(m *chunkmap.Manager) error { return m.Truncate(0) }},
		{"truncateGrow", func(m *chunkmap.Manager) error { return m.Truncate(20 * cs) }},
		{"drop", func(m *chunkmap.Manager) error { return m.DropBefore(3 * cs) }},
		{"grow", func(m *chunkmap.Manager) error { return m.Grow(9 * cs) }},
		{"close", func(m *chunkmap.Manager) error { return m.Close() }},
		{"nested", func(m *chunkmap.Manager) error {
			return m.Batch(func(b *chunkmap.Batch) error {
				if err := b.HoldWritable(0, 4*cs); err != nil {
					return err
				}
				if err := m.Sync(); err != nil {
					return err
				}
				return m.Truncate(cs)
			})
		}},
		{"syncOtherGoroutine", func(m *chunkmap.Manager) error {
			ch := make(chan error)
			go func() { ch <- m.Sync() }()
			return <-ch
		}},
		{"truncateOtherGoroutine", func(m *chunkmap.Manager) error {
			ch := make(chan error)
			go func() { ch <- m.Truncate(cs / 2) }()
			return <-ch
		}},
		{"closeOtherGoroutine", func(m *chunkmap.Manager) error {
			ch := make(chan error)
			go func() { ch <- m.Close() }()
			return <-ch
		}},
	}
	for _, c := range calls {
		for _, slots := range []int64{1, 2, 0} {
			t.Run(c.name, func(t *testing.T) {
				dir := t.TempDir()
				m := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: slots * cs})
				defer m.Close()
				if _, err := m.WriteAt(make([]byte, 8*cs), 0); err != nil {
					t.Fatal(err)
				}
				pw, err := m.PinWritable(cs-10, 20)
				if err != nil {
					t.Fatal(err)
				}
				advWithin(t, 20*time.Second, c.name, func() {
					err := m.Batch(func(b *chunkmap.Batch) error {
						if err := b.HoldWritable(0, 8*cs); err != nil {
							return err
						}
						p, err := b.WritableBytes(cs-4, 8)
						if err != nil {
							return err
						}
						copy(p, "abcdefgh")
						if err := c.f(m); err != nil {
							t.Logf("%s: %v", c.name, err)
							if s := advErrCheck(err); s != "" {
								t.Error(s)
							}
						}
						copy(p, "ABCDEFGH")
						copy(pw.Bytes(), "zzzzzzzzzz")
						_, err = b.WritableBytes(2*cs, 8)
						if err != nil {
							t.Logf("after: %v", err)
							if s := advErrCheck(err, "batch"); s != "" {
								t.Error(s)
							}
						}
						return nil
					})
					if err != nil {
						t.Errorf("batch: %v", err)
					}
				})
				pw.Release()
				pw.Release()
				if st := m.Stats(); st.Pinned != 0 || st.Mapped > 1 {
					t.Errorf("after: %+v", st)
				}
				var wg sync.WaitGroup
				advGo(t, &wg, "sync", func() {
					if err := m.Sync(); err != nil && !errors.Is(err, chunkmap.ErrClosed) {
						t.Errorf("sync: %v", err)
					}
				})
				advWait(t, &wg, time.Minute, "sync after")
			})
		}
	}
}
