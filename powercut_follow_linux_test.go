//go:build linux

package chunkmap_test

// Followers on a file system that dies under them. TestPowerCut_RealKernel
// cuts a file system under a writer; here read-only Managers, one in this
// process and one in a child process, read in loops with every kind of
// read while the writer appends, truncates and drops chunks, and the file
// system is shut down under all of them. Every call must succeed or fail
// with an error matching a sentinel (a ReadAt that reads less than asked
// must say why), none may panic, crash or hang, and once every Manager is
// closed nothing may hold the file system, so that it unmounts.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// pcfChunks is how many chunks the dataset has before the writer starts.
const pcfChunks = 12

// pcfRead makes one read of a random kind on follower m and returns what
// is wrong with its result, or "".
func pcfRead(m *chunkmap.Manager, va *accessor.ViewAccessor, r *rand.Rand) string {
	start, size := m.Start(), m.Size()
	if size-start < 3*pcChunk {
		start, size = 0, 3*pcChunk // out of range is fine: it must say so
	}
	off := start + r.Int64N(size-start-2*pcChunk)
	check := func(what string, err error) string {
		if err != nil && !matchesSentinel(err) {
			return fmt.Sprintf("%s: error matches no sentinel: %v", what, err)
		}

		return ""
	}
	switch r.IntN(8) {
	case 0:
		// Across two or three chunks.
		p := make([]byte, pcChunk+r.IntN(pcChunk))
		n, err := m.ReadAt(p, off)
		if n < len(p) && err == nil {
			return fmt.Sprintf("ReadAt(%d bytes at %d) = %d, nil", len(p), off, n)
		}
		if n > len(p) || n < 0 {
			return fmt.Sprintf("ReadAt(%d bytes at %d) = %d", len(p), off, n)
		}
		if err == io.EOF {
			// Past Size, which the writer may have cut since.
			return ""
		}
		return check(fmt.Sprintf("ReadAt(%d bytes at %d)", len(p), off), err)
	case 1:
		_, err := va.ReadUint64(off)
		return check("ReadUint64", err)
	case 2:
		offs := make([]int64, 64)
		for i := range offs {
			offs[i] = start + r.Int64N(size-start-8)
		}
		return check("Gather", m.Gather(make([]byte, 8*len(offs)), offs, 8))
	case 3:
		return check("Batch", m.Batch(func(b *chunkmap.Batch) error {
			p, err := b.Bytes(off, pcChunk+8)
			if err != nil {
				return err
			}
			var sum byte
			for _, c := range p {
				sum += c
			}
			_ = sum
			return nil
		}))
	case 4:
		p, err := m.Pin(off, 2*pcChunk)
		if err != nil {
			return check("Pin", err)
		}
		// Pinned bytes are not fault guarded: a fault there is the
		// caller's (pcStorePinned recovers it).
		pcStorePinned(make([]byte, 64), p.Bytes())
		p.Release()
		return ""
	case 5:
		return check("Refresh", m.Refresh())
	case 6:
		_, err := m.LoadUint64(off &^ 7)
		return check("LoadUint64", err)
	default:
		dst := make([]uint64, 3*pcChunk/8)
		return check("ReadUint64s", va.ReadUint64s(off, dst))
	}
}

// pcfFollow reads from dir with a read-only Manager until stop is closed,
// and returns what went wrong; progress counts its calls. A channel sent
// on drop is closed once the follower has dropped the pages of its
// mapped chunks, so that its next reads of them fault in from the device.
func pcfFollow(dir string, seed uint64, stop <-chan struct{}, drop <-chan chan struct{}, progress *atomic.Int64) []string {
	// Odd seeds read mostly with pread, even ones map every chunk they
	// miss, so that reads after the cut fault on mapped chunks.
	o := chunkmap.Options{ChunkSize: pcChunk, ReadOnly: true, MaxMapped: 3, ArenaSize: 8 * pcChunk}
	if seed%2 == 0 {
		o.MaxMapped, o.ArenaSize, o.NoAdmission = 32, 64*pcChunk, true
	}
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		return []string{fmt.Sprintf("Open: %v", err)}
	}
	va := accessor.New(m, nil)
	r := rand.New(rand.NewPCG(seed, 7))
	var bad []string
	for {
		select {
		case <-stop:
			if err := m.Close(); err != nil && !matchesSentinel(err) {
				bad = append(bad, fmt.Sprintf("Close: error matches no sentinel: %v", err))
			}
			return bad
		case done := <-drop:
			m.Advise(m.Start(), m.Size()-m.Start(), chunkmap.AdviceDontNeed)
			close(done)
		default:
		}
		if msg := pcfRead(m, va, r); msg != "" && len(bad) < 10 {
			bad = append(bad, msg)
		}
		progress.Add(1)
	}
}

