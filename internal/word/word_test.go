package word_test

import (
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap/internal/word"
)

// TestOps checks each operation's result on 32- and 64-bit words, and that
// Add and Cas are atomic under contention (run under -race too, where amd64
// uses this package's assembly).
func TestOps(t *testing.T) {
	var w32 uint32
	var w64 uint64
	word.Store32(&w32, 7)
	word.Store64(&w64, 1<<40)
	if got := word.Load32(&w32); got != 7 {
		t.Fatalf("Load32 = %d, want 7", got)
	}
	if got := word.Load64(&w64); got != 1<<40 {
		t.Fatalf("Load64 = %d, want %d", got, uint64(1)<<40)
	}
	if got := word.Add32(&w32, ^uint32(0)); got != 6 {
		t.Fatalf("Add32(-1) = %d, want 6", got)
	}
	if got := word.Add64(&w64, 5); got != 1<<40+5 {
		t.Fatalf("Add64(5) = %d, want %d", got, uint64(1)<<40+5)
	}
	if word.Cas32(&w32, 5, 9) || w32 != 6 {
		t.Fatalf("Cas32 with a wrong old value swapped: %d", w32)
	}
	if !word.Cas32(&w32, 6, 9) || w32 != 9 {
		t.Fatalf("Cas32 with the right old value: %d, want 9", w32)
	}
	if word.Cas64(&w64, 5, 9) || w64 != 1<<40+5 {
		t.Fatalf("Cas64 with a wrong old value swapped: %d", w64)
	}
	if !word.Cas64(&w64, 1<<40+5, 1<<50) || w64 != 1<<50 {
		t.Fatalf("Cas64 with the right old value: %d, want %d", w64, uint64(1)<<50)
	}

	const goroutines, each = 4, 10000
	var c32 uint32
	var c64, casd uint64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				word.Add32(&c32, 1)
				word.Add64(&c64, 3)
				for {
					v := word.Load64(&casd)
					if word.Cas64(&casd, v, v+1) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if c32 != goroutines*each || c64 != 3*goroutines*each || casd != goroutines*each {
		t.Fatalf("after %d×%d increments: Add32 %d, Add64 %d, Cas64 %d", goroutines, each, c32, c64, casd)
	}
}
