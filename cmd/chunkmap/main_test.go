package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/units"
)

const testChunk = 64 << 10

// testSize is the size of the dataset newDataset builds: five whole chunks
// and a part of a sixth.
const testSize = 5*testChunk + 1000

// pattern returns the byte newDataset stores at offset off.
func pattern(off int64) byte { return byte(off*7 + off>>16) }

// newDataset builds a closed dataset of testSize bytes of pattern in 64 KiB
// chunks and returns its directory.
func newDataset(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, testSize)
	for i := range b {
		b[i] = pattern(int64(i))
	}
	if _, err := m.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runCmd runs the command line and returns its exit status and output.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRun_Usage(t *testing.T) {
	tests := []cmdCase{
		{"no args", nil, exitUsage, "", "Usage:"},
		{"help", []string{"help"}, exitOK, "chunkmap demo", ""},
		{"-h", []string{"-h"}, exitOK, "chunkmap verify DIR", ""},
		{"help cat", []string{"help", "cat"}, exitOK, "Usage: chunkmap cat", ""},
		{"unknown", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"bad flag", []string{"info", "-nope", "x"}, exitUsage, "", "flag provided but not defined: -nope"},
		{"missing dir", []string{"info"}, exitUsage, "", "missing argument"},
		{"extra arg", []string{"info", "a", "b"}, exitUsage, "", `unexpected argument "b"`},
		{"bad size", []string{"demo", "-size", "12XB"}, exitUsage, "", "invalid size"},
		{"odd size", []string{"demo", "-size", "1001"}, exitUsage, "", "multiple of 8"},
		{"bad chunk", []string{"demo", "-size", "1MiB", "-chunk", "1000"}, exitUsage, "", "chunkmap demo: -chunk 1000: want a power of two from 64 KiB to 2 GiB"},
	}
	for _, cmd := range commands {
		tests = append(tests, cmdCase{cmd.name + " -h", []string{cmd.name, "-h"}, exitOK, "Usage: chunkmap " + cmd.name, ""})
	}
	runCases(t, tests)
}

// TestSizeValue checks the size flags' use of internal/units (whose own
// tests cover the whole syntax): what they accept and how they print.
func TestSizeValue(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantStr string
		wantErr error
	}{
		{"0", 0, "0 B", nil},
		{"4096", 4096, "4 KiB", nil},
		{"64 kib", 64 << 10, "64 KiB", nil},
		{"1.5GiB", 3 << 29, "1.50 GiB", nil},
		{"10MB", 10_000_000, "9.54 MiB", nil},
		{"0x10000", 1 << 16, "64 KiB", nil},
		{"1.5", 0, "", units.ErrFraction},
		{"-1", 0, "", units.ErrNegative},
		{"8388608TiB", 0, "", units.ErrRange},
		{"12XB", 0, "", units.ErrSyntax},
	}
	for _, tc := range tests {
		var v sizeValue
		err := v.Set(tc.in)
		if !errors.Is(err, tc.wantErr) || v.n != tc.want || v.String() != tc.wantStr {
			t.Errorf("Set(%q): value %d (%q), error %v; want %d (%q), error %v", tc.in, v.n, v.String(), err, tc.want, tc.wantStr, tc.wantErr)
		}
	}
}

