//go:build linux

package chunkmap_test

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// bxChildEnv names the child part of TestBoundxFDExhaust to run in a
// process of its own, whose descriptor limit it lowers.
const bxChildEnv = "CHUNKMAP_BOUNDX_FDCHILD"

// bxChildHang bounds a child of TestBoundxFDExhaust: its own watchdog, and
// (with room for the process to start and dump its stacks) the parent's
// wait for it. The bound only tells a hang, which never ends, from a slow
// child. The calls child's storm waits on the disk more than it runs: a
// round made some 750 fsyncs (strace: 4.9 s of them, 6.6 ms each, beside
// other tests' writes) and used 0.55 s of CPU in 4.1 s, and the rounds go
// on, up to 5, until a call meets EMFILE; the open child waits up to
// bxGoneWait, 6 times, for cleanups. On a loaded 2-core machine the calls
// child took 4 to 10 s against a watchdog of 12 s, the whole test up to
// 12 s against 20.
const bxChildHang = 60 * time.Second

// TestBoundxFDExhaust runs, in a child process (the descriptor limit is
// per process), every kind of call with the descriptor limit lowered to
// a few above what is open: each must return, with an error that matches
// a sentinel (ErrIO with EMFILE in the chain, where it is the cause), and
// once the limit is raised again every call must work, the data be intact,
// and Close leave no descriptor or mapping of the dataset.
func TestBoundxFDExhaust(t *testing.T) {
	if os.Getenv(bxChildEnv) != "" {
		t.Skip("in the child")
	}
	watchdog.Start(t, 2*(bxChildHang+30*time.Second)) // the children's own bounds below
	for _, mode := range []string{"calls", "open"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBoundxFDChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), bxChildEnv+"="+mode, "BOUNDX_DIR="+t.TempDir())
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(bxChildHang + 20*time.Second): // its own watchdog first
				cmd.Process.Signal(syscall.SIGQUIT) // the child's stacks
				<-done
				t.Fatalf("child hung:\n%s", out)
			}
			if err != nil || !strings.Contains(string(out), "--- PASS: TestBoundxFDChild") {
				t.Errorf("child (%s) failed: %v\n%s", mode, err, out)
			}
		})
	}
}

