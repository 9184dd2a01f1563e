package accessor_test

// The tests in this file run the test binary again as a child process, as
// syscall's TestFcntlFlock does: the child runs the same test, which sees
// helperEnv set and plays its part instead.
//
// A read-write Open locks the dataset directory (flock), so while one
// process has a dataset open for writing, another cannot open it for
// writing at all (ErrLocked), and a read-only Manager refuses atomic stores.
// So two processes cannot both hold a read-write Manager of one dataset at
// the same time. The tests cover the two halves of the requirement:
//
//   - TestAddUint64_CrossProcess: the parent adds with AddUint64 through its
//     Manager while two child processes, which map the counter's chunk file
//     themselves with package chunk, run the same fault-guarded atomic add
//     (AddWord64, from export_test.go) at the same time. The total is exact:
//     the atomics are atomic across processes mapping the same file.
//   - TestAddUint64_TwoProcessesTakingTurns: parent and child each open the
//     dataset with their own Manager and AddUint64 the same counter, taking
//     turns as the lock demands; the child first checks that its Open is
//     refused with ErrLocked while the parent's Manager is open.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// helperEnv, when set, makes the test run as the child process of the named
// part; helperDir and helperOff tell it the dataset and the counter.
const (
	helperEnv = "CHUNKMAP_ACCESSOR_HELPER"
	helperDir = "CHUNKMAP_ACCESSOR_DIR"
	helperOff = "CHUNKMAP_ACCESSOR_OFF"
)

// helperCommand returns the command that runs test as a child process in
// the given part.
func helperCommand(ctx context.Context, test, part, dir string, off int64) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		helperEnv+"="+part, helperDir+"="+dir, helperOff+"="+strconv.FormatInt(off, 10))
	return cmd
}

// helperArgs returns the dataset directory and counter offset a child was
// given.
func helperArgs(t *testing.T) (string, int64) {
	off, err := strconv.ParseInt(os.Getenv(helperOff), 10, 64)
	if err != nil {
		t.Fatalf("child: %s: %v", helperOff, err)
	}
	return os.Getenv(helperDir), off
}

