//go:build linux

package chunkmap_test

// Multi-process probes of the writer's lifecycle as followers see it:
// followers that start before the dataset exists and follow a succession
// of writer processes, each SIGKILLed at a random moment (some while the
// first one is still creating the dataset), and a follower process killed
// while it holds pins; read-write Opens of a directory that does not exist
// yet, raced from several processes at once. The writer children are
// cfWriterChild (crashx_follow_linux_test.go), and the bytes are cfWords.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// mpFollow reads the dataset in dir as a follower until stop is set: it
// opens it ReadOnly (again and again until the dataset exists), then reads
// it through ReadAt, Pin, Gather, LoadUint64 and Batch, sometimes closing
// and opening again. bad reports a byte never written at its offset, an
// error that matches no sentinel, or one a follower of an undamaged
// dataset must not get.
func mpFollow(dir string, seed uint64, stop *atomic.Bool, reads *atomic.Int64, bad func(string, ...any)) {
	mpFollowTolerant(dir, seed, stop, reads, nil, bad)
}

// mpFollowTolerant is mpFollow, but where tolerant is set it takes any
// error that matches a sentinel (the dataset's files were tampered with)
// and only counts it (CHUNKMAP_MULTIPROC_SHOW=1 prints the first two to stderr).
func mpFollowTolerant(dir string, seed uint64, stop *atomic.Bool, reads *atomic.Int64, tolerant *atomic.Int64, bad func(string, ...any)) {
	lenient := func(err error) bool {
		if tolerant != nil && crashxSentinel(err) {
			if tolerant.Add(1) <= 2 && os.Getenv("CHUNKMAP_MULTIPROC_SHOW") != "" {
				fmt.Fprintln(os.Stderr, "tolerated:", err)
			}
			return true
		}
		return false
	}
	r := rand.New(rand.NewPCG(seed, 3))
	for !stop.Load() {
		m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1 + r.IntN(3), NoAdmission: r.IntN(2) == 0})
		if err != nil {
			// No dataset yet, or not yet a manifest in it.
			if errors.Is(err, chunkmap.ErrReadOnly) && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if !lenient(err) {
				bad("ReadOnly Open: %v (sentinel: %v)", err, crashxSentinel(err))
			}
			time.Sleep(time.Millisecond)
			continue
		}
		for i := 0; i < 2000 && !stop.Load(); i++ {
			start, size := m.Start(), m.Size()
			if size <= start {
				time.Sleep(50 * time.Microsecond)
				continue
			}
			off := start + r.Int64N(size-start)
			n := 1 + r.IntN(min(3*cfChunk, int(size-off)))
			var method int
			var b []byte
			method, off, b, err = cfReadRandom(m, r, off, n, start, size, 100, bad)
			reads.Add(1)
			if err != nil {
				if !errors.Is(err, chunkmap.ErrOutOfRange) && !lenient(err) {
					bad("read method %d of %d bytes at %d: %v (sentinel: %v)", method, n, off, err, crashxSentinel(err))
				}
				continue
			}
			if j := cfBad(off, b); j >= 0 {
				bad("read method %d of %d bytes at %d: %#x at %d, never written there", method, n, off, b[j], off+int64(j))
			}
		}
		if err := m.Close(); err != nil && !lenient(err) {
			bad("follower Close: %v", err)
		}
	}
}

// mpChild is a child process: the test binary run again with env.
type mpChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
}

// mpStart runs the test named run again in a child process, with env added
// to its environment, its stdout read line by line into lines, and kills it
// when t ends. The child tests of this file and crashx_follow's use it.
func mpStart(t *testing.T, run string, env ...string) *mpChild {
	t.Helper()
	c := &mpChild{cmd: exec.Command(os.Args[0], "-test.run=^"+run+"$"), stderr: new(bytes.Buffer)}
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.lines = make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(c.kill)
	return c
}

func (c *mpChild) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// next returns the child's next line, or "" once it has exited; it fails
// the test if the child says nothing for a minute (a hang).
func (c *mpChild) next(t *testing.T, what string) string {
	t.Helper()
	return c.nextWithin(t, what, time.Minute)
}

