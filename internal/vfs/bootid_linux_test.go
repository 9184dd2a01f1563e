package vfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestBootClocks checks the boot identity used without /proc: the same
// second at every reading (but for a reading that straddles a second
// boundary, which may differ by one), and the second /proc/stat's btime
// names, where /proc is mounted.
func TestBootClocks(t *testing.T) {
	first := bootClocks()
	if !strings.HasPrefix(first, "boottime:") {
		t.Fatalf("bootClocks() = %q", first)
	}
	sec, err := strconv.ParseInt(strings.TrimPrefix(first, "boottime:"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if again := bootClocks(); again != first && again != fmt.Sprintf("boottime:%d", sec+1) && again != fmt.Sprintf("boottime:%d", sec-1) {
			t.Fatalf("bootClocks() changed within one boot: %q, then %q", first, again)
		}
	}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Skipf("no /proc/stat to compare with: %v", err)
	}
	for line := range strings.Lines(string(stat)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "btime" {
			btime, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			// The kernel computes btime the same way, at its own
			// instant: the two agree to within the rounding.
			if d := sec - btime; d < -1 || d > 1 {
				t.Errorf("bootClocks() says the machine booted at %d, /proc/stat's btime %d", sec, btime)
			}
			return
		}
	}
	t.Error("no btime line in /proc/stat")
}

// TestReadBootIDPrefersTheKernels checks that the kernel's random boot ID
// is used where it can be read.
func TestReadBootIDPrefersTheKernels(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skipf("no boot_id: %v", err)
	}
	if got, err := readBootID(); got != strings.TrimSpace(string(b)) || err != nil {
		t.Errorf("readBootID() = %q, %v, want the kernel's %q", got, err, strings.TrimSpace(string(b)))
	}
}
