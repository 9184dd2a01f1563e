//go:build linux

package chunkmap_test

// Chunk files truncated, removed or replaced from outside, before and
// between calls: every entry point must fail with ErrFault (README: "a
// chunk file is not what it must be: truncated (a write never regrows it)
// or removed by another program ... the message names the chunk file and
// the offset"), and the Manager must stay usable ("The Manager and the
// other chunks stay usable").

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// fzChunkFault is one way another program breaks a chunk file.
type fzChunkFault struct {
	name string
	// inPlace: the file keeps its inode (a truncation), so a mapping of it
	// faults, and restoring it rewrites the same file.
	inPlace bool
	// size is the file's size after the fault, for faults that leave a
	// regular file under the name (-1 otherwise).
	size   int64
	inject func(t *testing.T, path string)
}

func fzChunkFaults() []fzChunkFault {
	return []fzChunkFault{
		{"truncated to 0", true, 0, func(t *testing.T, p string) {
			if err := os.Truncate(p, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated to an odd size", true, 12345, func(t *testing.T, p string) {
			if err := os.Truncate(p, 12345); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed", false, -1, func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced by a short file", false, 777, func(t *testing.T, p string) {
			if err := os.WriteFile(p+".new", bytes.Repeat([]byte{0xee}, 777), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced by a directory", false, -1, func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced by a FIFO", false, -1, func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced by a symlink to an intact copy", false, -1, func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p+".copy", b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Base(p)+".copy", p); err != nil {
				t.Fatal(err)
			}
		}},
	}
}

// fzRestoreChunk puts the original bytes back under path as the regular
// file the dataset needs: in place (same inode) after a truncation, else as
// a new file.
func fzRestoreChunk(t *testing.T, path string, orig []byte, inPlace bool) {
	if inPlace {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(orig, 0); err != nil {
			t.Fatal(err)
		}
		return
	}
	os.Remove(path + ".copy")
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fzCheckLeftAlone checks that the Manager left what another program put
// under a chunk's name as it was: a truncated file is not regrown ("a write
// never regrows it"), and a directory, FIFO or symlink stays one.
func fzCheckLeftAlone(t *testing.T, what, path string, f fzChunkFault, before fs.FileMode) {
	fi, err := os.Lstat(path)
	if f.name == "removed" {
		if err == nil {
			t.Errorf("%s: the removed chunk file %s is back (mode %v, %d bytes)", what, path, fi.Mode(), fi.Size())
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if fi.Mode().Type() != before.Type() {
		t.Errorf("%s: %s is now of mode %v, was %v", what, path, fi.Mode(), before)
	}
	if f.size >= 0 && fi.Size() != f.size {
		t.Errorf("%s: %s was regrown to %d bytes (a write never regrows it: want %d)", what, path, fi.Size(), f.size)
	}
}

// TestFaultz_ChunkFileFaultFailsEveryCallAndHeals breaks chunk 1 of three
// from outside, once per call under test, and checks that the call fails
// with ErrFault naming the chunk file and the offset once, leaves the file
// as it found it, and that once the file is put back the same Manager reads
// the chunk's bytes, writes, syncs, closes, and the dataset reopens with
// every byte. A chunk that is not open yet is tried with every fault; a
// mapped chunk (NoAdmission) with the truncations, which are what a
// mapping notices (pins and views, which are not fault guarded, may then
// succeed, and are not touched).
func TestFaultz_ChunkFileFaultFailsEveryCallAndHeals(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	ops := fzOps()
	fzChunkFaultModes(t, func(t *testing.T, mode string, f fzChunkFault, opts chunkmap.Options) {
		r := rand.New(rand.NewPCG(seed, uint64(len(f.name))))
		dir := filepath.Join(t.TempDir(), "ds")
		model := fzRandom(r, int(3*fzCS))
		fzWriteClosed(t, dir, model)
		real := fzRealDir(t, dir)
		path := fzChunk(real, 1)
		orig := append([]byte(nil), model[fzCS:2*fzCS]...)
		off := fzCS + 20000 // past the odd truncation's last page
		var m *chunkmap.Manager
		for _, op := range ops {
			what := fmt.Sprintf("%s after chunk file %s (%s)", op.name, f.name, mode)
			if m == nil {
				m = fzOpen(t, dir, opts)
			}
			va := accessor.New(m, nil)
			if mode == "mapped" {
				fzExpect(t, what+": before the fault", m, fzCS, orig) // maps chunk 1
			}
			f.inject(t, path)
			before, _ := os.Lstat(path)
			var beforeMode fs.FileMode
			if before != nil {
				beforeMode = before.Mode()
			}
			var err error
			fzDo(t, what, func() { err = op.run(m, va, off) })
			switch {
			case op.hint && err == nil:
			case op.pin && mode == "mapped" && err == nil:
			default:
				want := fzMsg{op: op.op, files: []string{path}, wrapped: op.op == "scan"}
				if op.op != "batch" {
					want.names = append(want.names, fmt.Sprintf("offset %d", off))
				}
				fzCheck(t, what, err, chunkmap.ErrFault, want)
			}
			fzCheckLeftAlone(t, what, path, f, beforeMode)
			fzRestoreChunk(t, path, orig, f.inPlace)
			// The same Manager reads the chunk again once it is back.
			fzExpect(t, what+": after the file was put back", m, fzCS, orig)
			if mode == "unopened" {
				// A fresh Manager for the next call, so that each
				// one meets a chunk it has not opened; closing
				// this one must work, as nothing is wrong now.
				var cerr error
				fzDo(t, what+": Close", func() { cerr = m.Close() })
				if cerr != nil {
					t.Errorf("%s: Close after the file was put back: %v", what, cerr)
				}
				m = nil
			}
		}
		if m == nil {
			m = fzOpen(t, dir, opts)
		}
		// Usable: the other chunks, and chunk 1 again.
		fzExpect(t, "chunk 0", m, 0, model[:fzCS])
		fzExpect(t, "chunk 2", m, 2*fzCS, model[2*fzCS:])
		upd := fzRandom(r, 3000)
		for _, at := range []int64{100, fzCS + 5000, 2*fzCS + 7} {
			if _, err := m.WriteAt(upd, at); err != nil {
				t.Fatalf("WriteAt %d after the faults: %v", at, err)
			}
			copy(model[at:], upd)
		}
		model = fzAppend(t, "Append after the faults", m, model, fzRandom(r, 999))
		if err := m.Sync(); err != nil {
			t.Fatalf("Sync after the faults were repaired: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("Close after the faults were repaired: %v", err)
		}
		m2, err := chunkmap.Open(dir, nil)
		if err != nil {
			t.Fatalf("reopen after the faults were repaired: %v", err)
		}
		defer m2.Close()
		fzHolds(t, "reopened", m2, 0, model)
	})
}

// TestFaultz_TailChunkFaultFailsGrowthCalls breaks the last, partly
// filled chunk, which Append, Grow and writes past Size extend, and checks
// that they fail with ErrFault, leave Size as it was and do not regrow a
// truncated file; once the file is put back they all work, and the dataset
// reopens with every byte.
func TestFaultz_TailChunkFaultFailsGrowthCalls(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	type growOp struct {
		name, op string
		run      func(m *chunkmap.Manager, va *accessor.ViewAccessor) error
	}
	grows := []growOp{
		{"Append", "append", func(m *chunkmap.Manager, _ *accessor.ViewAccessor) error {
			_, err := m.Append(bytes.Repeat([]byte{7}, 5000))
			return err
		}},
		{"Grow", "grow", func(m *chunkmap.Manager, _ *accessor.ViewAccessor) error { return m.Grow(fzCS / 4) }},
		{"WriteAt past Size", "write", func(m *chunkmap.Manager, _ *accessor.ViewAccessor) error {
			_, err := m.WriteAt([]byte("past size"), m.Size()+4000)
			return err
		}},
		{"ViewAccessor.WriteUint64 at Size", "write", func(_ *chunkmap.Manager, va *accessor.ViewAccessor) error {
			return va.WriteUint64(fzCS+fzCS/2+16384, 1)
		}},
		{"ViewAccessor.WriteUint64s past Size", "write", func(m *chunkmap.Manager, va *accessor.ViewAccessor) error {
			return va.WriteUint64s(m.Size(), []uint64{1, 2, 3})
		}},
	}
	fzChunkFaultModes(t, func(t *testing.T, mode string, f fzChunkFault, opts chunkmap.Options) {
		r := rand.New(rand.NewPCG(seed, uint64(len(f.name))+7))
		dir := filepath.Join(t.TempDir(), "ds")
		// Size ends at 3/4 of chunk 1, past the odd truncation's
		// last page, so that growth meets the fault.
		model := fzRandom(r, int(fzCS+fzCS*3/4))
		fzWriteClosed(t, dir, model)
		real := fzRealDir(t, dir)
		path := fzChunk(real, 1)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range grows {
			what := fmt.Sprintf("%s after the last chunk file was %s (%s)", g.name, f.name, mode)
			m := fzOpen(t, dir, opts)
			va := accessor.New(m, nil)
			if mode == "mapped" {
				fzExpect(t, what+": before the fault", m, fzCS, model[fzCS:])
			}
			f.inject(t, path)
			before, _ := os.Lstat(path)
			var beforeMode fs.FileMode
			if before != nil {
				beforeMode = before.Mode()
			}
			size := m.Size()
			var err error
			fzDo(t, what, func() { err = g.run(m, va) })
			fzCheck(t, what, err, chunkmap.ErrFault, fzMsg{op: g.op, files: []string{path}})
			if m.Size() != size {
				t.Errorf("%s: Size moved from %d to %d", what, size, m.Size())
			}
			fzCheckLeftAlone(t, what, path, f, beforeMode)
			if _, err := os.Lstat(fzChunk(real, 2)); err == nil {
				t.Errorf("%s: the failed call left chunk file 2 behind", what)
			}
			fzRestoreChunk(t, path, orig, f.inPlace)
			var cerr error
			fzDo(t, what+": Close", func() { cerr = m.Close() })
			if cerr != nil {
				t.Errorf("%s: Close after the file was put back: %v", what, cerr)
			}
		}
		// Growth works again on a healthy chunk.
		m := fzOpen(t, dir, opts)
		model = fzAppend(t, "Append after the repair", m, model, fzRandom(r, int(fzCS/2)))
		if err := m.Grow(fzCS); err != nil {
			t.Fatalf("Grow after the repair: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("Close after the repair: %v", err)
		}
		fzHolds(t, "reopened", fzOpen(t, dir, chunkmap.Options{}), 0, model)
	})
}

// TestFaultz_DirtyChunkReplacedFailsEverySyncAndClose writes to chunk 1,
// then removes or replaces its file from outside, and checks what the
// README promises: "Sync reports a dirty chunk file removed or replaced by
// another program this way [ErrFault], every time" — so every Sync, and
// Close, which syncs, fail with ErrFault naming the file once, while the
// other chunks stay usable.
func TestFaultz_DirtyChunkReplacedFailsEverySyncAndClose(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	for _, noAdm := range []bool{false, true} {
		for _, f := range fzChunkFaults() {
			if f.inPlace {
				continue // a truncation keeps the file the writes went to
			}
			name := fmt.Sprintf("NoAdmission=%v/%s", noAdm, strings.ReplaceAll(f.name, " ", "_"))
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(t.TempDir(), "ds")
				m := fzOpen(t, dir, chunkmap.Options{MaxMapped: 2, NoAdmission: noAdm})
				model := bytes.Repeat([]byte("abcdefgh"), int(3*fzCS/8))
				if _, err := m.WriteAt(model, 0); err != nil {
					t.Fatal(err)
				}
				if err := m.Sync(); err != nil {
					t.Fatal(err)
				}
				if _, err := m.WriteAt([]byte("dirty"), fzCS+10); err != nil {
					t.Fatal(err)
				}
				path := fzChunk(fzRealDir(t, dir), 1)
				f.inject(t, path)
				for i := 0; i < 3; i++ {
					var err error
					fzDo(t, "Sync", func() { err = m.Sync() })
					fzCheck(t, fmt.Sprintf("Sync #%d after the dirty chunk file was %s", i+1, f.name), err, chunkmap.ErrFault, fzMsg{op: "sync", files: []string{path}})
				}
				// The other chunks stay usable.
				if _, err := m.WriteAt([]byte("other"), 2*fzCS+10); err != nil {
					t.Errorf("WriteAt to chunk 2: %v", err)
				}
				fzExpect(t, "chunk 0", m, 0, model[:fzCS])
				var err error
				fzDo(t, "Close", func() { err = m.Close() })
				fzCheck(t, "Close after the dirty chunk file was "+f.name, err, chunkmap.ErrFault, fzMsg{op: "close", files: []string{path}})
			})
		}
	}
}

// TestFaultz_FailedStoreLeavesNothingToSync removes chunk 1's file before
// a Manager has opened it, lets one store of each kind fail on it with
// ErrFault (having written nothing: "On an error it returns ... ErrFault
// after writing the values before the offending one"), and checks that the
// next Sync and Close succeed: the chunk holds no unsynced write, and Sync
// reports a removed chunk file only when it is dirty ("Sync reports a dirty
// chunk file removed or replaced by another program this way").
func TestFaultz_FailedStoreLeavesNothingToSync(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	for _, op := range fzOps() {
		if !op.write {
			continue
		}
		// A dataset of its own for each call: a Close that fails leaves
		// the next Open a dataset to recover.
		dir := filepath.Join(t.TempDir(), "ds")
		fzWriteClosed(t, dir, bytes.Repeat([]byte{3}, int(3*fzCS)))
		path := fzChunk(fzRealDir(t, dir), 1)
		m := fzOpen(t, dir, chunkmap.Options{MaxMapped: 2})
		if err := m.Sync(); err != nil {
			t.Fatalf("Sync before the fault: %v", err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		var err error
		fzDo(t, op.name, func() { err = op.run(m, accessor.New(m, nil), fzCS+20000) })
		if !errors.Is(err, chunkmap.ErrFault) {
			t.Errorf("%s on a removed chunk file: %v, want ErrFault", op.name, err)
		}
		fzDo(t, "Sync", func() { err = m.Sync() })
		if err != nil {
			t.Errorf("Sync after a failed %s that wrote nothing: %v", op.name, err)
		}
		fzDo(t, "Close", func() { err = m.Close() })
		if err != nil {
			t.Errorf("Close after a failed %s that wrote nothing: %v", op.name, err)
		}
	}
}

// fzChunkFaultModes runs fn in a parallel subtest for every chunk fault,
// injected into a chunk file not mapped yet ("unopened", Options MaxMapped
// 2) and, for the faults that keep the file, into one mapped ("mapped",
// MaxMapped 8 and NoAdmission), with the options of the mode.
func fzChunkFaultModes(t *testing.T, fn func(t *testing.T, mode string, f fzChunkFault, opts chunkmap.Options)) {
	for _, mode := range []string{"unopened", "mapped"} {
		for _, f := range fzChunkFaults() {
			if mode == "mapped" && !f.inPlace {
				continue
			}
			t.Run(mode+"/"+strings.ReplaceAll(f.name, " ", "_"), func(t *testing.T) {
				t.Parallel()
				opts := chunkmap.Options{MaxMapped: 2}
				if mode == "mapped" {
					opts = chunkmap.Options{MaxMapped: 8, NoAdmission: true}
				}
				fn(t, mode, f, opts)
			})
		}
	}
}