// nextWithin is next, failing the test if the child says nothing for d.
func (c *mpChild) nextWithin(t *testing.T, what string, d time.Duration) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			return ""
		}
		return line
	case <-time.After(d):
		t.Fatalf("%s: no answer from the child in %v (hung)\n%s", what, d, c.stderr.String())
	}
	return ""
}

// TestMultiproc_FollowersFromBeforeCreationAcrossWriterKills starts followers
// (goroutines that open the dataset ReadOnly again and again until it
// exists) before anything exists at the path, then runs writer processes
// one after the other, each killed with SIGKILL at a random moment (the
// first sometimes while it is still creating the dataset), and beside them
// a follower process that pins, killed at random too. The followers must
// never read a byte that was never written at its offset, never get an
// error that matches no sentinel (nor ErrFault or ErrCorrupt: nothing
// damages a file), never hang; the writer must not notice the killed
// follower; and after each kill a read-write Open must recover a dataset
// every byte of which was written there. CHUNKMAP_MULTIPROC_SEED replays a run.
func TestMultiproc_FollowersFromBeforeCreationAcrossWriterKills(t *testing.T) {
	if dir := os.Getenv("CHUNKMAP_MULTIPROC_PINNER"); dir != "" {
		mpPinner(dir)
		return
	}
	seed := testSeed(t, "CHUNKMAP_MULTIPROC_SEED")
	rng := rand.New(rand.NewPCG(seed, 11))
	dir := t.TempDir() + "/ds"
	var (
		stop  atomic.Bool
		reads atomic.Int64
		mu    sync.Mutex
		probs []string
		wg    sync.WaitGroup
	)
	bad := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(probs) < 10 {
			probs = append(probs, fmt.Sprintf(format, args...))
		}
	}
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mpFollow(dir, seed+uint64(g), &stop, &reads, bad)
		}()
	}
	defer func() {
		stop.Store(true)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("a follower hung")
		}
		for _, p := range probs {
			t.Error(p)
		}
		t.Logf("%d follower reads", reads.Load())
	}()
	rounds := 6
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		// Let the followers spin on a missing dataset first.
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		wseed := rng.Uint64()
		writer := mpStart(t, "TestCrashx_FollowerAcrossWriterKill", fmt.Sprintf("CHUNKMAP_CRASHX_FOLLOW=writer,%s,%d", dir, wseed))
		var pinner *mpChild
		if round > 0 && rng.IntN(2) == 0 {
			pinner = mpStart(t, "TestMultiproc_FollowersFromBeforeCreationAcrossWriterKills", "CHUNKMAP_MULTIPROC_PINNER="+dir)
		}
		// The first writer sometimes dies while it creates the dataset.
		life := time.Duration(rng.IntN(300)) * time.Millisecond
		if round == 0 && rng.IntN(2) == 0 {
			life = time.Duration(rng.IntN(3000)) * time.Microsecond
		}
		time.Sleep(life)
		if pinner != nil {
			pinner.kill()
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
		}
		// The writer must still be running: it exits only on an error.
		if writer.cmd.ProcessState != nil || func() bool {
			select {
			case line, ok := <-writer.lines:
				if ok && strings.HasPrefix(line, "error") {
					t.Errorf("round %d (writer seed %d): writer: %s", round, wseed, line)
					return true
				}
			default:
			}
			return false
		}() {
			break
		}
		writer.kill()
		for line := range writer.lines {
			if strings.HasPrefix(line, "error") {
				t.Errorf("round %d (writer seed %d): writer: %s\n%s", round, wseed, line, writer.stderr.String())
			}
		}
		if pinner != nil {
			if s := pinner.stderr.String(); strings.Contains(s, "bad") {
				t.Errorf("round %d: pinner: %s", round, s)
			}
		}
		// A new writer recovers what the killed one left.
		w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cfChunk, MaxMapped: 2})
		if err != nil {
			t.Fatalf("round %d (writer seed %d, life %v): Open after the kill: %v", round, wseed, life, err)
		}
		start, size := w.Start(), w.Size()
		data := make([]byte, size-start)
		if _, err := w.ReadAt(data, start); err != nil && len(data) > 0 {
			t.Fatalf("round %d: ReadAt: %v", round, err)
		}
		if i := cfBad(start, data); i >= 0 {
			t.Fatalf("round %d (writer seed %d): the recovered dataset holds %#x at %d, never written there", round, wseed, data[i], start+int64(i))
		}
		if err := w.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		if t.Failed() {
			return
		}
	}
}

