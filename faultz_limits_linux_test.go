//go:build linux

package chunkmap_test

// Limits of the process rather than of the disk: RLIMIT_FSIZE (ErrNoSpace,
// "the file size limit ... EFBIG stays in the chain") and permissions
// (ErrIO: "permission denied ... errors.Is(err, fs.ErrPermission)"; "the
// Manager stays usable ... remove the cause and retry"). Both run in a
// child process: the limit applies to the whole process, and root ignores
// permissions, so the child runs as nobody.

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/unpriv"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

const fzFsizeRole = "fsize"

// TestFaultz_FileSizeLimitIsNoSpace sets RLIMIT_FSIZE below the chunk size
// (SIGXFSZ ignored) in a child process and checks that every call that
// needs a new chunk file fails with ErrNoSpace and EFBIG, naming the call
// and the chunk file once, leaving Size, the bytes and the chunk files as
// they were; that stores into the chunks that exist, Sync, Truncate and
// DropBefore still work; and that once the limit is lifted the same
// Manager grows, and the dataset reopens with every byte.
func TestFaultz_FileSizeLimitIsNoSpace(t *testing.T) {
	if !fzIsChild(fzFsizeRole) {
		fzSkipInChild(t)
		watchdog.Start(t, 20*time.Second)
		seed := fzSeed(t)
		env := []string{fmt.Sprintf("%s=%d", fzSeedEnv, seed), "FAULTZ_DIR=" + t.TempDir()}
		out, err := fzChild(t, "TestFaultz_FileSizeLimitIsNoSpace", fzFsizeRole, env, nil, "")
		fzChildPassed(t, "TestFaultz_FileSizeLimitIsNoSpace", out, err)
		return
	}
	watchdog.Start(t, 10*time.Second)
	seed := fzSeed(t)
	r := rand.New(rand.NewPCG(seed, 11))
	dir := filepath.Join(os.Getenv("FAULTZ_DIR"), "ds")
	m := fzOpen(t, dir, chunkmap.Options{})
	real := fzRealDir(t, dir)
	model := fzRandom(r, int(fzCS+fzCS/2))
	if _, err := m.WriteAt(model, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGXFSZ)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(fzCS / 2), Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	limited := true
	t.Cleanup(func() {
		if limited {
			syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
		}
	})
	files := fzChunkFiles(t, real)
	va := accessor.New(m, nil)
	calls := []struct {
		name, op string
		run      func() error
	}{
		{"WriteAt in a new chunk", "write", func() error { _, err := m.WriteAt([]byte("beyond"), 2*fzCS+10); return err }},
		{"Append", "append", func() error { _, err := m.Append(fzRandom(r, int(fzCS))); return err }},
		{"Grow", "grow", func() error { return m.Grow(fzCS) }},
		{"Truncate up", "truncate", func() error { return m.Truncate(3 * fzCS) }},
		{"ViewAccessor.WriteUint64s", "write", func() error { return va.WriteUint64s(2*fzCS, []uint64{1, 2, 3}) }},
		{"ViewAccessor.WriteInt32", "write", func() error { return va.WriteInt32(2*fzCS+64, -3) }},
	}
	for _, c := range calls {
		what := c.name + " over RLIMIT_FSIZE"
		var err error
		fzDo(t, what, func() { err = c.run() })
		fzCheckNoSpace(t, what, err, syscall.EFBIG, fzMsg{op: c.op, files: []string{fzChunk(real, 2)}})
		if m.Size() != int64(len(model)) {
			t.Errorf("%s: Size moved to %d from %d", what, m.Size(), len(model))
		}
		if got := fzChunkFiles(t, real); fmt.Sprint(got) != fmt.Sprint(files) {
			t.Errorf("%s: the chunk files changed: %v, were %v", what, got, files)
		}
	}
	// The chunks that exist take stores: their files are already whole.
	in := fzRandom(r, 3000)
	if _, err := m.WriteAt(in, fzCS+10000); err != nil {
		t.Errorf("WriteAt inside chunk 1 over RLIMIT_FSIZE: %v", err)
	}
	copy(model[fzCS+10000:], in)
	if err := m.Sync(); err != nil {
		t.Errorf("Sync over RLIMIT_FSIZE: %v", err)
	}
	if err := m.Truncate(int64(len(model)) - 10); err != nil {
		t.Errorf("Truncate down over RLIMIT_FSIZE: %v", err)
	}
	model = model[:len(model)-10]
	if err := m.DropBefore(fzCS); err != nil {
		t.Errorf("DropBefore over RLIMIT_FSIZE: %v", err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limited = false
	model = fzAppend(t, "Append once the limit was lifted", m, model, fzRandom(r, int(fzCS)))
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fzHolds(t, "reopened", fzOpen(t, dir, chunkmap.Options{}), fzCS, model)
}

// TestFaultz_PermissionDeniedIsIOAndRecoverable runs as a user who is not
// root (unpriv): a chunk file made unreadable (chmod 0) fails every call that
// opens it with ErrIO and fs.ErrPermission naming the call and the file
// once; a MANIFEST made unreadable fails Open so; a read-only directory
// fails growth so, leaving Size, the bytes and the files as they were.
// Each time, once the mode is given back, the same Manager works, and the
// dataset reopens with every byte.
func TestFaultz_PermissionDeniedIsIOAndRecoverable(t *testing.T) {
	if unpriv.Run(t) {
		return // root may open any file
	}
	watchdog.Start(t, 10*time.Second)
	seed := fzSeed(t)
	r := rand.New(rand.NewPCG(seed, 12))
	dir := filepath.Join(t.TempDir(), "ds")
	model := fzRandom(r, int(3*fzCS))
	fzWriteClosed(t, dir, model)
	real := fzRealDir(t, dir)
	path := fzChunk(real, 1)
	off := fzCS + 20000
	chmod := func(p string, mode os.FileMode) {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}

	// A chunk file nobody may open, met by every call on a fresh Manager.
	for _, op := range fzOps() {
		m, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 2})
		if err != nil {
			t.Fatal(err)
		}
		chmod(path, 0)
		what := op.name + " on a chunk file of mode 0"
		fzDo(t, what, func() { err = op.run(m, accessor.New(m, nil), off) })
		if !(op.hint && err == nil) {
			want := fzMsg{op: op.op, files: []string{path}, wrapped: op.op == "scan"}
			if fzCheck(t, what, err, chunkmap.ErrIO, want) && !errorsIsPermission(err) {
				t.Errorf("%s: fs.ErrPermission is not in the chain: %v", what, err)
			}
		}
		chmod(path, 0o644)
		fzExpect(t, what+": once the mode was given back", m, fzCS, model[fzCS:2*fzCS])
		fzDo(t, what+": Close", func() { err = m.Close() })
		if err != nil {
			t.Errorf("%s: Close once the mode was given back: %v", what, err)
		}
	}

	// A MANIFEST nobody may open: Open fails with ErrIO, and works once the
	// mode is given back.
	man := filepath.Join(real, chunkmap.ManifestName)
	chmod(man, 0)
	for _, opts := range []*chunkmap.Options{nil, {ReadOnly: true}} {
		var m *chunkmap.Manager
		var err error
		fzDo(t, "Open", func() { m, err = chunkmap.Open(dir, opts) })
		what := fmt.Sprintf("Open(%+v) of a MANIFEST of mode 0", opts)
		if fzCheck(t, what, err, chunkmap.ErrIO, fzMsg{op: "open"}) && !errorsIsPermission(err) {
			t.Errorf("%s: fs.ErrPermission is not in the chain: %v", what, err)
		}
		if m != nil {
			m.Close()
		}
	}
	chmod(man, 0o644)

	// A directory nobody may write to: growth fails, the rest works.
	m := fzOpen(t, dir, chunkmap.Options{})
	chmod(real, 0o555)
	va := accessor.New(m, nil)
	grows := []struct {
		name, op string
		run      func() error
	}{
		{"WriteAt past Size", "write", func() error { _, err := m.WriteAt([]byte("x"), 4*fzCS); return err }},
		{"Append", "append", func() error { _, err := m.Append(fzRandom(r, int(fzCS))); return err }},
		{"Grow", "grow", func() error { return m.Grow(fzCS) }},
		{"ViewAccessor.WriteUint16s past Size", "write", func() error { return va.WriteUint16s(3*fzCS, []uint16{1, 2}) }},
	}
	for _, g := range grows {
		what := g.name + " in a read-only directory"
		var err error
		fzDo(t, what, func() { err = g.run() })
		if fzCheck(t, what, err, chunkmap.ErrIO, fzMsg{op: g.op, anyChunk: true}) && !errorsIsPermission(err) {
			t.Errorf("%s: fs.ErrPermission is not in the chain: %v", what, err)
		}
		if m.Size() != int64(len(model)) {
			t.Errorf("%s: Size moved to %d from %d", what, m.Size(), len(model))
		}
	}
	in := fzRandom(r, 500)
	if _, err := m.WriteAt(in, 100); err != nil {
		t.Errorf("WriteAt inside the dataset in a read-only directory: %v", err)
	}
	copy(model[100:], in)
	if err := m.Sync(); err != nil {
		t.Errorf("Sync in a read-only directory: %v", err)
	}
	chmod(real, 0o755)
	model = fzAppend(t, "Append once the directory was writable again", m, model, fzRandom(r, int(fzCS)))
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fzHolds(t, "reopened", fzOpen(t, dir, chunkmap.Options{}), 0, model)
}

// errorsIsPermission reports whether fs.ErrPermission is in err's chain.
func errorsIsPermission(err error) bool { return errors.Is(err, fs.ErrPermission) }
