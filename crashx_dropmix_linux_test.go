//go:build linux

package chunkmap_test

// A crash test of retention under load: a child process runs several
// goroutines that Append self-describing records at once, one that calls
// DropBefore to keep the newest chunks (at record boundaries and at
// arbitrary offsets) and one that Syncs, all concurrently, with no lock of
// the test's between them (crashx_kill_linux_test.go runs its DropBefore
// and Sync alone). The parent kills the child with SIGKILL at random
// moments, and right after a DropBefore or a Sync returned, then reopens
// the dataset, ReadOnly and read-write, and checks it against what the
// calls that returned promised.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

const (
	dmChunk = chunkmap.MinChunkSize
	// dmKeep bounds Size-Start in the child: appenders wait above it, so
	// the dataset on disk stays a few MiB.
	dmKeep  = 12 * dmChunk
	dmMagic = 0xd0a7c0de
	dmHead  = 20 // magic, length, seq, CRC-32C of the payload
)

// dmRecord returns record seq, n bytes long (at least dmHead): a header
// naming its length and seq and the CRC of a payload derived from seq.
func dmRecord(seq uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seq, 0xd0))
	for i := dmHead; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	binary.LittleEndian.PutUint32(b[0:], dmMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[dmHead:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// dmBad says what is wrong with b, read as record seq of len(b) bytes, or
// "" if it is whole and correct.
func dmBad(b []byte, seq uint64) string {
	if len(b) < dmHead {
		return fmt.Sprintf("%d bytes, shorter than a header", len(b))
	}
	if m := binary.LittleEndian.Uint32(b); m != dmMagic {
		return fmt.Sprintf("magic %#x, want %#x", m, uint32(dmMagic))
	}
	if n := binary.LittleEndian.Uint32(b[4:]); int(n) != len(b) {
		return fmt.Sprintf("length %d, want %d", n, len(b))
	}
	if s := binary.LittleEndian.Uint64(b[8:]); s != seq {
		return fmt.Sprintf("seq %d, want %d", s, seq)
	}
	if c := crc32.Checksum(b[dmHead:], crc32.MakeTable(crc32.Castagnoli)); c != binary.LittleEndian.Uint32(b[16:]) {
		return fmt.Sprintf("payload CRC %#x, header says %#x", c, binary.LittleEndian.Uint32(b[16:]))
	}
	return ""
}

// dmBoundary returns the highest of ends at or below off, or off.
func dmBoundary(ends []int64, off int64) int64 {
	best := int64(-1)
	for _, e := range ends {
		if e <= off && e > best {
			best = e
		}
	}
	if best < 0 {
		return off
	}
	return best
}

// dmRec is an Append that returned.
type dmRec struct {
	seq uint64
	off int64
	n   int
}

// dmChild is the child of the tests of this file: it appends, drops and
// syncs on dir until it is killed, reporting on fd 3 (or stdout) every
// call that returned: "A seq off n", "d off" (DropBefore began), "D off",
// "S"; "open start size" once open, "error ..." on any failure.
func dmChild(spec string, report *os.File) {
	parts := strings.Split(spec, ",")
	dir := parts[0]
	seed, _ := strconv.ParseUint(parts[1], 10, 64)
	seqBase, _ := strconv.ParseUint(parts[2], 10, 64)
	say, fail := childReporter(report)
	r := rand.New(rand.NewPCG(seed, 4))
	arena := []int64{0, 1, 3, 8}[r.IntN(4)] * dmChunk
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: dmChunk, MaxMapped: 1 + r.IntN(3), ArenaSize: arena, NoAdmission: r.IntN(2) == 0})
	if err != nil {
		fail(err)
	}
	say("open %d %d", m.Start(), m.Size())
	var (
		seq    atomic.Uint64
		lastMu sync.Mutex
		ends   []int64 // record boundaries of appends that returned, the newest last
	)
	seq.Store(seqBase)
	for g := range 4 + r.IntN(5) {
		go func() {
			ar := rand.New(rand.NewPCG(seed, uint64(g)+100))
			for {
				if m.Size()-m.Start() > dmKeep {
					time.Sleep(100 * time.Microsecond)
					continue
				}
				n := dmHead + ar.IntN(3000)
				if ar.IntN(10) == 0 {
					n = dmChunk/2 + ar.IntN(2*dmChunk) // across chunks, by pwrite
				}
				s := seq.Add(1)
				off, err := m.Append(dmRecord(s, n))
				if err != nil {
					fail(fmt.Errorf("append seq %d: %w", s, err))
				}
				say("A %d %d %d", s, off, n)
				lastMu.Lock()
				ends = append(ends[max(0, len(ends)-64):], off)
				lastMu.Unlock()
			}
		}()
	}
	go func() {
		sr := rand.New(rand.NewPCG(seed, 7))
		for {
			time.Sleep(time.Duration(sr.IntN(3000)) * time.Microsecond)
			if err := m.Sync(); err != nil {
				fail(err)
			}
			say("S")
		}
	}()
	for {
		time.Sleep(time.Duration(r.IntN(1500)) * time.Microsecond)
		size := m.Size()
		keep := int64(1+r.IntN(6)) * dmChunk
		if size <= keep {
			continue
		}
		off := size - keep
		switch r.IntN(5) {
		case 3: // everything, up to Size as the dropper saw it
			off = size
		case 0: // a record boundary the dropper knows of
			lastMu.Lock()
			off = dmBoundary(ends, off)
			lastMu.Unlock()
		case 1: // a chunk boundary
			off = off / dmChunk * dmChunk
		}
		say("d %d", off)
		if err := m.DropBefore(off); err != nil {
			fail(fmt.Errorf("DropBefore(%d): %w", off, err))
		}
		say("D %d", off)
	}
}

