package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestWriteVersion(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-compiler", Value: "gc"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "4ce423c0d5a1b2c3d4e5f60718293a4b5c6d7e8f"},
		{Key: "vcs.time", Value: "2026-11-30T12:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{
			name: "checkout",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/chunkmap/chunkmap", Version: "(devel)"}, Settings: vcs},
			ok:   true,
			want: `chunkmap (devel)
module    github.com/chunkmap/chunkmap
revision  4ce423c0d5a1b2c3d4e5f60718293a4b5c6d7e8f
time      2026-11-30T12:00:00Z
modified  true
go        go1.26.8
`,
		},
		{
			name: "go install at a version",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/chunkmap/chunkmap", Version: "v0.2.0", Sum: "h1:x"}},
			ok:   true,
			want: `chunkmap v0.2.0
module    github.com/chunkmap/chunkmap
go        go1.26.8
`,
		},
		{
			name: "no main module version",
			info: &debug.BuildInfo{},
			ok:   true,
			want: "chunkmap (unknown)\ngo        " + runtime.Version() + "\n",
		},
		{
			name: "no build information",
			ok:   false,
			want: "chunkmap (unknown version: the binary holds no build information)\ngo        " + runtime.Version() + "\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			writeVersion(&out, tc.info, tc.ok)
			if got := out.String(); got != tc.want {
				t.Errorf("writeVersion printed\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestRun_Version(t *testing.T) {
	tests := []cmdCase{
		// A test binary has build information with the main module's path.
		{"version", []string{"version"}, exitOK, "module    github.com/chunkmap/chunkmap\n", ""},
		{"go version", []string{"version"}, exitOK, "go        " + runtime.Version() + "\n", ""},
		{"help", []string{"help", "version"}, exitOK, "Usage: chunkmap version", ""},
		{"listed", []string{"help"}, exitOK, "  version ", ""},
		{"extra arg", []string{"version", "x"}, exitUsage, "", `unexpected argument "x"`},
		{"bad flag", []string{"version", "-json"}, exitUsage, "", "flag provided but not defined: -json"},
	}
	runCases(t, tests)
}

// TestVersion_Built builds the command as a user does from a checkout and
// checks what its version subcommand prints (a test binary records no
// revision): where git works, the checkout's revision, and a version that
// is the commit's tag or a pseudo-version naming the revision.
func TestVersion_Built(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	head, gitErr := exec.Command("git", "rev-parse", "HEAD").Output()
	if gitErr != nil {
		gitErr = fmt.Errorf("git rev-parse HEAD: %w", gitErr)
	} else {
		// The go command finds a repository by a .git directory: in a
		// worktree of one (git worktree add), where .git is a file, it
		// records no revision although git works.
		top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
		if err == nil {
			fi, serr := os.Lstat(filepath.Join(strings.TrimSpace(string(top)), ".git"))
			if serr == nil && !fi.IsDir() {
				err = fmt.Errorf("%s is a git worktree (.git is a file), where go build records no revision", strings.TrimSpace(string(top)))
			}
		}
		if err != nil {
			gitErr = err
		}
	}
	bin := filepath.Join(t.TempDir(), "chunkmap")
	args := []string{"build", "-o", bin}
	if gitErr == nil {
		// git works here, so the revision must be recorded, not left out.
		args = append(args, "-buildvcs=true")
	}
	build := exec.Command(goTool, append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("chunkmap version: %v", err)
	}
	t.Logf("chunkmap version:\n%s", out)
	for _, want := range []string{"module    github.com/chunkmap/chunkmap\n", "go        go1."} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output does not contain %q", want)
		}
	}
	version := regexp.MustCompile(`^chunkmap (\S+)\n`).FindSubmatch(out)
	if version == nil {
		t.Fatal("no version line first")
	}
	if gitErr != nil {
		t.Logf("%v; the revision is not checked", gitErr)
		return
	}
	rev := strings.TrimSpace(string(head))
	if want := "revision  " + rev + "\n"; !bytes.Contains(out, []byte(want)) {
		t.Errorf("output does not contain %q", want)
	}
	// A tag (v1.2.3) or a pseudo-version (v0.0.0-20261130051023-4ce423cad131,
	// +dirty with uncommitted changes) that names the revision.
	if v := string(version[1]); !regexp.MustCompile(`^v\d+\.\d+\.\d+(-\S+)?(\+dirty)?$`).MatchString(v) ||
		(strings.Count(v, "-") >= 2 && !strings.Contains(v, rev[:12])) {
		t.Errorf("version %q is neither a tag nor a pseudo-version of revision %s", v, rev)
	}
	if !regexp.MustCompile(`(?m)^time      \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).Match(out) {
		t.Error("output has no vcs.time line")
	}
	if !regexp.MustCompile(`(?m)^modified  (true|false)$`).Match(out) {
		t.Error("output has no vcs.modified line")
	}
}
