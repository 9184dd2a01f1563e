//go:build linux

package chunkmap_test

// Faults during calls: a chunk file truncated and grown back by another
// program over and over while goroutines use it. The caveat of the package
// doc promises "If another process truncates or removes a chunk file,
// accesses to it return ErrFault instead of crashing the process". A crash
// would end the test binary, so the goroutines run in a child process and
// the parent reports how it ended.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// fzFlapRole is the child role of the truncation tests; the child's
// FAULTZ_OPS says which calls it makes ("atomic" or "other").
const fzFlapRole = "flap"

// fzFlap runs the calls of ops from three goroutines on chunk 1 of a
// three-chunk dataset while this goroutine truncates chunk 1's file to 0
// or an odd size and back to full size as fast as it can, for d. Every
// call must return nil or an error matching ErrFault. Afterwards the chunk,
// whole again, must work and the other chunks must hold their bytes.
func fzFlap(t *testing.T, ops []fzOp, noAdm bool, seed uint64, d time.Duration) {
	r := rand.New(rand.NewPCG(seed, 1))
	// The parent's directory: a child that crashes leaves nothing behind.
	dir := filepath.Join(os.Getenv("FAULTZ_DIR"), fmt.Sprintf("ds-%v", noAdm))
	m := fzOpen(t, dir, chunkmap.Options{MaxMapped: 2, NoAdmission: noAdm})
	model := fzRandom(r, int(3*fzCS))
	if _, err := m.WriteAt(model, 0); err != nil {
		t.Fatal(err)
	}
	path := fzChunk(fzRealDir(t, dir), 1)
	stop := make(chan struct{})
	errc := make(chan error, 64)
	done := make(chan int)
	const workers = 3
	for w := 0; w < workers; w++ {
		go func(w int) {
			calls := 0
			defer func() { done <- calls }()
			va := accessor.New(m, nil)
			rr := rand.New(rand.NewPCG(seed, uint64(w)+100))
			for {
				select {
				case <-stop:
					return
				default:
				}
				op := ops[rr.IntN(len(ops))]
				off := fzCS + int64(rr.IntN(int(fzCS/8)-8))*8
				err := func() (err error) {
					defer func() {
						if p := recover(); p != nil {
							// A block scan's loop body that faults on its
							// block panics with ErrFault, as
							// Scanner.Blocks documents.
							if pe, ok := p.(error); ok && op.name == "Scanner.Blocks" && errors.Is(pe, chunkmap.ErrFault) {
								err = pe
								return
							}
							err = fmt.Errorf("panicked: %v", p)
						}
					}()
					return op.run(m, va, off)
				}()
				calls++
				if err != nil && !errors.Is(err, chunkmap.ErrFault) {
					select {
					case errc <- fmt.Errorf("%s at %d: %w", op.name, off, err):
					default:
					}
				}
			}
		}(w)
	}
	deadline := time.Now().Add(d)
	flips := 0
	for time.Now().Before(deadline) {
		if err := os.Truncate(path, int64(fzTruncSize(r))); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, fzCS); err != nil {
			t.Fatal(err)
		}
		flips++
	}
	close(stop)
	calls := 0
	for w := 0; w < workers; w++ {
		select {
		case n := <-done:
			calls += n
		case <-time.After(fzCallLimit):
			panic("faultz: a worker did not stop; goroutines:\n" + fzStacks())
		}
	}
	close(errc)
	for err := range errc {
		t.Errorf("during truncations: %v (want nil or ErrFault)", err)
	}
	t.Logf("%d truncations, %d calls", flips, calls)
	// Whole again: the chunk works, the others kept their bytes.
	fzExpect(t, "chunk 0", m, 0, model[:fzCS])
	fzExpect(t, "chunk 2", m, 2*fzCS, model[2*fzCS:])
	fresh := fzRandom(r, int(fzCS))
	if _, err := m.WriteAt(fresh, fzCS); err != nil {
		t.Fatalf("WriteAt chunk 1 once whole again: %v", err)
	}
	fzExpect(t, "chunk 1 rewritten", m, fzCS, fresh)
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// fzTruncSize returns a size to truncate a chunk file to: 0, or one that
// ends in the middle of a page.
func fzTruncSize(r *rand.Rand) int {
	if r.IntN(2) == 0 {
		return 0
	}
	return 1 + r.IntN(int(fzCS)-2)
}

// fzFlapOps returns the fault-guarded calls of one group: "atomic" (the
// Manager's and the accessor's atomics) or "other" (every other call but
// pins and views, whose bytes are not fault guarded).
func fzFlapOps(group string) []fzOp {
	var ops []fzOp
	for _, op := range fzOps() {
		if op.pin {
			continue
		}
		if (op.op == "atomic") == (group == "atomic") {
			ops = append(ops, op)
		}
	}
	return ops
}

// fzFlapChild is the body of the truncation tests: in the child it runs
// fzFlap for both admission modes; in the parent it starts the child and
// fails if the child failed or died.
func fzFlapChild(t *testing.T, name, group string) {
	if fzIsChild(fzFlapRole) {
		if os.Getenv("FAULTZ_OPS") != group {
			t.Skip("the child runs the other group")
		}
		watchdog.Start(t, 8*time.Second)
		seed := fzSeed(t)
		for _, noAdm := range []bool{false, true} {
			d := 300 * time.Millisecond
			if group == "atomic" {
				// Atomics always map, and the window they leave open
				// is narrow: give them more time.
				d = 400 * time.Millisecond
				if noAdm {
					d = 1600 * time.Millisecond
				}
			}
			t.Run(fmt.Sprintf("NoAdmission=%v", noAdm), func(t *testing.T) {
				fzFlap(t, fzFlapOps(group), noAdm, seed, d)
			})
		}
		return
	}
	fzSkipInChild(t)
	// On a tmpfs (as root) truncations are cheap, so the file flips
	// more often.
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		dir = fzMount(t, "size=16m")
	}
	out, err := fzChild(t, name, fzFlapRole, []string{"FAULTZ_OPS=" + group, "FAULTZ_DIR=" + dir}, nil, "")
	if err != nil || !strings.Contains(out, "--- PASS: "+name) {
		crash := ""
		if strings.Contains(out, "fatal error") || strings.Contains(out, "unexpected return pc") || strings.Contains(out, "SIGBUS") {
			crash = " (the process crashed)"
		}
		t.Fatalf("the child process failed%s: %v\n%s", crash, err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "truncations,") || strings.Contains(line, "seed ") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// TestFaultz_TruncationDuringAccessNeverCrashes: reads, writes, gathers,
// scatters, batches, typed, bulk and scan calls on a chunk whose file
// another program truncates and grows back meanwhile return nil or
// ErrFault, and never crash or hang.
func TestFaultz_TruncationDuringAccessNeverCrashes(t *testing.T) {
	fzFlapChild(t, "TestFaultz_TruncationDuringAccessNeverCrashes", "other")
}

// TestFaultz_TruncationDuringAtomicsNeverCrashes: the same for the atomics
// of the Manager and of the accessor.
func TestFaultz_TruncationDuringAtomicsNeverCrashes(t *testing.T) {
	fzFlapChild(t, "TestFaultz_TruncationDuringAtomicsNeverCrashes", "atomic")
}
