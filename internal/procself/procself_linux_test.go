package procself

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMaps(t *testing.T) {
	in := []byte("00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\n" +
		"7f00a0000000-7f00a0010000 rw-s 00000000 08:02 42 /data/ds/00000001.chunk (deleted)\n" +
		"7f00b0000000-7f00b0001000 rw-s 00000000 08:02 43 /data/a b/MANIFEST\n" +
		"7ffd1a9e2000-7ffd1aa03000 rw-p 00000000 00:00 0 [stack]\n" +
		"7f00c0000000-7f00c0004000 ---p 00000000 00:00 0\n")
	want := []Mapping{
		{Lo: 0x400000, Hi: 0x452000, Path: "/usr/bin/dbus-daemon"},
		{Lo: 0x7f00a0000000, Hi: 0x7f00a0010000, Path: "/data/ds/00000001.chunk"},
		{Lo: 0x7f00b0000000, Hi: 0x7f00b0001000, Path: "/data/a b/MANIFEST"},
	}
	got := ParseMaps(in)
	if !slices.Equal(got, want) {
		t.Fatalf("ParseMaps = %+v, want %+v", got, want)
	}
	if n := got[1].Bytes(); n != 64<<10 {
		t.Errorf("Bytes() = %d, want %d", n, 64<<10)
	}
}

// TestMapsAndFDsSeeAFile maps a file and keeps a descriptor of it open, and
// looks for both.
func TestMapsAndFDsSeeAFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := unix.Mmap(int(f.Fd()), 0, 8192, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	ms, err := Maps()
	if err != nil {
		t.Fatal(err)
	}
	var mapped int64
	for _, m := range ms {
		if Under(m.Path, dir) {
			mapped += m.Bytes()
		}
	}
	if mapped != 8192 {
		t.Errorf("mappings of files under %s: %d bytes, want 8192", dir, mapped)
	}
	fds, err := FDs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(fds, path) {
		t.Errorf("FDs() = %q, want %s among them", fds, path)
	}
}

func TestUnder(t *testing.T) {
	for _, c := range []struct {
		path, dir string
		want      bool
	}{
		{"/a/b", "/a/b", true},
		{"/a/b/c", "/a/b", true},
		{"/a/bc", "/a/b", false},
		{"/a", "/a/b", false},
	} {
		if got := Under(c.path, c.dir); got != c.want {
			t.Errorf("Under(%q, %q) = %v, want %v", c.path, c.dir, got, c.want)
		}
	}
}
