//go:build linux

package chunkmap_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestCrashx_KillWithoutBootID kills a writer right after an Append
// returned and checks that the Append is there at the next Open, also
// where the kernel's boot ID cannot be read (a chroot or a sandbox without
// /proc; here /dev/null bound over it in a mount namespace of the test's
// own). The state page that carries Size is trusted only by a boot that
// can tell itself from a restart; one that reads no boot ID and trusts the
// last Sync instead loses every write that returned after it.
func TestCrashx_KillWithoutBootID(t *testing.T) {
	const n = 200000
	switch os.Getenv("CHUNKMAP_BOOTID_ROLE") {
	case "append":
		appendAndDie(os.Getenv("CHUNKMAP_BOOTID_DIR"), n)
	case "check":
		m, err := chunkmap.Open(os.Getenv("CHUNKMAP_BOOTID_DIR"), &chunkmap.Options{ReadOnly: true})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		got := make([]byte, m.Size())
		if _, err := m.ReadAt(got, 0); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Printf("size %d, bytes as appended: %v\n", len(got), bytes.Equal(got, bootIDBytes(n)))
		os.Exit(0)
	}
	if os.Getenv("CHUNKMAP_BOOTID_DIR") != "" {
		t.Fatal("a child process without a role") // never run the test itself again
	}
	if os.Geteuid() != 0 {
		t.Skip("a mount namespace needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, hide := range []bool{false, true} {
		script := `CHUNKMAP_BOOTID_ROLE=append "$EXE" -test.run '^TestCrashx_KillWithoutBootID$' -test.count 1 >/dev/null 2>&1
CHUNKMAP_BOOTID_ROLE=check "$EXE" -test.run '^TestCrashx_KillWithoutBootID$' -test.count 1`
		if hide {
			script = "mount --bind /dev/null /proc/sys/kernel/random/boot_id || exit 9\n" + script
		}
		cmd := exec.Command("unshare", "--mount", "sh", "-c", script)
		cmd.Env = append(os.Environ(), "EXE="+exe, "CHUNKMAP_BOOTID_DIR="+filepath.Join(t.TempDir(), "ds"))
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), "Operation not permitted") || strings.Contains(string(out), "unshare failed") {
			t.Skipf("no mount namespace here: %s", out)
		}
		if want := fmt.Sprintf("size %d, bytes as appended: true", n); !strings.Contains(string(out), want) {
			t.Errorf("boot ID hidden %v: after a SIGKILL right after an Append returned, want %q: %v\n%s", hide, want, err, out)
		}
	}
}

// bootIDBytes returns n bytes that depend on their offset.
func bootIDBytes(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>9)
	}
	return p
}

// appendAndDie is the writer child of the boot ID tests: it appends n
// bytes of bootIDBytes to a new dataset of 64 KiB chunks in dir, syncs
// nothing, and dies by SIGKILL, leaving Size only in the state page.
func appendAndDie(dir string, n int) {
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err == nil {
		_, err = m.Append(bootIDBytes(n))
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
