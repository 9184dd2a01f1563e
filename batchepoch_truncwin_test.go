package chunkmap

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestBatchEpoch_WindowWithinSizeUnderTruncate: whenever a batch's window (or a
// run) stands in the current epoch, with no change under way, it ends at or
// below the current Size, while another goroutine truncates and regrows.
func TestBatchEpoch_WindowWithinSizeUnderTruncate(t *testing.T) {
	const cs = MinChunkSize
	m := openEpochRace(t, 2)
	defer m.Close()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			m.Truncate(cs + 8)
			m.Truncate(2 * cs)
		}
	}()
	deadline := time.Now().Add(time.Second)
	tries, bad := 0, 0
	for time.Now().Before(deadline) && bad == 0 {
		m.Batch(func(b *Batch) error {
			for i := 0; i < 1000; i++ {
				b.setWindow(false, 0, 0, nil)
				b.setWindow(true, 0, 0, nil)
				tries++
				w := i&1 == 0
				var err error
				if w {
					_, err = b.WritableBytes(cs+16, 8)
				} else {
					_, err = b.Bytes(cs+16, 8)
				}
				if err != nil {
					continue
				}
				e := m.shrinks.Load()
				size := m.state().size.Load()
				if m.shrinking.Load() != 0 || m.shrinks.Load() != e || e != b.epoch {
					continue
				}
				if end := b.lo + int64(b.n); b.n > 0 && end > size {
					t.Errorf("read window ends at %d > Size %d in epoch %d", end, size, e)
					bad++
				}
				if end := b.wlo + int64(b.wn); b.wn > 0 && end > size {
					t.Errorf("write window ends at %d > Size %d in epoch %d", end, size, e)
					bad++
				}
				if bad > 0 {
					return nil
				}
			}
			return nil
		})
	}
	stop.Store(true)
	<-done
	t.Logf("tries %d", tries)
}