// mpPinner is the pinning follower process: it opens the dataset in dir
// ReadOnly (waiting for it to exist) and pins, checks and holds ranges
// until it is killed, writing "bad ..." to stderr for a wrong byte.
func mpPinner(dir string) {
	var m *chunkmap.Manager
	for {
		var err error
		if m, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2}); err == nil {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	var held []*chunkmap.Pinned
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for {
		start, size := m.Start(), m.Size()
		if size <= start {
			continue
		}
		off := start + r.Int64N(size-start)
		n := 1 + r.IntN(min(2*cfChunk, int(size-off)))
		if r.IntN(3) == 0 {
			if _, err := m.PinWritable(off, n); !errors.Is(err, chunkmap.ErrReadOnly) {
				fmt.Fprintf(os.Stderr, "bad PinWritable on a follower: %v\n", err)
			}
			continue
		}
		p, err := m.Pin(off, n)
		if err != nil {
			continue
		}
		if j := cfBad(off, p.Bytes()); j >= 0 {
			fmt.Fprintf(os.Stderr, "bad pinned %#x at %d\n", p.Bytes()[j], off+int64(j))
		}
		held = append(held, p)
		if len(held) > 8 {
			held[0].Release()
			held = held[1:]
		}
	}
}

// TestMultiproc_RacingWriterOpensOfANewDataset starts several processes that
// open one directory, which does not exist yet, for writing at the same
// instant, and a few that open it ReadOnly: exactly one writer must win
// and every other must get ErrLocked; each reader gets the dataset or
// ErrReadOnly matching fs.ErrNotExist, never ErrCorrupt. The winner then
// appends and closes, and the dataset must open with its bytes.
func TestMultiproc_RacingWriterOpensOfANewDataset(t *testing.T) {
	if spec := os.Getenv("CHUNKMAP_MULTIPROC_OPENER"); spec != "" {
		mpOpener(spec)
		return
	}
	// Its work is in child processes (or the go command): it runs beside
	// the package's other such tests, two at a time on two cores, once the
	// sequential tests are done.
	t.Parallel()
	root := t.TempDir()
	const writers, readers = 3, 2
	rounds := 8
	if testing.Short() {
		rounds = 4
	}
	if raceEnabled {
		// Each round starts five children of the race-instrumented
		// binary, about a second of the CI's race run.
		rounds = 3
	}
	for round := range rounds {
		dir := fmt.Sprintf("%s/ds%d", root, round)
		at := time.Now().Add(300 * time.Millisecond).UnixNano()
		var kids []*mpChild
		for i := range writers + readers {
			role := "w"
			if i >= writers {
				role = "r"
			}
			kids = append(kids, mpStart(t, "TestMultiproc_RacingWriterOpensOfANewDataset", fmt.Sprintf("CHUNKMAP_MULTIPROC_OPENER=%s,%s,%d", role, dir, at)))
		}
		won := -1
		for i, k := range kids {
			got := k.next(t, "open")
			switch {
			case i < writers && got == "ok":
				if won >= 0 {
					t.Errorf("round %d: writers %d and %d both opened the dataset", round, won, i)
				}
				won = i
			case i < writers && got == "locked":
			case i >= writers && (got == "ok" || got == "none"):
			default:
				t.Errorf("round %d: child %d (writer %v): %q\n%s", round, i, i < writers, got, k.stderr.String())
			}
		}
		if won < 0 {
			t.Errorf("round %d: no writer opened the dataset", round)
		}
		for _, k := range kids {
			k.stdin.Close()
		}
		for i, k := range kids {
			if got := k.next(t, "close"); got != "closed" {
				t.Errorf("round %d: child %d Close: %q\n%s", round, i, got, k.stderr.String())
			}
			k.cmd.Wait()
		}
		m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		b := make([]byte, 8)
		if _, err := m.ReadAt(b, 0); err != nil || !bytes.Equal(b, cfWords(0, 8, 1)) {
			t.Errorf("round %d: the winner's Append: %x, %v", round, b, err)
		}
		m.Close()
		if t.Failed() {
			return
		}
	}
}