func TestAddUint64_CrossProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "cross" {
		crossProcessChild(t)
		return
	}
	const (
		children = 2
		minAdds  = 5000
	)
	// NoAdmission: under admission the parent's read of chunk 0 is served
	// by pread, and chunk 1 stays mapped for the whole test.
	m := newTestManager(t, &chunkmap.Options{MaxMapped: 1, NoAdmission: true})
	va := accessor.New(m, nil)
	fill(t, m, 0, 2*cs)
	const off = cs + 64 // in chunk 1, which the parent keeps evicting
	if err := va.StoreUint64(off, 0); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		out    *bufio.Scanner
		stderr bytes.Buffer
	}
	var kids []*child
	for range children {
		k := &child{cmd: helperCommand(ctx, "TestAddUint64_CrossProcess", "cross", m.Dir(), off)}
		k.cmd.Stderr = &k.stderr
		var err error
		if k.stdin, err = k.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		stdout, err := k.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		k.out = bufio.NewScanner(stdout)
		if err := k.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, k)
	}
	defer func() {
		for _, k := range kids {
			k.stdin.Close()
			k.cmd.Wait()
		}
	}()
	line := func(k *child) string {
		if !k.out.Scan() {
			t.Fatalf("child exited early: %v\nstderr:\n%s", k.out.Err(), k.stderr.Bytes())
		}
		return k.out.Text()
	}
	for _, k := range kids {
		if got := line(k); got != "ready" {
			t.Fatalf("child said %q, want ready\nstderr:\n%s", got, k.stderr.Bytes())
		}
	}
	for _, k := range kids {
		if _, err := io.WriteString(k.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}

	// Add while the children add, evicting the counter's chunk every few
	// adds so that it is remapped under them. A jump of more than one in the
	// returned value is an add by a child in between.
	var adds, jumps int
	prev := uint64(0)
	one := make([]byte, 1)
	for adds < minAdds || (jumps == 0 && adds < 50*minAdds) {
		x, err := va.AddUint64(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		adds++
		if x != prev+1 {
			jumps++
		}
		prev = x
		if adds%8 == 0 {
			if _, err := m.ReadAt(one, 0); err != nil { // evicts chunk 1
				t.Fatal(err)
			}
		}
	}
	if jumps == 0 {
		t.Errorf("no child add was seen between %d parent adds: the processes did not run concurrently", adds)
	}
	if st := m.Stats(); st.Evictions == 0 {
		t.Errorf("chunk 1 was never evicted during the adds (%+v): the children's adds never met a remap", st)
	}

	total := uint64(adds)
	for _, k := range kids {
		k.stdin.Close() // tells the child to stop and report
		got := line(k)
		n, err := strconv.ParseUint(strings.TrimPrefix(got, "count "), 10, 64)
		if err != nil || !strings.HasPrefix(got, "count ") {
			t.Fatalf("child said %q, want its count\nstderr:\n%s", got, k.stderr.Bytes())
		}
		total += n
	}
	for _, k := range kids {
		if err := k.cmd.Wait(); err != nil {
			t.Fatalf("child: %v\nstderr:\n%s", err, k.stderr.Bytes())
		}
	}
	kids = nil
	got, err := va.LoadUint64(off)
	if err != nil {
		t.Fatal(err)
	}
	if got != total {
		t.Errorf("counter = %d, want %d (the sum of every process's adds)", got, total)
	}
	t.Logf("parent adds %d, total %d, parent saw %d jumps; %+v", adds, total, jumps, m.Stats())
}

// crossProcessChild maps the counter's chunk file itself (the parent's
// Manager holds the dataset lock), says "ready", waits for "go", then adds
// to the counter until its stdin is closed, and prints its count.
func crossProcessChild(t *testing.T) {
	dir, off := helperArgs(t)
	f, err := chunk.Open(vfs.OS, dir, off/cs, cs, chunk.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Map(chunk.ReadWrite); err != nil {
		t.Fatal(err)
	}
	word := f.Bytes()[off%cs:]
	in := bufio.NewReader(os.Stdin)
	fmt.Println("ready")
	if s, err := in.ReadString('\n'); err != nil || s != "go\n" {
		t.Fatalf("child: read %q, %v, want go", s, err)
	}
	var stop atomic.Bool
	go func() {
		io.Copy(io.Discard, in) // returns when the parent closes stdin
		stop.Store(true)
	}()
	var n uint64
	for !stop.Load() {
		for range 64 {
			if _, ok := accessor.AddWord64(word, 1); !ok {
				t.Fatal("child: AddWord64 failed")
			}
		}
		n += 64
		// Lets the reader of stdin run where nothing preempts this loop
		// (GOMAXPROCS=1 with GODEBUG=asyncpreemptoff=1).
		runtime.Gosched()
	}
	fmt.Printf("count %d\n", n)
}

func TestAddUint64_TwoProcessesTakingTurns(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "locked":
		// The parent holds the dataset open: a read-write Open must be
		// refused.
		dir, _ := helperArgs(t)
		m, err := chunkmap.Open(dir, nil)
		if err == nil {
			m.Close()
		}
		if !errors.Is(err, chunkmap.ErrLocked) {
			t.Fatalf("child: Open while the parent has the dataset open = %v, want ErrLocked", err)
		}
		return
	case "turn":
		dir, off := helperArgs(t)
		m, err := chunkmap.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		va := accessor.New(m, nil)
		for range turnAdds {
			if _, err := va.AddUint64(off, 1); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}

	const (
		rounds = 3
		off    = cs - 8 // the last word of chunk 0
	)
	dir := t.TempDir()
	run := func(part string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := helperCommand(ctx, "TestAddUint64_TwoProcessesTakingTurns", part, dir, off).CombinedOutput()
		if err != nil {
			t.Fatalf("child %s: %v\n%s", part, err, out)
		}
	}
	turn := func() {
		t.Helper()
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		va := accessor.New(m, nil)
		if m.Size() == 0 {
			fill(t, m, 0, cs+8)
			if err := va.StoreUint64(off, 0); err != nil {
				t.Fatal(err)
			}
			// The child checks the lock while this Manager is open.
			run("locked")
		}
		for range turnAdds {
			if _, err := va.AddUint64(off, 1); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for range rounds {
		turn()
		run("turn")
	}
	m := openTestManager(t, dir, &chunkmap.Options{ReadOnly: true})
	got, err := accessor.New(m, nil).LoadUint64(off)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(2 * rounds * turnAdds); got != want {
		t.Errorf("counter = %d, want %d", got, want)
	}
}

// turnAdds is how many adds each process makes per turn.
const turnAdds = 1000
