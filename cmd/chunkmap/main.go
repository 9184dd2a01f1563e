// Command chunkmap operates chunkmap datasets: directories of fixed-size,
// memory-mapped chunk files that a [chunkmap.Manager] presents as one
// growable file.
//
// Usage:
//
//	chunkmap demo [-dir DIR] [-size 1GiB] [-chunk 64MiB] [-max-mapped 4]
//	    [-block 1MiB] [-reads 100000] [-read-size 4KiB] [-compare=false]
//	    [-admission=false] [-seed 1]
//	chunkmap info DIR [-chunk SIZE]
//	chunkmap verify DIR [-read] [-chunk SIZE]
//	chunkmap cat DIR [-off N] [-n N] [-hex [-all]] [-chunk SIZE]
//	chunkmap trim DIR -before OFF
//	chunkmap version
//	chunkmap salvage [-chunk SIZE] [-flat] DIR OUT
//
// demo builds a dataset larger than what may stay mapped, writes, verifies
// and randomly reads it, and prints the throughput of each phase next to the
// same phases done with [os.File.WriteAt] and [os.File.ReadAt]. info prints a
// dataset's chunk size, chunks, Start, Size and bytes on disk. verify checks
// the manifest, the chunk file names, sizes and contiguity, and exits with
// status 1 and a report of every problem it finds. cat copies bytes of the
// dataset to standard output, raw or as a hex dump that, like hexdump -C,
// shows a run of equal lines as one line and a "*" (-all prints them all).
// trim deletes the chunks wholly below an offset
// ([chunkmap.Manager.DropBefore]). salvage copies every readable byte of a
// damaged dataset into a new dataset or flat file, zeros where bytes are
// lost, and lists the lost ranges; info and cat also work on a damaged
// dataset, as far as its chunk files are readable, with a warning. verify
// cannot detect bytes overwritten inside a chunk file: there are no data
// checksums. version prints the module version, the version control
// revision, time and modified flag the build recorded, and the Go version.
//
// Sizes and offsets are decimal bytes, 0x-prefixed hexadecimal, or a number
// with a unit: B, KiB, MiB, GiB, TiB, PiB, EiB (powers of 1024) or kB, MB,
// GB, TB, PB, EB (powers of 1000), case-insensitive, with or without a
// space; a fraction is allowed if it makes whole bytes (1.5GiB). Flags
// may come before or after DIR. Every subcommand takes -h. DIR may be a
// symlink to the dataset's directory, which the command follows (the
// library's Open refuses one).
//
// Long operations (demo's phases, trim, verify -read, salvage) draw a
// progress line on standard error when it is a terminal. demo and trim stop
// cleanly on Ctrl-C, SIGTERM, SIGHUP or a closed standard output: demo
// removes its temporary directory, trim finishes the step it is in.
//
// The exit status is 0 on success, 1 when the operation fails, verify finds
// a problem, or demo or trim was stopped, 2 for a usage error, and 3 when
// salvage lost bytes or could not tell that its copy is exact (Size taken
// from the chunk files, chunk names that are one file), or info described
// a damaged dataset. Errors go to
// standard error. go run reports every failure as exit status 1: build the
// command (go install ./cmd/chunkmap) to see these.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/stop"
	"github.com/chunkmap/chunkmap/internal/units"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
	// exitDamaged: the command did its work on a damaged dataset (salvage
	// copied what was readable but lost bytes; info described the damage).
	exitDamaged = 3
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
		{"demo", "[-dir DIR] [-size 1GiB] [-chunk 64MiB] [-max-mapped 4] [-block 1MiB] [-reads 100000] [-read-size 4KiB] [-compare=false] [-admission=false] [-seed 1]",
			"build a dataset bigger than the mapped window; time it against os.File", runDemo},
		{"info", "DIR [-chunk SIZE]", "print chunk size, chunks, Start, Size and bytes on disk", runInfo},
		{"verify", "DIR [-read] [-chunk SIZE]", "check manifest, chunk names, sizes and contiguity", runVerify},
		{"cat", "DIR [-off N] [-n N] [-hex [-all]] [-chunk SIZE]", "copy bytes of the dataset to standard output", runCat},
		{"trim", "DIR -before OFF", "delete the chunks wholly below OFF (DropBefore)", runTrim},
		{"version", "", "print the module version, VCS revision and Go version", runVersion},
		{"salvage", "[-chunk SIZE] [-flat] DIR OUT", "copy every readable byte of a damaged dataset; list what is lost", runSalvage},
	}
}

