//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestClixVerify_HostileChunks: every unreadable chunk is exactly one
// problem, with the bytes it loses and salvage advice, with and without
// -read; info describes it with a warning and status 3; raw cat stops at it
// with status 1; and none of them changes DIR or hangs.
func TestClixVerify_HostileChunks(t *testing.T) {
	for _, d := range clixChunkDamages() {
		t.Run(d.name, func(t *testing.T) {
			dir := newDataset(t)
			d.damage(t, dir)
			before := snapshot(t, dir)
			lost := "bytes [" + strconv.FormatInt(d.lost[0], 10) + ", " + strconv.FormatInt(d.lost[1], 10) + ") are lost"
			for _, args := range [][]string{{"verify", dir}, {"verify", "-read", dir}} {
				code, out, errOut := clixRun(t, args...)
				if code != exitFail {
					t.Errorf("%q: exit status %d, want 1; stderr %q", args, code, errOut)
				}
				if n := len(problemLine.FindAllString(out, -1)); n != 1 || !strings.Contains(out, "FAILED, 1 problem(s)") {
					t.Errorf("%q: %d problems, want 1:\n%s", args, n, out)
				}
				if n := len(adviceLine.FindAllString(out, -1)); n != 1 {
					t.Errorf("%q: %d problems with salvage advice, want 1:\n%s", args, n, out)
				}
				if !strings.Contains(out, chunk.Name(2)) || !strings.Contains(out, lost) {
					t.Errorf("%q: the problem does not name %s and %q:\n%s", args, chunk.Name(2), lost, out)
				}
			}
			code, out, errOut := clixRun(t, "info", dir)
			if code != exitDamaged || !strings.Contains(errOut, "warning: ") || !strings.Contains(out, "damaged     1 problem(s)") ||
				!strings.Contains(out, "lost        "+strconv.FormatInt(d.lost[1]-d.lost[0], 10)+" ") {
				t.Errorf("info: exit status %d, stderr %q:\n%s", code, errOut, out)
			}
			code, out, errOut = clixRun(t, "cat", dir)
			if code != exitFail || out != string(want(0, d.lost[0], nil)) || !strings.Contains(errOut, "stopped at offset "+strconv.FormatInt(d.lost[0], 10)) {
				t.Errorf("cat: exit status %d, %d bytes (want %d), stderr %q", code, len(out), d.lost[0], errOut)
			}
			code, out, _ = clixRun(t, "cat", "-off", strconv.FormatInt(d.lost[1], 10), dir)
			if code != exitOK || out != string(want(d.lost[1], testSize, nil)) {
				t.Errorf("cat after the lost range: exit status %d, %d bytes", code, len(out))
			}
			checkUnchanged(t, dir, before)
		})
	}
}

// TestClixReadOnly_Unchanged runs every read-only command on a healthy
// dataset, and on one whose Start is not 0, and checks that the directory
// and every file in it keep their bytes, modes and mtimes.
func TestClixReadOnly_Unchanged(t *testing.T) {
	for _, dropped := range []bool{false, true} {
		dir := newDataset(t)
		if dropped {
			m, err := chunkmap.Open(dir, nil)
			must(t, err)
			must(t, m.DropBefore(2*tcs))
			must(t, m.Close())
		}
		before := snapshot(t, dir)
		for _, args := range [][]string{
			{"info", dir}, {"verify", dir}, {"verify", "-read", dir}, {"cat", dir},
			{"cat", "-hex", dir}, {"cat", "-hex", "-all", "-n", "100", dir},
		} {
			if code, _, errOut := clixRun(t, args...); code != exitOK {
				t.Errorf("%q: exit status %d, stderr %q", args, code, errOut)
			}
		}
		checkUnchanged(t, dir, before)
	}
}

// TestClixVerify_IrregularTempName: a directory or FIFO under a temporary
// file's name (MANIFEST.tmp, NNNN.chunk.tmp) makes a read-write Open fail
// with ErrCorrupt (open.go refuses it before changing anything), so trim
// and every writer fail. verify must report it as a problem, not call the
// dataset OK with a note that the next read-write Open deletes it.
func TestClixVerify_IrregularTempName(t *testing.T) {
	for _, name := range []string{chunkmap.ManifestName + ".tmp", chunk.Name(1) + ".tmp"} {
		t.Run(name, func(t *testing.T) {
			dir := newDataset(t)
			must(t, syscall.Mkfifo(filepath.Join(dir, name), 0o644))
			code, out, _ := clixRun(t, "verify", dir)
			m, openErr := chunkmap.Open(dir, nil)
			if m != nil {
				must(t, m.Close())
			}
			if openErr == nil {
				t.Skip("read-write Open accepts the dataset")
			}
			if code != exitFail {
				t.Errorf("read-write Open fails (%v), but verify exits with status %d:\n%s", openErr, code, out)
			}
			if strings.Contains(out, "the next read-write Open deletes it") {
				t.Errorf("verify claims the next read-write Open deletes %s; it refuses the dataset instead", name)
			}
			// info opens read-only, which ignores temporary names, but
			// must not call the dataset sound either.
			code, out, errOut := clixRun(t, "info", dir)
			if code != exitDamaged || !strings.Contains(out, name+" is not a regular file") || !strings.Contains(errOut, "warning") {
				t.Errorf("info exits with status %d (want %d), stdout:\n%s\nstderr:\n%s", code, exitDamaged, out, errOut)
			}
		})
	}
}

