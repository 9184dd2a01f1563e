//go:build linux

package chunkmap_test

// The power-loss simulator of powerloss_linux_test.go over workloads in
// which calls fail: a vfstest.Faulty under the Manager (over the
// Recorder) makes the allocation of a chunk's blocks, a pwrite to a chunk
// file or the opening (and creation) of a chunk file fail once, now and
// then, so that WriteAt, Append (which then rolls its reservation back),
// Grow and Truncate fail part way. What every Sync that returned
// acknowledged must still be in the image of every cut.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// cpRun runs the faulty workload of seed in a new directory under root and
// returns it, recorded, for plCheck. failed counts the calls that failed.
func cpRun(t *testing.T, root string, seed uint64, failed *int) *plWorkload {
	t.Helper()
	w := &plWorkload{seed: seed, dir: filepath.Join(root, fmt.Sprintf("w%d", seed), "ds"),
		acked: make(map[int]bool), snaps: map[int]plModel{-1: {}}}
	w.rec = vfstest.NewRecorder(vfs.OS, plBootRecorded)
	w.rec.NoSync = true
	faulty := vfstest.NewFaulty(w.rec)
	r := rand.New(rand.NewPCG(seed, 0xfa17))
	opts := chunkmap.Options{ChunkSize: plChunk, ArenaSize: plArena, MaxMapped: 1 + r.IntN(4), NoAdmission: r.IntN(2) == 0}
	chunkmap.SetFS(&opts, faulty)
	fatal := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d (CHUNKMAP_CRASHX_PL_SEED=%d CHUNKMAP_CRASHX_PL_WORKLOADS=1): %s", seed, seed, fmt.Sprintf(format, args...))
	}
	var s plModel
	open := plOp{kind: plOpen, from: w.rec.Steps()}
	m, err := chunkmap.Open(w.dir, &opts)
	open.to, open.err = w.rec.Steps(), err
	w.ops = append(w.ops, open)
	w.changed = append(w.changed, nil)
	if err != nil {
		fatal("%v", open)
	}
	closed := false
	for i := 1; i <= plOps && !closed; i++ {
		op := plNext(r, &s, len(w.ops))
		if i == plOps && r.IntN(2) == 0 {
			op.kind = plClose
		}
		op.before = s.extent()
		var rule *vfstest.Rule
		if op.kind == plWrite || op.kind == plAppend || op.kind == plGrow || op.kind == plTruncate {
			switch r.IntN(6) {
			case 0:
				rule = faulty.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpAllocate, "*.chunk"), Err: syscall.ENOSPC, Times: 1})
			case 1:
				rule = faulty.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpWrite, "*.chunk"), Err: syscall.EIO, Times: 1})
			case 2:
				rule = faulty.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpOpen, "*.chunk"), Err: syscall.EMFILE, Times: 1})
			}
		}
		if op.syncs() {
			w.snaps[len(w.ops)-1] = s.clone()
			w.snaps[len(w.ops)] = w.snaps[len(w.ops)-1]
		}
		op.from = w.rec.Steps()
		var changed [][2]int64
		if op.kind == plCloseOpen {
			if op.err = m.Close(); op.err == nil {
				m, op.err = chunkmap.Open(w.dir, &opts)
			}
		} else {
			before := s.clone()
			changed = plApply(m, &s, &op)
			if op.err != nil && rule != nil && faulty.Fired(rule) > 0 {
				// An injected failure: it must match a sentinel, leave
				// Start and Size as they were, and the Manager usable;
				// the bytes of a failed WriteAt may be written in part.
				if !crashxSentinel(op.err) {
					fatal("%v: the error matches no sentinel", op)
				}
				if m.Start() != before.start || m.Size() != before.size() {
					fatal("after the failed %v: Start, Size = %d, %d, want them unchanged at %d, %d", op, m.Start(), m.Size(), before.start, before.size())
				}
				if op.kind == plWrite {
					changed = append(changed, [2]int64{max(op.off, s.start), min(op.off+op.n, s.size())})
					if op.off < s.size() {
						if _, err := m.ReadAt(s.data[op.off:min(op.off+op.n, s.size())], op.off); err != nil {
							fatal("reading back the failed %v: %v", op, err)
						}
					}
				}
				*failed++
				op.err = nil
			}
		}
		if rule != nil {
			faulty.Disarm(rule)
		}
		op.to = w.rec.Steps()
		w.ops = append(w.ops, op)
		w.changed = append(w.changed, changed)
		if op.err != nil {
			fatal("%v", op)
		}
		if op.syncs() {
			w.acked[len(w.ops)-1] = true
		}
		closed = op.kind == plClose
		if !closed && (m.Start() != s.start || m.Size() != s.size()) {
			fatal("after %v: Start, Size = %d, %d, want %d, %d", op, m.Start(), m.Size(), s.start, s.size())
		}
	}
	w.steps = w.rec.Steps()
	if !closed {
		got := make([]byte, s.size()-s.start)
		if _, err := m.ReadAt(got, s.start); err != nil && len(got) > 0 {
			fatal("reading the workload's dataset back: %v", err)
		}
		if i := plFirstDiff(got, s.data[s.start:]); i >= 0 {
			fatal("the workload's dataset reads %#x at offset %d, want %#x", got[i], s.start+int64(i), s.data[s.start+int64(i)])
		}
		// Bytes past Size that failed calls may have left read as zeros
		// once the dataset grows over them.
		if ext := min(plLimit, s.size()+plChunk+77); ext > s.size() {
			if err := m.Truncate(ext); err != nil {
				fatal("Truncate(%d) at the end: %v", ext, err)
			}
			tail := make([]byte, ext-s.size())
			if _, err := m.ReadAt(tail, s.size()); err != nil {
				fatal("ReadAt past the old Size: %v", err)
			}
			for i, b := range tail {
				if b != 0 {
					fatal("offset %d, past Size %d, reads %#x once Truncate(%d) covers it, want 0 (stale bytes of a failed call?)", s.size()+int64(i), s.size(), b, ext)
				}
			}
		}
		if err := m.Close(); err != nil {
			fatal("Close: %v", err)
		}
	}
	return w
}

