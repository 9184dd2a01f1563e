package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// TestShrink_MissesServedDuringUnlinks checks that a Truncate or DropBefore
// that deletes many chunk files lets the calls that need the Manager's
// lock run between its unlinks: reads of kept chunks that are not mapped
// (by pread under admission, by mapping without it), a pin and its
// release, a Gather and Stats (keptCalls). Held across every unlink, the
// lock kept such reads waiting for seconds on a log that dropped 100,000
// chunks. The calls are made each time the shrink lets go of the lock;
// they must return while it waits for them, with the kept bytes.
func TestShrink_MissesServedDuringUnlinks(t *testing.T) {
	const (
		cs      = clxChunk
		nchunks = 300
		// Chunks [keepLo, keepHi) stay; the rest go.
		dropTo  = 250
		truncTo = 50
	)
	fill := func(idx int64) byte { return byte(idx*7 + 1) }
	tests := []struct {
		name           string
		keepLo, keepHi int64
		shrink         func(m *chunkmap.Manager) error
	}{
		{"drop", dropTo, nchunks, func(m *chunkmap.Manager) error { return m.DropBefore(dropTo * cs) }},
		{"truncate", 0, truncTo, func(m *chunkmap.Manager) error { return m.Truncate(truncTo * cs) }},
	}
	for _, tc := range tests {
		for _, noAdmission := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/noadmission=%v", tc.name, noAdmission), func(t *testing.T) {
				dir := t.TempDir()
				m := clxOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, NoAdmission: noAdmission})
				defer m.Close()
				for idx := range int64(nchunks) {
					if _, err := m.Append(bytes.Repeat([]byte{fill(idx)}, cs)); err != nil {
						t.Fatal(err)
					}
				}
				done := servedInPauses(t, keptCalls(m, tc.keepLo, tc.keepHi, fill))
				err := tc.shrink(m)
				pauses := done()
				if err != nil {
					t.Fatal(err)
				}
				// Every FileRun unlinks but the last run's.
				deleted := nchunks - (tc.keepHi - tc.keepLo)
				if want := int((deleted - 1) / chunkmap.FileRun); pauses != want {
					t.Errorf("the shrink let go of its lock %d times, want %d", pauses, want)
				}
				var want []int64
				for idx := tc.keepLo; idx < tc.keepHi; idx++ {
					want = append(want, idx)
				}
				if got := chunkFiles(t, dir); !slices.Equal(got, want) {
					t.Errorf("chunk files %v after the shrink, want %v", got, want)
				}
				for idx := tc.keepLo; idx < tc.keepHi; idx++ {
					p := make([]byte, cs)
					if _, err := m.ReadAt(p, idx*cs); err != nil {
						t.Fatalf("ReadAt of chunk %d after the shrink: %v", idx, err)
					}
					if !bytes.Equal(p, bytes.Repeat([]byte{fill(idx)}, cs)) {
						t.Fatalf("chunk %d changed", idx)
					}
				}
			})
		}
	}
}

// keptCalls returns the calls a test makes while a call that changes many
// chunk files has let go of the Manager's lock: a ReadAt, a Pin and its
// release and a Gather in chunks [lo, hi), whose bytes are all fill(idx),
// and Stats. Each chunk read is one the calls before did not read, so that
// with a small MaxMapped it misses.
func keptCalls(m *chunkmap.Manager, lo, hi int64, fill func(int64) byte) func() error {
	const cs = clxChunk
	next := lo
	return func() error {
		idx := next
		next = lo + (next-lo+1)%(hi-lo)
		p := make([]byte, 100)
		if _, err := m.ReadAt(p, idx*cs+17); err != nil {
			return fmt.Errorf("ReadAt in chunk %d: %w", idx, err)
		}
		if want := bytes.Repeat([]byte{fill(idx)}, len(p)); !bytes.Equal(p, want) {
			return fmt.Errorf("ReadAt in chunk %d read %x..., want %x...", idx, p[:4], want[:4])
		}
		pin, err := m.Pin(idx*cs, 8)
		if err != nil {
			return fmt.Errorf("Pin in chunk %d: %w", idx, err)
		}
		if got := pin.Bytes()[0]; got != fill(idx) {
			pin.Release()
			return fmt.Errorf("pinned byte of chunk %d = %#x, want %#x", idx, got, fill(idx))
		}
		pin.Release()
		offs := []int64{lo * cs, (hi-1)*cs + 8}
		dst := make([]byte, 2*8)
		if err := m.Gather(dst, offs, 8); err != nil {
			return fmt.Errorf("Gather: %w", err)
		}
		if dst[0] != fill(lo) || dst[8] != fill(hi-1) {
			return fmt.Errorf("Gather read %#x and %#x, want %#x and %#x", dst[0], dst[8], fill(lo), fill(hi-1))
		}
		m.Stats()
		return nil
	}
}

