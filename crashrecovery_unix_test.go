//go:build unix

package chunkmap_test

// Crash rounds aimed at what TestCrash reaches only by chance: a Truncate
// that shrinks followed by a write past the new Size (the stale bytes of
// the cut must read as zeros, never come back as data), DropBefore (Start
// never moves back, dropped bytes never return), Grow by many chunks (so
// that the next Open has files to remove), and kills that land inside the
// next Open's recovery itself, before the child reports it opened. Each
// round reopens the dataset in the parent and checks every acknowledged
// byte against the model of TestCrash (crashState, checkRecovered).

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// nextRecoveryOps draws a short scenario of operations for state s,
// applying them to s, each valid.
func nextRecoveryOps(r *rand.Rand, s *crashState) []crashOp {
	size := s.size()
	payload := func(n int) []byte {
		b := make([]byte, n)
		var w uint64
		for i := range b {
			if i%8 == 0 {
				w = r.Uint64()
			}
			b[i] = byte(w>>(i%8*8)) | 1 // never zero, so lost writes show
		}
		return b
	}
	write := func(off int64, n int) crashOp {
		op := crashOp{kind: opWrite, off: off, data: payload(n)}
		if end := off + int64(n); end > s.size() {
			s.data = append(s.data, make([]byte, end-s.size())...)
		}
		copy(s.data[off:], op.data)
		return op
	}
	appendOp := func(n int) crashOp {
		op := crashOp{kind: opAppend, off: s.size(), data: payload(n)}
		s.data = append(s.data, op.data...)
		return op
	}
	truncate := func(n int64) crashOp {
		if n > s.size() {
			s.data = append(s.data, make([]byte, n-s.size())...)
		} else {
			s.data = s.data[:n]
		}
		return crashOp{kind: opTruncate, off: n}
	}
	switch k := r.IntN(100); {
	case size-s.start < 4*crashChunk || (k < 25 && size < crashMaxSize):
		// Fill: appends of random lengths, some across chunks.
		var ops []crashOp
		for range 1 + r.IntN(4) {
			ops = append(ops, appendOp(1+r.IntN(crashChunk+crashChunk/2)))
		}
		return ops
	case k < 55:
		// Shrink, then extend past the cut by a write (a gap of stale
		// bytes between), or by Truncate, or by Append.
		to := s.start + r.Int64N(size-s.start+1)
		ops := []crashOp{truncate(to)}
		switch r.IntN(3) {
		case 0:
			ops = append(ops, write(to+r.Int64N(size-to+2*crashChunk), 1+r.IntN(3000)))
		case 1:
			ops = append(ops, truncate(to+r.Int64N(size-to+2*crashChunk)))
		default:
			ops = append(ops, appendOp(1+r.IntN(3000)))
		}
		if r.IntN(4) == 0 {
			ops = append(ops, crashOp{kind: opSync})
		}
		return ops
	case k < 75:
		off := s.start + r.Int64N(size-s.start+1)
		s.start = max(s.start, off/crashChunk*crashChunk)
		ops := []crashOp{{kind: opDrop, off: off}}
		if r.IntN(2) == 0 {
			ops = append(ops, appendOp(1+r.IntN(5000)))
		}
		return ops
	case k < 85:
		// Many spare chunks past Size, for the next Open to remove.
		return []crashOp{{kind: opGrow, off: r.Int64N(24 * crashChunk)}}
	case k < 92:
		return []crashOp{{kind: opSync}}
	default:
		off := s.start + r.Int64N(size-s.start)
		return []crashOp{write(off, 1+r.IntN(int(min(size-off+1000, 3*crashChunk))))}
	}
}

// recoveryOps returns the first n operations of the sequence of seed from
// state s, applying them to s.
func recoveryOps(seed uint64, s *crashState, n int) []crashOp {
	r := rand.New(rand.NewPCG(seed, 1))
	var ops []crashOp
	for len(ops) < n {
		if s.size()-s.start > 2*crashMaxSize { // keep rounds small: start over from the front
			t := crashOp{kind: opTruncate, off: s.start}
			s.data = s.data[:s.start]
			ops = append(ops, t)
			continue
		}
		ops = append(ops, nextRecoveryOps(r, s)...)
	}
	return ops
}

