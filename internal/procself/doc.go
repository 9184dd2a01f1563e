// Package procself reads what Linux lists about the running process in
// /proc/self: its mappings and its open descriptors. Tests use it to check
// the library's bounds by the kernel's own figures, not by the library's
// counters. On other systems it is empty.
package procself
