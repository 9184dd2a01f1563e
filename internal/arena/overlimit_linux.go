package arena

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// overLimit empties slot k where the kernel refused to put a reservation
// over it with ENOMEM (refused, the error). That happens when the process
// has more mappings than vm.max_map_count allows: the kernel then refuses
// every mmap, also one that would only replace a mapping by another, while
// munmap of a whole mapping, which needs no new one, still works. Without
// it no slot could be emptied, nothing given back, and the process could
// not map a heap arena or a thread's stack again: it would die.
//
// So the slot is unmapped, which leaves its range a hole for an instant,
// and the reservation is put back with MAP_FIXED_NOREPLACE, which fails
// rather than replace whatever another thread of the process may have
// mapped into the hole in that instant. If it fails (that, or the limit
// still reached), the slot is lost: the range may hold another owner's
// mapping, so the Arena never maps or unmaps there again (ErrSlotLost).
// No access through the Arena's addresses can harm a mapping there: the
// Manager's readers load a lost slot's bytes only through an address
// taken before it was emptied, and discard them on their second check, as
// they do for any slot emptied under them; no writer or holder is left in
// a slot that is being emptied.
func (a *Arena) overLimit(k int, refused error) error {
	p, n := a.slotAddr(k), uintptr(a.slotSize)
	if err := unix.MunmapPtr(p, n); err != nil {
		return refused // the slot still maps its chunk, and stays usable
	}
	if holeHook != nil {
		holeHook(p, n)
	}
	q, err := reserveAt(p, n, unix.MAP_FIXED_NOREPLACE)
	if err == nil && q == p {
		return nil
	}
	if err == nil {
		// A kernel before 4.17 takes the flag for a hint and maps
		// elsewhere.
		unix.MunmapPtr(q, n)
		err = unix.EEXIST
	}
	return fmt.Errorf("%w: %w (then putting the reservation back: %w)", ErrSlotLost, refused, err)
}

// refusedMap puts slot k's reservation back where a MAP_FIXED mapping of a
// file over it failed (the error, refused) after the kernel had emptied
// the range: the file system's own check comes last (ext4 and xfs refuse
// with EIO once shut down after a device error), and Linux (6.18 as the
// kernels before it) does not put back what it removed then. The hole
// would be the kernel's to hand out: the Go runtime's next allocation of
// its size (64 KiB, a chunk of the smallest size, is that of its mark-bit
// arenas) took it, and the slot's next mapping, emptying or the arena's
// release replaced or unmapped the runtime's memory, which died with
// SIGSEGV. Where reserved reports the range not this Arena's any more,
// the slot is lost, as in overLimit.
func (a *Arena) refusedMap(k int, refused error) error {
	if err := reserved(a.slotAddr(k), uintptr(a.slotSize), a.base, uintptr(int64(a.nslots)*a.slotSize), refused); err != nil {
		return fmt.Errorf("%w: %w (then putting the reservation back: %w)", ErrSlotLost, refused, err)
	}
	return refused
}

// ownHole reports whether the n bytes at p, where a mapping was refused
// with the error refused, are this process's reservation still, part of
// the whole of size bytes at base (see reserved).
func ownHole(base unsafe.Pointer, size uintptr, p unsafe.Pointer, n uintptr, refused error) bool {
	return reserved(p, n, base, size, refused) == nil
}

