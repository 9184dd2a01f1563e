package chunkmap_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// memCgroup makes a memory cgroup that limits its processes to limit
// bytes, and returns the file a process's ID is written to to move it in;
// Cleanup removes the group. It skips the test where the process cannot
// (not root, no memory controller it can reach): cgroup v1's memory
// hierarchy, a group below the process's own, or cgroup v2's root.
func memCgroup(t *testing.T, limit int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making a cgroup takes root")
	}
	groups, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	var dir, limitFile string
	for _, line := range strings.Split(string(groups), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if own := "/sys/fs/cgroup/memory" + f[2]; strings.Contains(","+f[1]+",", ",memory,") {
			if _, err := os.Stat(filepath.Join(own, "memory.limit_in_bytes")); err == nil {
				dir, limitFile = filepath.Join(own, fmt.Sprintf("chunkmap-test-%d", os.Getpid())), "memory.limit_in_bytes"
				break
			}
		}
		if f[0] == "0" && f[1] == "" {
			if sub, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control"); err == nil && strings.Contains(" "+strings.TrimSpace(string(sub))+" ", " memory ") {
				dir, limitFile = fmt.Sprintf("/sys/fs/cgroup/chunkmap-test-%d", os.Getpid()), "memory.max"
			}
		}
	}
	if dir == "" {
		t.Skip("no memory cgroup controller this process can reach")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing the test's cgroup: %v", err)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(fmt.Sprint(limit)), 0o644); err != nil {
		t.Skip(err)
	}
	return filepath.Join(dir, "cgroup.procs")
}

// TestMaxMapped_CgroupLimit runs Open in a child process in a cgroup of
// 256 MiB: a zero MaxMapped with 64 MiB chunks must be 2 there (half the
// limit), where it was 256 (16 GiB) whatever the limit, and random reads
// of a dataset larger than the limit went through that many mappings,
// each fault reading megabytes around its page into a cgroup that must
// evict as much to take them: 64 s for what pread did in 0.85 s (README,
// Limits). A MaxMapped the options give is kept.
func TestMaxMapped_CgroupLimit(t *testing.T) {
	if dir := os.Getenv("CHUNKMAP_CGROUP_DIR"); dir != "" {
		for _, maxMapped := range []int{0, 8} {
			m, err := chunkmap.Open(filepath.Join(dir, fmt.Sprint(maxMapped)), &chunkmap.Options{ChunkSize: 64 << 20, MaxMapped: maxMapped})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("cgroup: MaxMapped %d: %d\n", maxMapped, m.MaxMapped())
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	procs := memCgroup(t, 256<<20)
	cmd := exec.Command("/bin/sh", "-c",
		`echo $$ 2>/dev/null > "$1" || { echo "cgroup: cannot join"; exit 0; }; exec "$2" -test.run='^TestMaxMapped_CgroupLimit$' -test.count=1`,
		"sh", procs, os.Args[0])
	cmd.Env = append(os.Environ(), "CHUNKMAP_CGROUP_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child in a cgroup of 256 MiB: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("cgroup: cannot join")) {
		t.Skip("the child could not join the cgroup made for it")
	}
	for _, want := range []string{"cgroup: MaxMapped 0: 2\n", "cgroup: MaxMapped 8: 8\n"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("child in a cgroup of 256 MiB printed\n%s\nwant a line %q", out, want)
		}
	}
}
