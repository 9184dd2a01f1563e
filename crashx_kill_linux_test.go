//go:build linux

package chunkmap_test

// A crash test with concurrent appenders: a child process runs several
// goroutines that Append while its main goroutine, between them, writes
// past the end, truncates (down and up), drops chunks, grows and syncs.
// Every call is reported through a pipe before it starts and after it
// returns; the parent kills the child with SIGKILL at a random moment,
// reopens the dataset and checks it against what the calls that returned
// made of it.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

const (
	cxChunk = chunkmap.MinChunkSize
	cxLimit = 24 * cxChunk // the child keeps Size around or below this
)

// cxPayload is the content of call id, n bytes long: random, never zero,
// and different for every call, so that a run of bytes tells which call
// wrote it.
func cxPayload(id int64, n int) []byte {
	r := rand.New(rand.NewPCG(uint64(id), 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32()) | 1
	}
	return b
}

// cxModel is what the calls that returned made of the dataset: data[i]
// for i in [start, len(data)), where known[i] is false for the bytes of
// appends that had not returned yet.
type cxModel struct {
	start int64
	data  []byte
	known []bool
}

func (s *cxModel) size() int64 { return int64(len(s.data)) }

func (s *cxModel) clone() cxModel {
	return cxModel{start: s.start, data: bytes.Clone(s.data), known: append([]bool(nil), s.known...)}
}

// resize sets Size to n; new bytes are zeros (known) if zero, else unknown.
func (s *cxModel) resize(n int64, zero bool) {
	if n <= s.size() {
		s.data, s.known = s.data[:n], s.known[:n]
		return
	}
	for s.size() < n {
		s.data = append(s.data, 0)
		s.known = append(s.known, zero)
	}
}

func (s *cxModel) put(off int64, p []byte) {
	if end := off + int64(len(p)); end > s.size() {
		s.resize(end, true)
	}
	copy(s.data[off:], p)
	for i := range p {
		s.known[off+int64(i)] = true
	}
}

// cxCall is a call the child reported starting.
type cxCall struct {
	id   int64
	kind string // append, write, truncate, drop, grow, sync
	off  int64  // write: offset; truncate: size; drop: offset; grow: n
	n    int    // append, write: length
	done bool
	got  int64 // append: the offset it returned
}

// apply applies a call that returned to s.
func (c *cxCall) apply(s *cxModel) {
	switch c.kind {
	case "append":
		if end := c.got + int64(c.n); end > s.size() {
			s.resize(end, false) // bytes of appends still in flight are unknown
		}
		s.put(c.got, cxPayload(c.id, c.n))
	case "write":
		s.put(c.off, cxPayload(c.id, c.n))
	case "truncate":
		s.resize(c.off, true)
	case "drop":
		s.start = max(s.start, c.off/cxChunk*cxChunk)
	}
}

