//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestClixSalvage_HostileChunks salvages a dataset whose chunk 2 is
// missing, cut short or not a regular file, into a dataset and into a flat
// file: exit status 3, exactly the lost range listed, every byte of the
// intact chunks copied, zeros in the lost range, DIR unchanged.
func TestClixSalvage_HostileChunks(t *testing.T) {
	for _, d := range clixChunkDamages() {
		t.Run(d.name, func(t *testing.T) {
			dir := newDataset(t)
			d.damage(t, dir)
			before := snapshot(t, dir)
			wantBytes := want(0, testSize, [][2]int64{d.lost})
			for _, flat := range []bool{false, true} {
				out := filepath.Join(t.TempDir(), "out")
				args := []string{"salvage", dir, out}
				if flat {
					args = []string{"salvage", "-flat", dir, out}
				}
				code, stdout, stderr := clixRun(t, args...)
				if code != exitDamaged {
					t.Fatalf("%q: exit status %d, want 3\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
				}
				if got := lostRanges(t, stdout); !slices.Equal(got, [][2]int64{d.lost}) {
					t.Errorf("%q: lost ranges %v, want [%v]\n%s", args, got, d.lost, stdout)
				}
				var got []byte
				if flat {
					b, err := os.ReadFile(out)
					must(t, err)
					got = b
				} else {
					_, _, got = readDataset(t, out)
				}
				if !bytes.Equal(got, wantBytes) {
					t.Errorf("%q: the copy (%d bytes) is not the original with zeros in %v", args, len(got), d.lost)
				}
			}
			checkUnchanged(t, dir, before)
		})
	}
}

// TestClixSalvage_ManifestDamage salvages a dataset whose manifest is
// missing, unreadable or garbled: the chunk size is inferred from the chunk
// files, every byte is recovered, and DIR is unchanged.
func TestClixSalvage_ManifestDamage(t *testing.T) {
	mf := func(dir string) string { return filepath.Join(dir, chunkmap.ManifestName) }
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"deleted", func(t *testing.T, dir string) { remove(t, mf(dir)) }},
		{"empty", func(t *testing.T, dir string) { must(t, os.Truncate(mf(dir), 0)) }},
		{"garbage", func(t *testing.T, dir string) { write(t, mf(dir), strings.Repeat("garbage!", 1024)) }},
		{"fifo", func(t *testing.T, dir string) { remove(t, mf(dir)); must(t, syscall.Mkfifo(mf(dir), 0o644)) }},
		{"directory", func(t *testing.T, dir string) { remove(t, mf(dir)); mkdir(t, mf(dir)) }},
		{"symlink to /dev/zero", func(t *testing.T, dir string) { remove(t, mf(dir)); must(t, os.Symlink("/dev/zero", mf(dir))) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDataset(t)
			tc.damage(t, dir)
			before := snapshot(t, dir)
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := clixRun(t, "salvage", "-flat", dir, out)
			checkUnchanged(t, dir, before)
			// Nothing is lost, but Size comes from the chunk files: the
			// copy is not known to be exact.
			if code != exitDamaged || !strings.Contains(stdout, "none unreadable, but Size came from the chunk files") {
				t.Fatalf("exit status %d, want %d, and Size named a guess\nstdout:\n%s\nstderr:\n%s", code, exitDamaged, stdout, stderr)
			}
			if !strings.Contains(stdout, "chunk size 65536 (64 KiB), from the sizes of the chunk files") {
				t.Errorf("chunk size not inferred from the chunk files:\n%s", stdout)
			}
			got, err := os.ReadFile(out)
			must(t, err)
			// Size is the end of the last chunk: the original, then zeros.
			if !bytes.Equal(got, want(0, 6*tcs, nil)) {
				t.Errorf("the copy (%d bytes) does not hold the original bytes", len(got))
			}
		})
	}
}

// TestClixSalvage_OutEscapesThroughSymlinkDotDot: OUT spelled as
// LINK/../ds/x, where LINK is a symlink to a sibling of DIR, is outside DIR
// for a lexical path cleanup but inside DIR for the kernel, which resolves
// ".." after the symlink. salvage must refuse it (or write outside DIR); it
// must never create anything in DIR.
func TestClixSalvage_OutEscapesThroughSymlinkDotDot(t *testing.T) {
	for _, flat := range []bool{true, false} {
		name := "dataset"
		if flat {
			name = "flat"
		}
		t.Run(name, func(t *testing.T) {
			dir := newDataset(t) // TMP/ds
			parent := filepath.Dir(dir)
			mkdir(t, filepath.Join(parent, "sibling"))
			elsewhere := t.TempDir()
			link := filepath.Join(elsewhere, "L")
			must(t, os.Symlink(filepath.Join(parent, "sibling"), link))
			out := link + "/../ds/out" // the kernel: TMP/ds/out
			before := snapshot(t, dir)
			args := []string{"salvage", dir, out}
			if flat {
				args = []string{"salvage", "-flat", dir, out}
			}
			code, stdout, stderr := clixRun(t, args...)
			t.Logf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			checkUnchanged(t, dir, before)
		})
	}
}

