package memlimit

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tree writes files (path → content) below a new directory and returns it.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// The mountinfo lines of a hybrid system, v1 controllers beside a v2
// hierarchy without the memory controller, as on this project's CI machine.
const hybridMounts = "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
	"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n" +
	"34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
	"40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"

const v2Mounts = "25 20 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"

func TestCgroupLimit(t *testing.T) {
	const unlimitedV1 = "9223372036854771712\n"
	tests := []struct {
		name  string
		files map[string]string
		want  int64
	}{{
		name: "v1: a parent's limit bounds the process's group",
		files: map[string]string{
			"proc/self/cgroup":    "4:memory:/svc/job\n1:cpu:/\n0::/\n",
			"proc/self/mountinfo": hybridMounts,
			"sys/fs/cgroup/memory/svc/job/memory.limit_in_bytes": unlimitedV1,
			"sys/fs/cgroup/memory/svc/memory.limit_in_bytes":     "268435456\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":         unlimitedV1,
		},
		want: 256 << 20,
	}, {
		name: "v1: the group's own limit, below its parent's",
		files: map[string]string{
			"proc/self/cgroup":    "4:memory:/svc/job\n",
			"proc/self/mountinfo": hybridMounts,
			"sys/fs/cgroup/memory/svc/job/memory.limit_in_bytes": "1073741824\n",
			"sys/fs/cgroup/memory/svc/memory.limit_in_bytes":     "2147483648\n",
		},
		want: 1 << 30,
	}, {
		name: "v1 unlimited",
		files: map[string]string{
			"proc/self/cgroup":                           "4:memory:/\n",
			"proc/self/mountinfo":                        hybridMounts,
			"sys/fs/cgroup/memory/memory.limit_in_bytes": unlimitedV1,
		},
		want: 9223372036854771712,
	}, {
		name: "v2: the least of the group's and its ancestors' max and high",
		files: map[string]string{
			"proc/self/cgroup":                "0::/a/b/c\n",
			"proc/self/mountinfo":             v2Mounts,
			"sys/fs/cgroup/a/b/c/memory.max":  "max\n",
			"sys/fs/cgroup/a/b/c/memory.high": "max\n",
			"sys/fs/cgroup/a/b/memory.max":    "536870912\n",
			"sys/fs/cgroup/a/b/memory.high":   "max\n",
			"sys/fs/cgroup/a/memory.max":      "max\n",
			"sys/fs/cgroup/a/memory.high":     "805306368\n",
		},
		want: 512 << 20,
	}, {
		name: "v2 high below max",
		files: map[string]string{
			"proc/self/cgroup":            "0::/x\n",
			"proc/self/mountinfo":         v2Mounts,
			"sys/fs/cgroup/x/memory.max":  "1073741824\n",
			"sys/fs/cgroup/x/memory.high": "805306368\n",
		},
		want: 768 << 20,
	}, {
		name: "v2 inside a container: the namespace's root is the mount's",
		files: map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"proc/self/mountinfo":      "600 500 0:30 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n",
			"sys/fs/cgroup/memory.max": "134217728\n",
		},
		want: 128 << 20,
	}, {
		name: "v1 mount of a subtree (a container without a cgroup namespace)",
		files: map[string]string{
			"proc/self/cgroup":                           "7:memory:/docker/abc\n",
			"proc/self/mountinfo":                        "700 600 0:40 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "67108864\n",
			// Above the mount: not read.
			"sys/fs/memory.limit_in_bytes": "4096\n",
		},
		want: 64 << 20,
	}, {
		name: "a group outside what the mount shows counts as no limit",
		files: map[string]string{
			"proc/self/cgroup":                           "7:memory:/other\n",
			"proc/self/mountinfo":                        "700 600 0:40 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "67108864\n",
		},
		want: math.MaxInt64,
	}, {
		name: "a mount of another part of the hierarchy first, the process's group's after",
		files: map[string]string{
			"proc/self/cgroup": "7:memory:/docker/abc\n",
			"proc/self/mountinfo": "690 600 0:40 /other /mnt/x rw - cgroup cgroup rw,memory\n" +
				"700 600 0:40 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "67108864\n",
		},
		want: 64 << 20,
	}, {
		name: "a group outside the cgroup namespace counts as no limit",
		files: map[string]string{
			"proc/self/cgroup":             "0::/../sib\n",
			"proc/self/mountinfo":          v2Mounts,
			"sys/fs/sib/memory.max":        "4096\n",
			"sys/fs/cgroup/sib/memory.max": "4096\n",
		},
		want: math.MaxInt64,
	}, {
		name: "hybrid: the v2 hierarchy without memory files adds no limit",
		files: map[string]string{
			"proc/self/cgroup":                             "4:memory:/m\n0::/\n",
			"proc/self/mountinfo":                          hybridMounts,
			"sys/fs/cgroup/memory/m/memory.limit_in_bytes": "2147483648\n",
			"sys/fs/cgroup/unified/cgroup.procs":           "",
		},
		want: 2 << 30,
	}, {
		name: "a mount point with a space, escaped in mountinfo",
		files: map[string]string{
			"proc/self/cgroup":            "0::/g\n",
			"proc/self/mountinfo":         `25 20 0:22 / /sys/fs/cg\040roup rw - cgroup2 cgroup2 rw` + "\n",
			"sys/fs/cg roup/g/memory.max": "99999744\n",
		},
		want: 99999744,
	}, {
		name: "garbage everywhere",
		files: map[string]string{
			"proc/self/cgroup":           "what\n::\n4:memory:relative\n0::/g\n",
			"proc/self/mountinfo":        "1 2 3\n - cgroup2\n25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/g/memory.max": "lots\n",
		},
		want: math.MaxInt64,
	}, {
		name:  "no /proc",
		files: map[string]string{},
		want:  math.MaxInt64,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cgroupLimit(tree(t, tc.files)); got != tc.want {
				t.Errorf("cgroupLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/a/b`:          "/a/b",
		`/a\040b`:       "/a b",
		`/tab\011x\134`: "/tab\tx\\",
		`/short\04`:     `/short\04`,
		`/bad\999`:      `/bad\999`,
		`\`:             `\`,
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBytes checks the system's figure against what sysinfo and the
// process's own cgroup files say.
func TestBytes(t *testing.T) {
	n, ok := Bytes()
	if !ok {
		t.Fatal("Bytes reports no figure on Linux")
	}
	if n <= 0 {
		t.Fatalf("Bytes = %d", n)
	}
	if lim := cgroupLimit(""); n > lim {
		t.Errorf("Bytes = %d, above the cgroup limit %d", n, lim)
	}
	t.Logf("the process may fill %d MiB", n>>20)
}

// TestFigureRefresh checks when Bytes reads the system's figure again: not
// within refresh of the last read, at refresh and after, and at once if the
// clock ran backwards.
func TestFigureRefresh(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at       time.Duration // after t0
		wantRead bool
	}{
		{0, true}, // the first call reads
		{refresh / 2, false},
		{refresh - time.Nanosecond, false},
		{refresh, true},
		{refresh + time.Millisecond, false},
		{2*refresh + time.Millisecond, true},
		{refresh, true}, // backwards
		{refresh + time.Millisecond, false},
	}
	var f figure
	reads := 0
	read := func() (int64, bool) {
		reads++
		return int64(reads) << 20, reads%2 == 1
	}
	for i, s := range steps {
		before := reads
		n, ok := f.get(t0.Add(s.at), read)
		if got := reads > before; got != s.wantRead {
			t.Fatalf("step %d (t0+%v): read %v, want %v", i, s.at, got, s.wantRead)
		}
		if n != int64(reads)<<20 || ok != (reads%2 == 1) {
			t.Fatalf("step %d: got (%d, %v), want the last read's (%d, %v)", i, n, ok, int64(reads)<<20, reads%2 == 1)
		}
	}
}
