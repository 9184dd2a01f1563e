package chunkmap_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestRelieve_Stress: goroutines that read, write, pin and sync their own
// ranges of many chunks, while another fills the process's descriptor
// table and frees it again over and over, must never see a byte that
// differs from what they wrote, get only refusals (ErrIO with EMFILE) as
// errors, leave no more than MaxMapped chunks mapped once they stop, and
// find MaxMapped back in force once the shortage is over.
func TestRelieve_Stress(t *testing.T) {
	runFDsRows(t, "TestRelieve_Stress", []int{6}, rlStress)
}

func rlStress(t *testing.T, maxMapped int, dir string) {
	t.Helper()
	const (
		cs      = chunkmap.MinChunkSize
		workers = 4
		stripe  = cs / workers
		chunks  = 64 // more than the descriptor cache keeps open (a quarter of the limit)
	)
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// One chunk more than the ranges reach, so that the last worker's
	// ranges, which straddle into the next chunk, stay within Size.
	want := make([]byte, (chunks+1)*cs)
	fillRandom(rand.New(rand.NewPCG(1, 2)), want)
	if _, err := m.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	restore := limitFiles(t, 24)

	// refusal reports whether err is one the shortage may cause.
	refusal := func(err error) bool {
		return errors.Is(err, chunkmap.ErrIO) && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM))
	}
	var stop atomic.Bool
	var refused atomic.Int64
	var fillerDone sync.WaitGroup
	fillerDone.Add(1)
	go func() {
		defer fillerDone.Done()
		var held []*os.File
		for !stop.Load() {
			// Take every descriptor the Manager frees, for a while.
			for until := time.Now().Add(20 * time.Millisecond); time.Now().Before(until); {
				if f, err := os.Open(os.DevNull); err == nil {
					held = append(held, f)
				}
			}
			for _, f := range held {
				f.Close()
			}
			held = held[:0]
			time.Sleep(5 * time.Millisecond)
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	deadline := time.Now().Add(700 * time.Millisecond)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			fail := func(format string, args ...any) {
				select {
				case errs <- errors.New(format):
				default:
				}
				t.Errorf(format, args...)
				stop.Store(true)
			}
			// retry runs op until it succeeds, as long as it fails with
			// refusals only.
			retry := func(what string, off int64, op func() error) bool {
				for tries := 0; ; tries++ {
					err := op()
					if err == nil {
						return true
					}
					if !refusal(err) || tries > 100000 {
						fail("%s at %d: %v", what, off, err)
						return false
					}
					refused.Add(1)
					time.Sleep(50 * time.Microsecond)
				}
			}
			buf := make([]byte, 2048)
			for !stop.Load() && time.Now().Before(deadline) {
				// Worker w owns [c·cs + cs/8 + w·stripe, +stripe) of
				// every chunk c: the last worker's straddles into c+1.
				c := r.Int64N(chunks)
				base := c*cs + cs/8 + int64(w)*stripe
				n := 1 + r.IntN(len(buf))
				off := base + r.Int64N(stripe-int64(n))
				p := buf[:n]
				switch r.IntN(6) {
				case 0, 1:
					if !retry("ReadAt", off, func() error { _, err := m.ReadAt(p, off); return err }) {
						return
					}
					if !bytes.Equal(p, want[off:off+int64(n)]) {
						fail("ReadAt at %d: %d bytes differ from those written", off, n)
						return
					}
				case 2, 3:
					for i := range p {
						p[i] = byte(r.Uint32())
					}
					if !retry("WriteAt", off, func() error { _, err := m.WriteAt(p, off); return err }) {
						return
					}
					copy(want[off:], p)
				case 4:
					pn, err := m.PinWritable(off, n)
					if err != nil {
						if !refusal(err) {
							fail("PinWritable at %d: %v", off, err)
							return
						}
						refused.Add(1)
						continue
					}
					b := pn.Bytes()
					if !bytes.Equal(b, want[off:off+int64(n)]) {
						pn.Release()
						fail("PinWritable at %d: %d bytes differ from those written", off, n)
						return
					}
					for i := range b {
						b[i] = byte(r.Uint32())
					}
					copy(want[off:], b)
					pn.Release()
				case 5:
					if w == 0 && r.IntN(8) == 0 {
						if err := m.Sync(); err != nil && !refusal(err) {
							fail("Sync: %v", err)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	fillerDone.Wait()
	if len(errs) > 0 {
		return
	}
	st := m.Stats()
	t.Logf("refusals seen by the workers %d; %+v", refused.Load(), st)
	if st.Mapped > maxMapped {
		t.Errorf("with nothing held, %d chunks mapped, MaxMapped %d", st.Mapped, maxMapped)
	}
	rlScan(t, m, want, 0, chunks+1)
	restore()
	for n := 0; m.Stats().Lowered != 0; n++ {
		if n == 400 {
			t.Fatalf("after %d scans with descriptors free again: %+v", n, m.Stats())
		}
		rlScan(t, m, want, 0, chunks+1)
	}
	rlCloseAndCheck(t, m, dir, want, chunks+1)
}