// mpOpener is a child of TestMultiproc_RacingWriterOpensOfANewDataset: spec is
// "w|r,DIR,UNIXNANO"; it opens DIR at that instant and prints "ok",
// "locked" or "none" (no dataset, for a reader) or the error, then, once
// stdin is closed, appends (the winning writer) and closes.
func mpOpener(spec string) {
	f := strings.Split(spec, ",")
	at, _ := strconv.ParseInt(f[2], 10, 64)
	time.Sleep(time.Until(time.Unix(0, at)))
	m, err := chunkmap.Open(f[1], &chunkmap.Options{ChunkSize: cfChunk, ReadOnly: f[0] == "r"})
	switch {
	case err == nil:
		fmt.Println("ok")
	case f[0] == "w" && errors.Is(err, chunkmap.ErrLocked):
		fmt.Println("locked")
	case f[0] == "r" && errors.Is(err, chunkmap.ErrReadOnly) && errors.Is(err, fs.ErrNotExist):
		fmt.Println("none")
	default:
		fmt.Printf("error %v (sentinel %v)\n", err, crashxSentinel(err))
	}
	io.Copy(io.Discard, os.Stdin)
	if m != nil {
		if f[0] == "w" {
			if _, err := m.Append(cfWords(0, 8, 1)); err != nil {
				fmt.Printf("append: %v\n", err)
			}
		}
		if err := m.Close(); err != nil {
			fmt.Printf("close: %v\n", err)
		}
	}
	fmt.Println("closed")
}

// TestMultiproc_ReadOnlyOpenWhileTheDatasetIsCreated has a writer process
// create datasets ds0, ds1, ... one after the other (each Open creates
// the directory and the manifest, appends and closes), while followers
// here open each one ReadOnly again and again until it exists. Open's doc
// and the README's ErrReadOnly row say a ReadOnly Open that finds no
// dataset returns ErrReadOnly matching fs.ErrNotExist; one that meets the
// manifest as the writer renames it into place must get that, or the
// dataset, and never ErrIO for a file that was missing a moment before.
func TestMultiproc_ReadOnlyOpenWhileTheDatasetIsCreated(t *testing.T) {
	const n = 300
	if root := os.Getenv("CHUNKMAP_MULTIPROC_CREATOR"); root != "" {
		r := rand.New(rand.NewPCG(uint64(os.Getpid()), 2))
		for k := range n {
			time.Sleep(time.Duration(r.IntN(500)) * time.Microsecond)
			m, err := chunkmap.Open(fmt.Sprintf("%s/ds%d", root, k), &chunkmap.Options{ChunkSize: cfChunk})
			if err == nil {
				_, err = m.Append(cfWords(0, 64, 1))
				err = errors.Join(err, m.Close())
			}
			if err != nil {
				fmt.Printf("error %v\n", err)
				os.Exit(1)
			}
		}
		fmt.Println("done")
		return
	}
	root := t.TempDir()
	creator := mpStart(t, "TestMultiproc_ReadOnlyOpenWhileTheDatasetIsCreated", "CHUNKMAP_MULTIPROC_CREATOR="+root)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		bad  []string
		stop atomic.Bool
	)
	// The followers stop when the creator is done, not at a fixed time: a
	// fixed one also bounded how long the creator might take.
	defer wg.Wait()
	defer stop.Store(true)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < n && !stop.Load(); {
				m, err := chunkmap.Open(fmt.Sprintf("%s/ds%d", root, k), &chunkmap.Options{ReadOnly: true})
				if err != nil {
					if !errors.Is(err, chunkmap.ErrReadOnly) || !errors.Is(err, fs.ErrNotExist) {
						mu.Lock()
						bad = append(bad, err.Error())
						mu.Unlock()
					}
					continue
				}
				m.Close()
				k++
			}
		}()
	}
	// The creator answers once, after its n creations, each with its
	// fsyncs: a few seconds, but 30 s and more on a loaded machine with a
	// slow disk. The bound is for a hang only.
	got := creator.nextWithin(t, "creator", 2*time.Minute)
	stop.Store(true)
	wg.Wait()
	if got != "done" {
		t.Fatalf("creator: %q\n%s", got, creator.stderr.String())
	}
	for i, b := range bad {
		if i == 5 {
			t.Errorf("and %d more", len(bad)-i)
			break
		}
		t.Errorf("ReadOnly Open of a dataset being created: %s", b)
	}
}

