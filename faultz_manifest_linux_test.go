//go:build linux

package chunkmap_test

// The state files the docs name (the MANIFEST, and the MANIFEST.tmp a
// crash can leave) and the chunk files, broken from outside while a
// Manager runs and while the dataset is closed. The README's error table:
// ErrCorrupt is returned by "Sync, Truncate, DropBefore and Refresh when
// the manifest (or, for a reader, a chunk file) was removed, replaced or
// truncated by another program", and by Open for "a manifest that is
// missing (with chunk files present), truncated, garbled (both records)
// ..., a chunk file that Size needs of the wrong size, missing, or not a
// regular file; a FIFO, symlink or directory under a dataset's name. The
// message names the file. Remove refuses the same before it removes
// anything."

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// fzManifestFault is one way another program breaks the MANIFEST.
type fzManifestFault struct {
	name string
	// opens: Open still finds a dataset afterwards (a replacement by an
	// intact copy of the file).
	opens  bool
	inject func(t *testing.T, path string)
}

func fzManifestFaults() []fzManifestFault {
	trunc := func(n int64) func(t *testing.T, p string) {
		return func(t *testing.T, p string) {
			if err := os.Truncate(p, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	replace := func(t *testing.T, p string, make func(string) error) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".orig", b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := make(p); err != nil {
			t.Fatal(err)
		}
	}
	return []fzManifestFault{
		{"truncated to 0", false, trunc(0)},
		{"truncated to 37 bytes", false, trunc(37)},
		{"truncated to 4095 bytes", false, trunc(4095)},
		{"removed", false, func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced by an intact copy", true, func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p+".new", b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced by a directory", false, func(t *testing.T, p string) {
			replace(t, p, func(p string) error { return os.Mkdir(p, 0o755) })
		}},
		{"replaced by a FIFO", false, func(t *testing.T, p string) {
			replace(t, p, func(p string) error { return syscall.Mkfifo(p, 0o644) })
		}},
		{"replaced by a symlink to an intact copy", false, func(t *testing.T, p string) {
			replace(t, p, func(p string) error { return os.Symlink(filepath.Base(p)+".orig", p) })
		}},
	}
}

// TestFaultz_ManifestFaultFailsSyncTruncateDropAsCorrupt breaks the
// MANIFEST under a running writer and checks that every Sync, Truncate
// (that deletes a chunk), DropBefore and Close fails with ErrCorrupt naming
// the manifest once, that Truncate and DropBefore delete no chunk file they
// could not first record, that no call crashes or hangs, and that the
// dataset then either opens with every byte the last successful Sync
// acknowledged or is refused as ErrCorrupt, untouched; once the manifest
// is put back it opens with those bytes.
func TestFaultz_ManifestFaultFailsSyncTruncateDropAsCorrupt(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	for _, f := range fzManifestFaults() {
		t.Run(strings.ReplaceAll(f.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, uint64(len(f.name))))
			dir := filepath.Join(t.TempDir(), "ds")
			m := fzOpen(t, dir, chunkmap.Options{})
			real := fzRealDir(t, dir)
			man := filepath.Join(real, chunkmap.ManifestName)
			acked := fzRandom(r, int(3*fzCS))
			if _, err := m.WriteAt(acked, 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			good, err := os.ReadFile(man)
			if err != nil {
				t.Fatal(err)
			}
			f.inject(t, man)
			// Writes go on (the docs promise nothing else of them); they
			// must not crash or hang.
			fzDo(t, "WriteAt past Size", func() { m.WriteAt(fzRandom(r, 100), 3*fzCS+50) })
			fzDo(t, "Append", func() { m.Append(fzRandom(r, 100)) })
			want := fzMsg{op: "sync", files: []string{man}}
			for i := 0; i < 2; i++ {
				fzDo(t, "Sync", func() { err = m.Sync() })
				fzCheck(t, fmt.Sprintf("Sync #%d after the manifest was %s", i+1, f.name), err, chunkmap.ErrCorrupt, want)
			}
			// Truncate to below chunk 2 would delete chunk files 2 and 3:
			// it must fail before deleting either.
			fzDo(t, "Truncate", func() { err = m.Truncate(2*fzCS - 10) })
			fzCheck(t, "Truncate after the manifest was "+f.name, err, chunkmap.ErrCorrupt, fzMsg{op: "truncate", files: []string{man}})
			if _, serr := os.Lstat(fzChunk(real, 2)); serr != nil {
				t.Errorf("Truncate failed with %v but deleted chunk file 2 (%v)", err, serr)
			}
			fzDo(t, "DropBefore", func() { err = m.DropBefore(fzCS) })
			fzCheck(t, "DropBefore after the manifest was "+f.name, err, chunkmap.ErrCorrupt, fzMsg{op: "drop", files: []string{man}})
			if _, serr := os.Lstat(fzChunk(real, 0)); serr != nil {
				t.Errorf("DropBefore failed with %v but deleted chunk file 0 (%v)", err, serr)
			}
			fzDo(t, "Sync", func() { err = m.Sync() })
			fzCheck(t, "Sync after the failed Truncate and DropBefore", err, chunkmap.ErrCorrupt, want)
			// Reads of acknowledged bytes still work.
			fzExpect(t, "acknowledged bytes", m, 0, acked)
			fzDo(t, "Close", func() { err = m.Close() })
			fzCheck(t, "Close after the manifest was "+f.name, err, chunkmap.ErrCorrupt, fzMsg{op: "close", files: []string{man}})

			before := fzSnapshot(t, real)
			var m2 *chunkmap.Manager
			fzDo(t, "Open", func() { m2, err = chunkmap.Open(dir, nil) })
			if f.opens {
				if err != nil {
					t.Fatalf("reopen after the manifest was %s: %v", f.name, err)
				}
				fzExpect(t, "reopened, acknowledged bytes", m2, 0, acked)
				m2.Close()
				return
			}
			if fzCheck(t, "Open after the manifest was "+f.name, err, chunkmap.ErrCorrupt, fzMsg{op: "open", files: []string{man}}) {
				fzSameSnapshot(t, "the refused Open", before, fzSnapshot(t, real))
			} else if m2 != nil {
				m2.Close()
			}
			// Put the manifest back as the last Sync left it: every
			// acknowledged byte is there.
			os.Remove(man + ".orig")
			if err := os.RemoveAll(man); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(man, good, 0o644); err != nil {
				t.Fatal(err)
			}
			m3, err := chunkmap.Open(dir, nil)
			if err != nil {
				t.Fatalf("Open once the manifest was put back: %v", err)
			}
			defer m3.Close()
			if m3.Start() != 0 || m3.Size() < int64(len(acked)) {
				t.Errorf("Start %d, Size %d once the manifest was put back; want 0 and at least %d", m3.Start(), m3.Size(), len(acked))
			}
			fzExpect(t, "acknowledged bytes once the manifest was put back", m3, 0, acked)
		})
	}
}

// TestFaultz_ManifestCutSizeChanges checks what the calls that change Size
// return after another program cut the manifest under a writer, as
// ErrCorrupt's documentation says: cut to nothing (the state page gone),
// the next Append returns ErrCorrupt with its change made, and every later
// change of Size is refused with nothing done, while a write within Size
// goes on; cut less far (the page still mapped, within the file's first
// page), changes of Size return nil, and Sync reports the cut.
func TestFaultz_ManifestCutSizeChanges(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	for _, cut := range []int64{0, 100, 3000} {
		t.Run(fmt.Sprintf("cut_to_%d", cut), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			m := fzOpen(t, dir, chunkmap.Options{})
			man := filepath.Join(fzRealDir(t, dir), chunkmap.ManifestName)
			if _, err := m.Append(make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(man, cut); err != nil {
				t.Fatal(err)
			}
			var err error
			fzDo(t, "Append", func() { _, err = m.Append([]byte("0123456789")) })
			if cut == 0 {
				fzCheck(t, "Append after the manifest was cut to nothing", err, chunkmap.ErrCorrupt, fzMsg{op: "append", files: []string{man}, names: []string{"offset 1000"}})
			} else if err != nil {
				t.Fatalf("Append after the manifest was cut to %d bytes: %v, want nil (the state page is still mapped)", cut, err)
			}
			if got := m.Size(); got != 1010 {
				t.Errorf("Size %d after the Append, want 1010: its change is made in this process", got)
			}
			fzDo(t, "Append", func() { _, err = m.Append([]byte("abc")) })
			wantSize := int64(1013)
			if cut == 0 {
				fzCheck(t, "a second Append", err, chunkmap.ErrCorrupt, fzMsg{op: "append", files: []string{man}})
				wantSize = 1010
			} else if err != nil {
				t.Fatalf("a second Append: %v", err)
			}
			fzDo(t, "Truncate", func() { err = m.Truncate(5000) })
			if cut == 0 {
				fzCheck(t, "Truncate up", err, chunkmap.ErrCorrupt, fzMsg{op: "truncate", files: []string{man}})
			} else if err != nil {
				t.Fatalf("Truncate up: %v", err)
			} else {
				wantSize = 5000
			}
			if got := m.Size(); got != wantSize {
				t.Errorf("Size %d, want %d: refused calls change nothing", got, wantSize)
			}
			fzDo(t, "WriteAt", func() { _, err = m.WriteAt([]byte("within"), 10) })
			if err != nil {
				t.Errorf("WriteAt within Size: %v, want nil", err)
			}
			fzExpect(t, "the write within Size", m, 10, []byte("within"))
			fzDo(t, "Sync", func() { err = m.Sync() })
			fzCheck(t, "Sync", err, chunkmap.ErrCorrupt, fzMsg{op: "sync", files: []string{man}})
			fzDo(t, "Close", func() { err = m.Close() })
			fzCheck(t, "Close", err, chunkmap.ErrCorrupt, fzMsg{op: "close", files: []string{man}})
		})
	}
}

// TestFaultz_ManifestGarbledWhileOpenNeverCrashes writes garbage over the
// whole MANIFEST in place under a running writer: no call may crash or
// hang, every error must match ErrCorrupt, and after Close the dataset
// opens with every byte written (the Manager rewrote its records) or is
// refused as ErrCorrupt.
func TestFaultz_ManifestGarbledWhileOpenNeverCrashes(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	r := rand.New(rand.NewPCG(seed, 3))
	dir := filepath.Join(t.TempDir(), "ds")
	m := fzOpen(t, dir, chunkmap.Options{})
	man := filepath.Join(fzRealDir(t, dir), chunkmap.ManifestName)
	model := fzRandom(r, int(3*fzCS))
	if _, err := m.WriteAt(model, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(man)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(man, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt(fzRandom(r, int(fi.Size())), 0); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	calls := []struct {
		name string
		run  func() error
	}{
		{"Sync", m.Sync},
		{"Truncate", func() error { return m.Truncate(2*fzCS + 10) }},
		{"DropBefore", func() error { return m.DropBefore(fzCS) }},
		{"Sync again", m.Sync},
		{"Close", m.Close},
	}
	failed := false
	for _, c := range calls {
		var err error
		fzDo(t, c.name, func() { err = c.run() })
		if err != nil {
			failed = true
			fzCheck(t, c.name+" after the manifest was garbled", err, chunkmap.ErrCorrupt, fzMsg{files: []string{man}})
		}
	}
	m2, err := chunkmap.Open(dir, nil)
	if err != nil {
		fzCheck(t, "Open after the manifest was garbled", err, chunkmap.ErrCorrupt, fzMsg{op: "open", files: []string{man}})
		return
	}
	defer m2.Close()
	if failed {
		return // what the failed calls recorded is lost, as documented
	}
	if m2.Start() != fzCS || m2.Size() != 2*fzCS+10 {
		t.Fatalf("reopened Start %d Size %d, want %d and %d (what the successful calls set)", m2.Start(), m2.Size(), fzCS, 2*fzCS+10)
	}
	fzExpect(t, "reopened", m2, fzCS, model[fzCS:2*fzCS+10])
}

// TestFaultz_OpenRefusesBrokenManifestAndLeavesDirAlone breaks the
// MANIFEST of a closed dataset in every way and checks that Open (read-write
// and ReadOnly) refuses it as ErrCorrupt naming the manifest once, without
// blocking on a FIFO or following a symlink, that Remove refuses what is not
// a regular file and removes nothing, that the directory is left exactly as
// it was, and that the dataset opens with every byte once the manifest is
// put back.
func TestFaultz_OpenRefusesBrokenManifestAndLeavesDirAlone(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	faults := fzManifestFaults()
	faults = append(faults, fzManifestFault{"garbled", false, func(t *testing.T, p string) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(seed, 9))
		if err := os.WriteFile(p, fzRandom(r, int(fi.Size())), 0o644); err != nil {
			t.Fatal(err)
		}
	}})
	for _, f := range faults {
		if f.opens {
			continue
		}
		t.Run(strings.ReplaceAll(f.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, uint64(len(f.name))))
			dir := filepath.Join(t.TempDir(), "ds")
			model := fzRandom(r, int(2*fzCS+123))
			fzWriteClosed(t, dir, model)
			real := fzRealDir(t, dir)
			man := filepath.Join(real, chunkmap.ManifestName)
			good, err := os.ReadFile(man)
			if err != nil {
				t.Fatal(err)
			}
			f.inject(t, man)
			fzOpenRefused(t, dir, real, man, "the manifest was "+f.name,
				[]*chunkmap.Options{nil, {ReadOnly: true}, {ChunkSize: fzCS, MaxMapped: 1}})
			os.Remove(man + ".orig")
			if err := os.RemoveAll(man); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(man, good, 0o644); err != nil {
				t.Fatal(err)
			}
			fzHolds(t, "once the manifest was put back", fzOpen(t, dir, chunkmap.Options{}), 0, model)
		})
	}
}

