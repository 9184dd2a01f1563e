//go:build !windows

package main

import "strings"

// cmdArg returns path as it must be typed in a POSIX shell to be one
// argument of a suggested command line ("run 'chunkmap verify DIR'"), so
// that the line can be pasted as it stands: a path that begins with '-'
// gets "./" before it, lest the command take it for a flag, and a path with
// anything but letters, digits and "+,-./:=@_" in it is single-quoted,
// each quote inside it ending the quoted part, escaped with a backslash,
// and beginning a new one.
func cmdArg(path string) string {
	if strings.HasPrefix(path, "-") {
		path = "./" + path
	}
	if path != "" && strings.Trim(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+,-./:=@_") == "" {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}
