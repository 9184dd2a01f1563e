//go:build !unix

package bench

// pageFaults returns zeros: without getrusage(2) the process's page faults
// are not counted here, and the minflt/op and majflt/op metrics read 0.
func pageFaults() (minflt, majflt int64) { return 0, 0 }
