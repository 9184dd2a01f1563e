package chunkmap_test

// The paths of platforms whose arena is not contiguous (slot addresses
// loaded per slot, ranges across chunks in private views), run here on
// every platform by re-running the access tests with the arena treated as
// scattered.

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// scatteredEnv set to 1 runs the test binary with every arena scattered.
const scatteredEnv = "CHUNKMAP_TEST_SCATTERED"

// scatteredEarly is the scattered run TestMain starts before the first
// test, when TestScatteredArena is to run: the child then works beside the
// package's sequential tests, which leave a core mostly idle, instead of
// after them. TestScatteredArena takes it (or starts its own, when it runs
// again under -count).
var scatteredEarly struct {
	sync.Mutex
	run *scatteredRun
}

func TestMain(m *testing.M) {
	if os.Getenv(scatteredEnv) == "1" {
		chunkmap.SetScatteredArena(true)
	} else {
		flag.Parse()
		if scatteredSelected() {
			scatteredEarly.run = startScattered()
		}
	}
	os.Exit(m.Run())
}

// scatteredSelected reports whether this run's flags select
// TestScatteredArena to run (and not be skipped), as far as its own name
// tells: -test.run and -test.skip at the top level, -test.list, -short.
func scatteredSelected() bool {
	if testing.Short() || flagValue("test.list") != "" {
		return false
	}
	const name = "TestScatteredArena"
	matches := func(pattern string) bool {
		top := topLevelPattern(pattern)
		ok, err := regexp.MatchString(top, name)
		return err == nil && ok
	}
	if run := flagValue("test.run"); run != "" && !matches(run) {
		return false
	}
	if skip := flagValue("test.skip"); skip != "" && matches(skip) {
		return false
	}
	return true
}

// topLevelPattern returns the part of a -test.run pattern that names
// top-level tests: up to its first slash outside brackets and parentheses.
func topLevelPattern(p string) string {
	depth := 0
	for i, c := range p {
		switch c {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case '/':
			if depth == 0 {
				return p[:i]
			}
		}
	}
	return p
}

// flagValue returns the value of the flag of that name, or "" where
// there is none.
func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// scatteredRun is a child process running the access tests with every
// arena scattered; done is closed when it has exited.
type scatteredRun struct {
	done chan struct{}
	out  []byte
	err  error
}

// startScattered starts the scattered run. The child dies with this
// process where the platform allows (see killWithParent): a run that ends
// early, failed or interrupted, leaves no test process behind.
func startScattered() *scatteredRun {
	const tests = "^(TestScattered_.*|TestManager_Gather.*|TestGather.*|TestScatter.*|TestPin.*|TestBatch_.*|TestBatchWin_ExactModel|TestManager_Batch|TestStragglers|TestManager_Concurrent.*|TestEviction_.*|TestRead_.*|TestWrite.*|TestAtomic.*|TestTruncate.*|TestDropBefore.*)$"
	args := []string{"-test.run", tests, "-test.count=1", "-test.v"}
	if raceEnabled {
		// The race run covers these tests in its own process; the rerun
		// adds the arena's layout, not more rounds.
		args = append(args, "-test.short")
	}
	r := &scatteredRun{done: make(chan struct{})}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), scatteredEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	go func() {
		defer close(r.done)
		// A parent-death signal follows the thread that started the
		// child, not the process: this goroutine keeps that thread until
		// the child has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		killWithParent(cmd)
		r.err = cmd.Run()
		r.out = out.Bytes()
	}()
	return r
}

// TestScatteredArena runs the tests of every access path again in a child
// process whose arenas are all scattered.
func TestScatteredArena(t *testing.T) {
	if os.Getenv(scatteredEnv) == "1" {
		t.Skip("this process is the scattered run")
	}
	if testing.Short() {
		t.Skip("runs the access tests again; skipped with -short")
	}
	// Its work is in a child process, started before the first test when
	// the flags select this one: it waits beside the package's other
	// such tests, once the sequential tests are done.
	t.Parallel()
	scatteredEarly.Lock()
	r := scatteredEarly.run
	scatteredEarly.run = nil
	scatteredEarly.Unlock()
	if r == nil {
		r = startScattered()
	}
	<-r.done
	if r.err != nil {
		t.Fatalf("the access tests with a scattered arena failed: %v\n%s", r.err, r.out)
	}
	if !bytes.Contains(r.out, []byte("--- PASS: TestScattered_PinAcrossIsAView")) {
		t.Fatalf("the scattered run ran no test:\n%s", r.out)
	}
}

// TestScattered_PinAcrossIsAView runs in the scattered child only: there a
// pin across a chunk boundary cannot use the arena and must be a private
// view, which shows that the child's arenas really are scattered.
func TestScattered_PinAcrossIsAView(t *testing.T) {
	if os.Getenv(scatteredEnv) != "1" {
		t.Skip("runs in TestScatteredArena's child")
	}
	m := evictionDataset(t, 4, nil)
	p, err := m.Pin(cs-8, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	for i, c := range p.Bytes() {
		if want := chunkByte(cs - 8 + int64(i)); c != want {
			t.Fatalf("pinned byte %d = %d, want %d", i, c, want)
		}
	}
	if _, _, views := m.Mappings(); views != 2 {
		t.Fatalf("chunks in private views = %d, want 2 (a scattered arena cannot serve a pin across chunks)", views)
	}
}