func TestRun_Info(t *testing.T) {
	dir := newDataset(t)
	code, out, errOut := runCmd(t, "info", dir)
	if code != exitOK {
		t.Fatalf("exit status %d, want 0; stderr: %s", code, errOut)
	}
	for _, want := range []string{
		"chunk size  65536 (64 KiB)",
		"chunks      6 (0000000000000000.chunk … 0000000000000005.chunk)",
		"start       0 (0 B)",
		fmt.Sprintf("size        %d ", testSize),
		fmt.Sprintf("in %d files", 7+lockFiles), // six chunks and the manifest
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info output does not contain %q:\n%s", want, out)
		}
	}
	// Chunk files are sparse and allocated as data reaches them: on disk
	// the dataset takes at least its data, and less than whole chunks (on
	// a file system without fallocate, ext2, whole chunks, and an
	// indirect block for each file, up to 4 KiB).
	m := regexp.MustCompile(`on disk     (\d+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no on-disk line in\n%s", out)
	}
	if n, _ := strconv.ParseInt(m[1], 10, 64); n < testSize || n > 6*testChunk+7*4096 {
		t.Errorf("on disk %d bytes, want from %d to %d", n, testSize, 6*testChunk+7*4096)
	}

	// Of a directory that is not there, or holds no dataset, verify
	// has nothing more to say: info sends nobody to it.
	for _, none := range []string{filepath.Join(t.TempDir(), "none"), t.TempDir()} {
		if code, _, errOut := runCmd(t, "info", none); code != exitFail || !strings.Contains(errOut, "chunkmap info:") || strings.Contains(errOut, "verify") {
			t.Errorf("info of %s: exit status %d, stderr %q; want 1 and an error that does not send to verify", none, code, errOut)
		}
	}
}

func TestRun_Verify(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, dir string)
		wantCode int
		want     []string // lines expected in stdout
	}{
		{
			name:     "ok",
			damage:   func(*testing.T, string) {},
			wantCode: exitOK,
			want:     []string{": OK", "6 chunks of 64 KiB"},
		},
		{
			name: "missing chunk",
			damage: func(t *testing.T, dir string) {
				remove(t, filepath.Join(dir, chunk.Name(2)))
			},
			wantCode: exitFail,
			want:     []string{"FAILED, 1 problem(s)", "0000000000000002.chunk is missing", "advice: "},
		},
		{
			name: "missing chunks",
			damage: func(t *testing.T, dir string) {
				remove(t, filepath.Join(dir, chunk.Name(1)))
				remove(t, filepath.Join(dir, chunk.Name(2)))
			},
			wantCode: exitFail,
			want:     []string{"2 chunks are missing, 0000000000000001.chunk … 0000000000000002.chunk"},
		},
		{
			name: "last chunk missing",
			damage: func(t *testing.T, dir string) {
				remove(t, filepath.Join(dir, chunk.Name(5)))
			},
			wantCode: exitFail,
			want:     []string{"0000000000000005.chunk is missing"},
		},
		{
			name: "short chunk",
			damage: func(t *testing.T, dir string) {
				if err := os.Truncate(filepath.Join(dir, chunk.Name(3)), 1000); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: exitFail,
			want:     []string{"0000000000000003.chunk has 1000 bytes, want 65536"},
		},
		{
			name: "garbage manifest",
			damage: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, chunkmap.ManifestName), "not a manifest at all, just some text")
			},
			wantCode: exitFail,
			want:     []string{"FAILED, 1 problem(s)", "problem: MANIFEST has 37 bytes, want 4096", "manifest has no valid record"},
		},
		{
			name: "truncated manifest",
			damage: func(t *testing.T, dir string) {
				if err := os.Truncate(filepath.Join(dir, chunkmap.ManifestName), 20); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: exitFail,
			want:     []string{"FAILED, 1 problem(s)", "MANIFEST has 20 bytes, want 4096"},
		},
		{
			name: "no manifest",
			damage: func(t *testing.T, dir string) {
				remove(t, filepath.Join(dir, chunkmap.ManifestName))
			},
			wantCode: exitFail,
			want:     []string{"MANIFEST is missing"},
		},
		{
			name: "leftovers",
			damage: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, chunk.Name(6)+".tmp"), "half made")
				write(t, filepath.Join(dir, "notes.txt"), "mine")
				write(t, filepath.Join(dir, "2A.chunk"), "odd name")
				write(t, filepath.Join(dir, "8000000000000000.chunk"), "index past int64")
			},
			wantCode: exitOK,
			want: []string{
				": OK",
				"note: 0000000000000006.chunk.tmp is a temporary file",
				"note: notes.txt is not part of the dataset",
				"note: 2A.chunk is not a canonical chunk name",
				"note: 8000000000000000.chunk names a chunk index past the largest chunkmap uses (0x7fffffffffffffff)",
			},
		},
		{
			// A chunk name in upper-case hex (as a tool that renames
			// files may leave it): the note says which name it would
			// have, for a chunk reported missing.
			name: "upper-case chunk name",
			damage: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "00000000000000AB.chunk"), "upper")
			},
			wantCode: exitOK,
			want:     []string{"note: 00000000000000AB.chunk is not a canonical chunk name (16 lower-case hex digits); chunkmap ignores it (if it holds chunk 171, rename it 00000000000000ab.chunk)"},
		},
		{
			// Thousands of stray files would bury the problems: the
			// first 20 are noted, then a count.
			name: "many stray files",
			damage: func(t *testing.T, dir string) {
				for i := range 25 {
					write(t, filepath.Join(dir, fmt.Sprintf("stray%02d", i)), "x")
				}
			},
			wantCode: exitOK,
			want:     []string{"note: stray19 is not part of the dataset", "note: and 5 more files that are not part of the dataset"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDataset(t)
			tc.damage(t, dir)
			code, out, errOut := runCmd(t, "verify", dir)
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("verify output does not contain %q:\n%s", w, out)
				}
			}
			if (code == exitFail) != strings.Contains(errOut, "is not a consistent dataset") {
				t.Errorf("stderr %q: want a summary line exactly when verify fails", errOut)
			}
		})
	}

	t.Run("read", func(t *testing.T) {
		dir := newDataset(t)
		code, out, errOut := runCmd(t, "verify", "-read", dir)
		if code != exitOK || !strings.Contains(out, fmt.Sprintf("read %d bytes without error", testSize)) {
			t.Errorf("verify -read: exit status %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		write(t, f, "x")
		if code, _, _ := runCmd(t, "verify", f); code != exitFail {
			t.Errorf("exit status %d, want 1", code)
		}
	})
}

func TestRun_Cat(t *testing.T) {
	dir := newDataset(t)
	want := func(off, n int64) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = pattern(off + int64(i))
		}
		return b
	}
	tests := []struct {
		name    string
		args    []string
		off, n  int64
		wantErr bool
	}{
		{"all", []string{dir}, 0, testSize, false},
		{"range across a chunk boundary", []string{dir, "-off", "65530", "-n", "12"}, 65530, 12, false},
		{"flags first", []string{"-off", "0x10000", "-n", "1KiB", dir}, 1 << 16, 1024, false},
		{"past size stops at size", []string{dir, "-off", strconv.Itoa(testSize - 10), "-n", "100"}, testSize - 10, 10, false},
		{"at size", []string{dir, "-off", strconv.Itoa(testSize)}, testSize, 0, false},
		{"beyond size", []string{dir, "-off", strconv.Itoa(testSize + 1)}, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"cat"}, tc.args...)...)
			if tc.wantErr {
				if code != exitFail || errOut == "" {
					t.Errorf("exit status %d, stderr %q; want 1 and an error", code, errOut)
				}
				return
			}
			if code != exitOK {
				t.Fatalf("exit status %d; stderr: %s", code, errOut)
			}
			if !bytes.Equal([]byte(out), want(tc.off, tc.n)) {
				t.Errorf("cat %v: got %d bytes, want %d bytes of the pattern from %d", tc.args, len(out), tc.n, tc.off)
			}
		})
	}

	t.Run("hex", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "hex")
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.WriteAt([]byte("Hello, chunkmap!\x00\x01\x02"), 0x100); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCmd(t, "cat", dir, "-hex", "-off", "0x100")
		if code != exitOK {
			t.Fatalf("exit status %d; stderr: %s", code, errOut)
		}
		wantOut := "0000000000000100  48 65 6c 6c 6f 2c 20 63  68 75 6e 6b 6d 61 70 21  |Hello, chunkmap!|\n" +
			"0000000000000110  00 01 02                                          |...|\n" +
			"0000000000000113\n"
		if out != wantOut {
			t.Errorf("cat -hex =\n%s\nwant\n%s", out, wantOut)
		}
	})
}

func TestRun_Trim(t *testing.T) {
	dir := newDataset(t)
	code, out, errOut := runCmd(t, "trim", dir, "-before", strconv.Itoa(2*testChunk+5))
	if code != exitOK {
		t.Fatalf("exit status %d; stderr: %s", code, errOut)
	}
	if want := "deleted 2 chunk(s) (128 KiB); start 0 -> 131072"; !strings.Contains(out, want) {
		t.Errorf("trim output %q does not contain %q", out, want)
	}
	for i := range int64(6) {
		_, err := os.Stat(filepath.Join(dir, chunk.Name(i)))
		if exists := err == nil; exists != (i >= 2) {
			t.Errorf("after trim, %s exists: %v, want %v", chunk.Name(i), exists, i >= 2)
		}
	}
	// The rest reads as before, at the same offsets.
	code, got, _ := runCmd(t, "cat", dir, "-off", strconv.Itoa(2*testChunk), "-n", "4")
	if code != exitOK || got != string([]byte{pattern(2 * testChunk), pattern(2*testChunk + 1), pattern(2*testChunk + 2), pattern(2*testChunk + 3)}) {
		t.Errorf("cat after trim: exit status %d, %q", code, got)
	}
	if code, _, errOut := runCmd(t, "cat", dir, "-off", "0"); code != exitFail || !strings.Contains(errOut, "outside [Start, Size]") {
		t.Errorf("cat below Start after trim: exit status %d, stderr %q; want 1", code, errOut)
	}
	if code, out, _ := runCmd(t, "trim", dir, "-before", "100"); code != exitOK || !strings.Contains(out, "nothing to delete") {
		t.Errorf("trim below Start: exit status %d, %q; want 0 and nothing to delete", code, out)
	}
	if code, _, errOut := runCmd(t, "trim", dir, "-before", "1GiB"); code != exitFail || !strings.Contains(errOut, "out of range") {
		t.Errorf("trim past Size: exit status %d, stderr %q; want 1 and ErrOutOfRange", code, errOut)
	}
	if code, _, _ := runCmd(t, "trim", dir); code != exitUsage {
		t.Errorf("trim without -before: exit status %d, want 2", code)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if code, _, _ := runCmd(t, "trim", missing, "-before", "0"); code != exitFail {
		t.Errorf("trim of a missing dataset: exit status %d, want 1", code)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("trim created %s", missing)
	}
}

func TestRun_Demo(t *testing.T) {
	t.Run("temp dir", func(t *testing.T) {
		t.Setenv("TMPDIR", t.TempDir())
		code, out, errOut := runCmd(t, "demo", "-size", "2MiB", "-chunk", "64KiB", "-max-mapped", "2", "-reads", "500", "-admission=false")
		if code != exitOK {
			t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		for _, want := range []string{"32 chunks of 64 KiB, at most 2 mapped", "write (1 MiB blocks)", "random 4 KiB reads, hot 128 KiB", "os.File", "verified:"} {
			if !strings.Contains(out, want) {
				t.Errorf("demo output does not contain %q:\n%s", want, out)
			}
		}
		if errOut != "" {
			t.Errorf("demo wrote to stderr, which is not a terminal: %q", errOut)
		}
		m := regexp.MustCompile(`at most (\d+) mapped at once \(MaxMapped 2\); \d+ maps, \d+ unmaps, (\d+) evictions`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no stats line in\n%s", out)
		}
		if peak, _ := strconv.Atoi(m[1]); peak > 2 || peak < 1 {
			t.Errorf("at most %d chunks mapped, want 1 or 2", peak)
		}
		if ev, _ := strconv.Atoi(m[2]); ev == 0 {
			t.Errorf("no evictions in a dataset 16 times the mapped window")
		}
		entries, err := os.ReadDir(os.Getenv("TMPDIR"))
		if err != nil || len(entries) != 0 {
			t.Errorf("demo left %d entries in its temporary directory (err %v)", len(entries), err)
		}
	})
	t.Run("admission", func(t *testing.T) {
		t.Setenv("TMPDIR", t.TempDir())
		code, out, errOut := runCmd(t, "demo", "-size", "1MiB", "-chunk", "64KiB", "-max-mapped", "2", "-reads", "300", "-admission", "-compare=false")
		if code != exitOK || !strings.Contains(out, "at most 2 mapped (128 KiB), with Admission") {
			t.Errorf("demo -admission: exit status %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
	})
	t.Run("dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "demo")
		code, out, errOut := runCmd(t, "demo", "-dir", dir, "-size", "1MiB", "-chunk", "64KiB", "-max-mapped", "3", "-reads", "100", "-compare=false")
		if code != exitOK {
			t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if strings.Contains(out, "os.File") {
			t.Errorf("-compare=false still compared with os.File:\n%s", out)
		}
		if code, out, _ := runCmd(t, "verify", dir); code != exitOK || strings.Contains(out, "note:") {
			t.Errorf("verify of the kept dataset: exit status %d\n%s", code, out)
		}
		code, out, _ = runCmd(t, "info", dir)
		if code != exitOK || !strings.Contains(out, "size        1048576 ") {
			t.Errorf("info of the kept dataset: exit status %d\n%s", code, out)
		}
		// A directory that is not empty is refused.
		if code, _, errOut := runCmd(t, "demo", "-dir", dir, "-size", "1MiB", "-chunk", "64KiB"); code != exitFail || !strings.Contains(errOut, "not empty") {
			t.Errorf("demo in a non-empty dir: exit status %d, stderr %q; want 1", code, errOut)
		}
	})
}

// TestRun_Demo_ExtremeFlags runs the demo with flags at the edges of what
// it accepts: every run ends with status 0, reads what it was asked to, and
// says so, or is refused as a usage error naming the flag.
func TestRun_Demo_ExtremeFlags(t *testing.T) {
	type demoCase struct {
		name string
		args []string
		code int
		want []string // in stdout, or in stderr for a refusal
	}
	tests := []demoCase{
		{"read-size above block", []string{"-size", "256KiB", "-block", "64KiB", "-read-size", "128KiB"}, exitOK,
			[]string{"random 128 KiB reads, all 256 KiB", "random 128 KiB reads, hot 256 KiB"}},
		{"read-size above the mapped window", []string{"-size", "1MiB", "-max-mapped", "1", "-read-size", "256KiB"}, exitOK,
			[]string{"at most 1 mapped (64 KiB)", "random 256 KiB reads, hot 256 KiB"}},
		{"read-size above 1 GiB", []string{"-size", "4GiB", "-read-size", "2GiB"}, exitUsage,
			[]string{"-read-size 2147483648: want a positive multiple of 8 bytes, at most 1 GiB and at most -size"}},
	}
	// -max-mapped is an int: on a 32-bit platform its largest value is
	// refused, since that many chunks do not fit in the address space.
	if strconv.IntSize == 64 {
		tests = append(tests, demoCase{"max-mapped MaxInt64", []string{"-size", "256KiB", "-max-mapped", "9223372036854775807"}, exitOK,
			[]string{"at most 9223372036854775807 mapped (8.00 EiB)", "random 4 KiB reads, hot 256 KiB", "fits in the mapped window"}})
	} else {
		tests = append(tests, demoCase{"max-mapped MaxInt32", []string{"-size", "256KiB", "-max-mapped", "2147483647"}, exitUsage,
			[]string{"-max-mapped 2147483647: 2147483647 chunks of 64 KiB exceed the"}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			args := append([]string{"demo", "-chunk", "64KiB", "-reads", "50", "-compare=false"}, tc.args...)
			var code int
			var out, errOut string
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("chunkmap %s panicked: %v", strings.Join(args, " "), r)
					}
				}()
				code, out, errOut = runCmd(t, args...)
			}()
			if code != tc.code {
				t.Fatalf("chunkmap %s: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, tc.code, out, errOut)
			}
			text := out
			if tc.code != exitOK {
				text = errOut
			}
			for _, want := range tc.want {
				if !strings.Contains(text, want) {
					t.Errorf("chunkmap %s: output does not contain %q:\n%s", strings.Join(args, " "), want, text)
				}
			}
		})
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		skipIfHeldDelete(t, err)
		t.Fatal(err)
	}
}

// notExistText returns how the platform words a missing file ("no such
// file or directory" on Unix), as the tool's messages quote it.
func notExistText(t *testing.T) string {
	t.Helper()
	_, err := os.Stat(filepath.Join(t.TempDir(), "none"))
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat of a missing file: %v, want a *fs.PathError matching fs.ErrNotExist", err)
	}
	return pe.Err.Error()
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUsage_ListsEveryFlag checks that each command's usage lines (the one
// of 'chunkmap COMMAND -h', the one of 'chunkmap help' and the one of the
// package doc) list every flag of the command's FlagSet, as its -h prints
// them with PrintDefaults, and no flag it does not have.
func TestUsage_ListsEveryFlag(t *testing.T) {
	_, top, _ := runCmd(t, "help")
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := strings.Cut(string(src), "\npackage main")
	flagWord := regexp.MustCompile(`(?:^|[\s\[])-([a-z][a-z-]*)`)
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			code, help, errOut := runCmd(t, c.name, "-h")
			if code != exitOK {
				t.Fatalf("%s -h: exit status %d, stderr %q", c.name, code, errOut)
			}
			flags := flagsOf(help)
			if c.name == "demo" && len(flags) != 10 {
				t.Errorf("demo -h lists %d flags %v, want its 10", len(flags), flags)
			}
			for where, u := range map[string]string{
				c.name + " -h": usageLines(help, "Usage: chunkmap "+c.name),
				"help":         usageLines(top, "  chunkmap "+c.name),
				"package doc":  usageLines(doc, "//\tchunkmap "+c.name),
			} {
				if u == "" {
					t.Errorf("%s: no usage line for %s", where, c.name)
					continue
				}
				listed := make(map[string]bool)
				for _, m := range flagWord.FindAllStringSubmatch(u, -1) {
					listed[m[1]] = true
				}
				for _, f := range flags {
					if !listed[f] {
						t.Errorf("%s: the usage of %s lacks -%s:\n%s", where, c.name, f, u)
					}
					delete(listed, f)
				}
				for f := range listed {
					t.Errorf("%s: the usage of %s lists -%s, which it does not have:\n%s", where, c.name, f, u)
				}
			}
		})
	}
}

// flagsOf returns the names of the flags in the "Flags:" section of a
// command's -h, which flag.FlagSet.PrintDefaults writes: one line
// "  -name ..." per flag.
func flagsOf(help string) []string {
	_, section, _ := strings.Cut(help, "\nFlags:\n")
	var names []string
	for line := range strings.Lines(section) {
		if rest, ok := strings.CutPrefix(line, "  -"); ok {
			names = append(names, strings.Fields(rest)[0])
		}
	}
	return names
}

// usageLines returns the usage line in text that starts with head, followed
// by a space or the end of the line, with the lines it is wrapped onto.
func usageLines(text, head string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		if b.Len() == 0 {
			if line == head || strings.HasPrefix(line, head+" ") {
				b.WriteString(line)
			}
			continue
		}
		if cont := strings.TrimLeft(strings.TrimPrefix(line, "//"), " \t"); strings.HasPrefix(cont, "[") && cont != strings.TrimPrefix(line, "//") {
			b.WriteString("\n" + line)
			continue
		}
		break
	}
	return b.String()
}

// TestRun_FlagErrors checks that invalid flag values are refused before the
// library sees them, with an error that names the flag and what it
// accepts, never an Options field.
func TestRun_FlagErrors(t *testing.T) {
	dir := newDataset(t)
	out := filepath.Join(t.TempDir(), "out")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	const chunkRange = "want a power of two from 64 KiB to 2 GiB"
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"demo chunk", []string{"demo", "-chunk", "1000"}, "chunkmap demo: -chunk 1000: " + chunkRange},
		{"demo chunk not a power of two", []string{"demo", "-chunk", "96KiB"}, "-chunk 98304: " + chunkRange},
		{"demo chunk too large", []string{"demo", "-chunk", "4GiB"}, "-chunk 4294967296: " + chunkRange},
		{"demo size", []string{"demo", "-size", "1001"}, "-size 1001: want a positive multiple of 8 bytes"},
		{"demo block", []string{"demo", "-block", "0"}, "-block 0: want a positive multiple of 8 bytes, at most 1 GiB"},
		{"demo read-size", []string{"demo", "-size", "1MiB", "-read-size", "2MiB"}, "-read-size 2097152: want a positive multiple of 8 bytes, at most 1 GiB and at most -size (1048576)"},
		{"demo max-mapped", []string{"demo", "-max-mapped", "0"}, "-max-mapped 0: want at least 1"},
		{"demo reads", []string{"demo", "-reads", "-1"}, "-reads -1: want at least 0"},
		{"info chunk", []string{"info", dir, "-chunk", "1000"}, "chunkmap info: -chunk 1000: " + chunkRange},
		{"verify chunk", []string{"verify", dir, "-chunk", "3MiB"}, "chunkmap verify: -chunk 3145728: " + chunkRange},
		{"cat chunk", []string{"cat", dir, "-chunk", "32KiB"}, "chunkmap cat: -chunk 32768: " + chunkRange},
		{"salvage chunk", []string{"salvage", "-chunk", "1000", dir, out}, "chunkmap salvage: -chunk 1000: " + chunkRange},
		{"cat all without hex", []string{"cat", dir, "-all"}, "chunkmap cat: -all applies to -hex only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("%v: exit status %d, stderr %q; want %d and %q", tc.args, code, stderr, exitUsage, tc.want)
			}
			for _, field := range []string{"ChunkSize", "MaxMapped", "invalid options"} {
				if strings.Contains(stderr, field) {
					t.Errorf("%v: stderr %q names %q, not the flag", tc.args, stderr, field)
				}
			}
			if stdout != "" {
				t.Errorf("%v: stdout %q, want nothing", tc.args, stdout)
			}
		})
	}
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Errorf("a refused demo left %d entries in the temporary directory (err %v)", len(entries), err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused salvage created %s", out)
	}
}

// cmdCase is one run of the command: its arguments, the exit status it
// must give, and text that stdout and stderr must contain.
type cmdCase struct {
	name     string
	args     []string
	wantCode int
	wantOut  string // in stdout
	wantErr  string // in stderr
}

// runCases runs each case as a subtest and checks its exit status and
// output.
func runCases(t *testing.T, tests []cmdCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errOut)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout does not contain %q:\n%s", tc.wantOut, out)
			}
			if !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.wantErr, errOut)
			}
		})
	}
}

// TestRun_EmptyArgument checks that an empty DIR or OUT ("chunkmap cat
// "$DS"" with DS unset) is a usage error, and never the current
// directory: cat printed the dataset there, info opened it and then
// failed, and verify said "stat : no such file or directory".
func TestRun_EmptyArgument(t *testing.T) {
	dir := newDataset(t)
	t.Chdir(dir)
	for _, args := range [][]string{
		{"cat", ""},
		{"cat", "", "-hex"},
		{"info", ""},
		{"verify", ""},
		{"verify", "-read", ""},
		{"trim", "", "-before", "64KiB"},
		{"salvage", "", filepath.Join(t.TempDir(), "out")},
		{"salvage", dir, ""},
		{"salvage", "-flat", dir, ""},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, args...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, "empty argument") {
				t.Errorf("exit status %d, stdout %d bytes, stderr %q; want %d, nothing, and an empty argument named",
					code, len(out), firstLine(errOut), exitUsage)
			}
		})
	}
	if code, out, errOut := runCmd(t, "verify", dir); code != exitOK {
		t.Errorf("verify after the calls: exit status %d\n%s%s", code, out, errOut)
	}
}

// firstLine returns the first line of s.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestRun_Trim_RefusedSaysWhatToDo runs trim on datasets its read-write
// Open refuses: one damaged (a chunk file missing) and one another writer
// has open. Trim changes nothing then, and its message must name the file
// or the cause, say that nothing changed, and say what to do: it used to
// print the library's error alone ("corrupt dataset: chunk file ... is
// missing", "dataset locked by another writer"), where info points to
// verify and verify to salvage.
func TestRun_Trim_RefusedSaysWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string // in stderr
	}{
		{"damaged", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, chunk.Name(2))))
		}, []string{chunk.Name(2), "trim changed nothing", "chunkmap verify"}},
		// Chunk files without their manifest are a damaged dataset, as
		// verify and salvage call it, not "no dataset".
		{"manifest missing", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, chunkmap.ManifestName)))
		}, []string{chunkmap.ManifestName + " is missing (6 chunk files are present)", "trim changed nothing", "chunkmap verify", "chunkmap salvage"}},
		{"locked", func(t *testing.T, dir string) {
			w, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 1})
			must(t, err)
			t.Cleanup(func() { w.Close() })
		}, []string{"locked", "trim changed nothing", "close"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDataset(t)
			tc.setup(t, dir)
			before := snapshot(t, dir)
			code, _, stderr := runCmd(t, "trim", dir, "-before", strconv.Itoa(2*testChunk))
			if code != exitFail {
				t.Errorf("exit status %d, want %d", code, exitFail)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			if after := snapshot(t, dir); !maps.Equal(before, after) {
				t.Errorf("trim refused the dataset but changed %s", dir)
			}
		})
	}
}