// TestCrashx_ConcurrentAppendKill runs crash rounds on one dataset (see the
// top of this file) and proves, after each SIGKILL, that: Start and Size
// are what the calls that returned made them (or the call in progress,
// whose bytes, for a WriteAt, may each be as before it or as it left them:
// a copy into a mapping stopped half way);
// every byte a returned call wrote and no later returned call replaced is
// there; Size covers no byte of an append that was not fully written (the
// bytes past what returned calls made are whole payloads of appends in
// flight, in some order); and bytes past Size read as zeros when Truncate
// extends the dataset over them, whatever the crash left in the chunk
// files. CHUNKMAP_CRASHX_SEED replays a run.
func TestCrashx_ConcurrentAppendKill(t *testing.T) {
	if spec := os.Getenv("CHUNKMAP_CRASHX_KILL_CHILD"); spec != "" {
		cxKillChild(spec)
		return
	}
	// Its work is in child processes (or the go command): it runs beside
	// the package's other such tests, two at a time on two cores, once the
	// sequential tests are done.
	t.Parallel()
	seed0 := testSeed(t, "CHUNKMAP_CRASHX_SEED")
	rng := rand.New(rand.NewPCG(seed0, 11))
	rounds := 20
	if testing.Short() {
		rounds = 8
	}
	dir := t.TempDir()
	var model cxModel
	var acked, inflight int
	for round := range rounds {
		seed := rng.Uint64()
		delay := time.Duration(3+rng.IntN(60)) * time.Millisecond
		calls := cxRun(t, dir, seed, delay, round)
		// Replay what returned, in the order it returned.
		var open *cxCall
		var pending []*cxCall
		for _, c := range calls {
			if c.kind == "open" {
				open = c
				continue
			}
			if !c.done {
				pending = append(pending, c)
				continue
			}
			acked++
			c.apply(&model)
		}
		if open == nil {
			t.Fatalf("round %d (seed %d): the child never opened the dataset", round, seed)
		}
		inflight += len(pending)
		var cands []cxModel
		switch {
		case len(pending) == 1 && pending[0].kind != "append":
			// One call of the main goroutine in flight (it runs alone):
			// the dataset may hold what it left, or not.
			after := model.clone()
			c := *pending[0]
			c.apply(&after)
			cands = []cxModel{model, after}
		default:
			for _, c := range pending {
				if c.kind != "append" {
					t.Fatalf("round %d (seed %d): %s in flight beside appends: the child's lock is broken", round, seed, c.kind)
				}
			}
			cands = []cxModel{model}
		}
		var torn *cxCall
		if len(pending) == 1 && pending[0].kind == "write" {
			torn = pending[0]
		}
		model = cxCheck(t, dir, round, seed, cands, pending, torn)
	}
	t.Logf("%d rounds: %d calls returned before a SIGKILL, %d were in flight; none lost", rounds, acked, inflight)
}

// cxRun runs one child on dir, kills it delay after it opened, and returns
// the calls it reported, in the order it reported them returning (calls
// still in flight at the kill last, not done).
func cxRun(t *testing.T, dir string, seed uint64, delay time.Duration, round int) []*cxCall {
	t.Helper()
	cmd, lines, stderr := crashStart(t, "TestCrashx_ConcurrentAppendKill", fmt.Sprintf("CHUNKMAP_CRASHX_KILL_CHILD=%s,%d", dir, seed))
	var (
		order  []*cxCall
		byID   = map[int64]*cxCall{}
		killed bool
		kill   <-chan time.Time
		limit  = time.After(20 * time.Second)
	)
	for {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-kill:
			cmd.Process.Signal(syscall.SIGKILL)
			killed, kill = true, nil
			continue
		case <-limit:
			cmd.Process.Signal(syscall.SIGKILL)
			t.Fatalf("round %d (seed %d): the child hung\n%s", round, seed, stderr.String())
		}
		if !ok {
			break
		}
		f := strings.Fields(line)
		switch f[0] {
		case "open":
			order = append(order, &cxCall{kind: "open", done: true})
			kill = time.After(delay)
		case "B":
			c := &cxCall{kind: f[2]}
			c.id, _ = strconv.ParseInt(f[1], 10, 64)
			c.off, _ = strconv.ParseInt(f[3], 10, 64)
			c.n, _ = strconv.Atoi(f[4])
			byID[c.id] = c
		case "D":
			id, _ := strconv.ParseInt(f[1], 10, 64)
			c := byID[id]
			c.done = true
			c.got, _ = strconv.ParseInt(f[2], 10, 64)
			order = append(order, c)
			delete(byID, id)
		default:
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("round %d (seed %d): child: %s\n%s", round, seed, line, stderr.String())
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("round %d (seed %d): the child exited before the kill\n%s", round, seed, stderr.String())
	}
	for _, c := range byID {
		order = append(order, c)
	}
	return order
}

