package vfs

import (
	"math"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAvail_Huge: a file system that reports more free blocks than an
// int64 of bytes holds (a FUSE one that says "unlimited" with all ones,
// say) has room for any growth: Avail gives the most it can, never a
// product that wrapped negative, which growth would take for a full disk.
func TestAvail_Huge(t *testing.T) {
	for _, c := range []struct {
		name         string
		bavail, unit uint64
		want         int64
	}{
		{"fits", 1 << 20, 4096, 1 << 32},
		{"wraps", 1 << 62, 4096, math.MaxInt64},
		{"allones", math.MaxUint64, 4096, math.MaxInt64},
		{"countalone", math.MaxUint64, 1, math.MaxInt64},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := unix.Statfs_t{Blocks: 1, Bavail: c.bavail}
			setUnit(&st.Frsize, c.unit)
			got, err := Avail(&st)
			if err != nil || got != c.want {
				t.Errorf("Avail(Bavail %d × %d) = %d, %v; want %d", c.bavail, c.unit, got, err, c.want)
			}
		})
	}
}

// setUnit sets f_frsize, 32 bits wide on 32-bit platforms.
func setUnit[T ~int32 | ~int64](p *T, v uint64) { *p = T(v) }
