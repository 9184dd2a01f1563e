package main

import "strings"

// cmdArg returns path as it must be typed to be one argument of a suggested
// command line ("run 'chunkmap verify DIR'"), so that the line can be
// pasted as it stands: a path that begins with '-' gets ".\" before it,
// lest the command take it for a flag, and a path with a space or a
// character cmd.exe or PowerShell treats specially is put in double quotes
// (which no Windows path may contain).
func cmdArg(path string) string {
	if strings.HasPrefix(path, "-") {
		path = `.\` + path
	}
	if path != "" && !strings.ContainsAny(path, " \t&|<>^%;,()'`$@{}[]=!") {
		return path
	}
	return `"` + path + `"`
}