// TestCrashx_DropMixKill runs rounds of the child above on one dataset
// and proves after each SIGKILL that: Start is at least where the last
// DropBefore that returned put it and no more than the newest one begun
// asks; every record an Append returned at or past Start reads back whole
// and correct, through a ReadOnly Manager opened first and a writer after;
// Size covers them; no chunk file below Start is left after the writer's
// Open; and chunkmap verify finds no problem. CHUNKMAP_CRASHX_SEED replays
// a run.
func TestCrashx_DropMixKill(t *testing.T) {
	if spec := os.Getenv("CHUNKMAP_CRASHX_DROPMIX_CHILD"); spec != "" {
		dmChild(spec, os.NewFile(3, "report"))
		return
	}
	t.Parallel()
	seed0, rounds, verify, dir := dmSetup(t, 16, 6)
	st := &dmState{recs: map[int64]dmRec{}}
	early := dmRounds(t, dir, verify, rounds, seed0, st, nil)
	t.Logf("%d rounds (%d killed inside Open), %d records checked, %d DropBefore calls returned; none lost", rounds, early, st.checked, st.drops)
}

// dmRounds runs rounds of dmChild on dir, each killed with SIGKILL, and
// checks the dataset after each against st (dmState.check); seed0 seeds
// the rounds. Each line a child reports goes to onLine too, if not nil.
// It returns how many children were killed before their Open returned.
func dmRounds(t *testing.T, dir, verify string, rounds int, seed0 uint64, st *dmState, onLine func(string)) (early int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed0, 13))
	for round := range rounds {
		seed := rng.Uint64()
		// 0: after a delay; 1: after a DropBefore returned; 2: after a
		// Sync returned; 3: at once, often inside the child's Open (its
		// recovery, and its removal of the chunks below Start).
		how := rng.IntN(4)
		delay := time.Duration(5+rng.IntN(80)) * time.Millisecond
		cmd, lines, stderr := crashStart(t, "TestCrashx_DropMixKill",
			fmt.Sprintf("CHUNKMAP_CRASHX_DROPMIX_CHILD=%s,%d,%d", dir, seed, uint64(round+1)<<40))
		fail := func(format string, args ...any) {
			t.Helper()
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("round %d (seed %d, CHUNKMAP_CRASHX_SEED=%d): %s\n%s", round, seed, seed0, fmt.Sprintf(format, args...), stderr.String())
		}
		var kill <-chan time.Time
		if how == 3 {
			kill = time.After(time.Duration(rng.IntN(30000)) * time.Microsecond)
		}
		limit := time.After(20 * time.Second)
		killed, opened := false, false
		nth := 1 + rng.IntN(20)
	read:
		for {
			select {
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				killed, kill = true, nil
			case <-limit:
				fail("the child hung")
			case line, ok := <-lines:
				if !ok {
					break read
				}
				if err := st.apply(line); err != nil {
					fail("%v", err)
				}
				if onLine != nil {
					onLine(line)
				}
				opened = opened || strings.HasPrefix(line, "open")
				switch {
				case strings.HasPrefix(line, "open") && how != 3:
					kill = time.After(delay)
					if how != 0 {
						kill = time.After(time.Second) // if no such call returns
					}
				case !killed && (how == 1 && line[0] == 'D' || how == 2 && line == "S"):
					if nth--; nth == 0 {
						cmd.Process.Signal(syscall.SIGKILL)
						killed = true
					}
				}
			}
		}
		cmd.Wait()
		if !killed {
			fail("the child exited before the kill")
		}
		if !opened {
			// Killed before its Open returned: nothing it did was
			// acknowledged, and nothing must be lost all the same.
			early++
		}
		if err := st.check(dir, verify); err != nil {
			fail("%v", err)
		}
	}
	return early
}