// reserved makes sure that the n bytes at p, a reservation over which a
// MAP_FIXED mapping of a file failed with the error refused, are reserved
// still, and returns nil if they are. A range with a hole in it (mincore,
// which maps nothing, fails with ENOMEM there) is reserved again with
// MAP_FIXED_NOREPLACE, which fails where another owner took any of it
// meanwhile. A range wholly mapped is still the reservation where the
// kernel refused before it touched the range, as it mostly does for
// ENOMEM (the limit of mappings, of address space, of committed memory,
// where a new reservation would be refused too); but it may be a mapping
// that another owner made in the whole hole (64 KiB of the Go runtime's,
// say) after a refusal that emptied the range first, which any other
// error is, and ENOMEM can be (an allocation that fails after the kernel
// cleared the range). So after ENOMEM the range is taken for the
// reservation only where /proc/self/maps lists it as one (ownMappings),
// and after any other error never. A range mincore cannot look at is not
// taken for the reservation either: taking a hole for it would leave the
// hole to the kernel to hand out, and the slot's next mapping would
// replace what another owner put there.
//
// The range is part of a reservation of size bytes at base (the arena, or
// a span view's): a mapping that reaches past it is not the range's
// reservation, though inaccessible and anonymous (an edge slot's hole
// joins the free space beside the arena, and a mapping there may cover
// both, as a malloc heap's reserved top does).
func reserved(p unsafe.Pointer, n uintptr, base unsafe.Pointer, size uintptr, refused error) error {
	hole, err := hasHole(p, n)
	if err != nil {
		return fmt.Errorf("cannot tell whether the range is still reserved: %w", err)
	}
	if !hole {
		if !errors.Is(refused, unix.ENOMEM) {
			return fmt.Errorf("the range is mapped, by this mapping's reservation or by another owner: %w", unix.EEXIST)
		}
		// Linux refuses with ENOMEM after it emptied the range too (it
		// clears a file mapping's range before the last allocation
		// that can fail), and another owner's mapping may fill the hole
		// it left, as one of 64 KiB fills a slot of that size: the
		// range must look like the reservation (see ownMappings).
		if err := ownMappings(p, n, base, size); err != nil {
			return fmt.Errorf("the range is mapped, but not as this arena's reservation: %w", err)
		}
		return nil
	}
	q, err := reserveAt(p, n, unix.MAP_FIXED_NOREPLACE)
	if err == nil && q != p {
		// A kernel before 4.17 takes the flag for a hint and maps
		// elsewhere.
		unix.MunmapPtr(q, n)
		err = unix.EEXIST
	}
	return err
}

// mincoreTries is how many times hasHole asks mincore about one part of a
// range that it refuses with EAGAIN, which it does when it cannot
// allocate the page it works in: memory may be free again an instant
// later.
const mincoreTries = 8

