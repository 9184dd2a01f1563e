//go:build linux

package chunkmap_test

// Tests that kill a writer's process with SIGKILL and check, after a
// reopen, what the README's durability table promises for a crash of the
// process: every write that returned is there.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// hfsChildEnv names the environment variable that turns the test binary
// into the child process of a HostileFS test; its value is the role and
// its arguments, separated by commas.
const hfsChildEnv = "CHUNKMAP_HOSTILEFS_CHILD"

// hfsChild returns the child's arguments if this process is the child of
// role, and nil otherwise.
func hfsChild(role string) []string {
	args := strings.Split(os.Getenv(hfsChildEnv), ",")
	if args[0] != role {
		return nil
	}
	return args[1:]
}

// TestHostileFS_KillAfterConcurrentAppend runs a child that appends a
// large record A and, while A is still being copied, a small record B from
// another goroutine. B's Append returns; the child reports it, and kills
// itself with SIGKILL while A's copy is still under way. The README
// promises that a crash of the process keeps every write that returned,
// synced or not: B's bytes must be there after a reopen.
func TestHostileFS_KillAfterConcurrentAppend(t *testing.T) {
	if args := hfsChild("concurrent-append"); args != nil {
		killAfterConcurrentAppendChild(args[0])
		return
	}
	// Its work is in child processes (or the go command): it runs beside
	// the package's other such tests, two at a time on two cores, once the
	// sequential tests are done.
	t.Parallel()
	for round := range 3 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHostileFS_KillAfterConcurrentAppend$")
		cmd.Env = append(os.Environ(), hfsChildEnv+"=concurrent-append,"+dir)
		out, _ := cmd.CombinedOutput()
		var bOff, bLen, sizeThen int64
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "B ") {
				line = l
			}
		}
		if _, err := fmt.Sscanf(line, "B %d %d %d", &bOff, &bLen, &sizeThen); err != nil {
			t.Fatalf("round %d: the child reported no append of B (%v):\n%s", round, err, out)
		}
		if sizeThen > bOff {
			t.Logf("round %d: A finished before B was reported; nothing to check", round)
			continue
		}
		m, err := chunkmap.Open(dir, nil)
		if err != nil {
			t.Fatalf("round %d: Open after the kill: %v", round, err)
		}
		got := make([]byte, bLen)
		n, rerr := m.ReadAt(got, bOff)
		size := m.Size()
		m.Close()
		if rerr != nil || !bytes.Equal(got, bytes.Repeat([]byte{'B'}, int(bLen))) {
			t.Fatalf("round %d: Append of B returned offset %d (the child's Size then: %d) before the kill, "+
				"but after reopening Size is %d and ReadAt(%d bytes at %d) = %d, %v: a write that returned was lost",
				round, bOff, sizeThen, size, bLen, bOff, n, rerr)
		}
	}
}

func killAfterConcurrentAppendChild(dir string) {
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 16 << 20})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	if _, err := m.Append([]byte("header")); err != nil {
		fmt.Println("append:", err)
		os.Exit(1)
	}
	a := bytes.Repeat([]byte{'A'}, 96<<20)
	go m.Append(a) // reserves at once, then copies for a while
	for m.Stats().Chunks < 7 {
		// The chunks for A are created under the same lock that reserves
		// its range.
		time.Sleep(10 * time.Microsecond)
	}
	b := bytes.Repeat([]byte{'B'}, 100)
	off, err := m.Append(b)
	if err != nil {
		fmt.Println("append B:", err)
		os.Exit(1)
	}
	fmt.Printf("B %d %d %d\n", off, len(b), m.Size())
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
