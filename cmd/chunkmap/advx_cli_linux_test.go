//go:build linux

package main

// The chunkmap tool on hostile input: DIR and OUT through symlinks and
// "..", read-only commands that must leave DIR exactly as it was, OUT on a
// full tmpfs, SIGTERM and SIGPIPE during salvage and trim.

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestAdvxCLIChild is the tool's main when ADVX_CLI_ARGS is set (the test
// binary re-executed as the chunkmap binary, for signals and pipes).
func TestAdvxCLIChild(t *testing.T) {
	args := os.Getenv("ADVX_CLI_ARGS")
	if args == "" {
		t.Skip("helper process")
	}
	os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
}

func advxCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdvxCLIChild$")
	cmd.Env = append(os.Environ(), "ADVX_CLI_ARGS="+strings.Join(args, "\x1f"))
	return cmd
}

// advxDataset makes a dataset of n bytes (a pattern) in dir.
func advxDataset(t *testing.T, dir string, n int) []byte {
	t.Helper()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i>>16)
	}
	if _, err := m.Append(data); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return data
}

// advxSnap describes every entry of dir: name, mode, size, mtime, content.
func advxSnap(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d %d", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			c, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", sha256.Sum256(c))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestAdvxCLI_ReadOnlyCommandsThroughPaths: info, verify, verify -read, cat
// and salvage, with DIR spelled through a symlink, "L/", "..", "//" and a
// relative path, leave DIR as it was, down to what a read-write Open would
// clean up (a MANIFEST.tmp, a chunk file past Size).
func TestAdvxCLI_ReadOnlyCommandsThroughPaths(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	ds := filepath.Join(root, "data", "ds")
	data := advxDataset(t, ds, 3*int(chunkmap.MinChunkSize)+11)
	os.WriteFile(filepath.Join(ds, "MANIFEST.tmp"), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(ds, "0000000000000009.chunk"), make([]byte, chunkmap.MinChunkSize), 0o644)
	os.MkdirAll(filepath.Join(root, "data", "sub"), 0o755)
	os.Symlink(ds, "L")
	os.Symlink(filepath.Join(root, "data", "sub"), "S")
	before := advxSnap(t, ds)
	spellings := []string{"L", "L/", "L/.", "S/../ds", "data//ds/", "./data/sub/../ds", ds}
	for i, dir := range spellings {
		for _, args := range [][]string{
			{"info", dir}, {"verify", dir}, {"verify", "-read", dir},
			{"cat", "-off", "65530", "-n", "20", dir},
			{"salvage", dir, filepath.Join(root, fmt.Sprintf("out%d", i))},
			{"salvage", "-flat", dir, filepath.Join(root, fmt.Sprintf("flat%d", i))},
		} {
			code, out, errOut := clixRun(t, args...)
			want := 0
			if args[0] == "verify" {
				want = 1 // the leftovers are noted; a fault is status 1
			}
			if code != 0 && code != want {
				t.Errorf("%q: status %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
			}
			if args[0] == "cat" && code == 0 && out != string(data[65530:65550]) {
				t.Errorf("%q: got %q", args, out)
			}
			if after := advxSnap(t, ds); after != before {
				t.Fatalf("%q changed DIR:\nbefore:\n%s\nafter:\n%s", args, before, after)
			}
		}
		flat, err := os.ReadFile(filepath.Join(root, fmt.Sprintf("flat%d", i)))
		if err != nil || !bytes.Equal(flat, data) {
			t.Errorf("salvage -flat through %q: %v, equal %v", dir, err, bytes.Equal(flat, data))
		}
	}
}

// TestAdvxCLI_SalvageOutInsideDir: OUT that resolves into DIR through a
// symlink followed by "..", a symlink to DIR, or DIR/../DIR is refused
// with status 2 or 1, and DIR is left as it was.
func TestAdvxCLI_SalvageOutInsideDir(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	ds := filepath.Join(root, "ds")
	advxDataset(t, ds, 100000)
	os.Mkdir(filepath.Join(ds, "sub"), 0o755)
	os.Symlink(filepath.Join(ds, "sub"), "IN") // IN/.. is ds
	os.Symlink(ds, "D")
	before := advxSnap(t, ds)
	for _, out := range []string{"IN/../out", "IN/out", "D/out", "D", "D/", "ds/../ds/out", "IN/..", root + "//ds/sub/../x"} {
		for _, flat := range []bool{false, true} {
			args := []string{"salvage", "ds", out}
			if flat {
				args = []string{"salvage", "-flat", "ds", out}
			}
			code, _, errOut := clixRun(t, args...)
			if code == 0 || code == 3 {
				t.Errorf("%q: status %d, want a refusal (OUT lies inside DIR)", args, code)
			}
			_ = errOut
			if after := advxSnap(t, ds); after != before {
				t.Fatalf("%q changed DIR:\n%s", args, after)
			}
		}
	}
}

// TestAdvxCLI_SalvageFullTmpfs: OUT on a 1 MiB tmpfs, a dataset of 3 MiB:
// salvage fails with status 1 and a message about space, and neither hangs
// nor claims success; DIR unchanged.
func TestAdvxCLI_SalvageFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	root := t.TempDir()
	mnt := filepath.Join(root, "mnt")
	os.Mkdir(mnt, 0o755)
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	ds := filepath.Join(root, "ds")
	advxDataset(t, ds, 3<<20)
	before := advxSnap(t, ds)
	for _, args := range [][]string{
		{"salvage", ds, filepath.Join(mnt, "out")},
		{"salvage", "-flat", ds, filepath.Join(mnt, "flat")},
	} {
		code, out, errOut := clixRun(t, args...)
		if code != 1 || !strings.Contains(strings.ToLower(errOut), "space") {
			t.Errorf("%q: status %d, want 1 with a message about space\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
		if advxSnap(t, ds) != before {
			t.Fatalf("%q changed DIR", args)
		}
		os.RemoveAll(args[len(args)-1])
	}
	// Through a symlink and "..": the same.
	os.Symlink(filepath.Join(mnt), filepath.Join(root, "M"))
	code, _, errOut := clixRun(t, "salvage", ds, filepath.Join(root, "M", ".", "out"))
	if code != 1 {
		t.Errorf("salvage to M/./out: status %d: %s", code, errOut)
	}
}

// TestAdvxCLI_TrimSIGTERM: SIGTERM during a trim of many chunks: status 1
// (or 0 if it had finished), and the dataset opens consistently with Start
// a chunk boundary no further than asked, the rest of the bytes intact.
func TestAdvxCLI_TrimSIGTERM(t *testing.T) {
	for round := range 2 {
		dir := filepath.Join(t.TempDir(), "ds")
		cs := int64(chunkmap.MinChunkSize)
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			t.Fatal(err)
		}
		const nchunks = 1200
		if err := m.Truncate(nchunks * cs); err != nil { // sparse
			t.Fatal(err)
		}
		tail := []byte("the end of the dataset")
		if _, err := m.Append(tail); err != nil {
			t.Fatal(err)
		}
		m.Close()
		cmd := advxCmd("trim", dir, "-before", fmt.Sprint(nchunks*cs))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// The signal goes once trim has moved Start (past a quarter of
		// the chunks in round 1): its handler is installed before it
		// opens the dataset, whatever the machine's load. A trim that
		// finishes first gets no signal, or gets it on its way out.
		advxAwaitStart(t, dir, int64(round)*nchunks/4*cs+1, done)
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(advxWatchdog):
			cmd.Process.Kill()
			t.Fatalf("trim did not stop within %v of SIGTERM", advxWatchdog)
		}
		code := cmd.ProcessState.ExitCode()
		// A trim that finished first, and let the signals go (its
		// Stopper's Release) before it exited, dies of the signal: the
		// wait above sees Start moved, not the process still at work.
		// It printed what it deleted before it let them go; a trim killed
		// at work did not.
		finished := strings.HasPrefix(out.String(), "trim "+dir+": deleted ")
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if code != 0 && code != 1 && !(ws.Signaled() && ws.Signal() == syscall.SIGTERM && finished) {
			t.Errorf("round %d: trim after SIGTERM: status %d (%v)\nstdout: %s\nstderr: %s", round, code, cmd.ProcessState, out.String(), errOut.String())
		}
		r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: after SIGTERM (status %d): %v", round, code, err)
		}
		got := make([]byte, len(tail))
		if r.Start()%cs != 0 || r.Start() > nchunks*cs || r.Size() != nchunks*cs+int64(len(tail)) {
			t.Errorf("round %d: Start %d Size %d", round, r.Start(), r.Size())
		} else if _, err := r.ReadAt(got, nchunks*cs); err != nil || !bytes.Equal(got, tail) {
			t.Errorf("round %d: tail: %v %q", round, err, got)
		}
		r.Close()
		if c, o, e := clixRun(t, "verify", dir); c != 0 {
			t.Errorf("round %d: verify after SIGTERM: %d\n%s%s", round, c, o, e)
		}
		t.Logf("round %d: status %d, Start %d", round, code, r.Start())
	}
}