// TestCrashRecovery_KillAnywhere runs crash rounds on one dataset (see the
// top of this file): in half of them the kill is timed from the child's
// start, so it often lands inside Open's recovery of the last kill. After
// each, the parent's Open must succeed (never ErrCorrupt) and hold every
// byte the operations that returned wrote, with Start and Size of the last
// one that returned or the one in flight. CHUNKMAP_CRASHREC_SEED replays.
func TestCrashRecovery_KillAnywhere(t *testing.T) {
	if spec := os.Getenv("CHUNKMAP_CRASHREC_CHILD"); spec != "" {
		crashRecoveryChild(spec)
		return
	}
	// Its work is in child processes (or the go command): it runs beside
	// the package's other such tests, two at a time on two cores, once the
	// sequential tests are done.
	t.Parallel()
	seed0 := testSeed(t, "CHUNKMAP_CRASHREC_SEED")
	rng := rand.New(rand.NewPCG(seed0, 5))
	rounds := 60
	if raceEnabled {
		rounds = 20 // each round starts a race-instrumented child
	}
	if v, err := strconv.Atoi(os.Getenv("CHUNKMAP_CRASHREC_ROUNDS")); err == nil {
		rounds = v
	}
	if testing.Short() {
		rounds = 10
	}
	dir := t.TempDir()
	var state crashState
	var acked, inOpen int
	created := false // a round has seen the dataset's manifest
	for round := range rounds {
		seed := rng.Uint64()
		early := rng.IntN(2) == 0
		delay := time.Duration(rng.IntN(400)) * time.Millisecond
		if early {
			delay = time.Duration(rng.IntN(30000)) * time.Microsecond
		}
		done := crashRecoveryRound(t, dir, seed, early, delay)
		if done < 0 {
			inOpen++
		}
		if testing.Verbose() {
			t.Logf("round %d: early %v, delay %v, %d ops returned, [%d, %d)", round, early, delay, done+1, state.start, state.size())
		}
		if _, err := os.Lstat(filepath.Join(dir, chunkmap.ManifestName)); errors.Is(err, fs.ErrNotExist) {
			// Killed while creating the dataset: nothing of it may be
			// there yet, and the next child creates it.
			if created || done >= 0 {
				t.Fatalf("round %d (seed %d): %s is gone: %v", round, seed, chunkmap.ManifestName, err)
			}
			continue
		}
		created = true
		model := state.clone()
		// The ops up to done returned; the one after may have been in
		// flight.
		all := recoveryOps(seed, &crashState{data: bytes.Clone(state.data), start: state.start}, done+2)
		allowed := []crashState{}
		if done < 0 {
			allowed = append(allowed, model.clone())
		}
		for i := 0; i <= done+1; i++ {
			applyModel(&model, all[i])
			if i >= done {
				allowed = append(allowed, model.clone())
			}
		}
		acked += done + 1
		state = checkRecovered(t, dir, round, seed, allowed)
		if rng.IntN(3) == 0 {
			checkTailZeros(t, dir, round, seed, rng.Int64N(2*crashChunk)+1)
		}
	}
	t.Logf("%d rounds: %d operations returned before a SIGKILL; %d kills before the child had opened the dataset", rounds, acked, inOpen)
}

// checkTailZeros extends the dataset in dir by n bytes and checks that
// they read as zeros, whatever a crash or a Truncate left past Size in the
// chunk files, then cuts it back.
func checkTailZeros(t *testing.T, dir string, round int, seed uint64, n int64) {
	t.Helper()
	m, err := chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatalf("round %d (seed %d): %v", round, seed, err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Fatalf("round %d (seed %d): Close: %v", round, seed, err)
		}
	}()
	size := m.Size()
	if err := m.Truncate(size + n); err != nil {
		t.Fatalf("round %d (seed %d): Truncate(%d): %v", round, seed, size+n, err)
	}
	tail := make([]byte, n)
	if _, err := m.ReadAt(tail, size); err != nil {
		t.Fatalf("round %d (seed %d): ReadAt past the recovered Size: %v", round, seed, err)
	}
	if i := bytes.IndexFunc(tail, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Fatalf("round %d (seed %d): offset %d, past the recovered Size %d, reads %#x once Truncate extended the dataset over it, want 0",
			round, seed, size+int64(i), size, tail[i])
	}
	if err := m.Truncate(size); err != nil {
		t.Fatalf("round %d (seed %d): Truncate(%d): %v", round, seed, size, err)
	}
}