// run executes the command line args (without the program name), writing to
// stdout and stderr, and returns the exit status. A command whose report
// could not be written to stdout (a full disk, /dev/full, a closed pipe
// where SIGPIPE is ignored) fails with exitFail, even one that would have
// succeeded or described damage: its output is what it was run for.
func run(args []string, stdout, stderr io.Writer) int {
	out := &stop.Checked{W: stdout}
	code := runCommand(args, out, stderr)
	name := "chunkmap"
	if len(args) > 0 && slices.ContainsFunc(commands, func(c command) bool { return c.name == args[0] }) {
		name += " " + args[0]
	}
	return outputChecked(name, out, stderr, code)
}

// outputChecked returns code, the exit status of the command name, or
// exitFail where code says the command did its work but its standard
// output, stdout from run (a *stop.Checked), failed: it says so on stderr.
// A command that holds SIGPIPE (salvage) calls it itself before it lets
// go, for stderr may be the same closed pipe (2>&1 | true), and the write
// would then end the process with SIGPIPE; run's call then finds the
// status already exitFail.
func outputChecked(name string, stdout, stderr io.Writer, code int) int {
	out, ok := stdout.(*stop.Checked)
	if ok && out.Err != nil && (code == exitOK || code == exitDamaged) {
		fmt.Fprintf(stderr, "%s: write standard output: %v\n", name, out.Err)
		return exitFail
	}
	return code
}

// rawOutput returns the writer under w, a command's standard output from
// run: stop.New must see the *os.File itself to notice, on Unix, that the
// reader of a pipe has gone before anything is written.
func rawOutput(w io.Writer) io.Writer {
	if o, ok := w.(*stop.Checked); ok {
		return o.W
	}
	return w
}

// runCommand is run without the check of stdout.
func runCommand(args []string, stdout, stderr io.Writer) int {
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
		fmt.Fprintf(w, "  %s\n", wrapSynopsis("chunkmap "+c.name, c.synopsis, "      "))
	}
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'chunkmap COMMAND -h' for a command's flags. Sizes and offsets are
bytes, 0x-prefixed hex, or a number with a unit: KiB, MiB, GiB, TiB, PiB,
EiB (powers of 1024) or kB, MB, GB, TB, PB, EB (powers of 1000), as in 64MiB
or 1.5GiB.

Exit status: 0 success; 1 failure (or problems found by verify, or demo or
trim stopped by a signal or a closed output); 2 usage error;
3 salvage lost bytes (zeros in their place), could not tell that its copy
is exact (Size taken from the chunk files, chunk names that are one file)
or copied a salvage that did not finish, or info found a damaged dataset.
go run turns every failure into status 1: build the command to see these.

