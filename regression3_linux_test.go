// Regression tests for bugs a review of the durability redesign found:
// each failed before its fix.

package chunkmap

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// R8: concurrent lock-free pulls store Size unordered: a goroutine can see
// a reader's Size go backwards.
func TestRegression_FollowerSizeRegresses(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Append(make([]byte, 8))
	r, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var stop atomic.Bool
	var back atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(0)
			for !stop.Load() {
				s := r.Size()
				if s < last {
					back.Add(1)
				}
				last = s
			}
		}()
	}
	buf := make([]byte, 8)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		w.Append(buf)
	}
	stop.Store(true)
	wg.Wait()
	if n := back.Load(); n > 0 {
		t.Errorf("a reader's Size went backwards %d times while the writer only appended", n)
	}
}
