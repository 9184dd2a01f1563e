package chunkmap_test

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/chunkmap/chunkmap"
)

// vmFlags returns the VmFlags that /proc/self/smaps lists for the mapping
// holding address addr.
func vmFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-"); ok && !strings.HasSuffix(strings.Fields(line)[0], ":") {
			a, errA := strconv.ParseUint(lo, 16, 64)
			b, errB := strconv.ParseUint(hi, 16, 64)
			if errA == nil && errB == nil {
				in = uint64(addr) >= a && uint64(addr) < b
				continue
			}
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return strings.Fields(rest)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("no mapping of %#x in /proc/self/smaps", addr)
	return nil
}

// TestAdvice_PrivateViews checks that Options.Advice reaches every mapping
// of a chunk, the private views that pins and batches across the arena's
// end get included, as it reaches a chunk mapped in its slot: the kernel
// lists MADV_RANDOM as "rr" and MADV_SEQUENTIAL as "sr".
func TestAdvice_PrivateViews(t *testing.T) {
	for _, tc := range []struct {
		name   string
		advice chunkmap.Advice
		flag   string
		off    int64 // of a 16-byte pin
	}{
		{"random, in a slot", chunkmap.AdviceRandom, "rr", 1 * cs},
		{"random, across the arena's end", chunkmap.AdviceRandom, "rr", 4*cs - 8},
		{"sequential, in a slot", chunkmap.AdviceSequential, "sr", 1 * cs},
		{"sequential, across the arena's end", chunkmap.AdviceSequential, "sr", 4*cs - 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Four slots: chunks 3 and 4 are not side by side in the
			// arena, and a pin of both maps them in a view of its own.
			m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4, ArenaSize: 4 * cs, Advice: tc.advice})
			writeAt(t, m, pattern(1, 6*cs), 0)
			p, err := m.Pin(tc.off, 16)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()
			b := p.Bytes()
			if got := vmFlags(t, uintptr(unsafe.Pointer(&b[0]))); !slices.Contains(got, tc.flag) {
				t.Errorf("the mapping under a pin at %d has VmFlags %v, want %q (%v)", tc.off, got, tc.flag, tc.advice)
			}
			// Across the end, the view maps the second chunk after the
			// first: its flags too.
			if got := vmFlags(t, uintptr(unsafe.Pointer(&b[15]))); !slices.Contains(got, tc.flag) {
				t.Errorf("the mapping under a pin's last byte at %d has VmFlags %v, want %q (%v)", tc.off+15, got, tc.flag, tc.advice)
			}
		})
	}
}
