// Command chunkmap operates chunkmap datasets: directories of fixed-size,
// memory-mapped chunk files that a [chunkmap.Manager] presents as one
// growable file.
//
// Usage:
//
//	chunkmap demo [-dir DIR] [-size 1GiB] [-chunk 64MiB] [-max-mapped 4]
//	chunkmap info DIR
//	chunkmap verify DIR [-read]
//	chunkmap cat DIR [-off N] [-n N] [-hex]
//	chunkmap trim DIR -before OFF
//
// demo builds a dataset larger than what may stay mapped, writes, verifies
// and randomly reads it, and prints the throughput of each phase next to the
// same phases done with [os.File.WriteAt] and [os.File.ReadAt]. info prints a
// dataset's chunk size, chunks, Start, Size and bytes on disk. verify checks
// the manifest, the chunk file names, sizes and contiguity, and exits with
// status 1 and a report of every problem it finds. cat copies bytes of the
// dataset to standard output, raw or as a hex dump. trim deletes the chunks
// wholly below an offset ([chunkmap.Manager.DropBefore]).
//
// Sizes and offsets are decimal bytes, 0x-prefixed hexadecimal, or a number
// with one of the suffixes KiB, MiB, GiB and TiB (1.5GiB is allowed). Flags
// may come before or after DIR. Every subcommand takes -h.
//
// The exit status is 0 on success, 1 when the operation fails or verify
// finds a problem, and 2 for a usage error. Errors go to standard error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand.
type command struct {
	name     string
	synopsis string // arguments, as shown in the usage line
	summary  string // one line for the command list
	run      func(args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order the usage shows them. It is
// filled in by init because the help subcommand refers back to it.
var commands []command

func init() {
	commands = []command{
		{"demo", "[-dir DIR] [-size 1GiB] [-chunk 64MiB] [-max-mapped 4]",
			"build a dataset bigger than the mapped window; time it against os.File", runDemo},
		{"info", "DIR", "print chunk size, chunks, Start, Size and bytes on disk", runInfo},
		{"verify", "DIR [-read]", "check manifest, chunk names, sizes and contiguity", runVerify},
		{"cat", "DIR [-off N] [-n N] [-hex]", "copy bytes of the dataset to standard output", runCat},
		{"trim", "DIR -before OFF", "delete the chunks wholly below OFF (DropBefore)", runTrim},
	}
}

// run executes the command line args (without the program name), writing to
// stdout and stderr, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch name := args[0]; name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			// "chunkmap help cat" is "chunkmap cat -h".
			return run([]string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return exitOK
	default:
		for _, c := range commands {
			if c.name == name {
				return c.run(args[1:], stdout, stderr)
			}
		}
		fmt.Fprintf(stderr, "chunkmap: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `chunkmap operates chunkmap datasets: directories of fixed-size,
memory-mapped chunk files that behave like one growable file.

Usage:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  chunkmap %s %s\n", c.name, c.synopsis)
	}
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'chunkmap COMMAND -h' for a command's flags. Sizes and offsets take the
suffixes KiB, MiB, GiB and TiB. Exit status: 0 success, 1 failure (or
problems found by verify), 2 usage error.
`)
}

// newFlagSet returns the flag set of subcommand name. Parse errors are
// reported by parse, so the set itself prints nothing.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("chunkmap "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args with fs, allowing flags after positional arguments
// ("chunkmap cat DIR -n 16"), and checks that exactly npos positional
// arguments remain. It returns them, or an exit status and false: exitOK
// after printing the help for -h, exitUsage after a usage error.
func parse(fs *flag.FlagSet, args []string, npos int, synopsis, help string, stdout, stderr io.Writer) ([]string, int, bool) {
	printUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: %s %s\n\n%s\n", fs.Name(), synopsis, help)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(w, "\nFlags:")
			fs.SetOutput(w)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
	}
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return nil, exitOK, false
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
			printUsage(stderr)
			return nil, exitUsage, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is positional
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) != npos {
		if len(pos) < npos {
			fmt.Fprintf(stderr, "%s: missing argument\n", fs.Name())
		} else {
			fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), pos[npos])
		}
		printUsage(stderr)
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

// fail prints the error of subcommand name and returns exitFail.
func fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "chunkmap %s: %v\n", name, err)
	return exitFail
}

// sizeValue is a flag.Value for byte counts and offsets with unit suffixes.
// A zero sizeValue is unset, and prints no default in the usage.
type sizeValue struct {
	n   int64
	set bool
}

// newSize returns a set sizeValue, for flags with a default.
func newSize(n int64) sizeValue { return sizeValue{n: n, set: true} }

func (s *sizeValue) String() string {
	if s == nil || !s.set {
		return ""
	}
	return formatBytes(s.n)
}

func (s *sizeValue) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = newSize(n)
	return nil
}

// units are the suffixes parseSize accepts, longest first within a letter.
var units = []struct {
	suffix string
	shift  uint
}{
	{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0},
}

// parseSize parses a byte count: decimal, 0x-prefixed hexadecimal, or a
// decimal number (fractions allowed) followed by B, KiB, MiB, GiB or TiB,
// case-insensitively and with optional space before the suffix.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if h, ok := strings.CutPrefix(strings.ToLower(t), "0x"); ok {
		n, err := strconv.ParseInt(h, 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid size %q", s)
		}
		return n, nil
	}
	var shift uint
	for _, u := range units {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			t, shift = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.shift
			break
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64>>shift {
			return 0, fmt.Errorf("size %q out of range", s)
		}
		return n << shift, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || shift == 0 || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid size %q (want bytes, 0x..., or a number with KiB, MiB, GiB or TiB)", s)
	}
	v := f * float64(uint64(1)<<shift)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q out of range", s)
	}
	return int64(v), nil
}

// formatBytes formats n bytes with the largest binary unit that keeps the
// number at least 1, e.g. "64 MiB", "1.5 GiB", "512 B".
func formatBytes(n int64) string {
	if n < 1<<10 && n > -1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	for _, u := range units[:4] {
		if v := float64(n) / float64(int64(1)<<u.shift); math.Abs(v) >= 1 {
			num := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
			return num + " " + u.suffix
		}
	}
	return fmt.Sprintf("%d B", n)
}
