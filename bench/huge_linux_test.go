package bench

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

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