// TestFaultz_OpenRefusesBrokenChunkFilesAndLeavesDirAlone breaks a chunk
// file that Size needs, in a closed dataset, and checks that Open
// (read-write and ReadOnly) refuses it as ErrCorrupt naming the chunk file
// once, without blocking or following a symlink, that Remove refuses what
// is not a regular file and removes nothing, and that the directory is left
// exactly as it was; once the file is put back every byte is there.
func TestFaultz_OpenRefusesBrokenChunkFilesAndLeavesDirAlone(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	for _, f := range fzChunkFaults() {
		if f.name == "replaced by a short file" {
			continue // the same as a truncation to Open
		}
		t.Run(strings.ReplaceAll(f.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, uint64(len(f.name))))
			dir := filepath.Join(t.TempDir(), "ds")
			model := fzRandom(r, int(3*fzCS-5))
			fzWriteClosed(t, dir, model)
			real := fzRealDir(t, dir)
			path := fzChunk(real, 1)
			orig := append([]byte(nil), model[fzCS:2*fzCS]...)
			f.inject(t, path)
			fzOpenRefused(t, dir, real, path, "chunk file 1 was "+f.name, []*chunkmap.Options{nil, {ReadOnly: true}})
			fzRestoreChunk(t, path, orig, f.inPlace)
			fzHolds(t, "once the chunk file was put back", fzOpen(t, dir, chunkmap.Options{}), 0, model)
		})
	}
}

