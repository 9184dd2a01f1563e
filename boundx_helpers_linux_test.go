//go:build linux

package chunkmap_test

// Helpers of the boundx_*_test.go files: black-box checks of resource
// bounds (mappings, descriptors, goroutines), re-entrancy and hangs. Each
// test arms a watchdog (internal/watchdog) that dumps every goroutine's
// stack and ends the process, so that a hang is reported instead of
// stalling the run.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/procself"
)

// bxChunk is the chunk size of every boundx test: the smallest.
const bxChunk = chunkmap.MinChunkSize

// bxSentinels are the errors every error of the package must match.
var bxSentinels = []error{
	chunkmap.ErrClosed, chunkmap.ErrReadOnly, chunkmap.ErrOutOfRange, chunkmap.ErrCorrupt,
	chunkmap.ErrLocked, chunkmap.ErrInvalidOptions, chunkmap.ErrUnaligned, chunkmap.ErrNoSpace,
	chunkmap.ErrBusy, chunkmap.ErrFault, chunkmap.ErrIO, chunkmap.ErrSyncFailed,
}

// bxErrs collects contract violations from many goroutines, keeping the
// first few.
type bxErrs struct {
	n    atomic.Int64
	msgs [16]atomic.Pointer[string]
}

func (e *bxErrs) add(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	k := e.n.Add(1) - 1
	if k < int64(len(e.msgs)) {
		e.msgs[k].Store(&s)
	}
}

func (e *bxErrs) report(t *testing.T) {
	t.Helper()
	n := e.n.Load()
	for i := int64(0); i < min(n, int64(len(e.msgs))); i++ {
		if p := e.msgs[i].Load(); p != nil {
			t.Error(*p)
		}
	}
	if n > int64(len(e.msgs)) {
		t.Errorf("... and %d more", n-int64(len(e.msgs)))
	}
}

// check records err unless it is nil, io.EOF, or matches a sentinel and
// one of allowed (any sentinel if allowed is empty).
func (e *bxErrs) check(what string, err error, allowed ...error) {
	if err == nil || err == io.EOF {
		return
	}
	ok := false
	for _, s := range bxSentinels {
		if errors.Is(err, s) {
			ok = true
		}
	}
	if !ok {
		e.add("%s: error %q (%T) matches no sentinel", what, err, err)
		return
	}
	if len(allowed) == 0 {
		return
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return
		}
	}
	e.add("%s: unexpected error %v", what, err)
}

// bxMaps returns the bytes of this process's mappings of dir's chunk files
// (deleted ones included) and the number of /proc/self/maps lines naming
// any file of dir.
func bxMaps(t testing.TB, dir string) (chunkBytes int64, lines int) {
	return bxMapsIn(bxReadMaps(t), dir)
}

// bxMapsIn is bxMaps over b, a listing read by bxReadMaps.
func bxMapsIn(b []byte, dir string) (chunkBytes int64, lines int) {
	for _, m := range procself.ParseMaps(b) {
		if !strings.HasPrefix(m.Path, dir+"/") {
			continue
		}
		lines++
		isChunk := strings.HasSuffix(m.Path, ".chunk") || strings.Contains(m.Path, "/#") || strings.Contains(m.Path, "memfd")
		if isChunk && !strings.HasSuffix(m.Path, ManifestNameForBx) {
			chunkBytes += m.Bytes()
		}
	}
	return chunkBytes, lines
}

// ManifestNameForBx is the manifest's name, excluded from chunk counts.
const ManifestNameForBx = "/" + chunkmap.ManifestName

// bxFDs returns how many descriptors the process has open on files of dir
// (dir itself included).
func bxFDs(t testing.TB, dir string) int {
	fds, err := procself.FDs()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range fds {
		if procself.Under(l, dir) {
			n++
		}
	}
	return n
}