// servedInPauses makes calls each time a call lets go of the Manager's
// lock between chunk files (the pause hook), on another goroutine, and
// fails the test if they fail or do not return while the call waits for
// them. The function it returns removes the hook, waits for the calls and
// returns how many pauses there were.
func servedInPauses(t *testing.T, calls func() error) (done func() int) {
	t.Helper()
	var (
		wg     sync.WaitGroup
		pauses int
		hung   bool // the calls of a pause did not return in it
	)
	chunkmap.SetPauseHook(func(int64) {
		if pauses++; hung {
			return
		}
		ch := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch <- calls()
		}()
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("pause %d: %v", pauses, err)
			}
		case <-time.After(time.Minute):
			// A bound for a hang, not a measure of speed: the call goes
			// on, and the calls return once it lets go of the lock.
			t.Errorf("pause %d: the calls did not return while the call that paused waited for them", pauses)
			hung = true
		}
	})
	t.Cleanup(func() { chunkmap.SetPauseHook(nil) })
	return func() int {
		chunkmap.SetPauseHook(nil)
		wg.Wait()
		return pauses
	}
}

// TestShrink_ReleaseDuringUnlinks checks, where a mapped file cannot be
// deleted (Windows, emulated), that a pin of a chunk the shrink deletes,
// let go of while the shrink has let go of its lock, before its unlinks
// reach that chunk, leaves no file behind: the shrink, which found the
// chunk held before its first unlink, removes it, or growth over its
// name later failed ("file exists") and DropBefore left it below Start.
func TestShrink_ReleaseDuringUnlinks(t *testing.T) {
	defer chunkmap.SetUnmapBeforeRemove(chunkmap.SetUnmapBeforeRemove(true))
	const (
		cs = clxChunk
		n  = 200
	)
	tests := []struct {
		name           string
		pinned         int64 // the chunk deleted last
		keepLo, keepHi int64
		shrink         func(m *chunkmap.Manager) error
	}{
		{"truncate", 10, 0, 10, func(m *chunkmap.Manager) error { return m.Truncate(10 * cs) }},
		{"drop", 0, 190, n, func(m *chunkmap.Manager) error { return m.DropBefore(190 * cs) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := clxOpen(t, dir, &chunkmap.Options{ChunkSize: cs})
			defer m.Close()
			for idx := range int64(n) {
				if _, err := m.Append(bytes.Repeat([]byte{byte(idx + 1)}, cs)); err != nil {
					t.Fatal(err)
				}
			}
			pin, err := m.Pin(tc.pinned*cs, 8)
			if err != nil {
				t.Fatal(err)
			}
			pauses := 0
			chunkmap.SetPauseHook(func(int64) {
				if pauses++; pauses == 1 {
					pin.Release()
				}
			})
			defer chunkmap.SetPauseHook(nil)
			err = tc.shrink(m)
			chunkmap.SetPauseHook(nil)
			if err != nil {
				t.Fatal(err)
			}
			if pauses == 0 {
				t.Fatal("the shrink never let go of its lock")
			}
			var want []int64
			for idx := tc.keepLo; idx < tc.keepHi; idx++ {
				want = append(want, idx)
			}
			if got := chunkFiles(t, dir); !slices.Equal(got, want) {
				t.Fatalf("chunk files %v after the shrink, want %v", got, want)
			}
			// Growth over the names the shrink freed.
			if _, err := m.Append(bytes.Repeat([]byte{0xee}, 20*cs)); err != nil {
				t.Fatalf("Append after the shrink: %v", err)
			}
		})
	}
}

