//go:build !windows

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

// shellWord has /bin/sh read s as the arguments of a command and returns
// the first; it skips the test where there is no /bin/sh.
func shellWord(t *testing.T, s string) string {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh to read the command line")
	}
	out, err := exec.Command("/bin/sh", "-c", `set -- `+s+`; printf %s "$1"`).Output()
	if err != nil {
		t.Fatalf("sh could not read %s: %v", s, err)
	}
	return string(out)
}

func TestCmdArg_ShellReadsItBack(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/data/ds", "/data/ds"},
		{"rel/ds-1.2_x+y@z:w=v,u", "rel/ds-1.2_x+y@z:w=v,u"},
		{"/data/my ds", "/data/my ds"},
		{"it's", "it's"},
		{"'", "'"},
		{`a"b\c$d` + "`e`", `a"b\c$d` + "`e`"},
		{"*?[x]~{a,b}", "*?[x]~{a,b}"},
		{"tab\there\nline", "tab\there\nline"},
		{"-rf", "./-rf"},
		{"--all b", "./--all b"},
		{"über/データ", "über/データ"},
	}
	for _, tt := range tests {
		arg := cmdArg(tt.path)
		if got := shellWord(t, arg); got != tt.want {
			t.Errorf("cmdArg(%q) = %s, which sh reads as %q, want %q", tt.path, arg, got, tt.want)
		}
	}
	if got := cmdArg("/data/ds"); got != "/data/ds" {
		t.Errorf("cmdArg quoted a plain path: %s", got)
	}
}

// TestRun_AdviceQuotesThePath checks that the commands info and verify
// suggest for a damaged dataset in a directory whose name a shell would
// split or expand name that directory when pasted.
func TestRun_AdviceQuotesThePath(t *testing.T) {
	orig := newDataset(t)
	dir := filepath.Join(filepath.Dir(orig), "-my data's $HOME")
	if err := os.Rename(orig, dir); err != nil {
		t.Fatal(err)
	}
	remove(t, filepath.Join(dir, chunk.Name(2)))
	salvage := regexp.MustCompile(`'chunkmap salvage (.*) OUT'`)
	verify := regexp.MustCompile(`'chunkmap verify (.*)' for`)
	for _, cmd := range []string{"verify", "info"} {
		_, stdout, stderr := runCmd(t, cmd, dir)
		for _, re := range []*regexp.Regexp{salvage, verify} {
			if cmd == "verify" && re == verify {
				continue // verify does not suggest itself
			}
			m := re.FindStringSubmatch(stdout + stderr)
			if m == nil {
				t.Errorf("%s: no suggestion matching %s in:\n%s%s", cmd, re, stdout, stderr)
				continue
			}
			if got := shellWord(t, m[1]); got != dir {
				t.Errorf("%s suggests %s, which a shell reads as %q, not %q", cmd, m[0], got, dir)
			}
		}
	}
}
