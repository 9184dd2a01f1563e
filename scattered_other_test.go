//go:build !linux

package chunkmap_test

import "os/exec"

// killWithParent does nothing here: only Linux has a parent-death signal.
// A scattered run whose parent ends early runs to its end on its own.
func killWithParent(*exec.Cmd) {}