// cxCheck reopens dir, checks it against the candidate models (the first
// is what the calls that returned made), with the appends of pending in
// flight, and returns what the dataset now holds.
func cxCheck(t *testing.T, dir string, round int, seed uint64, cands []cxModel, pending []*cxCall, torn *cxCall) cxModel {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("round %d (seed %d): %s", round, seed, fmt.Sprintf(format, args...))
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cxChunk})
	if err != nil {
		fail("reopen after the kill: %v", err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			fail("Close: %v", err)
		}
	}()
	start, size := m.Start(), m.Size()
	got := make([]byte, size)
	if size > start {
		if _, err := m.ReadAt(got[start:], start); err != nil {
			fail("ReadAt [%d, %d): %v", start, size, err)
		}
	}
	if torn != nil {
		// A WriteAt in flight through a mapping is a memory copy, which
		// the kill may stop half way: each byte of its range may read as
		// before it or as it leaves it, and nothing else.
		before, after := cands[0], cands[1]
		for _, base := range []cxModel{before, after} {
			c := base.clone()
			for off := torn.off; off < torn.off+int64(torn.n) && off < c.size() && off < size; off++ {
				if (off < before.size() && before.known[off] && got[off] == before.data[off]) || got[off] == after.data[off] {
					c.data[off], c.known[off] = got[off], true
				}
			}
			cands = append(cands, c)
		}
	}
	var why []string
	for _, want := range cands {
		if w := cxJudge(want, pending, start, size, got); w != "" {
			why = append(why, w)
			continue
		}
		why = nil
		break
	}
	if why != nil {
		var ps []string
		for _, c := range pending {
			ps = append(ps, fmt.Sprintf("%s#%d(%d,%d)", c.kind, c.id, c.off, c.n))
		}
		fail("recovered [Start, Size) = [%d, %d), in flight %v: %s", start, size, ps, strings.Join(why, "; or "))
	}
	// Whatever the crash left past Size (the tail of an unfinished append,
	// bytes of a shrunk chunk) reads as zeros once Size covers it again.
	ext := size + 1 + int64(rand.N(2*cxChunk))
	if err := m.Truncate(ext); err != nil {
		fail("Truncate(%d) after recovery: %v", ext, err)
	}
	tail := make([]byte, ext-size)
	if _, err := m.ReadAt(tail, size); err != nil {
		fail("ReadAt after extending: %v", err)
	}
	if i := bytes.IndexFunc(tail, func(r rune) bool { return r != 0 }); i >= 0 {
		fail("offset %d, past the recovered Size %d, reads %#x after Truncate(%d) extended the dataset over it, want 0", size+int64(i), size, tail[i], ext)
	}
	if err := m.Truncate(size); err != nil {
		fail("Truncate(%d): %v", size, err)
	}
	out := cxModel{start: start, data: got, known: make([]bool, size)}
	for i := range out.known {
		out.known[i] = true
	}
	return out
}

// cxJudge returns what is wrong with the recovered dataset (start, size,
// got) as the state want with the appends of pending in flight, or "".
func cxJudge(want cxModel, pending []*cxCall, start, size int64, got []byte) string {
	var room int64
	for _, c := range pending {
		if c.kind == "append" {
			room += int64(c.n)
		}
	}
	switch {
	case start != want.start:
		return fmt.Sprintf("Start %d, want %d", start, want.start)
	case size < want.size():
		return fmt.Sprintf("Size %d, below the %d that returned calls made", size, want.size())
	case size > want.size()+room:
		return fmt.Sprintf("Size %d, past the %d that returned calls made plus %d bytes of appends in flight", size, want.size(), room)
	}
	used := map[int64]bool{}
	for off := start; off < size; {
		if off < want.size() && want.known[off] {
			if got[off] != want.data[off] {
				return fmt.Sprintf("offset %d reads %#x, want %#x", off, got[off], want.data[off])
			}
			off++
			continue
		}
		// A byte no returned call explains: it must begin the whole
		// payload of an append in flight.
		end := off
		for end < size && !(end < want.size() && want.known[end]) {
			end++
		}
		matched := false
		for _, c := range pending {
			if c.kind != "append" || used[c.id] || off+int64(c.n) > end {
				continue
			}
			if bytes.Equal(got[off:off+int64(c.n)], cxPayload(c.id, c.n)) {
				used[c.id] = true
				off += int64(c.n)
				matched = true
				break
			}
		}
		if !matched {
			return fmt.Sprintf("bytes [%d, %d) read %x..., which no append in flight wrote there whole (Size covers a hole or foreign bytes)", off, end, got[off:min(end, off+8)])
		}
	}
	return ""
}