// TestClixVerify_IrregularChunkOutsideExtent: a FIFO or directory under a
// chunk name past Size (or below Start) is never removed by a read-write
// Open (open.go: "never removed: not ours"), and blocks growth into that
// chunk. verify's note that "the next read-write Open deletes" it is false.
func TestClixVerify_IrregularChunkOutsideExtent(t *testing.T) {
	tests := []struct {
		name string
		idx  int64
		drop bool
	}{
		{"fifo past Size", 9, false},
		{"fifo below Start", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDataset(t)
			if tc.drop {
				m, err := chunkmap.Open(dir, nil)
				must(t, err)
				must(t, m.DropBefore(2*tcs))
				must(t, m.Close())
			}
			path := filepath.Join(dir, chunk.Name(tc.idx))
			must(t, syscall.Mkfifo(path, 0o644))
			code, out, _ := clixRun(t, "verify", dir)
			t.Logf("verify: exit status %d\n%s", code, out)

			m, err := chunkmap.Open(dir, nil)
			must(t, err)
			var growErr error
			if !tc.drop {
				_, growErr = m.WriteAt([]byte("x"), tc.idx*tcs+5)
			}
			must(t, m.Close())
			_, statErr := os.Lstat(path)
			if statErr == nil && strings.Contains(out, "Open deletes") {
				t.Errorf("verify says the next read-write Open deletes %s, but it is still there after one", chunk.Name(tc.idx))
			}
			if growErr != nil && code == exitOK {
				t.Errorf("verify says OK, but growth into %s fails: %v", chunk.Name(tc.idx), growErr)
			}
		})
	}
}

// TestClixVerify_SymlinkDir: DIR given as a symlink to an intact dataset.
// Open refuses it (a symlink is not a directory), but the files are all
// there: info must not report a damaged dataset with "0 problem(s)", and
// verify's advice must not be to salvage an intact dataset but to use the
// directory's real path.
func TestClixVerify_SymlinkDir(t *testing.T) {
	dir := newDataset(t)
	link := filepath.Join(t.TempDir(), "link")
	must(t, os.Symlink(dir, link))
	code, out, errOut := clixRun(t, "info", link)
	if strings.Contains(out, "damaged     0 problem(s)") {
		t.Errorf("info: exit status %d, a damaged dataset with no problem:\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, _ = clixRun(t, "verify", link)
	// The paths (the test's temporary directory is named after it) must not
	// count as the word.
	text := strings.ToLower(strings.ReplaceAll(out, link, "DIR"))
	if code == exitFail && (!strings.Contains(text, "symlink") && !strings.Contains(text, "symbolic link") || strings.Contains(text, "advice: the files look consistent, but open refuses them; run 'chunkmap salvage")) {
		t.Errorf("verify: exit status %d, and the report does not say DIR is a symlink:\n%s", code, out)
	}
}

// TestClixVerify_BesideWriter runs verify, and verify -read, again and
// again while a writer that has the dataset open appends chunks and drops
// them from the front in a loop: the chunk files its drops delete
// while verify looks are its changes, not damage, so every run must find
// the dataset OK (exit status 0). (Whether the writer moves during a
// survey, and how often, is up to the scheduler: TestVerify_CutDuringEverySurvey
// cuts during every one.)
func TestClixVerify_BesideWriter(t *testing.T) {
	dir := churningWriter(t)
	for i := range 30 {
		args := []string{"verify", dir}
		if i%2 == 1 {
			args = []string{"verify", "-read", dir}
		}
		if code, stdout, stderr := clixRun(t, args...); code != exitOK {
			t.Fatalf("run %d, %q beside the writer: exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", i, args, code, stdout, stderr)
		}
	}
}

// TestClixVerify_DamageBesideWriter: damage the writer of
// TestClixVerify_BesideWriter never reaches (a directory under a chunk
// name far past Size) is found by every survey, so verify reports it in
// every run, alone. (TestVerify_DamageBesideMovingSize moves the writer
// during every survey.)
func TestClixVerify_DamageBesideWriter(t *testing.T) {
	dir := churningWriter(t)
	far := chunk.Name(1 << 40)
	must(t, os.Mkdir(filepath.Join(dir, far), 0o755))
	for i := range 10 {
		code, stdout, stderr := clixRun(t, "verify", dir)
		if code != exitFail || !strings.Contains(stdout, "FAILED, 1 problem(s)") || !strings.Contains(stdout, far+" lies past Size but is not a regular file") {
			t.Fatalf("run %d beside the writer: exit status %d, want %d and the one problem of %s\nstdout:\n%s\nstderr:\n%s", i, code, exitFail, far, stdout, stderr)
		}
	}
}

// churningWriter opens a dataset of the smallest chunks in a new directory
// and starts a writer that appends three chunks in a loop, with no pause,
// until the test ends, and drops chunks from the front whenever the
// dataset holds more than eight, down to five. It returns the directory.
// The drops keep the dataset, and so each verify -read, the same size
// however long the test runs: dropping fewer chunks than each round
// appends grew it by a chunk a round, tens of thousands of files in a few
// minutes, and made every run of verify slower than the one before.
func churningWriter(t *testing.T) string {
	t.Helper()
	const cs = chunkmap.MinChunkSize
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	must(t, err)
	block := make([]byte, 3*cs)
	_, err = w.Append(block)
	must(t, err)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := w.Append(block); err != nil {
				done <- err
				return
			}
			if w.Size()-w.Start() > 8*cs {
				if err := w.DropBefore(w.Size() - 5*cs); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("writer: %v", err)
		}
		// At most eight chunks between two rounds, the manifest and the
		// lock: a writer that let the dataset grow would fail here, not
		// only when verify beside it grew too slow for the watchdog.
		if entries, err := os.ReadDir(dir); err != nil || len(entries) > 16 {
			t.Errorf("the writer's directory holds %d entries (%v), want at most 16: its dataset grew", len(entries), err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("writer: close: %v", err)
		}
	})
	return dir
}
