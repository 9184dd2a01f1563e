//go:build linux

package chunkmap_test

// The power-loss simulator of powerloss_linux_test.go over a concurrent
// workload: goroutines Append self-describing records (dmRecord) while one
// calls DropBefore and another Syncs, with nothing between them but the
// Manager's own locks (the simulator's workloads run one call at a time).
// For every cut of the recorded log: a DropBefore that returned before a
// Sync began, when that Sync returned before the cut, must not come back;
// every record whose Append returned before such a Sync began, at or past
// the image's Start, must read back whole; and the image's Start must be
// one a DropBefore begun before the cut asked for. The Recorder's images
// of a concurrent workload may hold more than a real disk would (an fsync
// reads back stores made after it began, see vfstest.Recorder), never
// less, so a loss they show is real. A workload may crash (between
// calls) and recover once or twice on the way: what the writer that
// recovered syncs covers what the crashed one wrote.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// dpEvent is a call of a concurrent workload that returned: tick orders
// the begin and the return of calls across goroutines; step brackets the
// recorder steps the call could have made.
type dpEvent struct {
	kind               string // append, drop, sync
	rec                dmRec  // append
	off                int64  // drop: the Start it asks for
	beginTick, endTick int64
	beginStep, endStep int
}

type dpWorkload struct {
	dir    string
	rec    *vfstest.Recorder
	events []dpEvent
	begun  []dpEvent // drops begun, returned or not (endStep unset)
}

func dpRun(t *testing.T, root string, seed uint64) *dpWorkload {
	t.Helper()
	w := &dpWorkload{dir: filepath.Join(root, fmt.Sprintf("w%d", seed), "ds")}
	w.rec = vfstest.NewRecorder(vfs.OS, plBootRecorded)
	w.rec.NoSync = true
	r := rand.New(rand.NewPCG(seed, 0xd509))
	opts := chunkmap.Options{ChunkSize: plChunk, ArenaSize: plArena, MaxMapped: 1 + r.IntN(3), NoAdmission: r.IntN(2) == 0}
	chunkmap.SetFS(&opts, w.rec)
	m, err := chunkmap.Open(w.dir, &opts)
	if err != nil {
		t.Fatalf("seed %d: Open: %v", seed, err)
	}
	var (
		tick   atomic.Int64
		mu     sync.Mutex
		ends   []int64
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
		stop   atomic.Bool
		seq    atomic.Uint64
	)
	note := func(e dpEvent) {
		mu.Lock()
		defer mu.Unlock()
		w.events = append(w.events, e)
	}
	fail := func(err error) {
		failed.CompareAndSwap(nil, &err)
		stop.Store(true)
	}
	begin := func() (int64, int) { return tick.Add(1), w.rec.Steps() }
	// One to three phases, each ended, but the last, by a crash of the
	// process (between calls: a crash inside one is the kill tests'
	// business) and an Open that recovers from the page cache.
	phases := 1 + r.IntN(3)
	for phase := range phases {
		appenders := 3 + r.IntN(4)
		var running sync.WaitGroup
		for g := range appenders {
			running.Add(1)
			wg.Go(func() {
				defer running.Done()
				ar := rand.New(rand.NewPCG(seed, uint64(g)+uint64(phase)<<8))
				for range 6 + ar.IntN(8) {
					if stop.Load() {
						return
					}
					n := dmHead + ar.IntN(3000)
					if ar.IntN(8) == 0 {
						n = plChunk/2 + ar.IntN(plChunk*3/2)
					}
					s := seq.Add(1)
					bt, bs := begin()
					off, err := m.Append(dmRecord(s, n))
					if err != nil {
						fail(fmt.Errorf("Append seq %d: %w", s, err))
						return
					}
					note(dpEvent{kind: "append", rec: dmRec{seq: s, off: off, n: n}, beginTick: bt, beginStep: bs, endTick: tick.Add(1), endStep: w.rec.Steps()})
					mu.Lock()
					ends = append(ends, off)
					mu.Unlock()
					time.Sleep(time.Duration(ar.IntN(300)) * time.Microsecond)
				}
			})
		}
		done := make(chan struct{})
		go func() { running.Wait(); close(done) }()
		wg.Go(func() {
			sr := rand.New(rand.NewPCG(seed, 77+uint64(phase)<<8))
			for {
				select {
				case <-done:
					return
				case <-time.After(time.Duration(sr.IntN(800)) * time.Microsecond):
				}
				bt, bs := begin()
				if err := m.Sync(); err != nil {
					fail(fmt.Errorf("Sync: %w", err))
					return
				}
				note(dpEvent{kind: "sync", beginTick: bt, beginStep: bs, endTick: tick.Add(1), endStep: w.rec.Steps()})
			}
		})
		wg.Go(func() {
			dr := rand.New(rand.NewPCG(seed, 78+uint64(phase)<<8))
			for {
				select {
				case <-done:
					return
				case <-time.After(time.Duration(dr.IntN(1200)) * time.Microsecond):
				}
				size := m.Size()
				off := size - int64(1+dr.IntN(4))*plChunk
				if off <= m.Start() {
					continue
				}
				switch dr.IntN(5) {
				case 3: // everything, up to Size as the dropper saw it
					off = size
				case 0:
					mu.Lock()
					off = dmBoundary(ends, off)
					mu.Unlock()
				case 1:
					off = off / plChunk * plChunk
				}
				bt, bs := begin()
				mu.Lock()
				w.begun = append(w.begun, dpEvent{kind: "drop", off: off / plChunk * plChunk, beginStep: bs})
				mu.Unlock()
				if err := m.DropBefore(off); err != nil {
					fail(fmt.Errorf("DropBefore(%d): %w", off, err))
					return
				}
				note(dpEvent{kind: "drop", off: off / plChunk * plChunk, beginTick: bt, beginStep: bs, endTick: tick.Add(1), endStep: w.rec.Steps()})
			}
		})
		wg.Wait()
		if e := failed.Load(); e != nil {
			t.Fatalf("seed %d: %v", seed, *e)
		}
		if phase == phases-1 {
			break
		}
		if err := chunkmap.Abandon(m); err != nil {
			t.Fatalf("seed %d: Abandon: %v", seed, err)
		}
		if m, err = chunkmap.Open(w.dir, &opts); err != nil {
			t.Fatalf("seed %d: Open after a crash: %v", seed, err)
		}
	}
	// A last Sync, so that the last cuts acknowledge everything.
	bt, bs := tick.Add(1), w.rec.Steps()
	if err := m.Sync(); err != nil {
		t.Fatalf("seed %d: Sync: %v", seed, err)
	}
	w.events = append(w.events, dpEvent{kind: "sync", beginTick: bt, beginStep: bs, endTick: tick.Add(1), endStep: w.rec.Steps()})
	if err := chunkmap.Abandon(m); err != nil {
		t.Fatalf("seed %d: Abandon: %v", seed, err)
	}
	return w
}