// TestCrashx_PowerLossWithFailingCalls runs faulty workloads (see the top
// of this file) through the power-loss recorder and proves that: every
// injected failure of WriteAt, Append, Grow or Truncate matches a
// sentinel, leaves Start and Size as they were and the Manager usable; no
// byte a failed call left past Size reads as anything but zero when the
// dataset grows over it; and the image of every cut opens and holds what
// the last Sync that returned acknowledged. CHUNKMAP_CRASHX_PL_SEED and
// CHUNKMAP_CRASHX_PL_WORKLOADS replay a run.
func TestCrashx_PowerLossWithFailingCalls(t *testing.T) {
	root := t.TempDir()
	images, _ := plImageRoot(t)
	n := 48
	if v, err := strconv.Atoi(os.Getenv("CHUNKMAP_CRASHX_PL_WORKLOADS")); err == nil && v > 0 {
		n = v
	} else if testing.Short() || raceEnabled {
		n = 4
	}
	seed := testSeed(t, "CHUNKMAP_CRASHX_PL_SEED")
	var st plStats
	violations, failed := 0, 0
	start := time.Now()
	for i := range n {
		w := cpRun(t, root, seed+uint64(i), &failed)
		violations += plReport(t, plCheck(t, w, images, false, &st), violations)
		if err := os.RemoveAll(filepath.Dir(w.dir)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d workloads with %d failed calls, %d cuts checked (%d distinct images), %d violations, in %v",
		n, failed, st.cuts, st.images, violations, time.Since(start).Round(time.Millisecond))
	if failed == 0 {
		t.Errorf("no call failed: the faults were never injected")
	}
}