// dmState is what the calls that returned promised.
type dmState struct {
	recs    map[int64]dmRec // by offset
	dropped int64           // the highest Start a DropBefore that returned set
	begun   int64           // the highest Start a DropBefore begun asks for
	drops   int
	checked int
}

func (s *dmState) apply(line string) error {
	f := strings.Fields(line)
	num := func(i int) int64 {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return v
	}
	switch f[0] {
	case "open":
		if start := num(1); start < s.dropped {
			return fmt.Errorf("the child's Open found Start %d, below the %d of a DropBefore that returned", start, s.dropped)
		}
	case "A":
		s.recs[num(2)] = dmRec{seq: uint64(num(1)), off: num(2), n: int(num(3))}
	case "d":
		s.begun = max(s.begun, num(1)/dmChunk*dmChunk)
	case "D":
		s.dropped = max(s.dropped, num(1)/dmChunk*dmChunk)
		s.drops++
	case "S":
	default:
		return fmt.Errorf("child: %s", line)
	}
	return nil
}

// check reopens dir, ReadOnly then read-write, and checks it against s;
// records below the new Start are forgotten. verify is the chunkmap tool.
func (s *dmState) check(dir, verify string) error {
	if out, err := exec.Command(verify, "verify", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("chunkmap verify, right after the kill: %v\n%s", err, out)
	}
	for _, ro := range []bool{true, false} {
		what := "the writer"
		if ro {
			what = "a ReadOnly Manager"
		}
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: dmChunk, ReadOnly: ro})
		if err != nil {
			return fmt.Errorf("%s: Open after the kill: %v", what, err)
		}
		err = s.checkOpen(m, dir, ro)
		if cerr := m.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("Close: %v", cerr)
		}
		if err != nil {
			return fmt.Errorf("%s: %v", what, err)
		}
	}
	out, err := exec.Command(verify, "verify", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("chunkmap verify: %v\n%s", err, out)
	}
	return nil
}

