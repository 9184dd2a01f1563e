//go:build linux

package chunkmap_test

// A ReadOnly follower, in this process and in a child process, reads with
// ReadAt, Batch (Bytes), Gather and Pin while its writer Appends,
// Truncates, DropBefores, Closes and reopens. The dataset is a sequence of
// 16-byte records (offset, generation): a record read at offset o must say
// o, and its generation must be no older than the last Truncate at or below
// o that had returned before the read began (the bytes there were rewritten
// since). Any other bytes below the Size the follower reports are not the
// writer's current bytes.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

const advxRec = 16

// advxTruncLog is the list of completed truncations: (generation, point).
// In this process it is a slice under a mutex; a child reads the file the
// writer appends the same entries to.
type advxTruncLog struct {
	mu      sync.Mutex
	entries [][2]int64
	f       *os.File
}

func (l *advxTruncLog) add(gen, point int64) {
	l.mu.Lock()
	l.entries = append(l.entries, [2]int64{gen, point})
	l.mu.Unlock()
	if l.f != nil {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], uint64(gen))
		binary.LittleEndian.PutUint64(b[8:], uint64(point))
		l.f.Write(b[:]) // O_APPEND: one write per entry
	}
}

func (l *advxTruncLog) snapshot() [][2]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][2]int64(nil), l.entries...)
}

func advxReadLog(path string) [][2]int64 {
	b, _ := os.ReadFile(path)
	var out [][2]int64
	for len(b) >= 16 {
		out = append(out, [2]int64{int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))})
		b = b[16:]
	}
	return out
}

// advxCheckRecords checks the records in p, read at offset off (a multiple
// of advxRec), against the truncations that had completed before the read.
func advxCheckRecords(p []byte, off int64, log [][2]int64) error {
	for i := 0; i+advxRec <= len(p); i += advxRec {
		if err := advxCheckRecord(p[i:], off+int64(i), log); err != nil {
			return err
		}
	}
	return nil
}

// advxBad is a record that fails the check, at offset o.
type advxBad struct {
	o   int64
	msg string
}

func (b *advxBad) Error() string { return b.msg }

func advxCheckRecord(p []byte, o int64, log [][2]int64) error {
	{
		i := 0
		gotOff := int64(binary.LittleEndian.Uint64(p[i:]))
		gen := int64(binary.LittleEndian.Uint64(p[i+8:]))
		if gotOff != o {
			return &advxBad{o, fmt.Sprintf("record at %d says offset %d (gen %d): bytes of another offset", o, gotOff, gen)}
		}
		for _, e := range log {
			if e[0] > 0 && e[1] <= o && gen < e[0] {
				return &advxBad{o, fmt.Sprintf("record at %d has gen %d, but a Truncate to %d (gen %d) returned before the read: stale bytes", o, gen, e[1], e[0])}
			}
		}
	}
	return nil
}

// advxWriter runs the writer's random operations on dir until stop, with
// the records' generation in gen and completed truncations in log.
func advxWriter(t *testing.T, dir string, rng *rand.Rand, stop <-chan struct{}, log *advxTruncLog) {
	opts := &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 2}
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Errorf("writer Open: %v", err)
		return
	}
	defer func() {
		if m != nil {
			m.Close()
		}
	}()
	var gen int64 = 1
	cs := int64(chunkmap.MinChunkSize)
	for {
		select {
		case <-stop:
			return
		default:
		}
		switch k := rng.IntN(100); {
		case k < 60:
			n := 1 + rng.IntN(600)
			end := m.Size()
			buf := make([]byte, n*advxRec)
			for i := range n {
				binary.LittleEndian.PutUint64(buf[i*advxRec:], uint64(end+int64(i*advxRec)))
				binary.LittleEndian.PutUint64(buf[i*advxRec+8:], uint64(gen))
			}
			off, err := m.Append(buf)
			if err != nil || off != end {
				t.Errorf("Append: off %d want %d, %v", off, end, err)
				return
			}
		case k < 80:
			s, e := m.Start(), m.Size()
			if e <= s {
				continue
			}
			to := s + rng.Int64N(e-s+1)
			to -= to % advxRec
			if to < s {
				to = s
			}
			log.add(0, to) // started
			if err := m.Truncate(to); err != nil {
				t.Errorf("Truncate(%d): %v", to, err)
				return
			}
			gen++
			log.add(gen, to)
		case k < 93:
			e := m.Size()
			if e > 40*cs { // keep the disk small
				if err := m.DropBefore(e - 8*cs); err != nil {
					t.Errorf("DropBefore: %v", err)
					return
				}
				continue
			}
			to := m.Start() + rng.Int64N(e-m.Start()+1)
			if err := m.DropBefore(to); err != nil {
				t.Errorf("DropBefore(%d): %v", to, err)
				return
			}
		default:
			if err := m.Close(); err != nil {
				t.Errorf("Close: %v", err)
				return
			}
			time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
			// The test forks follower processes meanwhile: the reopen must
			// not find the lock held by a child between fork and exec.
			if m, err = chunkmap.Open(dir, opts); err != nil {
				t.Errorf("reopen: %v", err)
				return
			}
		}
	}
}

