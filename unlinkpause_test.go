package chunkmap_test

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestShrink_MissesServedDuringUnlinks checks that a Truncate or DropBefore
// that deletes many chunk files lets the calls that need the Manager's
// lock run between its unlinks: reads of kept chunks that are not mapped
// (by pread under admission, by mapping without it), a pin and its
// release, a Gather and Stats. Held across every unlink, the lock kept
// such reads waiting for seconds on a log that dropped 100,000 chunks.
// The calls are made each time the shrink lets go of the lock (the hook);
// they must return while it waits for them, with the kept bytes.
func TestShrink_MissesServedDuringUnlinks(t *testing.T) {
	const (
		cs      = clxChunk
		nchunks = 300
		// Chunks [keepLo, keepHi) stay; the rest go.
		dropTo  = 250
		truncTo = 50
	)
	fill := func(idx int64) byte { return byte(idx*7 + 1) }
	tests := []struct {
		name           string
		keepLo, keepHi int64
		shrink         func(m *chunkmap.Manager) error
	}{
		{"drop", dropTo, nchunks, func(m *chunkmap.Manager) error { return m.DropBefore(dropTo * cs) }},
		{"truncate", 0, truncTo, func(m *chunkmap.Manager) error { return m.Truncate(truncTo * cs) }},
	}
	for _, tc := range tests {
		for _, noAdmission := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/noadmission=%v", tc.name, noAdmission), func(t *testing.T) {
				dir := t.TempDir()
				m := clxOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, NoAdmission: noAdmission})
				defer m.Close()
				for idx := range int64(nchunks) {
					if _, err := m.Append(bytes.Repeat([]byte{fill(idx)}, cs)); err != nil {
						t.Fatal(err)
					}
				}
				// The calls in the pause: each chunk read is one the
				// last pause did not read, so that it misses.
				next := tc.keepLo
				pauses := 0
				during := func() error {
					idx := next
					next = tc.keepLo + (next-tc.keepLo+1)%(tc.keepHi-tc.keepLo)
					p := make([]byte, 100)
					if _, err := m.ReadAt(p, idx*cs+17); err != nil {
						return fmt.Errorf("ReadAt in chunk %d: %w", idx, err)
					}
					if want := bytes.Repeat([]byte{fill(idx)}, len(p)); !bytes.Equal(p, want) {
						return fmt.Errorf("ReadAt in chunk %d read %x..., want %x...", idx, p[:4], want[:4])
					}
					pin, err := m.Pin(idx*cs, 8)
					if err != nil {
						return fmt.Errorf("Pin in chunk %d: %w", idx, err)
					}
					if got := pin.Bytes()[0]; got != fill(idx) {
						pin.Release()
						return fmt.Errorf("pinned byte of chunk %d = %#x, want %#x", idx, got, fill(idx))
					}
					pin.Release()
					offs := []int64{tc.keepLo * cs, (tc.keepHi-1)*cs + 8}
					dst := make([]byte, 2*8)
					if err := m.Gather(dst, offs, 8); err != nil {
						return fmt.Errorf("Gather: %w", err)
					}
					if dst[0] != fill(tc.keepLo) || dst[8] != fill(tc.keepHi-1) {
						return fmt.Errorf("Gather read %#x and %#x, want %#x and %#x", dst[0], dst[8], fill(tc.keepLo), fill(tc.keepHi-1))
					}
					m.Stats()
					return nil
				}
				var (
					wg   sync.WaitGroup
					hung bool // the calls of a pause did not return in it
				)
				chunkmap.SetUnlinkPauseHook(func(int64) {
					if pauses++; hung {
						return
					}
					done := make(chan error, 1)
					wg.Add(1)
					go func() {
						defer wg.Done()
						done <- during()
					}()
					select {
					case err := <-done:
						if err != nil {
							t.Errorf("pause %d: %v", pauses, err)
						}
					case <-time.After(time.Minute):
						// A bound for a hang, not a measure of speed:
						// the shrink goes on, and the calls return
						// once it lets go of the lock.
						t.Errorf("pause %d: the calls did not return while the shrink waited for them", pauses)
						hung = true
					}
				})
				defer chunkmap.SetUnlinkPauseHook(nil)
				err := tc.shrink(m)
				chunkmap.SetUnlinkPauseHook(nil)
				wg.Wait()
				if err != nil {
					t.Fatal(err)
				}
				// Every 64 unlinks but the last run's.
				deleted := nchunks - (tc.keepHi - tc.keepLo)
				if want := int((deleted - 1) / 64); pauses != want {
					t.Errorf("the shrink let go of its lock %d times, want %d", pauses, want)
				}
				var want []int64
				for idx := tc.keepLo; idx < tc.keepHi; idx++ {
					want = append(want, idx)
				}
				if got := chunkFiles(t, dir); !slices.Equal(got, want) {
					t.Errorf("chunk files %v after the shrink, want %v", got, want)
				}
				for idx := tc.keepLo; idx < tc.keepHi; idx++ {
					p := make([]byte, cs)
					if _, err := m.ReadAt(p, idx*cs); err != nil {
						t.Fatalf("ReadAt of chunk %d after the shrink: %v", idx, err)
					}
					if !bytes.Equal(p, bytes.Repeat([]byte{fill(idx)}, cs)) {
						t.Fatalf("chunk %d changed", idx)
					}
				}
			})
		}
	}
}