// TestBoundxFDChild is the child of TestBoundxFDExhaust; it does nothing
// unless run as one.
func TestBoundxFDChild(t *testing.T) {
	mode := os.Getenv(bxChildEnv)
	if mode == "" {
		t.Skip("run by TestBoundxFDExhaust")
	}
	watchdog.Start(t, bxChildHang)
	dir := os.Getenv("BOUNDX_DIR") + "/ds"
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	lower := func(extra int) {
		t.Helper()
		runtime.GC() // close what finalizers would
		lim := orig
		lim.Cur = uint64(bxAllFDs(t) - 1 + extra) // less the descriptor that counted
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	restore := func() {
		t.Helper()
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Fatal(err)
		}
	}
	defer restore()

	const chunks = 24
	if mode == "open" {
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: bxChunk, MaxMapped: 2})
		if err != nil {
			t.Fatal(err)
		}
		bxFill(t, m, chunks)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m = nil
		runtime.GC()
		failed := 0
		for extra := 0; extra < 6; extra++ {
			// A closed Manager's pages go when it is unreachable, by a
			// cleanup that runs after a collection, not during it: wait
			// for those of the Managers before, so that what is mapped
			// after the Open below is that Open's.
			bxSettleMaps(t, dir)
			lower(extra)
			m, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 2})
			if err == nil {
				restore()
				if err := m.Close(); err != nil {
					t.Errorf("Close after an Open with %d descriptors to spare: %v", extra, err)
				}
				continue
			}
			restore()
			failed++
			t.Logf("Open with %d descriptors to spare: %v", extra, err)
			if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EMFILE) {
				t.Errorf("Open with %d descriptors to spare: %v, want ErrIO and EMFILE", extra, err)
			}
			if n := bxFDs(t, dir); n != 0 {
				t.Errorf("Open with %d descriptors to spare failed (%v) and left %d descriptors of the dataset open", extra, err, n)
			}
			if _, lines := bxMaps(t, dir); lines != 0 {
				t.Errorf("Open with %d descriptors to spare failed and left mappings:\n%s", extra, bxMapsOf(t, dir))
			}
			if err := chunkmap.Remove(dir + "-nonexistent"); err == nil {
				t.Error("Remove of nothing succeeded")
			}
		}
		if failed == 0 {
			t.Error("no Open failed for lack of descriptors")
		}
		m, err = chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 2})
		if err != nil {
			t.Fatalf("Open after the limit was raised: %v", err)
		}
		p := make([]byte, bxChunk)
		for c := int64(0); c < chunks; c++ {
			if _, err := m.ReadAt(p, c*bxChunk); err != nil {
				t.Fatalf("ReadAt chunk %d after reopen: %v", c, err)
			}
			if p[5] != byte(c*7+5) {
				t.Fatalf("chunk %d: data lost", c)
			}
		}
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		m = nil
		bxWaitGone(t, dir, 1<<30)
		return
	}

	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: bxChunk, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	bxFill(t, m, chunks)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	va := accessor.New(m, nil)
	var errs bxErrs
	var emfile, others sync.Map
	note := func(what string, err error) {
		if err == nil || err == io.EOF {
			return
		}
		errs.check(what, err)
		if errors.Is(err, syscall.EMFILE) {
			if !errors.Is(err, chunkmap.ErrIO) {
				errs.add("%s: EMFILE without ErrIO: %v", what, err)
			}
			emfile.Store(what, err.Error())
		} else {
			others.Store(what, err.Error())
		}
	}
	// Whether a call meets EMFILE, rather than the Manager giving back
	// enough to serve it, depends on how many run at once: on a loaded
	// machine fewer do, so the rounds go on (up to 5) until one has.
	sawEMFILE := func() bool {
		saw := false
		emfile.Range(func(any, any) bool { saw = true; return false })
		return saw
	}
	for round := 0; round < 5 && (round == 0 || !sawEMFILE()); round++ {
		for _, extra := range []int{0, 2} {
			lower(extra)
			var wg sync.WaitGroup
			for g := 0; g < 64; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), uint64(extra+10*round)))
					for i := 0; i < 20; i++ {
						c := r.Int64N(chunks)
						off := c*bxChunk + r.Int64N(bxChunk-16)
						switch r.IntN(12) {
						case 0:
							p := make([]byte, 16)
							_, err := m.ReadAt(p, off)
							note("ReadAt", err)
							if err == nil && p[0] != bxFillByte(off) {
								errs.add("ReadAt(%d): %d, want %d", off, p[0], bxFillByte(off))
							}
						case 1:
							_, err := m.WriteAt([]byte{bxFillByte(off)}, off)
							note("WriteAt", err)
						case 2:
							p, err := m.Pin(off, bxChunk)
							note("Pin", err)
							if err == nil {
								if p.Bytes()[0] != bxFillByte(off) {
									errs.add("Pin(%d): wrong byte", off)
								}
								p.Release()
							}
						case 3:
							note("Batch", m.Batch(func(b *chunkmap.Batch) error {
								p, err := b.Bytes(off, 2*bxChunk-int(off%bxChunk)-1)
								if err == nil && p[0] != bxFillByte(off) {
									errs.add("Batch.Bytes(%d): wrong byte", off)
								}
								return err
							}))
						case 4:
							note("Sync", m.Sync())
						case 5:
							// Grow the dataset past its end, then cut it back.
							_, err := m.WriteAt([]byte{1}, (chunks+1+r.Int64N(3))*bxChunk)
							note("WriteAt past Size", err)
							note("Truncate", m.Truncate(chunks*bxChunk))
						case 6:
							dst := make([]byte, 8)
							note("Gather", m.Gather(dst, []int64{off, (off + 3*bxChunk) % (chunks * bxChunk)}, 4))
						case 7:
							note("Advise", m.Advise(off, 3*bxChunk, chunkmap.AdviceDontNeed))
						case 8:
							w, err := va.Slice(off, 2*bxChunk)
							note("Slice", err)
							if err == nil {
								w.Release()
							}
						case 9:
							s := va.Scan()
							for range s.Blocks(c*bxChunk, bxChunk) {
							}
							note("Scan.Blocks", s.Err())
						case 10:
							note("Grow", m.Grow(2*bxChunk))
							note("Truncate", m.Truncate(chunks*bxChunk))
						case 11:
							_, err := m.AddUint64(off&^7, 0)
							note("AddUint64", err)
						}
					}
				}(g)
			}
			wg.Wait()
			restore()
		}
	}
	// With one P (one CPU, or a CPU quota of one), or few calls at once on
	// a quiet machine, the storm's calls run nearly one at a time and the
	// Manager gives back enough for each: none meets EMFILE. Holding what
	// the calls open leaves it nothing to give back, whatever the
	// schedule: pins of every chunk, then of chunks the dataset grows by,
	// until a call is refused.
	lower(0)
	var held []*chunkmap.Pinned
	for c := int64(0); c < 2*chunks; c++ {
		if c*bxChunk >= m.Size() {
			if err := m.Truncate((c + 1) * bxChunk); err != nil {
				note("Truncate (all held)", err)
				break
			}
		}
		p, err := m.Pin(c*bxChunk, bxChunk)
		if err != nil {
			note("Pin (all held)", err)
			break
		}
		held = append(held, p)
	}
	t.Logf("%d chunks pinned with no descriptor to spare, Size %d", len(held), m.Size())
	for _, p := range held {
		p.Release()
	}
	restore()
	errs.report(t)
	var seen []string
	emfile.Range(func(k, v any) bool { seen = append(seen, k.(string)); return true })
	t.Logf("calls that saw EMFILE: %v", seen)
	if len(seen) == 0 {
		t.Error("no call saw EMFILE: the limit was not low enough to test anything")
	}
	others.Range(func(k, v any) bool { t.Logf("other error of %s: %s", k, v); return true })

	// Every call works again.
	if err := m.Truncate(chunks * bxChunk); err != nil {
		t.Errorf("Truncate after the limit was raised: %v", err)
	}
	p := make([]byte, bxChunk)
	for c := int64(0); c < chunks; c++ {
		if _, err := m.ReadAt(p, c*bxChunk); err != nil {
			t.Fatalf("ReadAt chunk %d after the limit was raised: %v", c, err)
		}
		for i := range p {
			if p[i] != byte(c*7+int64(i)) {
				t.Fatalf("chunk %d byte %d: %d, want %d", c, i, p[i], byte(c*7+int64(i)))
			}
		}
	}
	for c := int64(0); c < chunks; c++ {
		pn, err := m.PinWritable(c*bxChunk, bxChunk)
		if err != nil {
			t.Fatalf("PinWritable chunk %d after the limit was raised: %v", c, err)
		}
		pn.Release()
	}
	if err := m.Sync(); err != nil {
		t.Errorf("Sync after the limit was raised: %v", err)
	}
	if st := m.Stats(); st.Pinned != 0 || st.Mapped > 2 {
		t.Errorf("quiet after the storm: Stats %+v", st)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	m, va = nil, nil
	bxWaitGone(t, dir, 1<<30)
	m, err = chunkmap.Open(dir, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if m.Size() != chunks*bxChunk {
		t.Errorf("reopen: Size %d, want %d", m.Size(), chunks*bxChunk)
	}
	if _, err := m.ReadAt(p, 5*bxChunk); err != nil || p[9] != byte(5*7+9) {
		t.Errorf("reopen: chunk 5 byte 9 = %d (%v)", p[9], err)
	}
	m.Close()
}

// bxFillByte is the byte bxFill writes at off.
func bxFillByte(off int64) byte { return byte((off/bxChunk)*7 + off%bxChunk) }
