package chunkmap_test

// Helpers every test file of the package uses: the chunk size, opening a
// test dataset that is checked when the test ends, and reading, writing and
// comparing bytes. TestModulePathV2 builds this file with arena_test.go
// alone, so it depends on nothing in the other test files.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// cs is the chunk size of every test dataset.
const cs = chunkmap.MinChunkSize

// newTestManager opens a new dataset in a fresh temporary directory. Nil
// opts mean 64 KiB chunks and MaxMapped 4.
func newTestManager(t testing.TB, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	if opts == nil {
		opts = &chunkmap.Options{ChunkSize: cs, MaxMapped: 4}
	}
	return openTestManager(t, t.TempDir(), opts)
}

// openTestManager opens the dataset in dir. When the test ends it closes the
// Manager (if the test has not), checks that nothing is still mapped, and
// checks that the directory opens again, as a dataset of the same Start and
// Size if this cleanup closed it (a test that closed it may have reopened and
// changed the dataset since).
func openTestManager(t testing.TB, dir string, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s, %+v): %v", dir, opts, err)
	}
	t.Cleanup(func() {
		err := m.Close()
		if err != nil && !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		closedHere := err == nil
		if live, retired, doomed := m.Mappings(); live+retired+doomed != 0 {
			t.Errorf("after Close: %d live, %d retired, %d doomed mappings, want none", live, retired, doomed)
		}
		if s := m.Stats(); s.Mapped != 0 || s.Pinned != 0 {
			t.Errorf("after Close: Stats().Mapped, Pinned = %d, %d, want 0, 0", s.Mapped, s.Pinned)
		}
		r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
		if err != nil {
			t.Errorf("reopening %s after the test: %v", dir, err)
			return
		}
		if closedHere && (r.Size() != m.Size() || r.Start() != m.Start()) {
			t.Errorf("reopened dataset: Start, Size = %d, %d, want %d, %d", r.Start(), r.Size(), m.Start(), m.Size())
		}
		if err := r.Close(); err != nil {
			t.Errorf("Close of the reopened dataset: %v", err)
		}
	})
	return m
}

// lettered makes a closed dataset in a new temporary directory of n
// chunks of size cs, chunk k holding only the byte 'a'+k, and returns its
// directory.
func lettered(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	for k := range n {
		if _, err := m.Append(bytes.Repeat([]byte{byte('a' + k)}, cs)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// reopen closes m and opens its directory again with opts.
func reopen(t *testing.T, m *chunkmap.Manager, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openTestManager(t, m.Dir(), opts)
}

// pattern returns n bytes that depend on seed and on their position, so
// that a byte read from the wrong place or the wrong write shows.
func pattern(seed uint64, n int) []byte {
	p := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
		if p[i] == 0 {
			p[i] = 1 // never zero, so zero-filled gaps are distinguishable
		}
	}
	return p
}

func writeAt(t testing.TB, m *chunkmap.Manager, p []byte, off int64) {
	t.Helper()
	if n, err := m.WriteAt(p, off); n != len(p) || err != nil {
		t.Fatalf("WriteAt(%d bytes, %d) = %d, %v, want %d, nil", len(p), off, n, err, len(p))
	}
}

func readAt(t testing.TB, m *chunkmap.Manager, off int64, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if got, err := m.ReadAt(p, off); got != n || err != nil {
		t.Fatalf("ReadAt(%d bytes, %d) = %d, %v, want %d, nil", n, off, got, err, n)
	}
	return p
}

// firstDiff returns the first index where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// fillRandom fills p with bytes from r, eight at a time: a loop that stores
// each byte on its own is many times slower under the race detector, which
// checks every store.
func fillRandom(r *rand.Rand, p []byte) {
	var w [8]byte
	for len(p) > 0 {
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		p = p[copy(p, w[:]):]
	}
}

// keepHolesOnTmpfs makes the Managers that t opens leave the bytes below
// Size that nothing wrote as holes on tmpfs too (elsewhere they are holes
// anyway), for a test of sparse files: on tmpfs the Manager allocates them
// (see the README's "How it works"), so a write far past Size takes
// memory for every byte before it, and a truncated or written chunk is
// allocated whole.
func keepHolesOnTmpfs(t *testing.T) {
	t.Helper()
	was := chunkmap.SetKeepHoles(true)
	t.Cleanup(func() { chunkmap.SetKeepHoles(was) })
}

// stormFor is how long a test that sets operations against each other
// until a deadline runs them: d, halved under the race detector and halved
// with -short. The race run is CI's, where each operation costs several
// times as much and the whole package must stay within CI's time; so is
// the 32-bit run (-short), whose system calls cost a 386 process about ten
// times what they cost an amd64 one (an fstat took 7 µs against 0.6 µs on
// a 2-core VM under Linux 6.18; Go's 386 runtime enters the kernel with
// int 0x80). The run without either (the README's test command) runs the
// whole of d.
func stormFor(d time.Duration) time.Duration {
	if raceEnabled {
		d /= 2
	}
	if testing.Short() {
		d /= 2
	}
	return d
}

// copyDir copies the regular files of from into to.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(to, e.Name()), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
