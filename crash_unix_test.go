//go:build unix

package chunkmap_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// The crash test: a child process runs a seeded sequence of operations on a
// dataset, reporting each operation that returned through a pipe; the
// parent kills it with SIGKILL at a random moment, reopens the dataset and
// checks it against a model replayed from the same seed. A crash of the
// process keeps what a file would keep: every operation that returned,
// synced or not, and possibly the one in progress. Rounds continue on the
// same dataset, so recovery from one crash is itself crashed into.

const (
	crashChunk   = 64 << 10
	crashMaxSize = 1 << 20 // keeps each round's dataset small
)

// crashState is the model of a dataset: data[i] is the byte at offset i for
// i in [start, len(data)), and Size is len(data).
type crashState struct {
	data  []byte
	start int64
}

func (s crashState) size() int64 { return int64(len(s.data)) }

func (s crashState) clone() crashState {
	return crashState{data: bytes.Clone(s.data), start: s.start}
}

// byteAt is what offset off reads as in state s, counting bytes past Size as
// the zeros they read as once the dataset is extended over them.
func (s crashState) byteAt(off int64) byte {
	if off < s.size() {
		return s.data[off]
	}
	return 0
}

type crashOpKind int

const (
	opWrite crashOpKind = iota
	opAppend
	opTruncate
	opDrop
	opGrow
	opSync
)

type crashOp struct {
	kind crashOpKind
	off  int64
	data []byte
}

// nextOp draws the next operation for state s and applies it to s. Every
// drawn operation is valid, so the Manager must succeed at it.
func nextOp(r *rand.Rand, s *crashState) crashOp {
	size := s.size()
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32()) | 1 // never zero, so lost writes show
		}
		return b
	}
	k := r.IntN(100)
	switch {
	case k < 8:
		return crashOp{kind: opSync}
	case k < 40 && size < crashMaxSize:
		op := crashOp{kind: opAppend, data: payload(1 + r.IntN(6000))}
		op.off = size
		s.data = append(s.data, op.data...)
		return op
	case k < 75 && size < crashMaxSize:
		off := s.start + r.Int64N(size-s.start+8000)
		op := crashOp{kind: opWrite, off: off, data: payload(1 + r.IntN(3000))}
		if end := off + int64(len(op.data)); end > size {
			s.data = append(s.data, make([]byte, end-size)...)
		}
		copy(s.data[off:], op.data)
		return op
	case k < 85:
		n := s.start + r.Int64N(size-s.start+1)
		if size < crashMaxSize && r.IntN(3) == 0 {
			n = size + r.Int64N(5000)
		}
		if n > size {
			s.data = append(s.data, make([]byte, n-size)...)
		} else {
			s.data = s.data[:n]
		}
		return crashOp{kind: opTruncate, off: n}
	case k < 92:
		off := s.start + r.Int64N(size-s.start+1)
		s.start = max(s.start, off/crashChunk*crashChunk)
		return crashOp{kind: opDrop, off: off}
	default:
		return crashOp{kind: opGrow, off: r.Int64N(3 * crashChunk)}
	}
}

func applyOp(m *chunkmap.Manager, op crashOp) error {
	var err error
	switch op.kind {
	case opWrite:
		_, err = m.WriteAt(op.data, op.off)
	case opAppend:
		var off int64
		off, err = m.Append(op.data)
		if err == nil && off != op.off {
			err = fmt.Errorf("Append at %d, model says %d", off, op.off)
		}
	case opTruncate:
		err = m.Truncate(op.off)
	case opDrop:
		err = m.DropBefore(op.off)
	case opGrow:
		err = m.Grow(op.off)
	case opSync:
		err = m.Sync()
	}
	return err
}

// readState reads the whole readable range of m.
func readState(t testing.TB, m *chunkmap.Manager) crashState {
	t.Helper()
	s := crashState{data: make([]byte, m.Size()), start: m.Start()}
	if n := m.Size() - m.Start(); n > 0 {
		if _, err := m.ReadAt(s.data[s.start:], s.start); err != nil {
			t.Fatalf("reading [%d, %d): %v", s.start, m.Size(), err)
		}
	}
	return s
}

func TestCrash(t *testing.T) {
	if spec := os.Getenv("CHUNKMAP_CRASH_CHILD"); spec != "" {
		crashChild(t, spec)
		return
	}
	// Its work is in child processes (or the go command): it runs beside
	// the package's other such tests, two at a time on two cores, once the
	// sequential tests are done.
	t.Parallel()
	rounds := 200
	if v, err := strconv.Atoi(os.Getenv("CHUNKMAP_CRASH_ROUNDS")); err == nil {
		rounds = v
	} else if testing.Short() {
		rounds = 10
	} else if raceEnabled {
		// Each round starts a child built with the race detector, which
		// takes most of the round: the run without it does all 200.
		rounds = 80
	}
	dir := t.TempDir()
	seed0 := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed0)
	rng := rand.New(rand.NewPCG(seed0, 7))
	var (
		state              crashState
		totalOps, totalSyn int
	)
	for round := range rounds {
		if round%10 == 0 { // a fresh dataset now and then keeps rounds varied
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			state = crashState{}
		}
		seed := rng.Uint64()
		maxMapped := 1 + rng.IntN(3)
		done, synced := crashRound(t, dir, seed, maxMapped, time.Duration(2+rng.IntN(40))*time.Millisecond)
		totalSyn += synced
		// Replay the child's sequence: the state after the last operation
		// that returned, and the one after the operation in progress.
		r := rand.New(rand.NewPCG(seed, 0))
		model := state.clone()
		allowed := []crashState{}
		if done < 0 {
			allowed = append(allowed, model.clone())
		}
		for i := 0; i <= done+1; i++ {
			nextOp(r, &model)
			if i >= done {
				allowed = append(allowed, model.clone())
			}
		}
		totalOps += done + 1
		state = checkRecovered(t, dir, round, seed, allowed)
	}
	t.Logf("%d crash rounds: %d operations returned before a SIGKILL (%d of them Syncs), none lost", rounds, totalOps, totalSyn)
}