// TestGrowth_MissesServedDuringCreations checks that a growth that makes
// many chunk files (a Truncate that extends the dataset, a Grow, a small
// write far past Size) lets the calls that need the Manager's lock run
// between its creations, as a shrink does between its unlinks: held across
// them all, the lock kept every read that missed waiting for seconds while
// a write past Size made 20,000 files. Beside a Grow or a write, which do
// not hold off Sync, a Sync runs in each pause too. After the growth the
// dataset has every chunk, the old bytes and zeros in the new ones, also
// once opened again.
func TestGrowth_MissesServedDuringCreations(t *testing.T) {
	const (
		cs   = clxChunk
		base = 20  // chunks written before the growth
		grow = 200 // chunks the growth makes
	)
	fill := func(idx int64) byte { return byte(idx*5 + 3) }
	tests := []struct {
		name string
		sync bool // Sync in each pause
		// grow grows the dataset to base+grow chunks and returns the
		// byte written at its last offset (0 if none).
		grow func(m *chunkmap.Manager) (byte, error)
		size int64 // Size after it
	}{
		{"truncate", false, func(m *chunkmap.Manager) (byte, error) {
			return 0, m.Truncate((base + grow) * cs)
		}, (base + grow) * cs},
		{"grow", true, func(m *chunkmap.Manager) (byte, error) {
			return 0, m.Grow(grow * cs)
		}, base * cs},
		{"write", true, func(m *chunkmap.Manager) (byte, error) {
			_, err := m.WriteAt([]byte{0x5a}, (base+grow)*cs-1)
			return 0x5a, err
		}, (base + grow) * cs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := &chunkmap.Options{ChunkSize: cs, MaxMapped: 2}
			m := clxOpen(t, dir, o)
			defer m.Close()
			for idx := range int64(base) {
				if _, err := m.Append(bytes.Repeat([]byte{fill(idx)}, cs)); err != nil {
					t.Fatal(err)
				}
			}
			kept := keptCalls(m, 0, base, fill)
			done := servedInPauses(t, func() error {
				if err := kept(); err != nil {
					return err
				}
				if tc.sync {
					if err := m.Sync(); err != nil {
						return fmt.Errorf("Sync: %w", err)
					}
				}
				return nil
			})
			last, err := tc.grow(m)
			pauses := done()
			if err != nil {
				t.Fatal(err)
			}
			if want := (grow - 1) / chunkmap.FileRun; pauses < want {
				t.Errorf("the growth let go of its lock %d times, want at least %d", pauses, want)
			}
			check := func(m *chunkmap.Manager, when string) {
				t.Helper()
				if got := m.Size(); got != tc.size {
					t.Fatalf("%s: Size %d, want %d", when, got, tc.size)
				}
				if got := chunkFiles(t, dir); len(got) != base+grow || got[len(got)-1] != base+grow-1 {
					t.Fatalf("%s: %d chunk files, the last %v, want %d", when, len(got), got[len(got)-1:], base+grow)
				}
				p := make([]byte, cs)
				for idx := range int64(base) {
					if _, err := m.ReadAt(p, idx*cs); err != nil {
						t.Fatalf("%s: ReadAt of chunk %d: %v", when, idx, err)
					}
					if !bytes.Equal(p, bytes.Repeat([]byte{fill(idx)}, cs)) {
						t.Fatalf("%s: chunk %d changed", when, idx)
					}
				}
				if tc.size == base*cs {
					return
				}
				rest := make([]byte, tc.size-base*cs)
				if _, err := m.ReadAt(rest, base*cs); err != nil {
					t.Fatalf("%s: ReadAt of the new bytes: %v", when, err)
				}
				want := make([]byte, len(rest))
				want[len(want)-1] = last
				if i := slices.IndexFunc(rest, func(b byte) bool { return b != 0 }); !bytes.Equal(rest, want) {
					t.Fatalf("%s: new byte at offset %d is %#x", when, base*cs+int64(i), rest[i])
				}
			}
			check(m, "after the growth")
			if got := m.Stats().Chunks; got != base+grow {
				t.Errorf("Stats.Chunks %d, want %d", got, base+grow)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			m2 := clxOpen(t, dir, o)
			defer m2.Close()
			if tc.name == "grow" {
				// Open removes the chunks Grow made past Size.
				if got := chunkFiles(t, dir); len(got) != base {
					t.Fatalf("%d chunk files after Open, want %d", len(got), base)
				}
				return
			}
			check(m2, "opened again")
		})
	}
}