// hasHole reports whether some page of the n bytes at p is not mapped, or
// an error where mincore could not tell.
func hasHole(p unsafe.Pointer, n uintptr) (bool, error) {
	var vec [1024]byte
	page := uintptr(os.Getpagesize())
	for off := uintptr(0); off < n; off += page * uintptr(len(vec)) {
		m := min(n-off, page*uintptr(len(vec)))
		for try := 1; ; try++ {
			e := mincore(uintptr(p)+off, m, &vec[0])
			if e == 0 {
				break
			}
			if e == unix.ENOMEM {
				return true, nil
			}
			if e != unix.EAGAIN || try == mincoreTries {
				return false, fmt.Errorf("mincore of %d bytes at %#x: %w", m, uintptr(p)+off, e)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return false, nil
}

// mincore is the system call, or mincoreHook's answer where a test set it.
func mincore(addr, n uintptr, vec *byte) unix.Errno {
	if mincoreHook != nil {
		if e := mincoreHook(); e != 0 {
			return e
		}
	}
	_, _, e := unix.Syscall(unix.SYS_MINCORE, addr, n, uintptr(unsafe.Pointer(vec)))
	return e
}

// mincoreHook, for tests, makes mincore fail with the errno it returns,
// where that is not 0.
var mincoreHook func() unix.Errno

// Test hooks (see SetLimitHooks): mapHook and unmapHook say whether mapping
// a file at slot k, or putting the reservation back over it, is to be
// refused as if over the limit; holeHook runs while a slot emptied by
// overLimit is a hole, to map something there as another thread could.
var (
	mapHook, unmapHook func(k int) bool
	holeHook           func(p unsafe.Pointer, n uintptr)
)

// SetLimitHooks is for tests, of this package and of the Manager: from now
// on, mapping a file at slot k fails with ENOMEM where refuseMap(k) says
// so, and so does emptying it where refuseUnmap(k) does, as over the limit
// of mappings; hole (if not nil) runs while an emptied slot is a hole, and
// makes a refused mapping empty the slot first (see refusedByTest). Nil
// functions restore the system's behaviour. Not safe for use while an
// Arena is in use by another goroutine.
func SetLimitHooks(refuseMap, refuseUnmap func(k int) bool, hole func(p unsafe.Pointer, n uintptr)) {
	mapHook, unmapHook, holeHook = refuseMap, refuseUnmap, hole
}

// refusedByTest is the error of a mapping of slot k that a test refused
// (SetLimitHooks): ENOMEM before the slot is touched, as over the limit of
// mappings; or, where the test set a hole hook too, ENOMEM after the slot
// was emptied, as the kernel refuses where an allocation fails after it
// emptied the range, with the hook run while the slot is a hole.
func (a *Arena) refusedByTest(k int) error {
	if holeHook == nil {
		return unix.ENOMEM
	}
	p, n := a.slotAddr(k), uintptr(a.slotSize)
	if err := unix.MunmapPtr(p, n); err != nil {
		return err
	}
	holeHook(p, n)
	return a.refusedMap(k, unix.ENOMEM)
}

// refused reports whether a test has mapping (or, with unmap, emptying)
// slot k refused.
func refused(k int, unmap bool) bool {
	if unmap {
		return unmapHook != nil && unmapHook(k)
	}
	return mapHook != nil && mapHook(k)
}

// reservationName is the name every reservation carries in
// /proc/self/maps ("[anon:chunkmap arena]"), where the kernel can name
// anonymous mappings (Linux 5.17 and later, with CONFIG_ANON_VMA_NAME): it
// tells the arena's own inaccessible ranges from another owner's mapping
// where mincore sees no hole (see reserved). NUL-terminated, as prctl
// wants it.
var reservationName = []byte(reservationLabel + "\x00")

// reservationLabel is reservationName's text, which /proc/self/maps lists
// as reservationListed.
const (
	reservationLabel  = "chunkmap arena"
	reservationListed = "[anon:" + reservationLabel + "]"
)

// namesWork says whether the kernel names anonymous mappings, as the first
// reservation named found out: namesUnknown, namesYes or namesNo.
var namesWork atomic.Int32

const (
	namesUnknown = iota
	namesYes
	namesNo
)

// nameReservation names the n bytes at p, a reservation just made, with
// reservationName. A kernel without names refuses with EINVAL, and none is
// asked again. Any other failure leaves the range unnamed, so that reserved
// takes it for another owner's, should a mapping over it be refused: a slot
// lost, never a mapping replaced that is not the arena's.
func nameReservation(p unsafe.Pointer, n uintptr) {
	if namesWork.Load() == namesNo {
		return
	}
	err := unix.Prctl(unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, uintptr(p), n, uintptr(unsafe.Pointer(&reservationName[0])))
	switch {
	case err == nil:
		namesWork.CompareAndSwap(namesUnknown, namesYes)
	case errors.Is(err, unix.EINVAL):
		namesWork.CompareAndSwap(namesUnknown, namesNo)
	}
}

// ownMappings returns nil if every mapping in the n bytes at p, which
// mincore found all mapped, looks like a reservation of the arena's in
// /proc/self/maps: inaccessible, private and anonymous ("---p", no file),
// within the whole reservation of size bytes at base, and named by
// nameReservation where the kernel names mappings. Without names, another
// owner's inaccessible anonymous mapping made inside the hole passes for
// the reservation (the Go runtime's reservations of heap, which it names
// itself where the kernel can, before it makes them readable and
// writable); with them, another Arena's or span view's reservation made
// there does, as they carry the same name.
//
// It runs where the process may be at its limit of mappings, where the
// Go runtime dies if it cannot map memory for the heap or a stack: so it
// reads the listing through a static buffer, with a frame of its own that
// stays small, and allocates nothing until it has an answer.
func ownMappings(p unsafe.Pointer, n uintptr, base unsafe.Pointer, size uintptr) error {
	mapsScan.Lock()
	defer mapsScan.Unlock()
	// unix.Open would copy the path to the heap: the static one goes as it is.
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&mapsPath[0])), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("cannot tell whose mapping it is: open /proc/self/maps: %w", errno)
	}
	defer unix.Close(int(fd))
	r := lineRange{
		lo: uint64(uintptr(p)), hi: uint64(uintptr(p) + n), covered: uint64(uintptr(p)),
		outerLo: uint64(uintptr(base)), outerHi: uint64(uintptr(base) + size),
		named: namesWork.Load() == namesYes,
	}
	kept := 0 // bytes of a line begun in the last read, at the buffer's start
	for {
		k, err := unix.Read(int(fd), mapsScan.buf[kept:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot tell whose mapping it is: read /proc/self/maps: %w", err)
		}
		b := mapsScan.buf[:kept+k]
		for {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				break
			}
			if verdict := r.judge(b[:i]); verdict != lineOn {
				return r.verdictErr(verdict)
			}
			b = b[i+1:]
		}
		switch {
		case k == 0: // the end, and a last line without its newline
			verdict := lineDone
			if len(b) > 0 {
				if verdict = r.judge(b); verdict == lineOn {
					verdict = lineDone
				}
			}
			return r.verdictErr(verdict)
		case len(b) == len(mapsScan.buf):
			// No line is that long (a path is at most 4096 bytes, a
			// mapping's name 80), but should one be, the range is
			// not taken for the reservation.
			return fmt.Errorf("cannot tell whose mapping it is: a line of /proc/self/maps longer than %d bytes", len(mapsScan.buf))
		default:
			kept = copy(mapsScan.buf[:], b)
		}
	}
}