// crashStart runs the test named run again in a child process, with env
// added to its environment, and returns it, the lines it reports on its
// descriptor 3 (its stdout is the test framework's), closed once it
// exits, and its stderr. The crash tests' children report each operation
// there before and after it.
func crashStart(t *testing.T, run, env string) (cmd *exec.Cmd, lines <-chan string, stderr *bytes.Buffer) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(os.Args[0], "-test.run=^"+run+"$")
	cmd.Env = append(os.Environ(), env)
	cmd.ExtraFiles = []*os.File{pw}
	stderr = new(bytes.Buffer)
	cmd.Stderr = stderr
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatal(err)
	}
	ch := make(chan string, 1024)
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return cmd, ch, stderr
}

// crashRound runs one child on dir, kills it after delay, and returns the
// index of the last operation that returned (-1 if none) and how many of
// the operations up to it were Syncs.
func crashRound(t *testing.T, dir string, seed uint64, maxMapped int, delay time.Duration) (done, synced int) {
	t.Helper()
	cmd, lines, stderr := crashStart(t, "TestCrash", fmt.Sprintf("CHUNKMAP_CRASH_CHILD=%s,%d,%d", dir, seed, maxMapped))
	// Kill only once the child has opened the dataset, so every round
	// crashes into real work.
	kill := time.After(10 * time.Second)
	for line := range lines {
		if line == "open" {
			kill = time.After(delay)
			break
		}
		if strings.HasPrefix(line, "error") {
			t.Fatalf("child: %s\n%s", line, stderr.String())
		}
	}
	<-kill
	cmd.Process.Signal(syscall.SIGKILL)
	done = -1
	for line := range lines {
		switch {
		case strings.HasPrefix(line, "done "):
			done, _ = strconv.Atoi(strings.TrimPrefix(line, "done "))
		case strings.HasPrefix(line, "synced "):
			synced++
		case strings.HasPrefix(line, "error"):
			t.Fatalf("child: %s\n%s", line, stderr.String())
		}
	}
	cmd.Wait()
	return done, synced
}

// checkRecovered reopens dir and checks it against the allowed states: the
// one the last operation that returned left first, then the one the
// operation in progress may have left.
func checkRecovered(t *testing.T, dir string, round int, seed uint64, allowed []crashState) crashState {
	t.Helper()
	m, err := chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatalf("round %d: reopen after crash: %v", round, err)
	}
	defer m.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("round %d: %s survived Open", round, filepath.Join(dir, e.Name()))
		}
	}
	got := readState(t, m)
	okSize, okStart := false, false
	for _, s := range allowed {
		okSize = okSize || s.size() == got.size()
		okStart = okStart || s.start == got.start
	}
	if !okSize || !okStart {
		var want []string
		for _, s := range allowed {
			want = append(want, fmt.Sprintf("[%d,%d)", s.start, s.size()))
		}
		t.Fatalf("round %d (seed %d): recovered [Start, Size) = [%d, %d), want one of %v", round, seed, got.start, got.size(), want)
	}
	for off := got.start; off < got.size(); off++ {
		b := got.data[off]
		ok := false
		for _, s := range allowed {
			if s.byteAt(off) == b {
				ok = true
				break
			}
		}
		if !ok {
			t.Fatalf("round %d (seed %d): byte at %d = %#x after recovery; the last operation that returned left %#x",
				round, seed, off, b, allowed[0].byteAt(off))
		}
	}
	return got
}

// crashChild runs operations until it is killed.
func crashChild(t *testing.T, spec string) {
	parts := strings.Split(spec, ",")
	dir := parts[0]
	seed, _ := strconv.ParseUint(parts[1], 10, 64)
	maxMapped, _ := strconv.Atoi(parts[2])
	report := os.NewFile(3, "report")
	fail := func(err error) {
		fmt.Fprintf(report, "error %v\n", err)
		os.Exit(1)
	}
	// Tiny arenas for some seeds: chunks share slots, which change owner
	// on every miss.
	arena := []int64{0, 1, 2, 4}[seed%4] * crashChunk
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: crashChunk, MaxMapped: maxMapped, ArenaSize: arena})
	if err != nil {
		fail(err)
	}
	s := readState(t, m)
	fmt.Fprintln(report, "open")
	r := rand.New(rand.NewPCG(seed, 0))
	for i := 0; ; i++ {
		op := nextOp(r, &s)
		if err := applyOp(m, op); err != nil {
			fail(fmt.Errorf("op %d (%d): %w", i, op.kind, err))
		}
		if op.kind == opSync {
			fmt.Fprintf(report, "synced %d\n", i)
		}
		fmt.Fprintf(report, "done %d\n", i)
	}
}
