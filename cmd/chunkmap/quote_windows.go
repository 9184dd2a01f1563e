package main

import "strings"

// cmdArg returns path as it must be typed to be one argument of a suggested
// command line ("run 'chunkmap verify DIR'"): a path that begins with '-'
// gets ".\" before it, lest the command take it for a flag, and a path with
// a space or another character that splits or redirects a command line is
// put in double quotes (which no Windows path may contain). That keeps it
// one argument in cmd.exe and PowerShell alike; neither stops expanding a
// '%' (cmd.exe) or a '$' or '`' (PowerShell) inside double quotes, and no
// quoting that both shells read protects those.
func cmdArg(path string) string {
	if strings.HasPrefix(path, "-") {
		path = `.\` + path
	}
	if path != "" && !strings.ContainsAny(path, " \t&|<>^%;,()'`$@{}[]=!") {
		return path
	}
	return `"` + path + `"`
}