verify cannot detect bytes overwritten inside a chunk file: there are
no data checksums.
`)
}

// synopsisWidth is the width usage lines are wrapped to.
const synopsisWidth = 79

// wrapSynopsis returns the usage line of a command, head followed by its
// synopsis, wrapped before synopsisWidth between its words and bracketed
// groups ("[-hex [-all]]" stays whole), each further line starting with
// indent.
func wrapSynopsis(head, synopsis, indent string) string {
	var words []string
	depth, from := 0, 0
	for i, r := range synopsis {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ' ':
			if depth == 0 {
				words = append(words, synopsis[from:i])
				from = i + 1
			}
		}
	}
	words = append(words, synopsis[from:])
	var b strings.Builder
	b.WriteString(head)
	width := len(head)
	for _, w := range words {
		if w == "" {
			continue
		}
		if width+1+len(w) > synopsisWidth && width > len(indent) {
			b.WriteString("\n" + indent)
			width = len(indent)
		} else {
			b.WriteByte(' ')
			width++
		}
		b.WriteString(w)
		width += len(w)
	}
	return b.String()
}

// synopsisOf returns the synopsis of the command name.
func synopsisOf(name string) string {
	for _, c := range commands {
		if c.name == name {
			return c.synopsis
		}
	}
	return ""
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
// after printing the help for -h, exitUsage after a usage error. The usage
// line is the command's synopsis in commands, which must list every flag
// of fs (TestUsage_ListsEveryFlag checks it).
func parse(fs *flag.FlagSet, args []string, npos int, help string, stdout, stderr io.Writer) ([]string, int, bool) {
	synopsis := synopsisOf(strings.TrimPrefix(fs.Name(), "chunkmap "))
	printUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", wrapSynopsis(fs.Name(), synopsis, "       "), help)
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
	// Every positional argument names a path (DIR, OUT). An empty one is
	// a variable left unset ("chunkmap cat "$DS""), not the current
	// directory, which the library and os take it to be in some calls
	// and not in others.
	if slices.Contains(pos, "") {
		fmt.Fprintf(stderr, "%s: empty argument: a path is needed\n", fs.Name())
		printUsage(stderr)
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

// datasetDir is the dataset directory an operator named as dir, absolute
// and with its symlinks resolved as the kernel resolves them: the commands
// that read the files themselves (verify, salvage, a damaged dataset's info
// and cat) join names to it, and "S/../ds" must mean there what the kernel
// makes of it. A dir that is itself a symlink is followed, since the
// operator means its target (the library's Open refuses one, so that a
// swapped link cannot redirect a program). A dir that does not exist is
// returned as it is, for the error that names it.
func datasetDir(dir string) string {
	if _, err := os.Stat(dir); err != nil {
		return dir
	}
	if real, err := resolve(dir); err == nil {
		return real
	}
	return dir
}

// fail prints the error of subcommand name and returns exitFail.
func fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "chunkmap %s: %v\n", name, err)
	return exitFail
}

// checkChunkFlag checks the value n of a -chunk flag before the library or
// a survey sees it, so that the error names the flag and the range it
// accepts rather than an Options field.
func checkChunkFlag(n int64) error {
	if !validChunkSize(n) {
		return fmt.Errorf("-chunk %d: want a power of two from %s to %s",
			n, formatBytes(chunkmap.MinChunkSize), formatBytes(chunkmap.MaxChunkSize))
	}
	return nil
}

// chunkAgrees returns an error if the -chunk flag cs was given and differs
// from the chunk size of a dataset that opened (as verify and salvage
// refuse one that differs from a valid manifest's): -chunk is for a
// dataset whose manifest has no valid record.
func chunkAgrees(cs sizeValue, size int64) error {
	if cs.set && cs.n != size {
		return fmt.Errorf("-chunk %d disagrees with the dataset's chunk size %d, from its manifest; leave -chunk out", cs.n, size)
	}
	return nil
}

// checkChunkSet checks the -chunk flag cs of command name, if it was given,
// with checkChunkFlag. It returns exitUsage and false after printing the
// error.
func checkChunkSet(cs sizeValue, name string, stderr io.Writer) (int, bool) {
	if !cs.set {
		return exitOK, true
	}
	if err := checkChunkFlag(cs.n); err != nil {
		fmt.Fprintf(stderr, "chunkmap %s: %v\n", name, err)
		return exitUsage, false
	}
	return exitOK, true
}

// sizeValue is a flag.Value for byte counts and offsets with unit suffixes.
// A zero sizeValue is unset, and prints no default in the usage.
type sizeValue struct {
	n   int64
	set bool
}

// newSize returns a set sizeValue, for flags with a default.
func newSize(n int64) sizeValue { return sizeValue{n: n, set: true} }

// String returns the value as [units.FormatBytes] writes it, or "" when
// unset.
func (s *sizeValue) String() string {
	if s == nil || !s.set {
		return ""
	}
	return formatBytes(s.n)
}

// Set parses v with [units.ParseSize].
func (s *sizeValue) Set(v string) error {
	n, err := units.ParseSize(v)
	if err != nil {
		return err
	}
	*s = newSize(n)
	return nil
}

// formatBytes formats n bytes for people with [units.FormatBytes], the
// formatter of every command and example in this repository: "64 MiB",
// "1.50 GiB", "512 B".
func formatBytes(n int64) string { return units.FormatBytes(n) }
