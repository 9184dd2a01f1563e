package chunkmap_test

// The paths of platforms whose arena is not contiguous (slot addresses
// loaded per slot, ranges across chunks in private views), run here on
// every platform by re-running the access tests with the arena treated as
// scattered.

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// scatteredEnv set to 1 runs the test binary with every arena scattered.
const scatteredEnv = "CHUNKMAP_TEST_SCATTERED"

func TestMain(m *testing.M) {
	if os.Getenv(scatteredEnv) == "1" {
		chunkmap.SetScatteredArena(true)
	}
	os.Exit(m.Run())
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
	// Its work is in child processes (or the go command): it runs beside
	// the package's other such tests, two at a time on two cores, once the
	// sequential tests are done.
	t.Parallel()
	const tests = "^(TestScattered_.*|TestManager_Gather.*|TestGather.*|TestScatter.*|TestPin.*|TestBatch_.*|TestBatchWin_ExactModel|TestManager_Batch|TestStragglers|TestManager_Concurrent.*|TestEviction_.*|TestRead_.*|TestWrite.*|TestAtomic.*|TestTruncate.*|TestDropBefore.*)$"
	args := []string{"-test.run", tests, "-test.count=1", "-test.v"}
	if raceEnabled {
		// The race run covers these tests at full length in its own
		// process; the rerun adds the arena's layout, not more rounds.
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), scatteredEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the access tests with a scattered arena failed: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestScattered_PinAcrossIsAView")) {
		t.Fatalf("the scattered run ran no test:\n%s", out)
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
