//go:build linux

package chunkmap_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestBootIDRefused_DoesNotStick kills a writer right after an Append
// returned, then, in a fresh process, runs Opens of another dataset with
// the process out of descriptors, and checks that a ReadOnly Open of the
// killed writer's dataset after them still finds the Append. The boot ID
// is read from /proc once per process; an Open that found no descriptor
// for that read took the wall clock's boot time instead and kept it for
// good, so every later Open of the process took the killed writer's state
// page for one of an earlier boot and trusted only the last Sync: the
// Append was gone, and a writer opening the dataset would have cut it.
func TestBootIDRefused_DoesNotStick(t *testing.T) {
	const n = 3*chunkmap.MinChunkSize + 100
	switch os.Getenv("CHUNKMAP_BOOTREFUSED_ROLE") {
	case "":
	case "append":
		appendAndDie(os.Getenv("CHUNKMAP_BOOTREFUSED_DIR"), n)
	case "check":
		refusedOpens(os.Getenv("CHUNKMAP_BOOTREFUSED_OTHER"))
		m, err := chunkmap.Open(os.Getenv("CHUNKMAP_BOOTREFUSED_DIR"), &chunkmap.Options{ReadOnly: true})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Printf("size %d\n", m.Size())
		os.Exit(0)
	default:
		t.Fatal("unknown role")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, other := filepath.Join(t.TempDir(), "ds"), t.TempDir()
	m, err := chunkmap.Open(other, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"append", "check"} {
		cmd := exec.Command(exe, "-test.run=^TestBootIDRefused_DoesNotStick$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CHUNKMAP_BOOTREFUSED_ROLE="+role, "CHUNKMAP_BOOTREFUSED_DIR="+dir, "CHUNKMAP_BOOTREFUSED_OTHER="+other)
		out, err := cmd.CombinedOutput()
		if role == "append" {
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the writer did not end by its SIGKILL: %v\n%s", err, out)
			}
			continue
		}
		if want := fmt.Sprintf("size %d", n); !strings.Contains(string(out), want) || strings.Contains(string(out), "descriptors free") {
			t.Errorf("a ReadOnly Open after Opens that ran out of descriptors: want %q (the killed writer's Append): %v\n%s", want, err, out)
		}
	}
}

// refusedOpens opens the dataset in dir ReadOnly, and closes it, with
// each number of descriptors free from 0 to 15, so that one of the Opens
// finds none left where it reads the boot ID, whichever files it opens
// before. Every Open must succeed or fail with an error matching ErrIO and
// EMFILE.
func refusedOpens(dir string) {
	// The runtime's poller, made at the first file it may poll, must not
	// be made out of descriptors, which ends the process.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		panic(err)
	}
	low := lim
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		panic(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	for free := range 16 {
		var fill []int
		for {
			fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				break
			}
			fill = append(fill, fd)
		}
		for _, fd := range fill[len(fill)-free:] {
			syscall.Close(fd)
		}
		fill = fill[:len(fill)-free]
		m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
		if err == nil {
			err = m.Close()
		}
		if err != nil && (!errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EMFILE)) {
			fmt.Printf("Open with %d descriptors free: %v\n", free, err)
		}
		for _, fd := range fill {
			syscall.Close(fd)
		}
	}
}