// dpReopened is what opening an image gave.
type dpReopened struct {
	err         error
	start, size int64
	bad         map[uint64]string // record seq -> what is wrong with it
	below       string            // a chunk file below Start left after Open
}

// judge returns what is wrong with res as the image of a cut after step
// k, or "".
func (w *dpWorkload) judge(k int, res dpReopened, recs []dmRec) string {
	if res.err != nil {
		return fmt.Sprintf("reopening the image: %v", res.err)
	}
	if res.below != "" {
		return res.below
	}
	// The Syncs that returned before the cut, and the latest tick at
	// which one of them began.
	var synced int64 = -1
	for _, e := range w.events {
		if e.kind == "sync" && e.endStep <= k {
			synced = max(synced, e.beginTick)
		}
	}
	var wantStart, maxStart int64
	for _, e := range w.events {
		if e.kind == "drop" && e.endTick < synced {
			wantStart = max(wantStart, e.off)
		}
	}
	for _, e := range w.begun {
		if e.beginStep < k {
			maxStart = max(maxStart, e.off)
		}
	}
	switch {
	case res.start < wantStart:
		return fmt.Sprintf("Start %d, below the %d of a DropBefore that returned before an acknowledged Sync began (a dropped chunk came back)", res.start, wantStart)
	case res.start > maxStart:
		return fmt.Sprintf("Start %d, past the %d any DropBefore begun before the cut asked for", res.start, maxStart)
	}
	for _, e := range w.events {
		if e.kind != "append" || e.endTick >= synced || e.rec.off < res.start {
			continue
		}
		if end := e.rec.off + int64(e.rec.n); end > res.size {
			return fmt.Sprintf("Size %d does not cover record %d at [%d, %d), acknowledged by a Sync", res.size, e.rec.seq, e.rec.off, end)
		}
		if why, ok := res.bad[e.rec.seq]; ok {
			return fmt.Sprintf("record %d at [%d, %d), acknowledged by a Sync: %s", e.rec.seq, e.rec.off, e.rec.off+int64(e.rec.n), why)
		}
	}
	return ""
}