// bxAllFDs returns how many descriptors the process has open.
func bxAllFDs(t testing.TB) int {
	fds, err := procself.FDs()
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// bxOpen opens a new dataset of bxChunk chunks in a temporary directory.
func bxOpen(t testing.TB, o chunkmap.Options) (*chunkmap.Manager, string) {
	t.Helper()
	dir := t.TempDir() + "/ds"
	o.ChunkSize = bxChunk
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return m, dir
}

// bxFill writes n chunks of a recognisable pattern: byte i of chunk c is
// byte(c*7 + i).
func bxFill(t testing.TB, m *chunkmap.Manager, chunks int) {
	t.Helper()
	buf := make([]byte, bxChunk)
	for c := 0; c < chunks; c++ {
		for i := range buf {
			buf[i] = byte(c*7 + i)
		}
		if _, err := m.WriteAt(buf, int64(c)*bxChunk); err != nil {
			t.Fatalf("fill chunk %d: %v", c, err)
		}
	}
}

// bxSettleMaps collects garbage until no mapping of dir's files is left
// (the cleanups of closed, unreachable Managers have run), and fails the
// test if some is still there after bxGoneWait.
func bxSettleMaps(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(bxGoneWait)
	for {
		runtime.GC()
		if _, lines := bxMaps(t, dir); lines == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("closed Managers still map files of %s:\n%s", dir, bxMapsOf(t, dir))
		}
		time.Sleep(time.Millisecond)
	}
}

// bxGoneWait bounds the waits for what a closed, unreachable Manager gives
// back in its cleanup: it runs within milliseconds of a collection, but the
// race detector and other test binaries on a loaded machine can delay the
// cleanup goroutine far longer. The bound only tells a leak, which never
// goes, from a late cleanup.
const bxGoneWait = time.Minute

// bxWaitGone waits (collecting garbage, for the arena's cleanup) until no
// mapping and no descriptor of dir is left, and the goroutine count is back
// at base; it reports what is left after bxGoneWait.
func bxWaitGone(t *testing.T, dir string, baseG int) {
	t.Helper()
	deadline := time.Now().Add(bxGoneWait)
	for {
		runtime.GC()
		_, lines := bxMaps(t, dir)
		fds := bxFDs(t, dir)
		g := runtime.NumGoroutine()
		if lines == 0 && fds == 0 && g <= baseG {
			return
		}
		if time.Now().After(deadline) {
			if lines != 0 {
				t.Errorf("after Close: %d lines of /proc/self/maps still name files of %s:\n%s", lines, dir, bxMapsOf(t, dir))
			}
			if fds != 0 {
				t.Errorf("after Close: %d descriptors of %s still open", fds, dir)
			}
			if g > baseG {
				buf := make([]byte, 1<<20)
				t.Errorf("after Close: %d goroutines, %d before:\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bxMapsOf returns the lines of /proc/self/maps naming files of dir.
func bxMapsOf(t testing.TB, dir string) string {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return bxLinesOf(b, dir)
}

// bxLinesOf returns the lines of the listing b that name files of dir.
func bxLinesOf(b []byte, dir string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, dir+"/") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// bxHeld is a conservative count of the chunks a test's own holds (pins,
// views, batches) may keep mapped: raised before a hold is taken and
// lowered after it is released, with a high-water mark that a sampler
// resets before it looks at the kernel's count.
type bxHeld struct {
	cur, hw atomic.Int64
}

func (h *bxHeld) add(n int64) {
	c := h.cur.Add(n)
	for {
		w := h.hw.Load()
		if c <= w || h.hw.CompareAndSwap(w, c) {
			return
		}
	}
}

func (h *bxHeld) sub(n int64) { h.cur.Add(-n) }

// window resets the high-water mark to the current count.
func (h *bxHeld) window() { h.hw.Store(h.cur.Load()) }

// chunksOf returns how many chunks [off, off+n) covers (1 for n == 0).
func chunksOf(off int64, n int) int64 {
	if n <= 0 {
		return 1
	}
	return (off+int64(n)-1)/bxChunk - off/bxChunk + 1
}

// bxCopyPinned returns a copy of the Pinned value *p (as a caller that
// copies the struct by mistake would have), without tripping vet.
func bxCopyPinned(p *chunkmap.Pinned) *chunkmap.Pinned {
	c := reflect.New(reflect.TypeFor[chunkmap.Pinned]())
	c.Elem().Set(reflect.ValueOf(p).Elem())
	return c.Interface().(*chunkmap.Pinned)
}

// bxReadMaps reads /proc/self/maps (procself.ReadMaps).
func bxReadMaps(t testing.TB) []byte {
	b, err := procself.ReadMaps()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
