package memlimit

// The limit is the least of the machine's memory (sysinfo's total RAM),
// every cgroup v1 memory.limit_in_bytes and every cgroup v2 memory.max and
// memory.high from the process's cgroup up to the highest the mount shows:
// a group's own limit does not say its ancestors', which bound it too. A
// hybrid system lists both hierarchies, the memory controller bound to one
// of them: the other has no memory files, which count as no limit.
//
// The cgroup a process is in is named in /proc/self/cgroup relative to
// the root of its cgroup namespace; a cgroup file system is mounted with
// some cgroup as its root (mountinfo's fourth field), so the directory of
// the process's cgroup is the mount point plus its path below that root.
// A process whose cgroup lies outside what the mount shows (a namespace
// that does not match the mount) has its cgroup limits unknown, and only
// the machine's memory counts.

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Bytes returns the memory the process may fill, in bytes, and false where
// the platform does not say. It reads the limits again once its last
// figure is a second old (refresh), so a limit changed since is seen from
// then on; where the process's cgroups are, it learns once (reading
// mountinfo takes a hundred microseconds or more), so a process moved to
// another cgroup afterwards keeps the limits of the first.
func Bytes() (int64, bool) { return last.get(time.Now(), read) }

// refresh is how long Bytes keeps a figure. Every Open without a MaxMapped
// asks; reading the figure (sysinfo, then each limit file from the
// process's cgroup up: a system call to open, read and close each) took
// 90 µs an Open on a 2-core VM with cgroup v1 three levels deep, a fifth of
// an Open and Close of a small dataset there.
const refresh = time.Second

// last is the figure Bytes last read.
var last figure

// figure is a figure of Bytes and when it was read. Safe for concurrent
// use: get holds mu while it reads, so that concurrent Opens read once.
type figure struct {
	mu sync.Mutex
	at time.Time // zero until read
	n  int64
	ok bool
}

// get returns f's figure, read by read first if none was read yet or it
// was read refresh or more before now (or after now: a clock that ran
// backwards).
func (f *figure) get(now time.Time, read func() (int64, bool)) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if age := now.Sub(f.at); f.at.IsZero() || age >= refresh || age < 0 {
		f.n, f.ok = read()
		f.at = now
	}
	return f.n, f.ok
}

// read reads Bytes's figure from the system.
func read() (int64, bool) {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0, false
	}
	total := int64(math.MaxInt64)
	if t := uint64(si.Totalram) * uint64(si.Unit); t > 0 && t < math.MaxInt64 {
		total = int64(t)
	}
	lim := min(total, systemGroups().limit(""))
	if lim == math.MaxInt64 {
		return 0, false
	}
	return lim, true
}

// systemGroups is the process's groups, found once.
var systemGroups = sync.OnceValue(func() groups { return findGroups("") })

// groups is where a process's memory limits are: cgroup v1 directories
// (v1) and v2 ones (v2), each with the highest directory of its hierarchy
// the process can read (top1, top2).
type groups struct {
	v1, top1 []string
	v2, top2 []string
}

// cgroupLimit returns the least memory limit of the cgroups the process is
// in, math.MaxInt64 if none is set or none can be read. root prefixes
// every path it reads (tests give it a tree of their own; "" is the
// system's).
func cgroupLimit(root string) int64 {
	return findGroups(root).limit(root)
}

// findGroups finds the directories of the cgroups the process is in, from
// /proc/self/cgroup and /proc/self/mountinfo below root.
func findGroups(root string) groups {
	var g groups
	cgroups, err := os.ReadFile(root + "/proc/self/cgroup")
	if err != nil {
		return g
	}
	mounts, err := os.ReadFile(root + "/proc/self/mountinfo")
	if err != nil {
		return g
	}
	for _, line := range strings.Split(string(cgroups), "\n") {
		// hierarchy-ID:controller-list:cgroup-path
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		controllers, cg, ok := strings.Cut(rest, ":")
		// A group outside the process's cgroup namespace is named
		// through "/..": no mount the process sees shows it.
		if !ok || !strings.HasPrefix(cg, "/") || slices.Contains(strings.Split(cg, "/"), "..") {
			continue
		}
		switch {
		case id == "0" && controllers == "":
			if dir, top, ok := cgroupDir(mounts, cg, "cgroup2", ""); ok {
				g.v2, g.top2 = append(g.v2, dir), append(g.top2, top)
			}
		case hasField(controllers, "memory"):
			if dir, top, ok := cgroupDir(mounts, cg, "cgroup", "memory"); ok {
				g.v1, g.top1 = append(g.v1, dir), append(g.top1, top)
			}
		}
	}
	return g
}

