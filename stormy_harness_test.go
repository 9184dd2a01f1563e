package chunkmap_test

// Shared machinery of the stormy tests: many goroutines at once against one
// Manager (and a ReadOnly follower of the same directory), every scenario
// under a deadline that dumps all goroutine stacks when it passes.
//
// Every randomized stormy test logs its seed; STORMY_SEED replays one.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// stormyC is the chunk size of every stormy dataset: the smallest allowed.
const stormyC = int64(chunkmap.MinChunkSize)

// stormyHang is how long a scenario may run before it counts as hung. It is
// far above the time any scenario needs (well under a second), so passing it
// is never a matter of a slow machine.
const stormyHang = 20 * time.Second

// stormySeed returns the seed of a randomized test: STORMY_SEED if set, else
// the clock. It logs the seed and how to replay it.
func stormySeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STORMY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STORMY_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with STORMY_SEED=%d)", seed, seed)
	return seed
}

// stormyRNG returns the random stream number stream of a seed.
func stormyRNG(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream*0x9e3779b97f4a7c15+0x632be59bd9b4e019))
}

// stormyBudget is how long one storm phase runs: the amount of work, never
// what a check depends on.
func stormyBudget() time.Duration {
	if testing.Short() {
		return 80 * time.Millisecond
	}
	return 220 * time.Millisecond
}

// stormyStacks returns the stacks of every goroutine.
func stormyStacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// stormyGroup runs goroutines and waits for them under stormyHang. A panic
// in one fails the test with its stack instead of killing the process.
type stormyGroup struct {
	t  *testing.T
	wg sync.WaitGroup
}

func (sg *stormyGroup) Go(name string, f func()) {
	sg.wg.Add(1)
	go func() {
		defer sg.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				sg.t.Errorf("%s panicked: %v\n%s", name, r, debug.Stack())
			}
		}()
		f()
	}()
}

// Wait waits for every goroutine started by Go; past stormyHang it dumps
// every goroutine's stack and fails the test at once.
func (sg *stormyGroup) Wait(what string) {
	done := make(chan struct{})
	go func() { sg.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stormyHang):
		sg.t.Fatalf("%s: still running after %v (hung); goroutines:\n%s", what, stormyHang, stormyStacks())
	}
}

// stormyWithin runs f on its own goroutine and fails the test with every
// stack if it does not return within stormyHang.
func stormyWithin(t *testing.T, what string, f func()) {
	sg := &stormyGroup{t: t}
	sg.Go(what, f)
	sg.Wait(what)
}

// stormySentinels are the package's sentinel errors: every error it returns
// must match one of them.
var stormySentinels = []error{
	chunkmap.ErrClosed, chunkmap.ErrReadOnly, chunkmap.ErrOutOfRange,
	chunkmap.ErrCorrupt, chunkmap.ErrLocked, chunkmap.ErrInvalidOptions,
	chunkmap.ErrUnaligned, chunkmap.ErrNoSpace, chunkmap.ErrBusy,
	chunkmap.ErrFault, chunkmap.ErrIO, chunkmap.ErrSyncFailed,
}

// stormyEnv is what every check of one scenario shares: the test, the
// dataset directory and a cap on the failures reported.
type stormyEnv struct {
	t    *testing.T
	dir  string // as given to Open
	real string // as the kernel resolves it
	nerr atomic.Int64
}

func stormyNewEnv(t *testing.T) *stormyEnv {
	dir := filepath.Join(t.TempDir(), "ds")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &stormyEnv{t: t, dir: dir, real: real}
}

// failf reports a failure; after 25 of them it only counts them, so that a
// broken invariant does not bury the log.
func (e *stormyEnv) failf(format string, args ...any) {
	if n := e.nerr.Add(1); n <= 25 {
		e.t.Errorf(format, args...)
	} else if n == 26 {
		e.t.Errorf("(further failures not shown)")
	}
}

func (e *stormyEnv) failing() bool { return e.nerr.Load() > 0 }

