// Package memlimit reports how much memory the running process may fill:
// the machine's, or less where a Linux control group (cgroup v1 or v2)
// limits the process. The library sizes its default window of mapped
// chunks from it, since file pages touched through mappings count against
// that memory as page cache does. Where the platform does not say (every
// system but Linux), Bytes reports false.
package memlimit
