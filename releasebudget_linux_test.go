package chunkmap_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/chunkmap/chunkmap"
	"golang.org/x/sys/unix"
)

// TestRelease_AtTheProcessBudget: in a child whose descriptor limit of 256
// gives the Managers of the process 64 mapped chunks between them, a
// Manager with the default MaxMapped (64) fills its window by random
// reads, then pins and releases a chunk it has mapped, between random
// reads. A map brings the process to its budget, which it may hold; but
// the release of a last hold evicted a chunk wherever the process was at
// the budget, not past it, and the next miss, below the budget again, was
// mapped without admission's comparison: every pin of a mapped chunk cost
// an eviction and a remap.
func TestRelease_AtTheProcessBudget(t *testing.T) {
	if dir := os.Getenv("CHUNKMAP_RELEASEBUDGET_DIR"); dir != "" {
		releaseBudgetChild(t, dir, os.Getenv("CHUNKMAP_RELEASEBUDGET_ROW") == "PinWritable")
		return
	}
	for _, row := range []string{"Pin", "PinWritable"} {
		t.Run(row, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRelease_AtTheProcessBudget$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "CHUNKMAP_RELEASEBUDGET_DIR="+t.TempDir(), "CHUNKMAP_RELEASEBUDGET_ROW="+row)
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("releasebudget: done")) {
				t.Fatalf("child with 256 descriptors: %v\n%s", err, out)
			}
		})
	}
}

// releaseBudgetChild is TestRelease_AtTheProcessBudget's child, pinning
// for writing where writable is set.
func releaseBudgetChild(t *testing.T, dir string, writable bool) {
	t.Helper()
	const limit, chunks, reads, pins = 256, 200, 20000, 5000
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Skip(err)
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(make([]byte, chunks*cs)); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 8)
	for range reads {
		if _, err := m.ReadAt(b, rnd.Int64N(chunks)*cs); err != nil {
			t.Fatal(err)
		}
	}
	before := m.Stats()
	for range pins {
		pin := m.Pin
		if writable {
			pin = m.PinWritable
		}
		p, err := pin(0, 8)
		if err != nil {
			t.Fatal(err)
		}
		p.Release()
		if _, err := m.ReadAt(b, rnd.Int64N(chunks)*cs); err != nil {
			t.Fatal(err)
		}
	}
	after := m.Stats()
	if maps := after.Maps - before.Maps; maps > limit/4 {
		t.Errorf("%d pins of a mapped chunk, each between random reads, made %d maps (Stats before %+v, after %+v)", pins, maps, before, after)
	}
	fmt.Println("releasebudget: done")
}