// dpReopen writes im under root, opens it read-write as after a reboot,
// and reads back every record of recs at or past Start.
func dpReopen(t *testing.T, im *vfstest.Image, root string, fsys vfs.FS, recs []dmRec) dpReopened {
	t.Helper()
	dst := plImageDir(t, im, root)
	defer os.RemoveAll(dst)
	m, err := plOpenImage(dst, fsys)
	if err != nil {
		return dpReopened{err: err}
	}
	res := dpReopened{start: m.Start(), size: m.Size(), bad: map[uint64]string{}}
	for _, r := range recs {
		if r.off < res.start || r.off+int64(r.n) > res.size {
			continue
		}
		b := make([]byte, r.n)
		if _, err := m.ReadAt(b, r.off); err != nil {
			res.bad[r.seq] = fmt.Sprintf("ReadAt: %v", err)
		} else if why := dmBad(b, r.seq); why != "" {
			res.bad[r.seq] = why
		}
	}
	if err := m.Close(); err != nil {
		res.err = fmt.Errorf("Close: %w", err)
	}
	names, _ := filepath.Glob(filepath.Join(dst, "*"+chunk.Ext))
	for _, name := range names {
		if idx, ok := chunk.ParseName(filepath.Base(name)); ok && idx*plChunk < res.start {
			res.below = fmt.Sprintf("chunk file %s, below Start %d, left after a read-write Open", filepath.Base(name), res.start)
		}
	}
	return res
}

// TestCrashx_PowerLossConcurrentDrop runs concurrent workloads (see the
// top of this file) through the power-loss recorder and checks the image
// of every cut. CHUNKMAP_CRASHX_PL_SEED and CHUNKMAP_CRASHX_PL_WORKLOADS
// replay a run.
func TestCrashx_PowerLossConcurrentDrop(t *testing.T) {
	root := t.TempDir()
	images, _ := plImageRoot(t)
	n := 8
	if v, err := strconv.Atoi(os.Getenv("CHUNKMAP_CRASHX_PL_WORKLOADS")); err == nil && v > 0 {
		n = v
	} else if testing.Short() || raceEnabled {
		n = 2
	}
	seed := testSeed(t, "CHUNKMAP_CRASHX_PL_SEED")
	fsys := plReopenFS()
	cuts, opened, drops := 0, 0, 0
	for i := range n {
		w := dpRun(t, root, seed+uint64(i))
		var recs []dmRec
		for _, e := range w.events {
			switch e.kind {
			case "append":
				recs = append(recs, e.rec)
			case "drop":
				drops++
			}
		}
		bad := 0
		reopen := func(im *vfstest.Image) dpReopened {
			opened++
			return dpReopen(t, im, images, fsys, recs)
		}
		plEachCut(t, w.rec, w.dir, 0, w.rec.Steps(), reopen, func(cut vfstest.Cut, im *vfstest.Image, res dpReopened) bool {
			cuts++
			if what := w.judge(cut.After, res, recs); what != "" {
				if bad++; bad <= 3 {
					t.Errorf("seed %d (CHUNKMAP_CRASHX_PL_SEED=%d CHUNKMAP_CRASHX_PL_WORKLOADS=1), cut after step %d with %d early name changes: %s\n  image: %v",
						seed+uint64(i), seed+uint64(i), cut.After, cut.DirOps, what, im)
				}
			}
			return true
		})
		if bad > 0 {
			t.Logf("steps: %v", w.rec.Log(1, w.rec.Steps()))
			break
		}
		if err := os.RemoveAll(filepath.Dir(w.dir)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d workloads, %d DropBefore calls returned, %d cuts checked (%d distinct images)", n, drops, cuts, opened)
}