// TestFaultz_OpenClearsLeftoverStateFiles plants what a crash can leave (a
// garbled MANIFEST.tmp, a chunk file past Size of an odd size) and checks
// the docs: "On success a read-write Open removes what a crash can leave
// behind: temporary files, ... and chunk files past Size (missing, empty,
// short or whole, none of them holds data)", while a ReadOnly Open "never
// creates or modifies anything".
func TestFaultz_OpenClearsLeftoverStateFiles(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	dir := filepath.Join(t.TempDir(), "ds")
	model := bytes.Repeat([]byte("0123456789abcdef"), int(fzCS/16)+3)
	fzWriteClosed(t, dir, model)
	real := fzRealDir(t, dir)
	tmp := filepath.Join(real, chunkmap.ManifestName+".tmp")
	past := fzChunk(real, 3)
	if err := os.WriteFile(tmp, []byte("garbage that is no manifest"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(past, bytes.Repeat([]byte{9}, 1234), 0o644); err != nil {
		t.Fatal(err)
	}
	before := fzSnapshot(t, real)
	r := fzOpen(t, dir, chunkmap.Options{ReadOnly: true})
	fzExpect(t, "read-only", r, 0, model)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	fzSameSnapshot(t, "ReadOnly Open", before, fzSnapshot(t, real))
	w := fzOpen(t, dir, chunkmap.Options{})
	fzHolds(t, "read-write", w, 0, model)
	for _, p := range []string{tmp, past} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("read-write Open left %s behind", p)
		}
	}
	// Growth over the removed leftover reads as zeros.
	if err := w.Truncate(3*fzCS + 10); err != nil {
		t.Fatal(err)
	}
	fzExpect(t, "grown over the leftover", w, 3*fzCS, make([]byte, 10))
}