// advxWatchdog is how long a command may take to stop after a signal, or
// to get somewhere, before the test calls it hung: a watchdog, not a
// measure of speed (under -race beside the rest of CI a command can take
// seconds to do what takes it milliseconds alone).
const advxWatchdog = 30 * time.Second

// advxAwaitStart waits until the dataset in dir has a Start of at least
// start, as a reader sees it, or until the process whose Wait result done
// carries has ended (putting that result back); it fails the test after
// advxWatchdog.
func advxAwaitStart(t *testing.T, dir string, start int64, done chan error) {
	t.Helper()
	deadline := time.Now().Add(advxWatchdog)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err
			return
		default:
		}
		if r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true}); err == nil {
			moved := r.Start() >= start
			r.Close()
			if moved {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("Start of %s did not reach %d within %v", dir, start, advxWatchdog)
}

// TestAdvxCLI_SalvageSignals: SIGTERM during salvage, and salvage writing
// its report into a closed pipe: it ends (never hangs), with a non-zero
// status or by the signal, and DIR is unchanged.
func TestAdvxCLI_SalvageSignals(t *testing.T) {
	root := t.TempDir()
	ds := filepath.Join(root, "ds")
	advxDataset(t, ds, 16<<20)
	before := advxSnap(t, ds)
	for round, how := range []string{"sigterm", "sigpipe"} {
		out := filepath.Join(root, fmt.Sprintf("out%d", round))
		cmd := advxCmd("salvage", ds, out)
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		var pr, pw *os.File
		if how == "sigpipe" {
			var err error
			pr, pw, err = os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout = pw
			pr.Close() // every write to stdout gets EPIPE
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if pw != nil {
			pw.Close()
		}
		if how == "sigterm" {
			time.Sleep(30 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGTERM)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(advxWatchdog):
			cmd.Process.Kill()
			t.Fatalf("%s: salvage did not end within %v", how, advxWatchdog)
		}
		st := cmd.ProcessState
		t.Logf("%s: %v; stderr: %s", how, st, errOut.String())
		if how == "sigpipe" && st.ExitCode() == 0 {
			t.Errorf("salvage with a closed standard output: status 0 (its report was lost)")
		}
		if advxSnap(t, ds) != before {
			t.Fatalf("%s: DIR changed", how)
		}
	}
}

// TestAdvxCLI_VerifyDotDotAfterSymlink: verify of a healthy dataset named
// as S/../ds, where S is a symlink whose target's parent holds ds (the
// kernel's reading), reports what verify of the plain path reports.
func TestAdvxCLI_VerifyDotDotAfterSymlink(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	advxDataset(t, filepath.Join(root, "data", "ds"), 70000)
	os.MkdirAll(filepath.Join(root, "data", "sub"), 0o755)
	os.Symlink(filepath.Join(root, "data", "sub"), "S")
	wantCode, _, _ := clixRun(t, "verify", "data/ds")
	code, out, errOut := clixRun(t, "verify", "S/../ds")
	if code != wantCode {
		t.Errorf("verify S/../ds: status %d, verify data/ds: %d\n%s%s", code, wantCode, out, errOut)
	}
}

// TestSalvage_NoSpaceAdviceFitsTheCause salvages a dataset whose manifest
// gives its extent into a tmpfs too small for it. Nothing is copied, and
// the message must say why and what to do about the space: it said, for
// every extent OUT could not hold, that a chunk file far from the rest may
// have stretched it, to move that file out of a copy of DIR or restore the
// manifest, advice for an extent taken from the chunk files alone, and
// untrue of one the manifest gives.
func TestSalvage_NoSpaceAdviceFitsTheCause(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=128k"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	dir := newDataset(t)
	for _, flat := range []bool{false, true} {
		t.Run(fmt.Sprintf("flat=%v", flat), func(t *testing.T) {
			args := []string{"salvage", dir, filepath.Join(mnt, "out")}
			if flat {
				args = []string{"salvage", "-flat", dir, filepath.Join(mnt, "out")}
			}
			code, _, stderr := runCmd(t, args...)
			if code != exitFail || !strings.Contains(stderr, "no space left") {
				t.Fatalf("%q: exit status %d, want %d and no space left\n%s", args, code, exitFail, stderr)
			}
			if strings.Contains(stderr, "far from the rest") {
				t.Errorf("%q: the extent is the manifest's, but the message blames a stray chunk file:\n%s", args, stderr)
			}
			if entries, _ := os.ReadDir(mnt); len(entries) != 0 {
				t.Errorf("%q left %d entries in %s", args, len(entries), mnt)
			}
		})
	}
}