// TestGrowth_FailsPastPause checks that a growth that fails after it let go
// of the Manager's lock (a directory stands under the name of a chunk it
// must make) leaves the dataset as it was: the files it made are gone,
// Stats counts the chunks there were, and the growth succeeds once the
// name is free. Beside a Grow or a write, a Sync runs in the first pause:
// it must not take the files made so far, which the failure removes, or
// it, every later Sync and Close reported them removed by another program.
func TestGrowth_FailsPastPause(t *testing.T) {
	const (
		cs   = clxChunk
		base = 10
		grow = 100
	)
	tests := []struct {
		name string
		sync bool // Sync in the first pause
		grow func(m *chunkmap.Manager) error
	}{
		{"truncate", false, func(m *chunkmap.Manager) error { return m.Truncate((base + grow) * cs) }},
		{"grow", true, func(m *chunkmap.Manager) error { return m.Grow(grow * cs) }},
		{"write", true, func(m *chunkmap.Manager) error {
			_, err := m.WriteAt([]byte{1}, (base+grow)*cs-1)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := &chunkmap.Options{ChunkSize: cs}
			// The Sync's fsync of a chunk file the growth made waits
			// until the growth has failed, as a Sync on a slow disk
			// may: Sync took the file before the growth removed it.
			syncing, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			chunkmap.SetFS(o, chunkSyncFS{vfs.OS, func(idx int64) {
				if idx >= base {
					once.Do(func() { close(syncing) })
					<-release
				}
			}})
			m := clxOpen(t, dir, o)
			defer m.Close()
			if _, err := m.Append(bytes.Repeat([]byte{7}, base*cs)); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			squat := filepath.Join(dir, chunkmap.ChunkFileName(base+grow/2))
			if err := os.Mkdir(squat, 0o755); err != nil {
				t.Fatal(err)
			}
			pauses := 0
			synced := make(chan error, 1)
			chunkmap.SetPauseHook(func(int64) {
				if pauses++; pauses > 1 || !tc.sync {
					return
				}
				go func() { synced <- m.Sync() }()
				// On until the Sync has taken what it fsyncs: it
				// returns, or waits in an fsync of a new file.
				select {
				case err := <-synced:
					synced <- err
				case <-syncing:
				}
			})
			defer chunkmap.SetPauseHook(nil)
			err := tc.grow(m)
			chunkmap.SetPauseHook(nil)
			close(release)
			if tc.sync {
				if err := <-synced; err != nil {
					t.Errorf("Sync in a pause of the growth: %v", err)
				}
			}
			if !errors.Is(err, chunkmap.ErrCorrupt) {
				t.Fatalf("growth over a directory under a chunk's name: %v, want ErrCorrupt", err)
			}
			if pauses == 0 {
				t.Fatal("the growth never let go of its lock before it failed")
			}
			if err := os.Remove(squat); err != nil {
				t.Fatal(err)
			}
			if got := chunkFiles(t, dir); len(got) != base {
				t.Fatalf("chunk files %v after the failed growth, want %d", got, base)
			}
			if got := m.Stats().Chunks; got != base {
				t.Fatalf("Stats.Chunks %d after the failed growth, want %d", got, base)
			}
			if got := m.Size(); got != base*cs {
				t.Fatalf("Size %d after the failed growth, want %d", got, base*cs)
			}
			if err := m.Sync(); err != nil {
				t.Fatalf("Sync after the failed growth: %v", err)
			}
			if err := tc.grow(m); err != nil {
				t.Fatalf("growth once the name is free: %v", err)
			}
			if got := m.Stats().Chunks; got != base+grow {
				t.Fatalf("Stats.Chunks %d after the growth, want %d", got, base+grow)
			}
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

// chunkSyncFS calls onSync with the chunk's index before each fsync of a
// chunk file.
type chunkSyncFS struct {
	vfs.FS
	onSync func(idx int64)
}

func (f chunkSyncFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil || chunkIndexOf(name) < 0 {
		return file, err
	}
	return chunkSyncFile{file, f.onSync}, nil
}

type chunkSyncFile struct {
	vfs.File
	onSync func(idx int64)
}

func (f chunkSyncFile) Sync() error {
	f.onSync(chunkIndexOf(f.Name()))
	return f.File.Sync()
}

// TestShrink_MissesServedDuringEachUnlink checks that a Truncate or
// DropBefore lets go of the Manager's lock during each unlink, not only
// between runs of them: an unlink of a large file takes milliseconds as
// the file system frees its blocks (tens with online discard), and reads
// that miss waited for it, 360-400 ms for a DropBefore of 1 GiB of
// 64 MiB chunks. The calls that need the lock (keptCalls) are made inside
// each unlink, through a file system whose Remove makes them first; they
// must return while the unlink waits for them.
func TestShrink_MissesServedDuringEachUnlink(t *testing.T) {
	const (
		cs      = clxChunk
		nchunks = 12
		dropTo  = 6
	)
	fill := func(idx int64) byte { return byte(idx*7 + 1) }
	for _, name := range []string{"drop", "truncate"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o := &chunkmap.Options{ChunkSize: cs, MaxMapped: 2}
			var calls func() error
			unlinks := 0
			chunkmap.SetFS(o, removeHookFS{vfs.OS, func(name string) {
				if calls == nil || chunkIndexOf(name) < 0 {
					return
				}
				unlinks++
				ch, c := make(chan error, 1), calls
				go func() { ch <- c() }()
				select {
				case err := <-ch:
					if err != nil {
						t.Errorf("unlink %d: %v", unlinks, err)
					}
				case <-time.After(time.Minute):
					// A bound for a hang, not a measure of speed: the
					// calls return once the unlink lets go of the lock.
					t.Errorf("unlink %d of %s: the calls did not return while it waited for them", unlinks, name)
					calls = nil
				}
			}})
			m := clxOpen(t, dir, o)
			defer m.Close()
			for idx := range int64(nchunks) {
				if _, err := m.Append(bytes.Repeat([]byte{fill(idx)}, cs)); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if name == "drop" {
				calls = keptCalls(m, dropTo, nchunks, fill)
				err = m.DropBefore(dropTo * cs)
			} else {
				calls = keptCalls(m, 0, dropTo, fill)
				err = m.Truncate(dropTo * cs)
			}
			calls = nil
			if err != nil {
				t.Fatal(err)
			}
			if unlinks != nchunks-dropTo {
				t.Errorf("%d unlinks ran the calls, want %d", unlinks, nchunks-dropTo)
			}
		})
	}
}

// removeHookFS calls onRemove with the name before each Remove.
type removeHookFS struct {
	vfs.FS
	onRemove func(name string)
}

func (f removeHookFS) Remove(name string) error {
	f.onRemove(name)
	return f.FS.Remove(name)
}