// TestFaultz_ReaderRefreshReportsBrokenFilesAsCorrupt opens a ReadOnly
// Manager beside a writer, lets it read chunk 1, then breaks chunk 1's file
// or the MANIFEST, and checks what the docs say of Refresh: ErrCorrupt is
// returned by "Refresh when a chunk file or the manifest a reader needs is
// not what a writer leaves" (README: "Refresh when the manifest (or, for a
// reader, a chunk file) was removed, replaced or truncated by another
// program"), naming the file once; reads of the broken chunk fail with an
// error matching ErrFault or ErrCorrupt; once the file is put back, Refresh
// succeeds and the reader reads every byte.
func TestFaultz_ReaderRefreshReportsBrokenFilesAsCorrupt(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	type target struct {
		name     string
		manifest bool
		inject   func(t *testing.T, real string) (path string, restore func())
	}
	var targets []target
	for _, f := range fzChunkFaults() {
		if f.name == "replaced by a short file" {
			continue
		}
		targets = append(targets, target{"chunk file " + f.name, false, func(t *testing.T, real string) (string, func()) {
			path := fzChunk(real, 1)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f.inject(t, path)
			return path, func() { fzRestoreChunk(t, path, orig, f.inPlace) }
		}})
	}
	for _, f := range fzManifestFaults() {
		if f.opens {
			continue
		}
		targets = append(targets, target{"manifest " + f.name, true, func(t *testing.T, real string) (string, func()) {
			path := filepath.Join(real, chunkmap.ManifestName)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f.inject(t, path)
			return path, func() {
				os.Remove(path + ".orig")
				if err := os.RemoveAll(path); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, orig, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}})
	}
	for _, tg := range targets {
		for _, noAdm := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/NoAdmission=%v", strings.ReplaceAll(tg.name, " ", "_"), noAdm), func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(t.TempDir(), "ds")
				w := fzOpen(t, dir, chunkmap.Options{})
				model := bytes.Repeat([]byte("reader!!"), int(3*fzCS/8))
				if _, err := w.WriteAt(model, 0); err != nil {
					t.Fatal(err)
				}
				if err := w.Sync(); err != nil {
					t.Fatal(err)
				}
				rd := fzOpen(t, dir, chunkmap.Options{ReadOnly: true, NoAdmission: noAdm, MaxMapped: 4})
				fzExpect(t, "reader before the fault", rd, 0, model)
				path, restore := tg.inject(t, fzRealDir(t, dir))
				var err error
				fzDo(t, "Refresh", func() { err = rd.Refresh() })
				fzCheck(t, "Refresh after "+tg.name, err, chunkmap.ErrCorrupt, fzMsg{op: "refresh", files: []string{path}})
				fzDo(t, "ReadAt", func() { _, err = rd.ReadAt(make([]byte, 8), fzCS+20000) })
				if err != nil && !fzIsAny(err, chunkmap.ErrFault, chunkmap.ErrCorrupt) {
					t.Errorf("reader's ReadAt after %s: %v, want nil or an error matching ErrFault or ErrCorrupt", tg.name, err)
				}
				restore()
				if tg.manifest {
					// The live writer keeps the manifest it opened, so the
					// file put back under the name is still not the one
					// the writer uses: close it (its Close reports the
					// broken manifest), and read through a new reader.
					w.Close()
					rd.Close()
					rd = fzOpen(t, dir, chunkmap.Options{ReadOnly: true, NoAdmission: noAdm})
				} else {
					fzDo(t, "Refresh", func() { err = rd.Refresh() })
					if err != nil {
						t.Errorf("Refresh once the file was put back: %v", err)
					}
				}
				fzExpect(t, "reader once the file was put back", rd, 0, model)
			})
		}
	}
}

