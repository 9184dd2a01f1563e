//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperArgsEnv holds the command line, one argument per line, that
// TestHelperProcess runs; it is set only in the child processes the signal
// tests start.
const helperArgsEnv = "CHUNKMAP_HELPER_ARGS"

// helperHoldEnv, set to 1 in a child of startHelper, holds every write to
// standard output after the first until the pipe has no reader (heldOutput).
const helperHoldEnv = "CHUNKMAP_HELPER_HOLD"

// TestHelperProcess is not a test: it is the chunkmap command in a child
// process (syscall's TestFcntlFlock pattern), run by startHelper.
func TestHelperProcess(t *testing.T) {
	args, ok := os.LookupEnv(helperArgsEnv)
	if !ok {
		return
	}
	var stdout io.Writer = os.Stdout
	if os.Getenv(helperHoldEnv) == "1" {
		stdout = &heldOutput{f: os.Stdout}
	}
	os.Exit(run(strings.Split(args, "\n"), stdout, os.Stderr))
}

// heldOutput writes to f, a pipe, but holds every write after the first
// until the pipe has no reader (poll reports POLLERR or POLLHUP), or for a
// minute at most: the write then meets the closed pipe, as a write after
// the reader exits does, whatever the schedule. A test that closes the
// reader after the first line cannot otherwise know that the command has
// not written everything into the pipe's buffer first, nor that it gets to
// its next write soon after, other than by timing its work.
type heldOutput struct {
	f      *os.File
	writes int
}

func (h *heldOutput) Write(p []byte) (int, error) {
	if h.writes++; h.writes > 1 {
		fds := []unix.PollFd{{Fd: int32(h.f.Fd())}} // no events: POLLERR and POLLHUP come anyway
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			n, err := unix.Poll(fds, 100)
			if err == nil && n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
				break
			}
		}
	}
	return h.f.Write(p)
}

// startHelper starts chunkmap with args in a child process whose temporary
// directory is tmp, and returns it, its standard output and its standard
// error (to read once it has exited).
func startHelper(t *testing.T, tmp string, args ...string) (*exec.Cmd, io.ReadCloser, *bytes.Buffer) {
	t.Helper()
	return startHelperEnv(t, tmp, nil, args...)
}

// startHelperEnv is startHelper with env added to the child's environment.
func startHelperEnv(t *testing.T, tmp string, env []string, args ...string) (*exec.Cmd, io.ReadCloser, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperArgsEnv+"="+strings.Join(args, "\n"), "TMPDIR="+tmp)
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, stdout, &stderr
}

// waitHelper waits for cmd to exit, at most a minute, and returns its exit
// status.
func waitHelper(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("chunkmap was killed by %v instead of exiting", ws.Signal())
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("chunkmap did not exit within a minute")
		return 0
	}
}

// checkEmpty fails t if dir holds anything.
func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("the demo left %s in its temporary directory %s", e.Name(), dir)
	}
}

// TestRun_Demo_Signal checks that Ctrl-C, SIGTERM and SIGHUP stop the demo
// in a phase, and that it removes its temporary directory and exits with
// status 1, saying why.
func TestRun_Demo_Signal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			// A billion random reads: the demo is still running when the
			// signal comes, whenever that is.
			cmd, stdout, stderr := startHelper(t, tmp, "demo", "-size", "4MiB", "-chunk", "64KiB", "-max-mapped", "2",
				"-reads", "1000000000", "-read-size", "8", "-compare=false")
			first, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil || !strings.Contains(first, "chunkmap demo: 4 MiB in 64 chunks") || !strings.Contains(first, tmp) {
				t.Fatalf("first line %q (%v), want the demo's header naming its directory in %s", first, err, tmp)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, stdout)
			if code := waitHelper(t, cmd); code != exitFail {
				t.Errorf("exit status %d, want %d; stderr %q", code, exitFail, stderr)
			}
			if want := "chunkmap demo: stopped: " + sig.String() + " signal received"; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
			checkEmpty(t, tmp)
		})
	}
}

// TestRun_Demo_ClosedPipe checks that a closed standard output (chunkmap
// demo | head -1) stops the demo at its next write: it removes its
// temporary directory and exits with status 1, quietly, instead of being
// killed by SIGPIPE and leaving the directory behind.
func TestRun_Demo_ClosedPipe(t *testing.T) {
	t.Run("after the first line", func(t *testing.T) {
		tmp := t.TempDir()
		// The demo's next write after its first line, the table, is
		// held until the pipe is closed (heldOutput): the demo does not
		// notice a closed output before it writes, and its two million
		// random reads, meant to outlast the close, took 9 to 27 s under
		// load and over the minute waitHelper allows under more (GOARCH=386
		// -short beside the race run).
		cmd, stdout, stderr := startHelperEnv(t, tmp, []string{helperHoldEnv + "=1"}, "demo", "-size", "4MiB", "-chunk", "64KiB", "-max-mapped", "2",
			"-reads", "1000", "-read-size", "8", "-compare=false")
		first, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.Contains(first, tmp) {
			t.Fatalf("first line %q (%v), want the demo's header naming its directory in %s", first, err, tmp)
		}
		stdout.Close() // as head -1 exits
		if code := waitHelper(t, cmd); code != exitFail || stderr.Len() != 0 {
			t.Errorf("exit status %d, stderr %q; want %d and nothing", code, stderr, exitFail)
		}
		checkEmpty(t, tmp)
	})
	t.Run("before the first line", func(t *testing.T) {
		tmp := t.TempDir()
		cmd, stdout, stderr := startHelper(t, tmp, "demo", "-size", "64MiB", "-chunk", "64KiB", "-max-mapped", "2",
			"-reads", "1000000000", "-read-size", "8", "-compare=false")
		stdout.Close() // as in chunkmap demo | true
		if code := waitHelper(t, cmd); code != exitFail || stderr.Len() != 0 {
			t.Errorf("exit status %d, stderr %q; want %d and nothing", code, stderr, exitFail)
		}
		checkEmpty(t, tmp)
	})
}

// TestRun_Demo_BrokenPipe is TestRun_Demo_ClosedPipe in this process: a
// standard output that fails with EPIPE stops the demo quietly.
func TestRun_Demo_BrokenPipe(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	out := writerFunc(func([]byte) (int, error) {
		return 0, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}
	})
	var errOut bytes.Buffer
	if code := run([]string{"demo", "-size", "2MiB", "-chunk", "64KiB", "-reads", "100"}, out, &errOut); code != exitFail || errOut.Len() != 0 {
		t.Errorf("exit status %d, stderr %q; want %d and nothing", code, errOut.String(), exitFail)
	}
	checkEmpty(t, tmp)
}