// pcMounted makes an image of fs and mounts it for t, and returns the
// mount point, the dataset's directory in it (not made yet) and the mount
// point opened, for pcCut; t's cleanup closes that before it unmounts.
func pcMounted(t *testing.T, fs pcFS) (mnt, dir string, root *os.File) {
	t.Helper()
	img, mnt := pcImage(t, fs)
	pcMount(t, img, mnt)
	root, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return mnt, filepath.Join(mnt, "ds"), root
}

// TestPowerCut_Followers: see the top of this file.
func TestPowerCut_Followers(t *testing.T) {
	for _, fs := range pcFileSystems {
		t.Run(fs.name, func(t *testing.T) {
			mnt, dir, root := pcMounted(t, fs)
			w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: pcChunk})
			if err != nil {
				t.Fatal(err)
			}
			p := make([]byte, pcfChunks*pcChunk)
			for i := range p {
				p[i] = plByte(1, int64(i))
			}
			if _, err := w.Append(p); err != nil {
				t.Fatal(err)
			}
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			// Clean pages leave the cache, so that reads after the cut
			// need the device: pread fails with EIO, a mapping faults.
			pcfDropCache(t, dir)

			child := mpStart(t, "TestPowerCut_FollowerChild", "CHUNKMAP_PCF_DIR="+dir)
			if l := child.next(t, "child start"); l != "ready" {
				t.Fatalf("child: %q\n%s", l, child.stderr)
			}

			stop := make(chan struct{})
			var wg sync.WaitGroup
			// A failure below (the file system refusing the cut, a
			// child gone) ends the test at once: its cleanup then
			// stops the writer and the followers, and closes the
			// writer, before the file system is unmounted, so that
			// they do not run on beside the tests after this one.
			var halt sync.Once
			// stopped stops them, and reports whether they all
			// returned within pcCalls.
			stopped := func() bool {
				halt.Do(func() { close(stop) })
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
				select {
				case <-done:
					return true
				case <-time.After(pcCalls):
					return false
				}
			}
			t.Cleanup(func() {
				stopped()
				w.Close()
			})
			var progress [2]atomic.Int64
			bad := make([][]string, len(progress))
			drops := make([]chan chan struct{}, len(progress))
			for i := range progress {
				drops[i] = make(chan chan struct{})
				wg.Go(func() { bad[i] = pcfFollow(dir, uint64(i), stop, drops[i], &progress[i]) })
			}
			var werrs atomic.Int64
			wg.Go(func() {
				r := rand.New(rand.NewPCG(3, 3))
				for {
					select {
					case <-stop:
						return
					default:
					}
					var err error
					switch r.IntN(4) {
					case 0, 1:
						_, err = w.Append(p[:r.IntN(pcChunk)])
					case 2:
						if sz := w.Size(); sz-w.Start() > 6*pcChunk {
							err = w.Truncate(sz - pcChunk)
						}
					default:
						if st := w.Start(); w.Size()-st > 6*pcChunk {
							err = w.DropBefore(st + pcChunk)
						}
					}
					if err != nil {
						werrs.Add(1)
						if !matchesSentinel(err) {
							t.Errorf("writer: error matches no sentinel: %v", err)
						}
					}
					time.Sleep(100 * time.Microsecond)
				}
			})
			time.Sleep(200 * time.Millisecond)
			// Again, now that the followers have mapped the chunks: the
			// pages they read next must fault in from the device.
			for _, d := range drops {
				done := make(chan struct{})
				d <- done
				<-done
			}
			if _, err := fmt.Fprintln(child.stdin, "drop"); err != nil {
				t.Fatal(err)
			}
			if l := child.next(t, "child drop"); l != "dropped" {
				t.Fatalf("child: %q\n%s", l, child.stderr)
			}
			pcfDropCache(t, dir)
			if err := pcCut(root); err != nil {
				t.Fatal(err)
			}
			// Long enough for every kind of call to meet the dead file
			// system on every follower.
			before := [2]int64{progress[0].Load(), progress[1].Load()}
			time.Sleep(400 * time.Millisecond)
			if !stopped() {
				buf := make([]byte, 1<<20)
				t.Fatalf("a follower or the writer did not return within %v:\n%s", pcCalls, buf[:runtime.Stack(buf, true)])
			}
			for i := range progress {
				if n := progress[i].Load() - before[i]; n < 10 {
					t.Errorf("follower %d made %d calls after the cut", i, n)
				}
				for _, b := range bad[i] {
					t.Errorf("follower %d: %s", i, b)
				}
			}
			if werrs.Load() == 0 {
				t.Errorf("the writer never failed: was the file system shut down?")
			}
			if err := pcCall(t, "writer Close", w.Close); err != nil && !matchesSentinel(err) {
				t.Errorf("writer Close: error matches no sentinel: %v", err)
			}

			child.stdin.Close()
			for {
				l := child.next(t, "child")
				if l == "" {
					break
				}
				if l != "done" && l != "PASS" {
					t.Errorf("child: %s", l)
				}
			}
			if err := child.cmd.Wait(); err != nil {
				t.Errorf("child: %v\n%s", err, child.stderr)
			}
			if s := child.stderr.String(); strings.Contains(s, "panic") || strings.Contains(s, "fatal error") || strings.Contains(s, "goroutine ") {
				t.Errorf("child crashed:\n%s", s)
			}
			root.Close()
			pcUnmount(t, mnt, "after every Manager closed")
		})
	}
}