func (s *dmState) checkOpen(m *chunkmap.Manager, dir string, ro bool) error {
	start, size := m.Start(), m.Size()
	if start < s.dropped {
		return fmt.Errorf("Start %d, below the %d of a DropBefore that returned (a dropped chunk came back)", start, s.dropped)
	}
	if start > max(s.dropped, s.begun) {
		return fmt.Errorf("Start %d, past the %d any DropBefore asked for", start, max(s.dropped, s.begun))
	}
	for off, r := range s.recs {
		if off < start {
			delete(s.recs, off)
			continue
		}
		if end := off + int64(r.n); end > size {
			return fmt.Errorf("Size %d (Start %d) does not cover record %d at [%d, %d), whose Append returned", size, start, r.seq, off, end)
		}
		b := make([]byte, r.n)
		if _, err := m.ReadAt(b, off); err != nil {
			return fmt.Errorf("ReadAt of record %d at [%d, %d): %v", r.seq, off, off+int64(r.n), err)
		}
		if why := dmBad(b, r.seq); why != "" {
			return fmt.Errorf("record %d at [%d, %d), whose Append returned, reads back wrong: %s", r.seq, off, off+int64(r.n), why)
		}
		s.checked++
	}
	if ro {
		return nil
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"+chunk.Ext))
	if err != nil {
		return err
	}
	for _, name := range names {
		if idx, ok := chunk.ParseName(filepath.Base(name)); ok && idx*dmChunk < start {
			return fmt.Errorf("chunk file %s, below Start %d, left after a read-write Open", filepath.Base(name), start)
		}
	}
	return nil
}

// TestCrashx_DropMixFollower runs the rounds of TestCrashx_DropMixKill
// with a ReadOnly Manager alive in another process all along, reading
// every record an Append returned, again and again, while the writers
// append, drop, sync and die. It proves that the follower never reads a
// record that is not whole and correct, never reads one below the Start
// it saw before the read, fails a read of a dropped record with an error
// that matches a sentinel (or io.EOF, which ReadOnly's doc allows a read
// racing a shrink), fails no read of a record that stays, and never hangs.
func TestCrashx_DropMixFollower(t *testing.T) {
	if dir := os.Getenv("CHUNKMAP_CRASHX_DROPMIX_FOLLOWER"); dir != "" {
		dmFollower(dir)
		return
	}
	t.Parallel()
	seed0, rounds, verify, dir := dmSetup(t, 10, 5)
	f := mpStart(t, "TestCrashx_DropMixFollower", "CHUNKMAP_CRASHX_DROPMIX_FOLLOWER="+dir)
	if got := f.next(t, "follower start"); got != "ready" {
		t.Fatalf("follower: %q\n%s", got, f.stderr.String())
	}
	var (
		mu      sync.Mutex
		bad     []string
		reads   int64
		dropped int64
		last    = time.Now()
	)
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		for line := range f.lines {
			mu.Lock()
			switch {
			case strings.HasPrefix(line, "progress "):
				fs := strings.Fields(line)
				reads, _ = strconv.ParseInt(fs[1], 10, 64)
				dropped, _ = strconv.ParseInt(fs[2], 10, 64)
				last = time.Now()
			default:
				bad = append(bad, line)
			}
			mu.Unlock()
		}
	}()
	check := func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("the follower: %s\n%s", strings.Join(bad[:min(len(bad), 5)], "\n"), f.stderr.String())
		}
		if time.Since(last) > 5*time.Second {
			t.Fatalf("the follower made no progress for %v (hung)\n%s", time.Since(last), f.stderr.String())
		}
	}
	st := &dmState{recs: map[int64]dmRec{}}
	early := dmRounds(t, dir, verify, rounds, seed0, st, func(line string) {
		if line[0] == 'A' {
			fmt.Fprintln(f.stdin, line)
		}
		if line[0] == 'S' {
			check()
		}
	})
	time.Sleep(200 * time.Millisecond)
	check()
	f.stdin.Close()
	<-watch
	check()
	t.Logf("%d rounds (%d killed inside Open), %d records checked after kills; the follower read %d records, %d of them dropped", rounds, early, st.checked, reads, dropped)
}

