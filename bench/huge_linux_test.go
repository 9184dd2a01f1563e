package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// settled is the set of data files settle has brought into the page cache
// in this process.
var settled sync.Map

// settle makes the page cache hold every file of d (the flat file and each
// chunk file) the same way, once per process: it writes back and drops
// each file's cached bytes, then reads them again through a mapping
// advised MADV_HUGEPAGE, so that Linux caches them in folios of up to
// 2 MiB wherever the file system allows. Without it, a file's folio sizes
// are its history (how it was written, how read-ahead grew when it was
// last read: anew in each chunk file), the flat file and the chunk files
// differ in how many of their bytes TLB entries of 2 MiB can map, and
// cold-set ratios measure that instead of the access paths (see
// reportHuge). Where the kernel keeps smaller folios (no transparent huge
// pages, a file system without large folios) both are read alike all the
// same.
func settle(b *testing.B, d Dataset) {
	b.Helper()
	if _, done := settled.Load(d.Dir); done {
		return
	}
	if err := dropCache(d); err != nil {
		b.Fatal(err)
	}
	chunks, err := filepath.Glob(filepath.Join(d.Dir, "*.chunk"))
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range append([]string{d.Flat}, chunks...) {
		if err := readHuge(p); err != nil {
			b.Fatal(err)
		}
	}
	settled.Store(d.Dir, true)
}

// readHuge reads path, just dropped from the page cache, back through a
// mapping advised MADV_HUGEPAGE (see settle).
func readHuge(path string) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("settle %s: map: %w", path, err)
	}
	defer func() {
		if uerr := unix.Munmap(m); err == nil && uerr != nil {
			err = fmt.Errorf("settle %s: unmap: %w", path, uerr)
		}
	}()
	// EINVAL where transparent huge pages are not built in: the reads
	// below then cache the file as the kernel does by default, which is
	// still the same for every file.
	_ = unix.Madvise(m, unix.MADV_HUGEPAGE)
	var sum byte
	for i := 0; i < len(m); i += 4096 {
		sum += m[i]
	}
	settleSink = sum
	return nil
}

// settleSink keeps readHuge's loads from being optimized away.
var settleSink byte

// reportHuge reports "huge-%": of the dataset's bytes the process has
// mapped and resident (the flat file's and the chunk files'), the share
// mapped by 2 MiB page-table entries. Where a file's page cache sits in
// 2 MiB folios and the mapping is aligned, Linux maps them so, and random
// reads over that memory miss the TLB far less: cold-set ratios between two
// contenders mean little unless this share is alike. It depends on how
// each file entered the page cache (a file read in one sequential pass
// gets larger folios than the same bytes in 32 files read one after
// another, because read-ahead grows anew in every file), not on the access
// path. Contenders that map nothing report nothing.
func reportHuge(b *testing.B, d Dataset) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return
	}
	var rss, pmd int64
	ours := false
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 5 && strings.ContainsRune(f[0], '-') && !strings.HasSuffix(f[0], ":") {
			// A mapping's header: "start-end perms offset dev inode [path]".
			p := f[len(f)-1]
			ours = len(f) >= 6 && (p == d.Flat || filepath.Dir(p) == d.Dir)
			continue
		}
		if !ours {
			continue
		}
		key, rest, _ := strings.Cut(line, ":")
		switch key {
		case "Rss":
			rss += kB(rest)
		case "FilePmdMapped":
			pmd += kB(rest)
		}
	}
	if rss > 0 {
		b.ReportMetric(100*float64(pmd)/float64(rss), "huge-%")
	}
}

// kB parses the value of a smaps line such as "   1024 kB".
func kB(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(s), " kB"), 10, 64)
	return n
}