// pcfDropCache drops the clean cached pages of dir's chunk files.
func pcfDropCache(t *testing.T, dir string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.chunk"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the writer dropped it
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// TestPowerCut_FollowerChild is the child of TestPowerCut_Followers: it
// follows CHUNKMAP_PCF_DIR until its standard input closes, then closes
// its Manager and says what went wrong, and "done" if it let go of every
// file of the dataset.
func TestPowerCut_FollowerChild(t *testing.T) {
	dir := os.Getenv("CHUNKMAP_PCF_DIR")
	if dir == "" {
		t.Skip("the child of TestPowerCut_Followers")
	}
	stop := make(chan struct{})
	drop := make(chan chan struct{})
	var progress atomic.Int64
	result := make(chan []string, 1)
	go func() { result <- pcfFollow(dir, 98, stop, drop, &progress) }()
	for deadline := time.Now().Add(10 * time.Second); progress.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		done := make(chan struct{})
		drop <- done
		<-done
		fmt.Println("dropped")
	}
	close(stop)
	var bad []string
	select {
	case bad = <-result:
	case <-time.After(pcCalls):
		buf := make([]byte, 1<<20)
		bad = []string{"a call did not return within a minute: " + strings.ReplaceAll(string(buf[:runtime.Stack(buf, true)]), "\n", " | ")}
	}
	for _, b := range bad {
		fmt.Println(b)
	}
	if held := pcHolders(filepath.Dir(dir)); len(held) > 0 {
		fmt.Println("still held after Close: " + strings.Join(held, "; "))
	}
	if len(bad) == 0 {
		fmt.Println("done")
	}
}

// TestPowerCut_FollowerStatePageFault evicts a follower's state page (its
// writer closed, the page written back), then shuts the file system down:
// on xfs the follower's next load of the page faults (EIO becomes SIGBUS),
// which must become ErrCorrupt naming the manifest once and saying what
// happened (the device failed; no other program touched the page), and
// Close must let go of the file system. ext4 serves the fault from the
// device it still reads, so there every call may succeed.
func TestPowerCut_FollowerStatePageFault(t *testing.T) {
	for _, fs := range pcFileSystems {
		t.Run(fs.name, func(t *testing.T) {
			mnt, dir, root := pcMounted(t, fs)
			w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: pcChunk})
			if err != nil {
				t.Fatal(err)
			}
			pcCloseAtEnd(t, w)
			if _, err := w.Append(make([]byte, 2*pcChunk)); err != nil {
				t.Fatal(err)
			}
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: pcChunk, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			pcCloseAtEnd(t, m)
			if _, err := m.ReadAt(make([]byte, 8), 8); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			pcfEvictPage(t, filepath.Join(dir, chunkmap.ManifestName), chunkmap.StatePageAddr(m))
			if err := pcCut(root); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				fn   func() error
			}{
				{"ReadAt", func() error { _, err := m.ReadAt(make([]byte, 8), 8); return err }},
				{"LoadUint64", func() error { _, err := m.LoadUint64(pcChunk); return err }},
				{"Gather", func() error { return m.Gather(make([]byte, 8), []int64{16}, 8) }},
			} {
				err := pcCall(t, c.name, c.fn)
				if err == nil {
					continue
				}
				msg := err.Error()
				switch {
				case !errors.Is(err, chunkmap.ErrCorrupt) && !errors.Is(err, chunkmap.ErrFault) && !errors.Is(err, chunkmap.ErrIO):
					t.Errorf("%s: %v, want ErrCorrupt, ErrFault or ErrIO", c.name, err)
				case strings.Count(msg, chunkmap.ManifestName) > 1:
					t.Errorf("%s: the message names the manifest more than once: %v", c.name, err)
				case errors.Is(err, chunkmap.ErrCorrupt) && strings.Contains(msg, ") by another program"):
					t.Errorf("%s: the message blames another program for a page the device failed to read: %v", c.name, err)
				}
			}
			if err := pcCall(t, "Close", m.Close); err != nil && !matchesSentinel(err) {
				t.Errorf("Close: error matches no sentinel: %v", err)
			}
			root.Close()
			pcUnmount(t, mnt, "after Close")
		})
	}
}

// pcfEvictPage writes back the file name's pages and drops them from the
// cache, after dropping the page at addr, this process's mapping of the
// file's first page, so that the next load from addr reads the device.
func pcfEvictPage(t *testing.T, name string, addr uintptr) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(os.Getpagesize()), unix.MADV_DONTNEED); e != 0 {
		t.Fatalf("madvise: %v", e)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	var vec [1]byte
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, addr, uintptr(os.Getpagesize()), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatalf("mincore: %v", e)
	}
	if vec[0]&1 != 0 {
		t.Skip("the state page stayed in the page cache")
	}
}
