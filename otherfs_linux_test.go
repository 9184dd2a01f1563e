//go:build linux

package chunkmap_test

// File systems other than ext4: what a dataset's directory on them must
// still do, or refuse with an error matching a sentinel.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// ofsMountImage makes a file system of size bytes with mkfs (and args) in
// an image file, mounts it through a loop device on a new directory,
// unmounts it when t ends, and returns the directory. It skips t where
// mkfs is missing or mounting is not allowed (not root, no loop devices,
// no such file system in the kernel).
func ofsMountImage(t *testing.T, mkfs string, size int64, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(mkfs); err != nil {
		t.Skipf("needs %s", mkfs)
	}
	img := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, append(args, img)...).CombinedOutput(); err != nil {
		t.Skipf("%s: %v: %s", mkfs, err, out)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop device: %v: %s", err, out)
	}
	t.Cleanup(func() { fzUnmount(t, mnt) })
	return mnt
}

// ofsFill fills the file system of dir with a file of its own, to its last
// block, and returns the file's path.
func ofsFill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{1}, 1<<20)
	for _, n := range []int{1 << 20, 4096} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		t.Fatal(err)
	}
	return path
}

// ofsMountRamfs mounts a ramfs on a new directory and unmounts it when t
// ends. It skips t where mounting is not allowed (not root).
func ofsMountRamfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "ramfs", "ramfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a ramfs (%v): %s", err, out)
	}
	t.Cleanup(func() { fzUnmount(t, dir) })
	return dir
}