// TestShrink_ReleaseDuringUnlinks checks, where a mapped file cannot be
// deleted (Windows, emulated), that a pin of a chunk the shrink deletes,
// let go of while the shrink has let go of its lock, before its unlinks
// reach that chunk, leaves no file behind: the shrink, which found the
// chunk held before its first unlink, removes it, or growth over its
// name later failed ("file exists") and DropBefore left it below Start.
func TestShrink_ReleaseDuringUnlinks(t *testing.T) {
	defer chunkmap.SetUnmapBeforeRemove(chunkmap.SetUnmapBeforeRemove(true))
	const (
		cs = clxChunk
		n  = 200
	)
	tests := []struct {
		name           string
		pinned         int64 // the chunk deleted last
		keepLo, keepHi int64
		shrink         func(m *chunkmap.Manager) error
	}{
		{"truncate", 10, 0, 10, func(m *chunkmap.Manager) error { return m.Truncate(10 * cs) }},
		{"drop", 0, 190, n, func(m *chunkmap.Manager) error { return m.DropBefore(190 * cs) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := clxOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
			defer m.Close()
			for idx := range int64(n) {
				if _, err := m.Append(bytes.Repeat([]byte{byte(idx + 1)}, cs)); err != nil {
					t.Fatal(err)
				}
			}
			pin, err := m.Pin(tc.pinned*cs, 8)
			if err != nil {
				t.Fatal(err)
			}
			pauses := 0
			chunkmap.SetUnlinkPauseHook(func(int64) {
				if pauses++; pauses == 1 {
					pin.Release()
				}
			})
			defer chunkmap.SetUnlinkPauseHook(nil)
			err = tc.shrink(m)
			chunkmap.SetUnlinkPauseHook(nil)
			if err != nil {
				t.Fatal(err)
			}
			if pauses == 0 {
				t.Fatal("the shrink never let go of its lock")
			}
			var want []int64
			for idx := tc.keepLo; idx < tc.keepHi; idx++ {
				want = append(want, idx)
			}
			if got := chunkFiles(t, dir); !slices.Equal(got, want) {
				t.Fatalf("chunk files %v after the shrink, want %v", got, want)
			}
			// Growth over the names the shrink freed.
			if _, err := m.Append(bytes.Repeat([]byte{0xee}, 20*cs)); err != nil {
				t.Fatalf("Append after the shrink: %v", err)
			}
		})
	}
}