// advxFollow runs a follower's random reads until deadline and returns the
// first violation (nil if none) and how many reads it checked.
func advxFollow(dir string, seed uint64, deadline time.Time, snapshot func() [][2]int64) (int, error) {
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2})
	if err != nil {
		return 0, fmt.Errorf("follower Open: %w", err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(seed, 7))
	checked := 0
	errOK := func(err error) bool {
		// What a racing Truncate/DropBefore may give: out of range, EOF,
		// or a chunk file the writer removed.
		return errors.Is(err, chunkmap.ErrOutOfRange) || errors.Is(err, chunkmap.ErrFault) ||
			errors.Is(err, chunkmap.ErrCorrupt) || err.Error() == "EOF"
	}
	for time.Now().Before(deadline) {
		s, e := r.Start(), r.Size()
		if e-s < advxRec {
			continue
		}
		off := s + rng.Int64N(e-s)
		off -= off % advxRec
		if off < s {
			off += advxRec
		}
		if off+advxRec > e {
			continue
		}
		nrec := 1 + rng.IntN(int(min((e-off)/advxRec, 200)))
		before := snapshot()
		// A record that fails against the truncations done before the
		// read is excused if a Truncate at or below it was under way or
		// began during the read: its bytes changed meanwhile.
		check := func(p []byte, off int64) error {
			err := advxCheckRecords(p, off, before)
			var bad *advxBad
			if !errors.As(err, &bad) {
				return err
			}
			after := snapshot()
			i0 := len(before)
			if i0 > 0 && before[i0-1][0] == 0 {
				i0--
			}
			for _, e := range after[i0:] {
				if e[0] == 0 && e[1] <= bad.o {
					return nil
				}
			}
			return err
		}
		var (
			got  []byte
			err  error
			what string
		)
		switch rng.IntN(4) {
		case 0:
			what = "ReadAt"
			got = make([]byte, nrec*advxRec)
			var n int
			n, err = r.ReadAt(got, off)
			got = got[:n-n%advxRec]
			if err != nil && n > 0 {
				if cerr := check(got, off); cerr != nil {
					return checked, fmt.Errorf("ReadAt(%d, %d) (n %d, err %v): %w", off, len(got), n, err, cerr)
				}
			}
		case 1:
			what = "Batch.Bytes"
			err = r.Batch(func(b *chunkmap.Batch) error {
				for j := 0; j < 4; j++ {
					p, err := b.Bytes(off, nrec*advxRec)
					if err != nil {
						return err
					}
					if cerr := check(p, off); cerr != nil {
						return fmt.Errorf("%w: Bytes(%d, %d): %w", errAdvxViolation, off, nrec*advxRec, cerr)
					}
					off2 := s + rng.Int64N(e-s)
					off2 -= off2 % advxRec
					if off2 >= s && off2+advxRec <= r.Size() {
						off, nrec = off2, 1
					}
				}
				return nil
			})
			if errors.Is(err, errAdvxViolation) {
				return checked, fmt.Errorf("Batch (Size now %d): %w", r.Size(), err)
			}
			got = nil
		case 2:
			what = "Gather"
			offs := make([]int64, nrec)
			for i := range offs {
				o := s + rng.Int64N(e-s)
				o -= o % advxRec
				if o < s {
					o += advxRec
				}
				if o+advxRec > e {
					o = off
				}
				offs[i] = o
			}
			dst := make([]byte, nrec*advxRec)
			err = r.Gather(dst, offs, advxRec)
			if err == nil {
				for i, o := range offs {
					if cerr := check(dst[i*advxRec:(i+1)*advxRec], o); cerr != nil {
						return checked, fmt.Errorf("Gather (Size %d): %w", r.Size(), cerr)
					}
				}
			}
			got = nil
		case 3:
			what = "Pin"
			var p *chunkmap.Pinned
			p, err = r.Pin(off, nrec*advxRec)
			if err == nil {
				cerr := check(p.Bytes(), off)
				p.Release()
				if cerr != nil {
					return checked, fmt.Errorf("Pin(%d, %d): %w", off, nrec*advxRec, cerr)
				}
			}
			got = nil
		}
		if err != nil && !errOK(err) {
			return checked, fmt.Errorf("%s at %d: unexpected error %v", what, off, err)
		}
		if err == nil && got != nil {
			if cerr := check(got, off); cerr != nil {
				return checked, fmt.Errorf("%s(%d, %d) with Size %d: %w", what, off, len(got), r.Size(), cerr)
			}
		}
		if err == nil {
			checked++
		}
	}
	return checked, nil
}

