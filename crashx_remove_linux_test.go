//go:build linux

package chunkmap_test

// Black-box tests of what can happen under a ReadOnly follower and around
// the directory lock: a dataset removed (and made anew) while a follower
// has it open, a follower's read racing with its writer's Truncate, and
// read-write Opens racing with Remove for the directory lock.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// crashxSentinels are the errors every failure of the package must match
// (see errors.go), with io.EOF and fs.ErrNotExist as documented.
var crashxSentinels = []error{
	chunkmap.ErrClosed, chunkmap.ErrReadOnly, chunkmap.ErrOutOfRange, chunkmap.ErrCorrupt,
	chunkmap.ErrLocked, chunkmap.ErrInvalidOptions, chunkmap.ErrUnaligned, chunkmap.ErrNoSpace,
	chunkmap.ErrBusy, chunkmap.ErrFault, chunkmap.ErrIO, chunkmap.ErrSyncFailed,
}

// crashxSentinel reports whether err matches one of the package's
// sentinel errors.
func crashxSentinel(err error) bool {
	for _, s := range crashxSentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestCrashx_FollowerAfterRemoveAndRecreate proves that a ReadOnly Manager
// whose dataset was removed with Remove, and then created anew in the same
// directory by another writer, does not pass the new dataset's bytes off
// as the old one's: the README says Refresh returns ErrCorrupt when the
// manifest a reader follows was removed or replaced, and that a reader
// whose chunk files are gone fails to read the chunks it has not mapped.
// A broken follower keeps the old Size from its (unlinked) state page,
// reads the new dataset's chunk files under it, and Refresh returns nil.
func TestCrashx_FollowerAfterRemoveAndRecreate(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir() + "/ds"
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(followBytes(0, 4*cs), 0); err != nil {
		t.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := make([]byte, 16)
	if _, err := r.ReadAt(b, 10); err != nil || !bytes.Equal(b, followBytes(10, 16)) {
		t.Fatalf("reader before Remove: %x, %v", b, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := chunkmap.Remove(dir); err != nil {
		t.Fatalf("Remove with only a reader open: %v", err)
	}
	// A new dataset under the same name, holding other bytes and a
	// smaller Size.
	w2, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if _, err := w2.WriteAt(bytes.Repeat([]byte{0xEE}, 2*cs), 0); err != nil {
		t.Fatal(err)
	}
	var problems []string
	err = r.Refresh()
	if !errors.Is(err, chunkmap.ErrCorrupt) {
		problems = append(problems, fmt.Sprintf("Refresh after the dataset was removed and made anew: %v (Size %d), want ErrCorrupt", err, r.Size()))
	}
	for _, off := range []int64{10, cs + 10} {
		n, err := r.ReadAt(b, off)
		switch {
		case err != nil && !crashxSentinel(err):
			problems = append(problems, fmt.Sprintf("ReadAt(16 at %d): %v matches no sentinel", off, err))
		case err == nil && !bytes.Equal(b, followBytes(off, 16)) && r.Size() > 2*cs:
			problems = append(problems, fmt.Sprintf("ReadAt(16 at %d) = %d, nil: %x, bytes of the new dataset under the old one's Size %d", off, n, b, r.Size()))
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestCrashx_OpenRemoveRace races read-write Opens of one directory, from
// several goroutines, with Remove of it, and proves the lock is exclusive:
// at no moment do two Managers hold the dataset for writing, and no Open
// ever finds the dataset corrupt (nothing but these Managers and Remove
// touches it, and each leaves it consistent). A broken lock that flocks a
// directory inode that Remove has since deleted lets a second writer in,
// whose path-based file operations then land in the directory made anew.
func TestCrashx_OpenRemoveRace(t *testing.T) {
	dir := t.TempDir() + "/ds"
	budget := 3 * time.Second
	if testing.Short() {
		budget = 2 * time.Second
	}
	deadline := time.Now().Add(budget)
	var (
		holders              atomic.Int32
		opens, removes, dual atomic.Int64
		mu                   sync.Mutex
		unexpected           []string
		wg                   sync.WaitGroup
	)
	bad := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(unexpected) < 10 {
			unexpected = append(unexpected, fmt.Sprintf(format, args...))
		}
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
				if err != nil {
					// A concurrent Remove may delete the directory
					// under an Open: that fails it, cleanly.
					if errors.Is(err, chunkmap.ErrCorrupt) || !crashxSentinel(err) {
						bad("Open: %v", err)
					}
					continue
				}
				opens.Add(1)
				if holders.Add(1) > 1 {
					dual.Add(1)
				}
				_, err = m.Append([]byte("x"))
				holders.Add(-1)
				if err = errors.Join(err, m.Close()); err != nil && !errors.Is(err, chunkmap.ErrIO) {
					bad("Append and Close of a locked dataset: %v", err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) {
			if err := chunkmap.Remove(dir); err == nil {
				removes.Add(1)
			} else if errors.Is(err, chunkmap.ErrCorrupt) {
				bad("Remove: %v", err)
			}
		}
	}()
	wg.Wait()
	t.Logf("%d Opens, %d Removes", opens.Load(), removes.Load())
	if n := dual.Load(); n > 0 {
		t.Errorf("two read-write Managers held the dataset at once %d times", n)
	}
	for _, u := range unexpected {
		t.Error(u)
	}
}

// TestCrashx_FollowerRaceWithTruncateSpuriousErrors proves that a
// following reader whose read races with the writer's Truncate (which
// deletes the chunk files past the new Size) and regrowth (which creates
// them anew) gets the bytes or ErrOutOfRange, the error the README gives
// for a range a concurrent Truncate moved; never ErrFault, which says a
// chunk file was damaged by another program ("find out who truncated the
// file, chunkmap salvage the rest"), nor ErrCorrupt, which says the
// dataset is damaged. A broken reader opens or checks chunk files by the
// Size it pulled a moment before and reports a file the writer has just
// deleted, or is creating (0 bytes until its ftruncate), as damage.
func TestCrashx_FollowerRaceWithTruncateSpuriousErrors(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	block := followBytes(0, 3*cs)
	if _, err := w.WriteAt(block, 0); err != nil {
		t.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() {
		for !stop.Load() {
			if err := w.Truncate(cs); err != nil {
				done <- err
				return
			}
			if _, err := w.WriteAt(block[cs:], cs); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	deadline := time.Now().Add(stormFor(3 * time.Second))
	b := make([]byte, 64)
	var spurious, reads int
	var seen []error
	for time.Now().Before(deadline) && spurious < 3 {
		for _, off := range []int64{cs + 100, 2*cs + 100} {
			reads++
			if _, err := r.ReadAt(b, off); errors.Is(err, chunkmap.ErrFault) || errors.Is(err, chunkmap.ErrCorrupt) {
				spurious++
				seen = append(seen, err)
			} else if err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) && err != io.EOF {
				t.Fatalf("ReadAt racing with Truncate: %v", err)
			} else if err == nil && !bytes.Equal(b, followBytes(off, 64)) {
				t.Fatalf("ReadAt(64 at %d) racing with Truncate = %x, never written there", off, b)
			}
		}
	}
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if spurious > 0 {
		t.Errorf("%d of %d reads racing with the writer's Truncate failed with ErrFault or ErrCorrupt, want ErrOutOfRange (or the bytes): %v", spurious, reads, errors.Join(seen...))
	}
}
