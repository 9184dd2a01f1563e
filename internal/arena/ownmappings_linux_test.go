package arena

import (
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestOwnMappings: after a refusal with ENOMEM that left no hole, a range
// is taken for the arena's reservation only if /proc/self/maps lists it as
// one (inaccessible, private, anonymous, and named where the kernel names
// mappings). Another owner's mapping that fills the range, a range with a
// hole, and a range of two mappings of which one is not a reservation are
// not.
func TestOwnMappings(t *testing.T) {
	page := uintptr(os.Getpagesize())
	n := 4 * page
	base := fencedReservation(t, n)
	t.Logf("the kernel names mappings: %v", namesWork.Load() == namesYes)
	if err := ownMappings(base, n, base, n); err != nil {
		t.Fatalf("a reservation: %v", err)
	}
	// qemu-user answers mincore on its reservations as on a hole: there
	// reserved would reserve the range again, which the test does not ask.
	hole, err := hasHole(base, n)
	if err != nil {
		t.Fatal(err)
	}
	if hole {
		t.Log("mincore finds a hole in a reservation (qemu-user): reserved is not checked")
	} else if err := reserved(base, n, base, n, unix.ENOMEM); err != nil {
		t.Fatalf("reserved, after ENOMEM, of a reservation: %v", err)
	}

	// Another owner's readable page over the second page of the range.
	second := unsafe.Add(base, page)
	if _, err := unix.MmapPtr(-1, 0, second, page, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    unsafe.Pointer
		n    uintptr
	}{
		{"the other owner's page alone", second, page},
		{"a range that holds it", base, n},
	} {
		if err := ownMappings(tc.p, tc.n, base, n); !errors.Is(err, unix.EEXIST) {
			t.Errorf("%s: got %v, want an error matching EEXIST", tc.name, err)
		}
		if err := reserved(tc.p, tc.n, base, n, unix.ENOMEM); err == nil && !hole {
			t.Errorf("%s: reserved after ENOMEM took it for the reservation", tc.name)
		}
	}
	if err := ownMappings(base, page, base, n); err != nil {
		t.Errorf("the first page, still the reservation: %v", err)
	}

	// The third page, as a reservation of its own: the mapping that
	// covers it, to the fourth page's end, reaches past that (as one
	// beside the arena that covers an edge slot's hole would), and is
	// not taken for it. Within the whole range, it is.
	third := unsafe.Add(base, 2*page)
	if err := ownMappings(third, page, third, page); !errors.Is(err, unix.EEXIST) {
		t.Errorf("a mapping reaching past the reservation: got %v, want an error matching EEXIST", err)
	}
	if err := ownMappings(third, page, base, n); err != nil {
		t.Errorf("the third page, within the reservation: %v", err)
	}

	// A hole in the range: the third page unmapped.
	if err := unix.MunmapPtr(third, page); err != nil {
		t.Fatal(err)
	}
	if err := ownMappings(third, 2*page, base, n); !errors.Is(err, unix.EEXIST) {
		t.Errorf("a range with a hole: got %v, want an error matching EEXIST", err)
	}
	// A range that no line reaches: the listing goes on past it (to the
	// fence above) with nothing of it covered.
	if err := ownMappings(third, page, base, n); !errors.Is(err, unix.EEXIST) {
		t.Errorf("a range wholly unmapped: got %v, want an error matching EEXIST", err)
	}
}

// TestOwnMappings_NoAllocation: ownMappings runs where the process may be
// at its limit of mappings, where a heap allocation that needs a new
// mapping kills it ("fatal error: runtime: cannot allocate memory", as
// TestMapLimit_Refused's child died when it read the listing into a 4 MiB
// buffer). It allocates nothing where it finds the reservation.
func TestOwnMappings_NoAllocation(t *testing.T) {
	n := 4 * uintptr(os.Getpagesize())
	base := fencedReservation(t, n)
	var err2 error
	if allocs := testing.AllocsPerRun(20, func() { err2 = ownMappings(base, n, base, n) }); allocs != 0 || err2 != nil {
		t.Errorf("ownMappings of a reservation: %v allocations a call, error %v; want 0, nil", allocs, err2)
	}
}

// fencedReservation reserves n bytes as the arena does, between two
// readable pages, so that the kernel cannot merge the reservation with a
// neighbour of the same kind (its extent is what the tests check), and
// releases all three at the end of the test.
func fencedReservation(t *testing.T, n uintptr) unsafe.Pointer {
	t.Helper()
	page := uintptr(os.Getpagesize())
	p, err := unix.MmapPtr(-1, 0, nil, n+2*page, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.MunmapPtr(p, n+2*page) })
	base, err := reserveAt(unsafe.Add(p, page), n, unix.MAP_FIXED)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// TestLineRangeJudge judges lines of /proc/self/maps written out, for the
// cases a live listing cannot be made to show here: names (which this
// kernel may not give), file mappings that are inaccessible and private,
// a malformed line, and the verdict when the listing ends.
func TestLineRangeJudge(t *testing.T) {
	const (
		lo, hi           = 0x20000, 0x30000 // the range asked about
		outerLo, outerHi = 0x10000, 0x40000 // the reservation it is part of
	)
	res := func(named bool) *lineRange {
		return &lineRange{lo: lo, hi: hi, covered: lo, outerLo: outerLo, outerHi: outerHi, named: named}
	}
	for _, tc := range []struct {
		name  string
		named bool
		lines []string
		want  error // nil, or unix.EEXIST
	}{
		{"one reservation over the whole range", false, []string{
			"00010000-00040000 ---p 00000000 00:00 0",
			"7f0000000000-7f0000001000 r--p 00000000 00:00 0",
		}, nil},
		{"two reservations side by side", false, []string{
			"00010000-00028000 ---p 00000000 00:00 0",
			"00028000-00040000 ---p 00000000 00:00 0",
		}, nil},
		{"named where the kernel names", true, []string{
			"00010000-00040000 ---p 00000000 00:00 0 [anon:chunkmap arena]",
		}, nil},
		{"unnamed where the kernel names", true, []string{
			"00010000-00040000 ---p 00000000 00:00 0",
		}, unix.EEXIST},
		{"named by another where the kernel names", true, []string{
			"00010000-00040000 ---p 00000000 00:00 0 [anon:Go: heap reservation]",
		}, unix.EEXIST},
		{"a name where the kernel names none", false, []string{
			"00010000-00040000 ---p 00000000 00:00 0 [anon:chunkmap arena]",
		}, unix.EEXIST},
		{"an inaccessible private file mapping", false, []string{
			"00010000-00040000 ---p 00000000 08:01 1234 /tmp/x/0000000000000001.chunk",
		}, unix.EEXIST},
		{"an inaccessible private mapping of a file, its name left out", false, []string{
			"00010000-00040000 ---p 00000000 08:01 1234",
		}, unix.EEXIST},
		{"a shared inaccessible mapping", false, []string{
			"00010000-00040000 ---s 00000000 00:00 0",
		}, unix.EEXIST},
		{"a readable page inside", false, []string{
			"00010000-00024000 ---p 00000000 00:00 0",
			"00024000-00025000 r--p 00000000 00:00 0",
			"00025000-00040000 ---p 00000000 00:00 0",
		}, unix.EEXIST},
		{"a hole inside", false, []string{
			"00010000-00024000 ---p 00000000 00:00 0",
			"00025000-00040000 ---p 00000000 00:00 0",
		}, unix.EEXIST},
		{"a mapping reaching past the reservation", false, []string{
			"00008000-00040000 ---p 00000000 00:00 0",
		}, unix.EEXIST},
		{"the listing ends inside the range", false, []string{
			"00010000-00028000 ---p 00000000 00:00 0",
		}, unix.EEXIST},
		{"no line reaches the range", false, []string{
			"00001000-00002000 r--p 00000000 00:00 0",
			"00050000-00051000 r--p 00000000 00:00 0",
		}, unix.EEXIST},
		{"a malformed line is passed over", false, []string{
			"garbage",
			"00010000-00040000 ---p 00000000 00:00 0",
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := res(tc.named)
			verdict := lineOn
			for _, line := range tc.lines {
				if verdict = r.judge([]byte(line)); verdict != lineOn {
					break
				}
			}
			if verdict == lineOn {
				verdict = lineDone // the listing ended
			}
			err := r.verdictErr(verdict)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}