// fzIsAny reports whether err matches one of targets.
func fzIsAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// TestFaultz_ForeignObjectsUnderDatasetNames puts a directory (empty or
// not), a FIFO or a symlink under a chunk file's name below Start or past
// Size, or a directory under MANIFEST.tmp, and checks Open's doc and the
// README's ErrCorrupt row: a read-write Open refuses the one under the
// temporary name with ErrCorrupt naming it, leaving the directory as it
// was; one under a chunk name outside [Start, Size) is left alone and the
// dataset opens; Remove refuses every one of them, changing nothing.
func TestFaultz_ForeignObjectsUnderDatasetNames(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	kinds := []struct {
		name string
		make func(p string) error
	}{
		{"an empty directory", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"a directory with a file", func(p string) error {
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(p, "keep"), []byte("not the library's"), 0o644)
		}},
		{"a FIFO", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"a symlink", func(p string) error { return os.Symlink("/etc/hostname", p) }},
	}
	places := []struct {
		name string
		file func(real string) string
	}{
		{"chunk name below Start", func(real string) string { return fzChunk(real, 0) }},
		{"chunk name past Size", func(real string) string { return fzChunk(real, 5) }},
		// Not named after the file: the subtest's name is part of its
		// temporary directory's, which the message checks count.
		{"temporary manifest name", func(real string) string { return filepath.Join(real, chunkmap.ManifestName+".tmp") }},
	}
	for _, pl := range places {
		for _, k := range kinds {
			if pl.name == "temporary manifest name" && k.name != "a directory with a file" {
				continue
			}
			t.Run(strings.ReplaceAll(pl.name+"/"+k.name, " ", "_"), func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(t.TempDir(), "ds")
				m := fzOpen(t, dir, chunkmap.Options{})
				if _, err := m.WriteAt(bytes.Repeat([]byte{7}, int(3*fzCS)), 0); err != nil {
					t.Fatal(err)
				}
				if err := m.DropBefore(fzCS); err != nil {
					t.Fatal(err)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				real := fzRealDir(t, dir)
				p := pl.file(real)
				if err := k.make(p); err != nil {
					t.Fatal(err)
				}
				// Open refuses the object under a temporary name (read-write
				// only); one under a chunk name outside [Start, Size) holds
				// nothing of the dataset and is left alone (Open's doc).
				for _, opts := range []*chunkmap.Options{nil, {ReadOnly: true}} {
					before := fzSnapshot(t, real)
					var m *chunkmap.Manager
					var err error
					fzDo(t, "Open", func() { m, err = chunkmap.Open(dir, opts) })
					what := fmt.Sprintf("Open(ReadOnly=%v) with %s under the %s", opts != nil, k.name, pl.name)
					if pl.name == "temporary manifest name" && opts == nil {
						if fzCheck(t, what, err, chunkmap.ErrCorrupt, fzMsg{op: "open", files: []string{p}}) {
							fzSameSnapshot(t, what, before, fzSnapshot(t, real))
						} else if m != nil {
							m.Close()
						}
						continue
					}
					if err != nil {
						t.Errorf("%s: %v, want it left alone", what, err)
						continue
					}
					got := make([]byte, 10)
					if _, err := m.ReadAt(got, fzCS); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{7}, 10)) {
						t.Errorf("%s: ReadAt = %v, %v; want the bytes written", what, got, err)
					}
					if err := m.Close(); err != nil {
						t.Errorf("%s: Close: %v", what, err)
					}
					if fi, err := os.Lstat(p); err != nil || fi.Mode().IsRegular() {
						t.Errorf("%s: the object is gone or changed: %v, %v", what, fi, err)
					}
				}
				before := fzSnapshot(t, real)
				var err error
				fzDo(t, "Remove", func() { err = chunkmap.Remove(dir) })
				fzCheck(t, "Remove with "+k.name+" under the "+pl.name, err, chunkmap.ErrCorrupt, fzMsg{files: []string{p}})
				fzSameSnapshot(t, "Remove", before, fzSnapshot(t, real))
			})
		}
	}
}