// check reports whether err is nil. A non-nil err must be a bare io.EOF where
// allowed lists io.EOF, or else match one of the package's sentinels, match
// one of allowed, name the operation (start with prefix) and name the
// directory at most once.
func (e *stormyEnv) check(what, prefix string, err error, allowed ...error) bool {
	if err == nil {
		return true
	}
	if err == io.EOF {
		for _, a := range allowed {
			if a == io.EOF {
				return false
			}
		}
		e.failf("%s: unexpected io.EOF", what)
		return false
	}
	matched := false
	for _, s := range stormySentinels {
		if errors.Is(err, s) {
			matched = true
			break
		}
	}
	if !matched {
		e.failf("%s: error matches none of the package's sentinels: %v (%T)", what, err, err)
		return false
	}
	ok := false
	for _, a := range allowed {
		if a != io.EOF && errors.Is(err, a) {
			ok = true
			break
		}
	}
	if !ok {
		e.failf("%s: unexpected error: %v", what, err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		e.failf("%s: error does not name the operation (%q): %q", what, prefix, msg)
	}
	if n := strings.Count(msg, e.real); n > 1 {
		e.failf("%s: error names the directory %d times: %q", what, n, msg)
	}
	return false
}

// stormyFlight counts, in chunks, the calls in progress that may end a hold
// (a pin, a batch, a scan block, a Sync): Stats may count a chunk whose last
// hold such a call just ended as mapped and unheld for an instant (the
// documented exception to Mapped <= MaxMapped + Pinned), so a sample allows
// one chunk per chunk such calls spanned while it was taken.
type stormyFlight struct {
	started, finished atomic.Int64
}

func (f *stormyFlight) begin(k int64) { f.started.Add(k) }
func (f *stormyFlight) end(k int64)   { f.finished.Add(k) }

// stormySpan is the number of chunks [a, b) covers, plus one.
func stormySpan(a, b int64) int64 {
	if b <= a {
		return 1
	}
	return (b-1)/stormyC - a/stormyC + 2
}

// stormySampler takes Stats snapshots of one Manager while the storm runs
// and checks the documented bounds on each.
type stormySampler struct {
	e         *stormyEnv
	name      string
	m         *chunkmap.Manager
	maxMapped int
	fl        *stormyFlight
	last      chunkmap.Stats
	n         int
	excess    int64 // the most Mapped exceeded MaxMapped + Pinned (within the slack)
}

func (s *stormySampler) sample() {
	f0 := s.fl.finished.Load()
	st := s.m.Stats()
	s1 := s.fl.started.Load()
	slack := s1 - f0
	if slack < 0 {
		slack = 0
	}
	s.n++
	if st.Mapped < 0 || st.Pinned < 0 || st.Chunks < 0 {
		s.e.failf("%s stats: negative count: %+v", s.name, st)
	}
	s.excess = max(s.excess, int64(st.Mapped-s.maxMapped-st.Pinned))
	if int64(st.Mapped) > int64(s.maxMapped+st.Pinned)+slack {
		s.e.failf("%s stats: Mapped %d > MaxMapped %d + Pinned %d + %d chunks of holds ending meanwhile: %+v",
			s.name, st.Mapped, s.maxMapped, st.Pinned, slack, st)
	}
	if st.Unmaps > st.Maps {
		s.e.failf("%s stats: more unmaps than maps: %+v", s.name, st)
	}
	if st.Evictions > st.Unmaps {
		s.e.failf("%s stats: more evictions than unmaps: %+v", s.name, st)
	}
	l := s.last
	if st.Hits < l.Hits || st.Misses < l.Misses || st.Maps < l.Maps || st.Unmaps < l.Unmaps || st.Evictions < l.Evictions {
		s.e.failf("%s stats: a counter went down: %+v after %+v", s.name, st, l)
	}
	s.last = st
}

// stormyChunkFiles counts the chunk files in dir.
func stormyChunkFiles(t *testing.T, dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if stormyChunkName.MatchString(e.Name()) {
			n++
		}
	}
	return n
}

var stormyChunkName = regexp.MustCompile(`^[0-9a-f]{16}\.chunk$`)

// stormyCopyPinned returns a copy of *p, made as a caller may make one: the
// docs say a copy acts through the Pinned it was copied from.
func stormyCopyPinned(p *chunkmap.Pinned) *chunkmap.Pinned {
	cp := new(chunkmap.Pinned)
	reflect.ValueOf(cp).Elem().Set(reflect.ValueOf(p).Elem())
	return cp
}

// stormyEncode returns x's low size bytes in order.
func stormyEncode(order binary.ByteOrder, size int64, x uint64) []byte {
	v, ok := map[int64]any{1: uint8(x), 2: uint16(x), 4: uint32(x), 8: x}[size]
	if !ok {
		panic(fmt.Sprint("size ", size))
	}
	b, err := binary.Append(nil, order, v)
	if err != nil {
		panic(err)
	}
	return b
}

// closeOnCleanup leaves nothing of w open when t ends, even if it failed
// part way.
func (w *stormyWorld) closeOnCleanup(t *testing.T) {
	t.Cleanup(func() {
		w.stop.Store(true)
		w.releaseHeld()
		if w.ro != nil && !w.rclosed.Load() {
			w.ro.Close()
		}
		if !w.closed.Load() {
			w.m.Close()
		}
	})
}

// stormyPanic is a value a stormy test panics with, to see it come back.
type stormyPanic struct{ id int }

// stormyFnErr is an error a Batch function returns, to see it passed on as
// it is.
type stormyFnErr struct{ id int }

func (e *stormyFnErr) Error() string { return fmt.Sprintf("stormy function error %d", e.id) }