// limit returns the least memory limit of the groups' directories below
// root, math.MaxInt64 if none sets one.
func (g groups) limit(root string) int64 {
	lim := int64(math.MaxInt64)
	for i, dir := range g.v1 {
		lim = min(lim, limitV1(root, dir, g.top1[i]))
	}
	for i, dir := range g.v2 {
		lim = min(lim, limitV2(root, dir, g.top2[i]))
	}
	return lim
}

// cgroupDir returns the directory of cgroup cg in the first mount of a
// file system of type fstype (with option opt among its super options, if
// opt is not "") whose root holds cg, and the mount point, which is the
// highest directory of that hierarchy the process can read there.
func cgroupDir(mountinfo []byte, cg, fstype, opt string) (dir, top string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		// ID parent major:minor root mount-point options [optional...] - type source super-options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || g[0] != fstype || opt != "" && !hasField(g[2], opt) {
			continue
		}
		mroot, point := unescape(f[3]), unescape(f[4])
		var rel string
		switch {
		case mroot == "/":
			rel = cg
		case cg == mroot:
			rel = "/"
		case strings.HasPrefix(cg, mroot+"/"):
			rel = cg[len(mroot):]
		default:
			// Another part of the hierarchy: a later mount may show
			// the process's group.
			continue
		}
		return path.Join(point, rel), point, true
	}
	return "", "", false
}

// limitV1 returns the least memory.limit_in_bytes of cgroup v1 directory
// dir and of each of its parents up to top. (memory.stat's
// hierarchical_memory_limit says the same in one file, but the kernel
// takes tens of microseconds to write memory.stat out.)
func limitV1(root, dir, top string) int64 {
	return leastUp(root, dir, top, "memory.limit_in_bytes")
}

// limitV2 returns the least of memory.max and memory.high of cgroup v2
// directory dir and of each of its parents up to top: v2 has no file of
// the effective limit.
func limitV2(root, dir, top string) int64 {
	return leastUp(root, dir, top, "memory.max", "memory.high")
}

// leastUp returns the least limit in the files named of dir and of each of
// its parents up to top, math.MaxInt64 if none sets one.
func leastUp(root, dir, top string, names ...string) int64 {
	lim := int64(math.MaxInt64)
	for d := dir; ; d = path.Dir(d) {
		for _, name := range names {
			if v, ok := readSmall(root + d + "/" + name); ok {
				lim = min(lim, parseLimit(v))
			}
		}
		if d == top || d == "/" || !strings.HasPrefix(d, top+"/") {
			return lim
		}
	}
}

// readSmall returns the first bytes of a limit file: a number or "max"
// and a newline. It uses the system calls directly: os.ReadFile adds the
// file to the runtime's poller (cgroup files can be polled), an fstat and a
// second read, which tripled the cost of Bytes.
func readSmall(path string) (string, bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	var buf [64]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return "", false
	}
	return string(buf[:n]), true
}

// parseLimit reads a limit file's value: a number of bytes, or "max" (v2)
// or a number past any machine's memory (v1's "unlimited",
// 9223372036854771712), both of which mean no limit, as does anything it
// cannot read.
func parseLimit(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return math.MaxInt64
	}
	return n
}

// hasField reports whether the comma-separated list holds f.
func hasField(list, f string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == f {
			return true
		}
	}
	return false
}

// unescape undoes mountinfo's octal escapes (\040 for a space, \011,
// \012, \134) in a path.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
