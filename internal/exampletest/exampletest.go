// Package exampletest holds the tests every program in examples/ shares:
// its flag handling, through the program's run function; its -h, which
// must print the usage and exit with status 0, through main in a child
// process; and, through main in child processes too, how it stops on a
// closed output and on a signal.
//
//	func TestRun_Flags(t *testing.T) {
//		exampletest.Flags(t, run, []exampletest.FlagCase{
//			{Name: "-h", Args: []string{"-h"}, WantOut: "Usage: go run ./examples/x"},
//		})
//	}
//
//	func TestMain_Help(t *testing.T) {
//		exampletest.Help(t, "x", main, "Usage: go run ./examples/x")
//	}
package exampletest

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FlagCase is one call of a program's run function: its arguments, the
// text its error must contain ("" for success), and the text its output
// must contain.
type FlagCase struct {
	Name    string
	Args    []string
	WantErr string
	WantOut string
}

// Flags runs every case through run with TMPDIR set to an empty directory,
// and checks the error, the output, and that the call left nothing in
// TMPDIR (flag handling must not make a dataset).
func Flags(t *testing.T, run func(args []string, w io.Writer) error, cases []FlagCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			var out bytes.Buffer
			err := run(tc.Args, &out)
			if tc.WantErr == "" && err != nil || tc.WantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.WantErr)) {
				t.Fatalf("run(%q) = %v, want error %q", tc.Args, err, tc.WantErr)
			}
			if !strings.Contains(out.String(), tc.WantOut) {
				t.Errorf("output does not contain %q:\n%s", tc.WantOut, &out)
			}
			if entries, _ := os.ReadDir(os.Getenv("TMPDIR")); len(entries) != 0 {
				t.Errorf("run(%q) made a dataset", tc.Args)
			}
		})
	}
}

// helpEnv makes the child process of Help run main with -h.
const helpEnv = "EXAMPLETEST_HELP_CHILD"

// Help runs program name's main with -h in a child process (the test
// binary again, running only the calling test) and checks that it exits
// with status 0 and prints want. It must be called from the test function
// itself: in the child it calls main and returns.
func Help(t *testing.T, name string, main func(), want string) {
	t.Helper()
	if os.Getenv(helpEnv) == name {
		os.Args = []string{name, "-h"}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), helpEnv+"="+name)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s -h: %v, want exit status 0\n%s", name, err, out)
	}
	if !bytes.Contains(out, []byte(want)) {
		t.Errorf("%s -h printed no usage (want %q):\n%s", name, want, out)
	}
}

// stopEnv makes the child process of ClosedOutput and Signals run main
// with the arguments given to them.
const stopEnv = "EXAMPLETEST_STOP_CHILD"

// startStopChild starts program name's main with args in a child process
// (the test binary again, running only the calling test) whose temporary
// directory is tmp and whose standard output is stdout, and returns it
// with its standard error (to read once it has exited).
func startStopChild(t *testing.T, name string, args []string, tmp string, stdout *os.File) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), stopEnv+"="+name, "TMPDIR="+tmp)
	cmd.Stdout = stdout
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
	return cmd, &stderr
}

// waitStopped waits for the child cmd and checks that it exited with
// status 1, not by a signal, and left nothing in its temporary directory
// tmp. A child that has not exited two minutes after it was stopped
// is killed and fails the test, which would otherwise hang until go
// test's own limit and say nothing of which program ignored its stop.
func waitStopped(t *testing.T, name string, cmd *exec.Cmd, tmp string, stderr *bytes.Buffer) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not exit within 2 minutes of being stopped; stderr %q", name, stderr)
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	if !cmd.ProcessState.Exited() {
		t.Errorf("%s was killed (%v) instead of exiting; stderr %q", name, cmd.ProcessState, stderr)
	} else if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("%s exited with status %d, want 1; stderr %q", name, code, stderr)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s left %s in its temporary directory", name, e.Name())
	}
}

// inStopChild runs main with args and reports true if this is the child
// process of ClosedOutput or Signals for program name.
func inStopChild(name string, main func(), args []string) bool {
	if os.Getenv(stopEnv) != name {
		return false
	}
	os.Args = append([]string{name}, args...)
	main()
	return true
}

// ClosedOutput runs program name's main with args in a child process whose
// standard output is a pipe nobody reads (as in "name | true"), and checks
// that it removes its temporary directory and exits with status 1,
// printing nothing, rather than being killed by SIGPIPE at its first write
// and leaving the directory behind. It must be called from the test
// function itself: in the child it calls main and returns.
func ClosedOutput(t *testing.T, name string, main func(), args []string) {
	t.Helper()
	if inStopChild(name, main, args) {
		return
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // before the child starts: its every write fails
	tmp := t.TempDir()
	cmd, stderr := startStopChild(t, name, args, tmp, w)
	w.Close()
	waitStopped(t, name, cmd, tmp, stderr)
	if stderr.Len() != 0 {
		t.Errorf("%s printed %q for a closed output, want nothing", name, stderr)
	}
}

// Signals runs program name's main with args in a child process once for
// each of SIGINT, SIGTERM and SIGHUP, sends it the signal once it has
// printed its first line, and checks that it stops, removes its temporary
// directory and exits with status 1 saying why. args must keep the
// program running long after its first line. It must be called from the
// test function itself: in the child it calls main and returns.
func Signals(t *testing.T, name string, main func(), args []string) {
	t.Helper()
	if inStopChild(name, main, args) {
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("a process cannot be sent SIGTERM on Windows")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			tmp := t.TempDir()
			cmd, stderr := startStopChild(t, name, args, tmp, w)
			w.Close()
			first, err := bufio.NewReader(r).ReadString('\n')
			if err != nil || !strings.Contains(first, tmp) {
				t.Fatalf("first line %q (%v), want one naming the temporary directory in %s", first, err, tmp)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, r)
			waitStopped(t, name, cmd, tmp, stderr)
			if want := name + ": stopped: " + sig.String() + " signal received"; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
		})
	}
}