// dmFollower is the follower of TestCrashx_DropMixFollower: it reads the
// records named on stdin ("A seq off n") and reports on stdout what is
// wrong, and "progress reads dropped" every 50 ms.
func dmFollower(dir string) {
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: dmChunk, ReadOnly: true, MaxMapped: 2, ArenaSize: 3 * dmChunk})
	if err != nil {
		say("Open: %v", err)
		os.Exit(1)
	}
	say("ready")
	var (
		mu      sync.Mutex
		recs    []dmRec
		reads   atomic.Int64
		dropped atomic.Int64
		outMu   sync.Mutex
	)
	report := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		say(format, args...)
	}
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			off, _ := strconv.ParseInt(f[2], 10, 64)
			n, _ := strconv.Atoi(f[3])
			mu.Lock()
			recs = append(recs, dmRec{seq: seq, off: off, n: n})
			mu.Unlock()
		}
		report("progress %d %d", reads.Load(), dropped.Load())
		os.Exit(0)
	}()
	for g := range 3 {
		go func() {
			r := rand.New(rand.NewPCG(uint64(g), uint64(os.Getpid())))
			for {
				mu.Lock()
				if len(recs) == 0 {
					mu.Unlock()
					time.Sleep(time.Millisecond)
					continue
				}
				// Mostly the newest records, which stay; now and then any,
				// most of which were dropped.
				i := len(recs) - 1 - r.IntN(min(len(recs), 40))
				if r.IntN(4) == 0 {
					i = r.IntN(len(recs))
				}
				rec := recs[i]
				mu.Unlock()
				b := make([]byte, rec.n)
				start0 := m.Start()
				var err error
				how := "ReadAt"
				switch k := r.IntN(4); {
				case k == 0:
					// A pin held across what the writer does meanwhile:
					// its bytes stay those of the record.
					how = "Pin"
					var p *chunkmap.Pinned
					if p, err = m.Pin(rec.off, rec.n); err == nil {
						time.Sleep(time.Duration(r.IntN(2000)) * time.Microsecond)
						copy(b, p.Bytes())
						p.Release()
					}
				case k == 1 && rec.n <= dmChunk:
					how = "Gather"
					err = m.Gather(b, []int64{rec.off}, rec.n)
				default:
					_, err = m.ReadAt(b, rec.off)
				}
				reads.Add(1)
				switch {
				case err == nil && start0 > rec.off:
					report("%s of record %d at %d returned nil, below the Start %d it saw before", how, rec.seq, rec.off, start0)
				case err == nil:
					if why := dmBad(b, rec.seq); why != "" {
						report("%s of record %d at [%d, %d) returned nil, and the bytes are wrong: %s", how, rec.seq, rec.off, rec.off+int64(rec.n), why)
					}
				case !crashxSentinel(err) && !errors.Is(err, io.EOF):
					report("%s of record %d at %d: an error that matches no sentinel: %v", how, rec.seq, rec.off, err)
				case m.Start() > rec.off:
					dropped.Add(1)
				default:
					report("%s of record %d at [%d, %d), which no DropBefore reached (Start %d, Size %d): %v", how, rec.seq, rec.off, rec.off+int64(rec.n), m.Start(), m.Size(), err)
				}
			}
		}()
	}
	for {
		time.Sleep(50 * time.Millisecond)
		report("progress %d %d", reads.Load(), dropped.Load())
	}
}

// dmSetup returns a run's seed (CHUNKMAP_CRASHX_SEED replays one), its
// number of rounds (full, or short under -short and -race, or
// CHUNKMAP_CRASHX_ROUNDS), the verify tool and a directory holding an empty
// dataset: it exists before the first child, which may die before its
// Open has made one.
func dmSetup(t *testing.T, full, short int) (seed0 uint64, rounds int, verify, dir string) {
	t.Helper()
	seed0 = testSeed(t, "CHUNKMAP_CRASHX_SEED")
	rounds = full
	if testing.Short() || raceEnabled {
		rounds = short
	}
	if v, err := strconv.Atoi(os.Getenv("CHUNKMAP_CRASHX_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	verify = hfsTool(t)
	dir = t.TempDir()
	if m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: dmChunk}); err != nil {
		t.Fatal(err)
	} else if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return seed0, rounds, verify, dir
}