// TestClixSalvage_RefusesOut checks the OUTs salvage must refuse beyond
// those TestRun_Salvage_Refuses covers: through symlinks to DIR, a path
// with ".." that lands in DIR, a dangling symlink; DIR stays unchanged.
func TestClixSalvage_RefusesOut(t *testing.T) {
	dir := newDataset(t)
	before := snapshot(t, dir)
	tmp := t.TempDir()
	toDir := filepath.Join(tmp, "todir")
	must(t, os.Symlink(dir, toDir))
	dangling := filepath.Join(tmp, "dangling")
	must(t, os.Symlink(filepath.Join(dir, "new"), dangling))
	emptyDir := filepath.Join(tmp, "empty")
	must(t, os.Mkdir(emptyDir, 0o755))
	toEmpty := filepath.Join(tmp, "toempty")
	must(t, os.Symlink(emptyDir, toEmpty))
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"OUT is a symlink to DIR", []string{dir, toDir}, "lies inside DIR"},
		{"OUT under a symlink to DIR", []string{dir, filepath.Join(toDir, "out")}, "lies inside DIR"},
		{"flat OUT under a symlink to DIR", []string{"-flat", dir, filepath.Join(toDir, "out")}, "lies inside DIR"},
		{"OUT with .. into DIR", []string{dir, filepath.Join(tmp, "..", filepath.Base(filepath.Dir(dir)), "ds", "x", "..", "out")}, "lies inside DIR"},
		{"OUT a dangling symlink into DIR", []string{dir, dangling}, "already exists, as a symlink"},
		{"flat OUT a dangling symlink into DIR", []string{"-flat", dir, dangling}, "already exists"},
		{"DIR is OUT's parent via symlink", []string{"-flat", toDir, filepath.Join(dir, "f")}, "lies inside DIR"},
		// Said as what it is: it was "not a directory".
		{"OUT a symlink to an empty directory", []string{dir, toEmpty}, "already exists, as a symlink"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := clixRun(t, append([]string{"salvage"}, tc.args...)...)
			if code != exitFail || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit status %d, stderr %q; want 1 and %q", code, stderr, tc.wantErr)
			}
		})
	}
	checkUnchanged(t, dir, before)
	if _, err := os.Lstat(filepath.Join(dir, "new")); err == nil {
		t.Errorf("salvage created %s through a dangling symlink", filepath.Join(dir, "new"))
	}
}

// TestClixSalvage_RefusesOutThroughBindMount salvages into a directory
// under a bind mount of DIR: no symlink leads there, but it is DIR, and
// salvage must refuse it, leaving DIR unchanged. It needs root (mount).
func TestClixSalvage_RefusesOutThroughBindMount(t *testing.T) {
	dir := newDataset(t)
	before := snapshot(t, dir)
	bind := filepath.Join(t.TempDir(), "bind")
	must(t, os.Mkdir(bind, 0o755))
	if err := syscall.Mount(dir, bind, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v (needs root)", err)
	}
	defer func() {
		if err := syscall.Unmount(bind, 0); err != nil {
			t.Errorf("unmount %s: %v", bind, err)
		}
	}()
	for _, args := range [][]string{
		{"salvage", dir, filepath.Join(bind, "out")},
		{"salvage", "-flat", dir, filepath.Join(bind, "out")},
	} {
		code, _, stderr := clixRun(t, args...)
		if code != exitFail || !strings.Contains(stderr, "lies inside DIR") {
			t.Errorf("%q: exit status %d, stderr %q; want 1 and \"lies inside DIR\"", args, code, stderr)
		}
	}
	checkUnchanged(t, dir, before)
}

// TestClixTopChunk runs the commands that read chunk files directly over a
// dataset whose last chunk is the top one (Start just below 2^63, a valid
// Options.Start): each must finish, and recover or check its bytes (an
// end computed as the chunk after the top one overflowed, and the copy
// started again at the bottom, for ever).
func TestClixTopChunk(t *testing.T) {
	const top int64 = (1<<47 - 1) * testChunk // the top chunk's offset for 64 KiB chunks
	dir := filepath.Join(t.TempDir(), "top")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk, Start: top - testChunk})
	must(t, err)
	data := bytes.Repeat([]byte("top of the range "), 4000) // across into the top chunk
	_, err = m.Append(data)
	must(t, err)
	must(t, m.Close())
	before := snapshot(t, dir)
	out, flat := filepath.Join(t.TempDir(), "out"), filepath.Join(t.TempDir(), "flat")
	for _, args := range [][]string{
		{"verify", "-read", dir},
		{"salvage", dir, out},
		{"salvage", "-flat", dir, flat},
	} {
		done := make(chan struct{})
		var code int
		var stdout, stderr string
		go func() {
			defer close(done)
			code, stdout, stderr = clixRun(t, args...)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%q did not finish within 20 s", args)
		}
		if code != exitOK {
			t.Errorf("%q: exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
	}
	if start, size, got := readDataset(t, out); start != top-testChunk || size != start+int64(len(data)) || !bytes.Equal(got, data) {
		t.Errorf("salvaged dataset: Start %d, Size %d, bytes equal: %v; want %d, %d, true", start, size, bytes.Equal(got, data), top-testChunk, top-testChunk+int64(len(data)))
	}
	if got, err := os.ReadFile(flat); err != nil || !bytes.Equal(got, data) {
		t.Errorf("salvaged flat file: %d bytes, %v; want the %d bytes of the dataset", len(got), err, len(data))
	}
	checkUnchanged(t, dir, before)
}