// TestMultiproc_ManifestTamperedWhileWriterAndFollowersRun runs a writer
// process (cfWriterChild) and followers here while a third program (this
// test) truncates the MANIFEST, cuts it short, or renames a copy of it
// over it, at random moments. Calls may fail then, but only with errors
// that match a sentinel; no follower may crash (SIGBUS on the state page),
// hang, or read a byte never written at its offset; and the writer may
// exit only with such an error. CHUNKMAP_MULTIPROC_SEED replays a run.
func TestMultiproc_ManifestTamperedWhileWriterAndFollowersRun(t *testing.T) {
	seed := testSeed(t, "CHUNKMAP_MULTIPROC_SEED")
	rng := rand.New(rand.NewPCG(seed, 13))
	for round := range 3 {
		dir := t.TempDir() + "/ds"
		w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cfChunk})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append(cfWords(0, 3*cfChunk, 1)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var (
			stop      atomic.Bool
			reads     atomic.Int64
			tolerated atomic.Int64
			mu        sync.Mutex
			probs     []string
			wg        sync.WaitGroup
		)
		bad := func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			if len(probs) < 10 {
				probs = append(probs, fmt.Sprintf(format, args...))
			}
		}
		wseed := rng.Uint64()
		writer := mpStart(t, "TestCrashx_FollowerAcrossWriterKill", fmt.Sprintf("CHUNKMAP_CRASHX_FOLLOW=writer,%s,%d", dir, wseed))
		if got := writer.next(t, "writer"); got != "open" {
			t.Fatalf("writer: %q\n%s", got, writer.stderr.String())
		}
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mpFollowTolerant(dir, seed+uint64(g), &stop, &reads, &tolerated, bad)
			}()
		}
		mf := dir + "/" + chunkmap.ManifestName
		how := rng.IntN(3)
		time.Sleep(time.Duration(50+rng.IntN(200)) * time.Millisecond)
		switch how {
		case 0:
			err = os.Truncate(mf, 0)
		case 1:
			err = os.Truncate(mf, int64(1+rng.IntN(4096)))
		case 2:
			var b []byte
			if b, err = os.ReadFile(mf); err == nil {
				if err = os.WriteFile(mf+".copy", b, 0o644); err == nil {
					err = os.Rename(mf+".copy", mf)
				}
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		stop.Store(true)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("round %d: a follower hung", round)
		}
		writer.kill()
		for line := range writer.lines {
			if strings.HasPrefix(line, "error") && !strings.Contains(line, "chunkmap: ") {
				t.Errorf("round %d (how %d, writer seed %d): writer: %s", round, how, wseed, line)
			}
		}
		for _, p := range probs {
			t.Errorf("round %d (how %d): %s", round, how, p)
		}
		t.Logf("round %d (how %d): %d follower reads, %d sentinel errors", round, how, reads.Load(), tolerated.Load())
		if t.Failed() {
			return
		}
	}
}