// applyModel applies op to the model s, as nextRecoveryOps did when it
// drew it.
func applyModel(s *crashState, op crashOp) {
	switch op.kind {
	case opWrite, opAppend:
		if end := op.off + int64(len(op.data)); end > s.size() {
			s.data = append(s.data, make([]byte, end-s.size())...)
		}
		copy(s.data[op.off:], op.data)
	case opTruncate:
		if op.off > s.size() {
			s.data = append(s.data, make([]byte, op.off-s.size())...)
		} else {
			s.data = s.data[:op.off]
		}
	case opDrop:
		s.start = max(s.start, op.off/crashChunk*crashChunk)
	}
}

// crashRecoveryRound runs one child on dir and kills it delay after it
// started Open (early) or after it opened the dataset, and returns the index of
// the last operation that returned, -1 if none.
func crashRecoveryRound(t *testing.T, dir string, seed uint64, early bool, delay time.Duration) int {
	t.Helper()
	cmd, lines, stderr := crashStart(t, "TestCrashRecovery_KillAnywhere", fmt.Sprintf("CHUNKMAP_CRASHREC_CHILD=%s,%d", dir, seed))
	var kill <-chan time.Time
	limit := time.After(20 * time.Second)
	done := -1
	killed := false
	inflight := ""
	defer func() {
		if testing.Verbose() {
			t.Logf("in flight at the kill: %q", inflight)
		}
	}()
	for {
		select {
		case <-kill:
			cmd.Process.Signal(syscall.SIGKILL)
			killed, kill = true, nil
			continue
		case <-limit:
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("seed %d: the child hung\n%s", seed, stderr.String())
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				if !killed {
					t.Fatalf("seed %d: the child exited before the kill\n%s", seed, stderr.String())
				}
				return done
			}
			switch {
			case line == "start":
				if early {
					kill = time.After(delay)
				}
			case line == "open":
				if !early {
					kill = time.After(delay)
				}
			case strings.HasPrefix(line, "begin "):
				inflight = line
			case strings.HasPrefix(line, "done "):
				done, _ = strconv.Atoi(strings.TrimPrefix(line, "done "))
			default:
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				t.Fatalf("seed %d: child: %s\n%s", seed, line, stderr.String())
			}
		}
	}
}

// crashRecoveryChild opens the dataset, reads its state and runs the
// operations of its seed on it until it is killed, reporting each one that
// returned on fd 3.
func crashRecoveryChild(spec string) {
	parts := strings.Split(spec, ",")
	dir := parts[0]
	seed, _ := strconv.ParseUint(parts[1], 10, 64)
	report := os.NewFile(3, "report")
	fail := func(err error) {
		fmt.Fprintf(report, "error %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintln(report, "start")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: crashChunk, MaxMapped: 1 + int(seed%3)})
	if err != nil {
		fail(err)
	}
	s := crashState{data: make([]byte, m.Size()), start: m.Start()}
	if m.Size() > m.Start() {
		if _, err := m.ReadAt(s.data[s.start:], s.start); err != nil {
			fail(err)
		}
	}
	fmt.Fprintln(report, "open")
	// The parent replays at most the operations that returned and one
	// more; a long sequence is drawn in steps.
	for i, n := 0, 64; ; n *= 2 {
		ops := recoveryOps(seed, &crashState{data: bytes.Clone(s.data), start: s.start}, n)
		for ; i < len(ops); i++ {
			fmt.Fprintf(report, "begin %d %d %d\n", i, ops[i].kind, ops[i].off)
			if err := applyOp(m, ops[i]); err != nil {
				fail(fmt.Errorf("op %d (%d at %d): %w", i, ops[i].kind, ops[i].off, err))
			}
			fmt.Fprintf(report, "done %d\n", i)
		}
	}
}