// cxKillChild is the child of TestCrashx_ConcurrentAppendKill: it works
// on the dataset until it is killed, reporting every call on fd 3.
func cxKillChild(spec string) {
	parts := strings.Split(spec, ",")
	dir := parts[0]
	seed, _ := strconv.ParseUint(parts[1], 10, 64)
	report := os.NewFile(3, "report")
	say, fail := childReporter(report)
	r := rand.New(rand.NewPCG(seed, 3))
	arena := []int64{0, 1, 3, 8}[r.IntN(4)] * cxChunk
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cxChunk, MaxMapped: 1 + r.IntN(3), ArenaSize: arena, NoAdmission: r.IntN(2) == 0})
	if err != nil {
		fail(err)
	}
	say("open")
	var (
		excl   sync.RWMutex // appends share it; the main goroutine's calls take it alone
		nextID atomic.Int64
	)
	nextID.Store(int64(seed%1000000) * 1000000)
	appenders := 2 + r.IntN(3)
	for g := range appenders {
		go func() {
			ar := rand.New(rand.NewPCG(seed, uint64(g)+100))
			for {
				if m.Size() > cxLimit {
					time.Sleep(200 * time.Microsecond)
					continue
				}
				n := 1 + ar.IntN(3000)
				if ar.IntN(8) == 0 {
					n = cxChunk/2 + ar.IntN(cxChunk*2) // across chunks, and pwrite
				}
				excl.RLock()
				id := nextID.Add(1)
				say("B %d append 0 %d", id, n)
				off, err := m.Append(cxPayload(id, n))
				if err != nil {
					fail(fmt.Errorf("append #%d: %w", id, err))
				}
				say("D %d %d", id, off)
				excl.RUnlock()
			}
		}()
	}
	for {
		time.Sleep(time.Duration(r.IntN(400)) * time.Microsecond)
		excl.Lock()
		id := nextID.Add(1)
		start, size := m.Start(), m.Size()
		var err error
		switch k := r.IntN(100); {
		case k < 30:
			off := start + r.Int64N(size-start+3*cxChunk/2)
			n := 1 + r.IntN(4000)
			if r.IntN(5) == 0 {
				n = 64<<10 + r.IntN(40000)
			}
			say("B %d write %d %d", id, off, n)
			_, err = m.WriteAt(cxPayload(id, n), off)
		case k < 55 || size > cxLimit:
			to := start + r.Int64N(size-start+1)
			if size <= cxLimit && r.IntN(2) == 0 {
				to = size + r.Int64N(2*cxChunk)
			}
			say("B %d truncate %d 0", id, to)
			err = m.Truncate(to)
		case k < 70:
			off := start + r.Int64N(size-start+1)
			say("B %d drop %d 0", id, off)
			err = m.DropBefore(off)
		case k < 80:
			n := r.Int64N(3 * cxChunk)
			say("B %d grow %d 0", id, n)
			err = m.Grow(n)
		default:
			say("B %d sync 0 0", id)
			err = m.Sync()
		}
		if err != nil {
			fail(fmt.Errorf("#%d: %w", id, err))
		}
		say("D %d 0", id)
		excl.Unlock()
	}
}

// childReporter returns the say and fail of a crash test's child: say
// writes one line to report (one write, atomic on a pipe, also from many
// goroutines), fail says "error ..." and ends the process.
func childReporter(report *os.File) (say func(format string, args ...any), fail func(err error)) {
	var mu sync.Mutex
	say = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(report, format+"\n", args...)
	}
	fail = func(err error) {
		say("error %v", err)
		os.Exit(1)
	}
	return say, fail
}
