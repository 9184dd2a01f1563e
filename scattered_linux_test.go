package chunkmap_test

import (
	"os/exec"
	"syscall"
)

// killWithParent has the kernel kill cmd's process when the thread that
// starts it exits (with this process, as startScattered keeps the thread).
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
