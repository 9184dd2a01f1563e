package chunkmap_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestRefreshNoCorruptWhileWriterTruncatesAndRegrows has a writer
// truncate its chunks away and write them again, while a reader in the
// same process reads them (holding them mapped or open) and calls Refresh:
// what a writer does must never be reported as ErrCorrupt.
func TestRefreshNoCorruptWhileWriterTruncatesAndRegrows(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt(make([]byte, 6*cs), 0); err != nil {
		t.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, ReadOnly: true, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var rounds int
	wg.Go(func() {
		defer func() { t.Logf("%d writer rounds", rounds) }()
		buf := make([]byte, 6*cs)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := w.Truncate(int64(i%3) * cs / 2); err != nil {
				t.Errorf("Truncate: %v", err)
				return
			}
			if _, err := w.WriteAt(buf[:(3+i%4)*cs], 0); err != nil {
				t.Errorf("WriteAt: %v", err)
				return
			}
			if i%8 == 0 {
				w.DropBefore(0)
			}
			rounds++
		}
	})
	deadline := time.Now().Add(stormFor(1500 * time.Millisecond))
	p := make([]byte, 100)
	n := 0
	for time.Now().Before(deadline) && !t.Failed() {
		for k := int64(0); k < 6; k++ {
			r.ReadAt(p, k*cs+cs/2)
		}
		if err := r.Refresh(); errors.Is(err, chunkmap.ErrCorrupt) {
			t.Errorf("Refresh while the writer truncates and regrows: %v", err)
		} else if err != nil {
			t.Logf("Refresh: %v", err)
		}
		n++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d refreshes", n)
}