// TestOtherFS_GrowthWhereNoBlocksAreCounted: ramfs and a tmpfs mounted
// with size=0 have no size limit, and statfs reports 0 blocks, 0 free for
// them. Growth by more than a few chunks at once, which is refused up front
// where the free space cannot hold it, was refused there with ErrNoSpace
// ("... needs 100 chunks of 65536 bytes, 0 bytes free"), although the file
// system takes it. Their limit is the memory: growth past it (a write at
// 1 TiB) must still be refused up front, not fill the memory.
func TestOtherFS_GrowthWhereNoBlocksAreCounted(t *testing.T) {
	for _, fs := range []struct {
		name  string
		mount func(*testing.T) string
	}{
		{"ramfs", ofsMountRamfs},
		{"tmpfs size=0", func(t *testing.T) string { return fzMount(t, "size=0") }},
	} {
		t.Run(fs.name, func(t *testing.T) {
			dir := fs.mount(t) + "/ds"
			const cs = 64 << 10
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.Grow(100 * cs); err != nil {
				t.Errorf("Grow by 100 chunks: %v", err)
			}
			if err := m.Truncate(100 * cs); err != nil {
				t.Errorf("Truncate to 100 chunks: %v", err)
			}
			if _, err := m.WriteAt([]byte("x"), 300*cs); err != nil {
				t.Errorf("WriteAt 200 chunks past Size: %v", err)
			}
			if got := m.Size(); got != 300*cs+1 {
				t.Errorf("Size = %d, want %d", got, 300*cs+1)
			}
			if _, err := m.WriteAt([]byte("x"), 1<<40); !errors.Is(err, chunkmap.ErrNoSpace) {
				t.Errorf("WriteAt at 1 TiB: %v, want ErrNoSpace", err)
			}
			if got := m.Size(); got != 300*cs+1 {
				t.Errorf("Size after the refused write = %d, want %d", got, 300*cs+1)
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// ofsOpenBtrfs mounts a fresh 256 MiB btrfs image (see ofsMountImage) and
// opens a dataset of 1 MiB chunks in it with o's other options; it returns
// the mount and the Manager, which is closed when t ends, before the
// unmount.
func ofsOpenBtrfs(t *testing.T, o chunkmap.Options) (mnt, dir string, m *chunkmap.Manager) {
	t.Helper()
	mnt = ofsMountImage(t, "mkfs.btrfs", 256<<20, "-q", "-f")
	dir = filepath.Join(mnt, "ds")
	o.ChunkSize = 1 << 20
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return mnt, dir, m
}

// TestOtherFS_FullCopyOnWriteWrite: on a copy-on-write file system
// (btrfs) every write-back of a page goes to new blocks, so on a full one
// a store through a mapping into bytes allocated and written before
// faults, although they were allocated before it. WriteAt and Scatter into
// such bytes failed with ErrFault ("truncated or removed by another
// process, or an I/O error"), which says the chunk's data is in doubt;
// they must fail with ErrNoSpace, which says to free space and retry, and
// succeed once there is room.
func TestOtherFS_FullCopyOnWriteWrite(t *testing.T) {
	const cs = 1 << 20
	mnt, _, m := ofsOpenBtrfs(t, chunkmap.Options{NoAdmission: true})
	data := bytes.Repeat([]byte{7}, 4*cs)
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	for i := range int64(4) { // map every chunk
		if _, err := m.ReadAt(make([]byte, 8), i*cs); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Sync(); err != nil { // clean pages: the next store faults
		t.Fatal(err)
	}
	filler := ofsFill(t, mnt)
	if _, err := m.WriteAt([]byte("abcdefgh"), 5*4096); !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Errorf("WriteAt into written bytes on a full btrfs: %v, want ErrNoSpace", err)
	}
	if err := m.Scatter([]byte("12345678"), []int64{cs + 3*4096}, 8); !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Errorf("Scatter into written bytes on a full btrfs: %v, want ErrNoSpace", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("abcdefgh"), 5*4096); err != nil {
		t.Errorf("WriteAt after space was freed: %v", err)
	}
	if err := m.Scatter([]byte("12345678"), []int64{cs + 3*4096}, 8); err != nil {
		t.Errorf("Scatter after space was freed: %v", err)
	}
	copy(data[5*4096:], "abcdefgh")
	copy(data[cs+3*4096:], "12345678")
	got := make([]byte, len(data))
	if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back: %v, equal %v", err, bytes.Equal(got, data))
	}
}

// TestOtherFS_FullCopyOnWriteStatePage: on a full btrfs a store into the
// manifest's shared state page faults too (its write-back needs new
// blocks), so a Truncate that shrinks within a chunk, which changes
// nothing but the page, cannot record its Size. It failed with ErrIO
// saying "the system refuses writes to the file, or the device failed",
// with no system error in the chain; it must fail with ENOSPC in the
// chain, and work once there is room. Its Size is changed in this process
// all the same, so the error is ErrIO, not ErrNoSpace, which promises a
// dataset left as it was; the next such call, refused with nothing done,
// is ErrNoSpace.
func TestOtherFS_FullCopyOnWriteStatePage(t *testing.T) {
	skipImmutableUnderRace(t) // the same fault, in the race detector's atomics
	mnt, dir, m := ofsOpenBtrfs(t, chunkmap.Options{})
	if _, err := m.WriteAt(bytes.Repeat([]byte{7}, 1<<20), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil { // the page written back: the next store faults in
		t.Fatal(err)
	}
	filler := ofsFill(t, mnt)
	err := m.Truncate(1000)
	if !errors.Is(err, chunkmap.ErrIO) || errors.Is(err, chunkmap.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Truncate on a full btrfs: %v, want ErrIO (its Size is changed) and ENOSPC", err)
	}
	if got := m.Size(); got != 1000 {
		t.Errorf("Size after the Truncate = %d, want 1000", got)
	}
	err = m.Truncate(500)
	if !errors.Is(err, chunkmap.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Truncate while the page still cannot be written: %v, want ErrNoSpace and ENOSPC", err)
	}
	if got := m.Size(); got != 1000 {
		t.Errorf("Size after the refused Truncate = %d, want 1000", got)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(1000); err != nil {
		t.Errorf("Truncate once there is room: %v", err)
	}
	if err := m.Sync(); err != nil {
		t.Errorf("Sync once there is room: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err = chunkmap.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.Size(); got != 1000 {
		t.Errorf("Size after reopening = %d, want 1000", got)
	}
}

// TestOtherFS_FullCopyOnWriteAppend: on a full btrfs an Append into a
// chunk's preallocated bytes is stored (pwrite writes there without new
// blocks, after the store through the mapping faulted), but the state page
// cannot take the new Size. That Append returned ErrNoSpace, whose
// contract is a dataset left as it was, to be retried once there is room,
// while Size covered its bytes: a caller that retried it appended the
// record twice. It must return ErrIO (ENOSPC in the chain), which says the
// change is made in this process; an Append after it, refused with nothing
// done, is ErrNoSpace.
func TestOtherFS_FullCopyOnWriteAppend(t *testing.T) {
	skipImmutableUnderRace(t) // the state page faults on a store
	mnt, _, m := ofsOpenBtrfs(t, chunkmap.Options{})
	if _, err := m.Append(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil { // the page written back: the next store faults in
		t.Fatal(err)
	}
	filler := ofsFill(t, mnt)
	_, err := m.Append([]byte("record"))
	if m.Size() == 4096 {
		t.Skipf("the Append was refused with nothing done (%v): its bytes did not fit either", err)
	}
	if !errors.Is(err, chunkmap.ErrIO) || errors.Is(err, chunkmap.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Append whose bytes Size covers but the state page cannot record: %v, want ErrIO and ENOSPC, not ErrNoSpace", err)
	}
	if _, err := m.Append([]byte("second")); !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Errorf("Append while the page still cannot be written: %v, want ErrNoSpace", err)
	}
	if got := m.Size(); got != 4096+6 {
		t.Errorf("Size = %d, want %d", got, 4096+6)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Errorf("Sync once there is room: %v", err)
	}
	got := make([]byte, 6)
	if _, err := m.ReadAt(got, 4096); err != nil || string(got) != "record" {
		t.Errorf("ReadAt(4096) = %q, %v, want \"record\"", got, err)
	}
}

// ofsMountOverlay mounts an overlay file system whose lower layer is
// lower, with its upper and work directories in a new directory on t's
// temporary file system, on a new directory; it unmounts it when t ends.
// It skips t where mounting is not allowed (not root, no overlay in the
// kernel, a temporary directory that cannot be an upper layer).
func ofsMountOverlay(t *testing.T, lower string) string {
	t.Helper()
	back := t.TempDir()
	upper, work := filepath.Join(back, "upper"), filepath.Join(back, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mnt := t.TempDir()
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if out, err := exec.Command("mount", "-t", "overlay", "overlay", "-o", opts, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount an overlay file system: %v: %s", err, out)
	}
	t.Cleanup(func() { fzUnmount(t, mnt) })
	return mnt
}

// TestOtherFS_OverlayRemoveLowerDataset: in a container, a dataset made
// in the image is in an overlay's lower layer. Remove renames the emptied
// directory aside before it removes it, and overlayfs refuses to rename a
// directory of a lower layer (EXDEV, unless mounted with redirect_dir):
// Remove failed with ErrIO ("remove directory: invalid cross-device
// link") after it had deleted every file, and left the empty directory.
// It must remove the directory as it does elsewhere.
func TestOtherFS_OverlayRemoveLowerDataset(t *testing.T) {
	lower := t.TempDir()
	m, err := chunkmap.Open(filepath.Join(lower, "ds"), &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(bytes.Repeat([]byte{3}, 200<<10), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(ofsMountOverlay(t, lower), "ds")
	if m, err = chunkmap.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("upper"), 100<<10); err != nil {
		t.Errorf("WriteAt into a chunk of the lower layer: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := chunkmap.Remove(dir); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the dataset's directory after Remove: %v, want it gone", err)
	}
}

// TestOtherFS_ZeroingBesideLiveBytes: a write past Size after a Truncate
// zeroes the stale bytes between Size and the write with
// FALLOC_FL_ZERO_RANGE. XFS writes back and drops from the page cache
// every page that range touches, rounded out to whole pages, and zeroes a
// large folio's part of it in place first: the bytes below Size in the
// page of an unaligned Size, which nothing changed, read as zeros for an
// instant, to the writer's and to a follower's ReadAt. Bytes below Size
// must always read back as written.
func TestOtherFS_ZeroingBesideLiveBytes(t *testing.T) {
	const cs = 64 << 10
	for _, fs := range []struct {
		name, mkfs string
		size       int64
		args       []string
	}{
		{"xfs", "mkfs.xfs", 320 << 20, []string{"-q", "-f"}},
		// Blocks larger than a page (Linux 6.12 on): XFS rounds the
		// range out to whole blocks.
		{"xfs 16 KiB blocks", "mkfs.xfs", 320 << 20, []string{"-q", "-f", "-b", "size=16384"}},
		{"btrfs", "mkfs.btrfs", 256 << 20, []string{"-q", "-f"}},
		{"ext4 1 KiB blocks", "mkfs.ext4", 64 << 20, []string{"-q", "-F", "-b", "1024"}},
	} {
		t.Run(fs.name, func(t *testing.T) {
			dir := filepath.Join(ofsMountImage(t, fs.mkfs, fs.size, fs.args...), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			const span = 4 * cs
			data := make([]byte, span)
			for i := range len(data) / 8 {
				binary.LittleEndian.PutUint64(data[8*i:], uint64(i+1))
			}
			if _, err := m.WriteAt(data, 0); err != nil {
				t.Fatal(err)
			}
			r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// cut is where Size is cut, in the middle of a page; the
			// readers read the words just below it, which stay.
			var cut atomic.Int64
			cut.Store(span)
			stop := make(chan struct{})
			bad := make(chan string, 1)
			report := func(msg string) {
				select {
				case bad <- msg:
				default:
				}
			}
			var wg sync.WaitGroup
			for _, rd := range []*chunkmap.Manager{m, r} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got := make([]byte, 2048)
					for {
						select {
						case <-stop:
							return
						default:
						}
						// A Truncate to a lower cut may come first: the
						// read then ends there.
						off := cut.Load() - int64(len(got))
						k, err := rd.ReadAt(got, off)
						if err != nil && !errors.Is(err, io.EOF) {
							report(fmt.Sprintf("ReadAt(%d): %v", off, err))
							return
						}
						for j := range k {
							if got[j] != data[off+int64(j)] {
								report(fmt.Sprintf("ReadAt(%d) below Size: byte %d is %#x, want %#x", off, off+int64(j), got[j], data[off+int64(j)]))
								return
							}
						}
					}
				}()
			}
			rng := rand.New(rand.NewPCG(1, 2))
			deadline := time.Now().Add(stormFor(time.Second))
			for time.Now().Before(deadline) && len(bad) == 0 {
				// Between the middle of chunk 1 and that of chunk 2,
				// 2 KiB into a page.
				c := cs + cs/2 + 4096*rng.Int64N(cs/4096) + 2048
				cut.Store(c)
				if err := m.Truncate(c); err != nil {
					t.Fatal(err)
				}
				if _, err := m.WriteAt(data[c:], c); err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			wg.Wait()
			select {
			case msg := <-bad:
				t.Error(msg)
			default:
			}
		})
	}
}

// TestOtherFS_Features runs, on each kind of file system a dataset's
// directory may be on, what a dataset needs of it: reads and writes across
// chunk boundaries (through mappings, pread and pwrite), growth, Truncate
// both ways, DropBefore, Sync, pins and atomics, Close and reopening, the
// crash-safe replacement of a version 1 manifest (a temporary file, fsync
// and rename), and Remove. Each file system is skipped where its mkfs is
// missing or it cannot be mounted.
func TestOtherFS_Features(t *testing.T) {
	const cs = 64 << 10
	image := func(mkfs string, size int64, args ...string) func(*testing.T) string {
		return func(t *testing.T) string { return ofsMountImage(t, mkfs, size, args...) }
	}
	for _, fs := range []struct {
		name  string
		mount func(*testing.T) string
	}{
		{"xfs", image("mkfs.xfs", 320<<20, "-q", "-f")},
		{"btrfs", image("mkfs.btrfs", 256<<20, "-q", "-f")},
		{"ext4 1 KiB blocks", image("mkfs.ext4", 64<<20, "-q", "-F", "-b", "1024")},
		{"tmpfs", func(t *testing.T) string { return fzMount(t, "size=64m") }},
		{"overlay", func(t *testing.T) string { return ofsMountOverlay(t, t.TempDir()) }},
	} {
		t.Run(fs.name, func(t *testing.T) {
			mnt := fs.mount(t)
			dir := filepath.Join(mnt, "ds")
			src := pattern(5, 6*cs)
			data := make([]byte, 6*cs) // what the dataset holds
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { m.Close() }()
			// Small writes (through mappings) and one of several chunks
			// (pwrite), each across a chunk boundary.
			for _, w := range [][2]int64{{cs - 100, 300}, {2*cs - 8, 16}, {2*cs + 100, 3 * cs}, {0, cs - 100}} {
				if _, err := m.WriteAt(src[w[0]:w[0]+w[1]], w[0]); err != nil {
					t.Fatalf("WriteAt(%d bytes at %d): %v", w[1], w[0], err)
				}
				copy(data[w[0]:], src[w[0]:w[0]+w[1]])
			}
			if err := m.StoreUint64(2*cs+8, 42); err != nil {
				t.Fatal(err)
			}
			binary.NativeEndian.PutUint64(data[2*cs+8:], 42)
			p, err := m.PinWritable(cs-4, 8)
			if err != nil {
				t.Fatal(err)
			}
			copy(p.Bytes(), "pinnedXY")
			copy(data[cs-4:], "pinnedXY")
			p.Release()
			if err := m.Grow(2 * cs); err != nil {
				t.Fatalf("Grow: %v", err)
			}
			if off, err := m.Append(src[5*cs+100 : 6*cs]); err != nil || off != 5*cs+100 {
				t.Fatalf("Append = %d, %v, want %d", off, err, 5*cs+100)
			}
			copy(data[5*cs+100:], src[5*cs+100:])
			// A Truncate that shrinks into a chunk, then one that extends
			// past it: the bytes between read as zeros.
			if err := m.Truncate(4*cs + 10); err != nil {
				t.Fatal(err)
			}
			if err := m.Truncate(6 * cs); err != nil {
				t.Fatal(err)
			}
			clear(data[4*cs+10:])
			if err := m.DropBefore(cs + 5); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			check := func(m *chunkmap.Manager, what string) {
				t.Helper()
				if m.Start() != cs || m.Size() != 6*cs {
					t.Errorf("%s: Start, Size = %d, %d, want %d, %d", what, m.Start(), m.Size(), cs, 6*cs)
				}
				got := make([]byte, 5*cs)
				if _, err := m.ReadAt(got, cs); err != nil || !bytes.Equal(got, data[cs:]) {
					t.Errorf("%s: read back: %v, equal %v", what, err, bytes.Equal(got, data[cs:]))
				}
			}
			check(m, "before Close")
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if m, err = chunkmap.Open(dir, nil); err != nil {
				t.Fatalf("reopen: %v", err)
			}
			check(m, "reopened")
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if err := chunkmap.Remove(dir); err != nil {
				t.Errorf("Remove: %v", err)
			}

			// A version 1 manifest is replaced by a version 2 one.
			old := filepath.Join(mnt, "v1")
			if err := os.Mkdir(old, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(old, "0000000000000000.chunk"), src[:cs], 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(manifestPath(old), encodeV1(cs, 0, cs-1), 0o644); err != nil {
				t.Fatal(err)
			}
			if m, err = chunkmap.Open(old, nil); err != nil {
				t.Fatalf("Open of a version 1 dataset: %v", err)
			}
			if fi, err := os.Stat(manifestPath(old)); err != nil || fi.Size() != 4096 {
				t.Errorf("the manifest after a read-write Open: %v, %v, want 4096 bytes", fi, err)
			}
			got := make([]byte, cs-1)
			if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, src[:cs-1]) {
				t.Errorf("read back of the version 1 dataset: %v, equal %v", err, bytes.Equal(got, src[:cs-1]))
			}
		})
	}
}
