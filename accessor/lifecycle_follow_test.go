package accessor_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

func TestLifecycle_FollowerScanSeesGrowth(t *testing.T) {
	dir := t.TempDir()
	w := advOpen(t, dir, nil)
	if _, err := w.WriteAt(make([]byte, 100), 0); err != nil {
		t.Fatal(err)
	}
	f := advOpen(t, dir, &chunkmap.Options{ReadOnly: true})
	fa := accessor.New(f, nil)
	if _, err := w.WriteAt(make([]byte, 3*advCS), 100); err != nil {
		t.Fatal(err)
	}
	s := fa.Scan()
	k := 0
	for range s.Uint64s(0, 3*advCS/8) {
		k++
	}
	if s.Err() != nil || k != 3*advCS/8 {
		t.Errorf("typed: %d values, %v", k, s.Err())
	}
	if _, err := w.WriteAt(make([]byte, 3*advCS), 100+3*advCS); err != nil {
		t.Fatal(err)
	}
	s = fa.Scan()
	k = 0
	for _, b := range s.Blocks(0, 6*advCS) {
		k += len(b)
	}
	if s.Err() != nil || k != 6*advCS {
		t.Errorf("blocks: %d bytes, %v", k, s.Err())
	}
	// Shrink: the follower must stop, with ErrOutOfRange.
	if err := w.Truncate(10); err != nil {
		t.Fatal(err)
	}
	s = fa.Scan()
	for range s.Uint64s(0, 3*advCS/8) {
	}
	t.Logf("after shrink: %v", s.Err())
	if s.Err() == nil {
		t.Errorf("scan past the writer's size: no error")
	}
	// Views, atomics, batch on the follower after growth.
	if _, err := w.WriteAt(make([]byte, 5*advCS), 10); err != nil {
		t.Fatal(err)
	}
	v, err := fa.Slice(advCS-3, 2*advCS)
	if err != nil {
		t.Fatalf("slice: %v", err)
	}
	v.Release()
	if _, err := fa.LoadUint64(4 * advCS); err != nil {
		t.Fatalf("load: %v", err)
	}
	if _, err := w.WriteAt(make([]byte, 1*advCS), 5*advCS+10); err != nil {
		t.Fatal(err)
	}
	err = fa.Batch(func(b *accessor.Batch) error {
		if err := b.Hold(0, 6*advCS); err != nil {
			return err
		}
		_, err := b.ReadUint64(6*advCS - 8)
		return err
	})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	x := make([]uint64, 10)
	if err := fa.ReadUint64s(5*advCS, x); err != nil {
		t.Fatalf("ReadUint64s: %v", err)
	}
}