var errAdvxViolation = errors.New("violation")

// TestAdvx_FollowerSameProcess: two followers in this process.
func TestAdvx_FollowerSameProcess(t *testing.T) {
	seed := testSeed(t, "ADVX_SEED")
	dir := filepath.Join(t.TempDir(), "ds")
	log := &advxTruncLog{}
	// Create the dataset first so the followers can open it.
	m := advxOpen(t, dir, advxOpts)
	m.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		advxWriter(t, dir, rand.New(rand.NewPCG(seed, 1)), stop, log)
	}()
	deadline := time.Now().Add(stormFor(1500 * time.Millisecond))
	var total atomic.Int64
	for f := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := advxFollow(dir, seed+uint64(f)+2, deadline, log.snapshot)
			total.Add(int64(n))
			if err != nil {
				t.Errorf("follower %d: %v", f, err)
			}
		}()
	}
	advWithin(t, 10*time.Second, "followers", func() {
		time.Sleep(time.Until(deadline))
		close(stop)
		wg.Wait()
	})
	t.Logf("%d reads checked, %d truncations", total.Load(), len(log.snapshot()))
	if total.Load() < 100 {
		t.Errorf("only %d reads checked", total.Load())
	}
}

// TestAdvx_FollowerChild: the follower is a child process (this test
// binary re-executed).
func TestAdvx_FollowerChild(t *testing.T) {
	if dir := os.Getenv("ADVX_FOLLOW_DIR"); dir != "" {
		seed, _ := strconv.ParseUint(os.Getenv("ADVX_FOLLOW_SEED"), 10, 64)
		logPath := os.Getenv("ADVX_FOLLOW_LOG")
		n, err := advxFollow(dir, seed, time.Now().Add(1200*time.Millisecond), func() [][2]int64 { return advxReadLog(logPath) })
		fmt.Printf("checked %d\n", n)
		if err != nil {
			fmt.Printf("VIOLATION: %v\n", err)
			os.Exit(1)
		}
		return
	}
	seed := testSeed(t, "ADVX_SEED")
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ds")
	logPath := filepath.Join(tmp, "trunc.log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	log := &advxTruncLog{f: lf}
	m := advxOpen(t, dir, advxOpts)
	m.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdvx_FollowerChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ADVX_FOLLOW_DIR="+dir, "ADVX_FOLLOW_LOG="+logPath,
		"ADVX_FOLLOW_SEED="+strconv.FormatUint(seed, 10))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		advxWriter(t, dir, rand.New(rand.NewPCG(seed, 1)), stop, log)
	}()
	var out []byte
	advWithin(t, 10*time.Second, "child follower", func() {
		out, err = cmd.CombinedOutput()
		close(stop)
		wg.Wait()
	})
	t.Logf("child: %s", out)
	if err != nil {
		t.Errorf("child follower: %v\n%s", err, out)
	}
}
