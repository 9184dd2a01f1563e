//go:build unix

package arena

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMapSpan maps the pages of a range across three files and checks that
// the view's bytes are the files' from lo on, and that stores reach them.
func TestMapSpan(t *testing.T) {
	page := int64(os.Getpagesize())
	// Four pages a file at least, so that the cases below (a span from the
	// second page, one of a page across two files) differ where pages are
	// 64 KiB, the smallest slot.
	slot := max(64<<10, 4*page)
	var files []*os.File
	var want []byte
	for i := range 3 {
		b := bytes.Repeat([]byte{byte('a' + i)}, int(slot))
		for j := range b {
			b[j] += byte(j / int(page))
		}
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
		want = append(want, b...)
	}
	for _, c := range []struct{ files, lo, hi int64 }{{3, page, 2 * page}, {2, slot - page, page}, {1, 0, slot}, {1, page, 2 * page}, {3, 0, slot}} {
		v, err := MapSpan(files[:c.files], slot, c.lo, c.hi, true)
		if err != nil {
			t.Fatalf("MapSpan(%d files, %d, %d): %v", c.files, c.lo, c.hi, err)
		}
		b := v.Bytes()
		if w := want[c.lo : (c.files-1)*slot+c.hi]; !bytes.Equal(b, w) {
			t.Fatalf("MapSpan(%d files, %d, %d): %d bytes, not the files' %d", c.files, c.lo, c.hi, len(b), len(w))
		}
		b[len(b)-1] ^= 0xff
		want[(c.files-1)*slot+c.hi-1] ^= 0xff
		if err := v.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := v.Release(); err != nil {
			t.Fatal(err)
		}
		if err := v.Release(); err != nil {
			t.Fatalf("second Release: %v", err)
		}
		got := make([]byte, 1)
		if _, err := files[c.files-1].ReadAt(got, c.hi-1); err != nil || got[0] != want[(c.files-1)*slot+c.hi-1] {
			t.Fatalf("store through the view: file has %#x, %v", got[0], err)
		}
	}
	for _, c := range [][2]int64{{-page, page}, {slot, slot}, {0, 0}, {1, page}, {page, page}, {0, slot + page}} {
		if _, err := MapSpan(files[:1], slot, c[0], c[1], false); err == nil {
			t.Errorf("MapSpan(1 file, %d, %d): no error", c[0], c[1])
		}
	}
	if _, err := MapSpan(nil, slot, 0, page, false); err == nil {
		t.Errorf("MapSpan(no files): no error")
	}
}
