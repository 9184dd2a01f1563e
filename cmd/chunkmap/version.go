package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// runVersion is the version subcommand.
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version")
	if _, code, ok := parse(fs, args, 0,
		`Version prints the version of the chunkmap module this command was built
from, the version control revision, commit time and modified flag recorded
at build time, and the Go version. A command installed with
go install github.com/chunkmap/chunkmap/cmd/chunkmap@VERSION has that
version and no revision. One built with go build in a git checkout has the
commit's tag, or a pseudo-version (v0.0.0-TIME-REVISION, with +dirty for
uncommitted changes), and the revision; one built by go run or with
-buildvcs=false has neither, and the version (devel).`, stdout, stderr); !ok {
		return code
	}
	info, ok := debug.ReadBuildInfo()
	writeVersion(stdout, info, ok)
	return exitOK
}

// writeVersion prints the build information info (ok is false when the
// binary has none) as the version subcommand does:
//
//	chunkmap v0.0.0-20261130051023-4ce423cad131+dirty
//	module    github.com/chunkmap/chunkmap
//	revision  4ce423cad1315209b496676ceb177195153d7444
//	time      2026-11-30T05:10:23Z
//	modified  true
//	go        go1.26.8
//
// Lines whose value the build did not record are left out; "modified
// true" means the checkout had changes that were not committed.
func writeVersion(w io.Writer, info *debug.BuildInfo, ok bool) {
	if !ok || info == nil {
		fmt.Fprintln(w, "chunkmap (unknown version: the binary holds no build information)")
		fmt.Fprintf(w, "go        %s\n", runtime.Version())
		return
	}
	version := info.Main.Version
	if version == "" {
		version = "(unknown)"
	}
	fmt.Fprintf(w, "chunkmap %s\n", version)
	if info.Main.Path != "" {
		fmt.Fprintf(w, "module    %s\n", info.Main.Path)
	}
	settings := make(map[string]string)
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for _, s := range []struct{ key, label string }{
		{"vcs.revision", "revision"},
		{"vcs.time", "time"},
		{"vcs.modified", "modified"},
	} {
		if v, ok := settings[s.key]; ok {
			fmt.Fprintf(w, "%-9s %s\n", s.label, v)
		}
	}
	goVersion := info.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	fmt.Fprintf(w, "go        %s\n", goVersion)
}
