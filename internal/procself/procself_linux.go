package procself

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
)

// Mapping is one line of /proc/self/maps that names a file.
type Mapping struct {
	Lo, Hi uint64 // the range of addresses, [Lo, Hi)
	Path   string // the file, without the kernel's " (deleted)"
}

// Bytes returns the length of the mapping.
func (m Mapping) Bytes() int64 { return int64(m.Hi - m.Lo) }

// Under reports whether path is dir or a file below it.
func Under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// ReadMaps returns /proc/self/maps, read in reads as large as it takes so
// that the kernel lists the mappings of as near one moment as it can (a
// read may still return less than all: it reads on until EOF).
func ReadMaps() ([]byte, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 0, 4<<20)
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF || (err == nil && n == 0) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// ParseMaps returns the mappings of files in b, a listing ReadMaps read.
// Anonymous mappings and the kernel's own ([heap], [stack], ...) are left
// out.
func ParseMaps(b []byte) []Mapping {
	var ms []Mapping
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) < 6 || !strings.HasPrefix(f[5], "/") {
			continue
		}
		path := strings.TrimSuffix(strings.Join(f[5:], " "), " (deleted)")
		lo, hi, _ := strings.Cut(f[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		c, _ := strconv.ParseUint(hi, 16, 64)
		ms = append(ms, Mapping{Lo: a, Hi: c, Path: path})
	}
	return ms
}

// Maps returns the process's mappings of files (ReadMaps, ParseMaps).
func Maps() ([]Mapping, error) {
	b, err := ReadMaps()
	if err != nil {
		return nil, err
	}
	return ParseMaps(b), nil
}

// FDs returns the targets of the process's open descriptors, as
// /proc/self/fd links them, without the kernel's " (deleted)": a file's
// path, or a name such as "pipe:[123]" or "anon_inode:[eventpoll]". A
// descriptor closed while they are read is left out.
func FDs() ([]string, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	targets := make([]string, 0, len(ents))
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		targets = append(targets, strings.TrimSuffix(l, " (deleted)"))
	}
	return targets, nil
}
