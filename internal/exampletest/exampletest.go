// Package exampletest holds the tests every program in examples/ shares:
// its flag handling, through the program's run function, and its -h, which
// must print the usage and exit with status 0, through main in a child
// process.
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
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
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