// atFDCWD is AT_FDCWD (-100) as openat's argument, a uintptr: relative to
// the working directory, which an absolute path ignores.
const atFDCWD = ^uintptr(-unix.AT_FDCWD - 1)

// mapsPath is the listing ownMappings reads, NUL-terminated for openat.
var mapsPath = []byte("/proc/self/maps\x00")

// mapsScan is ownMappings' buffer, static so that reading the listing
// maps no memory.
var mapsScan struct {
	sync.Mutex
	buf [16 << 10]byte
}

// lineRange is what ownMappings looks for in /proc/self/maps: the range
// [lo, hi), part of a reservation of the arena's (or a span view's)
// [outerLo, outerHi), of which the lines read so far covered [lo, covered);
// named says whether the reservations carry reservationName.
type lineRange struct {
	lo, hi, outerLo, outerHi, covered uint64
	named                             bool
}

// judge's verdicts on a line of /proc/self/maps.
const (
	lineOn    = iota // nothing against the reservation yet: read on
	lineDone         // the lines are past the range: it is all the reservation's if covered
	lineOther        // a mapping in the range that is not the reservation
	lineHole         // part of the range is not mapped
)

// judge judges one line of /proc/self/maps ("lo-hi perms offset dev inode
// name"); the kernel lists the mappings in order of address.
func (r *lineRange) judge(line []byte) int {
	from, rest, ok1 := hexField(line, '-')
	to, rest, ok2 := hexField(rest, ' ')
	switch {
	case !ok1 || !ok2 || to <= r.lo:
		return lineOn
	case from >= r.hi:
		return lineDone
	case from > r.covered:
		return lineHole // a hole since mincore looked
	case from < r.outerLo || to > r.outerHi:
		return lineOther // reaches past the reservation
	}
	r.covered = max(r.covered, to)
	perms, rest := field(rest)
	_, rest = field(rest) // offset
	_, rest = field(rest) // device
	inode, rest := field(rest)
	name := bytes.TrimSpace(rest)
	want := ""
	if r.named {
		want = reservationListed
	}
	if string(perms) != "---p" || string(inode) != "0" || string(name) != want {
		return lineOther
	}
	return lineOn
}

// verdictErr is the error of judge's last verdict on the range, nil for
// a range the reservation covers whole.
func (r *lineRange) verdictErr(verdict int) error {
	switch {
	case verdict == lineHole || verdict == lineDone && r.covered < r.hi:
		return fmt.Errorf("%#x-%#x is not all mapped: %w", r.lo, r.hi, unix.EEXIST)
	case verdict == lineOther:
		return fmt.Errorf("%#x-%#x holds a mapping that is not an inaccessible anonymous reservation within %#x-%#x: %w", r.lo, r.hi, r.outerLo, r.outerHi, unix.EEXIST)
	}
	return nil
}

// hexField parses the hexadecimal number at the start of b up to sep, and
// returns it and what follows sep.
func hexField(b []byte, sep byte) (uint64, []byte, bool) {
	var v uint64
	for i, c := range b {
		switch {
		case c == sep && i > 0:
			return v, b[i+1:], true
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, nil, false
		}
		if i >= 16 {
			return 0, nil, false
		}
	}
	return 0, nil, false
}

// field returns the first field of b, separated by spaces, and the rest.
func field(b []byte) (f, rest []byte) {
	b = bytes.TrimLeft(b, " ")
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i:]
	}
	return b, nil
}
