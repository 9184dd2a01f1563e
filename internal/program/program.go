// Package program holds what the programs in examples/ share around their
// own work: main's exit status and message, their flag handling with -h,
// and the dataset directory they work in, made and removed under a
// stop.Stopper so that no stop can leave it behind. A program reads:
//
//	func main() { program.Main("x", run) }
//
//	func run(args []string, w io.Writer) error {
//		fs := program.Flags("x")
//		dir := fs.String("dir", "", "dataset `directory`")
//		if help, err := program.Parse(fs, args, w); help || err != nil {
//			return err
//		}
//		return program.Work(w, *dir, "x", program.Empty, func(dir string, st *stop.Stopper) error {
//			return work(dir, st)
//		})
//	}
package program

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/chunkmap/chunkmap/internal/stop"
)

// Main runs run with the command line and standard output, and ends the
// process with status 1 if it returns an error: quietly where the output's
// reader is gone (stop.Quiet), and otherwise printing "name: " and the
// error to standard error.
func Main(name string, run func(args []string, w io.Writer) error) {
	log.SetFlags(0)
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if stop.Quiet(err) {
			os.Exit(1) // whoever read the output is gone
		}
		log.Fatalf("%s: %v", name, err)
	}
}

// Flags returns an empty flag set for the program name. Parse returns its
// errors instead of printing them, and its usage reads "Usage: go run
// ./examples/name [flags]" and the flags.
func Flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; -h prints the usage (Parse)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./examples/%s [flags]\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args with fs, a set from Flags. After -h or -help it prints
// the usage to w and returns help true and a nil error: asking for the
// usage is no failure, but failing to print it is (a full disk, a closed
// pipe), and returns that error. A flag it cannot parse, or an argument
// that is not a flag, is an error that says -h prints the flags.
func Parse(fs *flag.FlagSet, args []string, w io.Writer) (help bool, err error) {
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		out := &stop.Checked{W: w}
		fs.SetOutput(out)
		fs.Usage()
		if out.Err != nil {
			return true, fmt.Errorf("printing the usage: %w", out.Err)
		}
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("%w (-h prints the flags)", err)
	} else if fs.NArg() > 0 {
		// Parse stops at the first argument that is no flag, so any
		// flags after it would go unheard.
		return false, fmt.Errorf("unexpected argument %q (-h prints the flags)", fs.Arg(0))
	}
	return false, nil
}

// What Work asks of a directory the user named.
const (
	Any   = false // any directory: a dataset there is opened as it is
	Empty = true  // a new or empty directory, so that the program's own output is all it holds
)

// Work runs work in dir, or where dir is "", in a new temporary directory
// named after name, which it removes afterwards. With Empty a dir that
// holds anything is refused before work runs. The stop signals and w,
// the program's standard output, are watched (stop.New) from before the
// temporary directory exists until after it is removed; work receives
// the Stopper, which it writes its output to and checks, and Work
// returns work's error or, after a nil one, a stop that came after work's
// last check (the output is cut short then).
func Work(w io.Writer, dir, name string, empty bool, work func(dir string, st *stop.Stopper) error) (err error) {
	st := stop.New(w)
	defer st.Release()
	if dir == "" {
		tmp, err := os.MkdirTemp("", "chunkmap-"+name+"-")
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
		dir = tmp
	} else if entries, err := os.ReadDir(dir); empty && err == nil && len(entries) > 0 {
		return fmt.Errorf("-dir %s is not empty", dir)
	}
	if err := work(dir, st); err != nil {
		return err
	}
	return st.Err()
}
