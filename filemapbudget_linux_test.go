package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"golang.org/x/sys/unix"
)

// TestFileMapBudget_ManagersShareTheDescriptors runs, in a child whose
// descriptor limit is 256, four Managers of 64 KiB chunks with the default
// MaxMapped (here 64 each: a quarter of the limit), each reading 100 of
// its chunks until admission maps them. Every mapped chunk keeps its file
// open, and the Managers together mapped 4 × 64 chunks, the whole limit:
// the system refused them files (Stats.Refusals), and the rest of the
// program could be refused one too. The Managers of a process now keep at
// most a quarter of the limit open between them for their mapped chunks
// and themselves (four descriptors each: the directory's lock, two handles
// of it and the manifest).
func TestFileMapBudget_ManagersShareTheDescriptors(t *testing.T) {
	underFileLimit(t, "TestFileMapBudget_ManagersShareTheDescriptors", 256, fileMapBudgetChild)
}

// underFileLimit runs child in a child process of the test binary whose
// soft descriptor limit is limit (the limit is the process's, and the
// parent's must stay as it is; the hard one stays, so the child may raise
// it again), in a directory of its own, and fails t unless the
// child's test (test, the name t runs under) passes. In the child, where
// fdLimitDirEnv is set, it lowers the limit and runs child.
func underFileLimit(t *testing.T, test string, limit uint64, child func(t *testing.T, dir string)) {
	t.Helper()
	if dir := os.Getenv(fdLimitDirEnv); dir != "" {
		var r unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
			t.Skip(err)
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: r.Max}); err != nil {
			t.Skip(err)
		}
		child(t, dir)
		return
	}
	top, sub, _ := strings.Cut(test, "/")
	run := "^" + top + "$"
	if sub != "" {
		run += "/^" + sub + "$"
	}
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), fdLimitDirEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+test+" ")) {
		t.Fatalf("child with %d descriptors: %v\n%s", limit, err, out)
	}
}

// fdLimitDirEnv names the directory a child of underFileLimit works in.
const fdLimitDirEnv = "CHUNKMAP_FDLIMIT_DIR"

// fileMapBudgetChild is TestFileMapBudget_ManagersShareTheDescriptors'
// child.
func fileMapBudgetChild(t *testing.T, base string) {
	const limit, chunks = 256, 100
	var ms []*chunkmap.Manager
	for i := range 4 {
		m, err := chunkmap.Open(filepath.Join(base, fmt.Sprint(i)), &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		ms = append(ms, m)
		if _, err := m.Append(make([]byte, chunks*cs)); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 8)
	for pass := range 4 {
		for _, m := range ms {
			for c := range int64(chunks) {
				if _, err := m.ReadAt(b, c*cs+int64(pass)); err != nil {
					t.Fatalf("ReadAt chunk %d: %v", c, err)
				}
			}
		}
	}
	mapped := 0
	for i, m := range ms {
		s := m.Stats()
		if s.Refusals != 0 {
			t.Errorf("Manager %d: the system refused it %d files or mappings (Stats %+v)", i, s.Refusals, s)
		}
		mapped += s.Mapped
	}
	if own := 4 * len(ms); mapped+own > limit/4 {
		t.Errorf("the Managers map %d chunks between them and hold %d descriptors of their own; want at most a quarter of the %d descriptors", mapped, own, limit)
	}
	if mapped == 0 {
		t.Errorf("no chunk is mapped: the reads never took the mapped path")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatalf("the program cannot open a file: %v", err)
	}
	f.Close()
}

// TestFileMapBudget_ManagersCountTheirOwn runs, in a child whose
// descriptor limit is lim, four Managers of 64 KiB chunks with the default
// options but admission, one after another: each grows to 60 chunks with
// one WriteAt, then reads a byte of each chunk and adds to a word in it (an
// atomic maps its chunk). Every call must succeed and the program must
// still be able to open files afterwards. The Managers' share of the limit
// for mapped chunks counts their own four descriptors each (it counted
// one), and is a quarter of the limit below 64 too (it was 16 at least):
// without the first the program could open no file at the end (limit 48);
// without the second the fourth Open was refused one (EMFILE). Before both,
// the first Manager alone held 35 descriptors at a limit of 48 or 64.
func TestFileMapBudget_ManagersCountTheirOwn(t *testing.T) {
	for _, lim := range []uint64{48, 64} {
		name := fmt.Sprint("limit=", lim)
		t.Run(name, func(t *testing.T) {
			underFileLimit(t, "TestFileMapBudget_ManagersCountTheirOwn/"+name, lim, ownFilesChild)
		})
	}
}

// ownFilesChild is TestFileMapBudget_ManagersCountTheirOwn's child.
func ownFilesChild(t *testing.T, base string) {
	const chunks = 60
	var ms []*chunkmap.Manager
	for i := range 4 {
		dir := filepath.Join(base, fmt.Sprint(i))
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, NoAdmission: true})
		if err != nil {
			t.Fatalf("Manager %d: %v", i, err)
		}
		defer m.Close()
		ms = append(ms, m)
		if _, err := m.WriteAt(bytes.Repeat([]byte{byte(i + 1)}, chunks*cs), 0); err != nil {
			t.Fatalf("Manager %d: %v", i, err)
		}
		for c := range int64(chunks) {
			b := make([]byte, 1)
			if _, err := m.ReadAt(b, c*cs+3); err != nil || b[0] != byte(i+1) {
				t.Fatalf("Manager %d: ReadAt chunk %d: %v, %#x; want %#x", i, c, err, b[0], i+1)
			}
			if _, err := m.AddUint32(c*cs+8, 1); err != nil {
				t.Fatalf("Manager %d: AddUint32 in chunk %d: %v", i, c, err)
			}
		}
	}
	var fs []*os.File
	defer func() {
		for _, f := range fs {
			f.Close()
		}
	}()
	for range 4 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatalf("the program cannot open a file beside the Managers: %v", err)
		}
		fs = append(fs, f)
	}
	for i, m := range ms {
		if err := m.Sync(); err != nil {
			t.Errorf("Manager %d: Sync: %v", i, err)
		}
		if s := m.Stats(); s.Chunks != chunks {
			t.Errorf("Manager %d: Stats %+v, want %d chunks", i, s, chunks)
		}
	}
}

// TestFileMapBudget_RefusalTakesOthersFiles checks, in a child process
// whose descriptor limit is 64, that a Manager refused a descriptor takes
// back the idle cached files of the process's other Managers before it
// gives up, as it does its own. Manager A leaves its cache full (16 files);
// the program then holds every descriptor but those B needs to open, and
// B's first write must still create its chunk. It used to fail with ErrIO
// (EMFILE) beside A's 16 idle files.
func TestFileMapBudget_RefusalTakesOthersFiles(t *testing.T) {
	underFileLimit(t, "TestFileMapBudget_RefusalTakesOthersFiles", 64, takeBackChild)
}

// takeBackChild is TestFileMapBudget_RefusalTakesOthersFiles' child.
func takeBackChild(t *testing.T, base string) {
	fillCache(t, filepath.Join(base, "a"))
	b, err := chunkmap.Open(filepath.Join(base, "b"), &chunkmap.Options{ChunkSize: cs, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	holdEveryFile(t)
	checkFirstWrite(t, b)
}

// TestFileMapBudget_OpenTakesOthersFiles is
// TestFileMapBudget_RefusalTakesOthersFiles with B opened after the
// program took every descriptor: Open, refused one, takes back A's idle
// cached files as B's calls would, and B then works. Open used to fail
// with ErrIO (EMFILE) beside A's 16 idle files.
func TestFileMapBudget_OpenTakesOthersFiles(t *testing.T) {
	underFileLimit(t, "TestFileMapBudget_OpenTakesOthersFiles", 64, openTakeBackChild)
}

// openTakeBackChild is TestFileMapBudget_OpenTakesOthersFiles' child.
func openTakeBackChild(t *testing.T, base string) {
	a := fillCache(t, filepath.Join(base, "a"))
	holdEveryFile(t)
	b, err := chunkmap.Open(filepath.Join(base, "b"), &chunkmap.Options{ChunkSize: cs, NoAdmission: true})
	if err != nil {
		t.Fatalf("Open of B with the program holding every descriptor but A's: %v", err)
	}
	defer b.Close()
	checkFirstWrite(t, b)
	// A lost only idle files: its calls open them again by name.
	got := make([]byte, 4)
	if _, err := a.ReadAt(got, 5*cs); err != nil || got[0] != 1 {
		t.Fatalf("A's ReadAt after B's Open: %v, %v", err, got)
	}
}

// fillCache opens a Manager of 60 chunks in dir, closed when the test
// ends, and leaves its descriptor cache full of idle files.
func fillCache(t *testing.T, dir string) *chunkmap.Manager {
	t.Helper()
	const chunks = 60
	a, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if _, err := a.WriteAt(make([]byte, chunks*cs), 0); err != nil {
		t.Fatal(err)
	}
	for c := range int64(chunks) {
		// Each maps its chunk and evicts the one before, whose file
		// goes to A's cache.
		if _, err := a.AddUint32(c*cs, 1); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// holdEveryFile opens files until the system refuses one, and closes them
// when the test ends.
func holdEveryFile(t *testing.T) {
	t.Helper()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return
		}
		t.Cleanup(func() { f.Close() })
	}
}

// checkFirstWrite writes b's first bytes, which creates its first chunk,
// and reads them back.
func checkFirstWrite(t *testing.T, b *chunkmap.Manager) {
	t.Helper()
	if _, err := b.WriteAt([]byte("first"), 0); err != nil {
		t.Fatalf("B's first write with the program holding every other descriptor: %v", err)
	}
	got := make([]byte, 5)
	if _, err := b.ReadAt(got, 0); err != nil || string(got) != "first" {
		t.Fatalf("B's ReadAt: %v, %q", err, got)
	}
}

// TestFileMapBudget_OpenRefusedPastThreeQuarters: in a child whose
// descriptor limit is 64, writers are opened until Open refuses one, which
// it must do once the Managers would hold more than three quarters of the
// limit of their own (four each: the twelfth), with ErrIO matching
// syscall.EMFILE and a message that says what to do, leaving no directory
// behind; readers count three each. Before, every Open succeeded until the
// system itself refused one, with the program left without a descriptor
// and every Manager's calls refused them. Once a Manager closes, Open
// succeeds again.
func TestFileMapBudget_OpenRefusedPastThreeQuarters(t *testing.T) {
	underFileLimit(t, "TestFileMapBudget_OpenRefusedPastThreeQuarters", 64, openRoomChild)
}

// openRoomChild is TestFileMapBudget_OpenRefusedPastThreeQuarters' child.
func openRoomChild(t *testing.T, base string) {
	var ms []*chunkmap.Manager
	defer func() {
		for _, m := range ms {
			m.Close()
		}
	}()
	var refused error
	for i := range 16 {
		m, err := chunkmap.Open(filepath.Join(base, fmt.Sprint(i)), &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			refused = err
			break
		}
		ms = append(ms, m)
	}
	if len(ms) != 12 || refused == nil {
		t.Fatalf("%d writers opened under a limit of 64, then %v; want 12 (48 descriptors of their own), then a refusal", len(ms), refused)
	}
	if !errors.Is(refused, chunkmap.ErrIO) || !errors.Is(refused, syscall.EMFILE) || !strings.Contains(refused.Error(), "ulimit -n") {
		t.Errorf("Open refused with %v; want ErrIO matching EMFILE that says to raise ulimit -n", refused)
	}
	if _, err := os.Lstat(filepath.Join(base, fmt.Sprint(len(ms)))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused Open left its directory: %v", err)
	}
	// The program still has room: a quarter of the limit, less its own.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatalf("the program cannot open a file beside 12 Managers: %v", err)
	}
	f.Close()
	if err := ms[0].Close(); err != nil {
		t.Fatal(err)
	}
	ms = ms[1:]
	r, err := chunkmap.Open(filepath.Join(base, "1"), &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open of a reader (3 descriptors) once a writer (4) closed: %v", err)
	}
	ms = append(ms, r)
	if _, err := chunkmap.Open(filepath.Join(base, "2"), &chunkmap.Options{ReadOnly: true}); !errors.Is(err, syscall.EMFILE) {
		t.Errorf("a second reader past three quarters: %v; want a refusal matching EMFILE", err)
	}
	// Opens at the same moment: each counts what it takes before it
	// looks, so no more than 12 writers get in between them.
	for _, m := range ms {
		m.Close()
	}
	ms = nil
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := chunkmap.Open(filepath.Join(base, fmt.Sprint("c", i)), &chunkmap.Options{ChunkSize: cs})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ms = append(ms, m)
			} else if !errors.Is(err, syscall.EMFILE) {
				t.Errorf("concurrent Open %d: %v; want a refusal matching EMFILE", i, err)
			}
		}()
	}
	wg.Wait()
	if len(ms) > 12 {
		t.Errorf("%d writers opened at once under a limit of 64; want at most 12", len(ms))
	}
}

// TestFileMapBudget_RaisedLimitTakenUp checks that the Managers' share of
// descriptors follows the limit up as well as down. A Manager opened
// under a limit of 48 maps at most 8 chunks (a quarter of the limit, less
// its own four descriptors); once the program raises the limit, pins of
// 16 chunks must leave all 16 mapped: with the low share kept, a Manager
// that only maps would remap a chunk at nearly every pin, for good. (The
// share is read again wherever a file goes to the descriptor cache, as an
// evicted chunk's does.)
func TestFileMapBudget_RaisedLimitTakenUp(t *testing.T) {
	underFileLimit(t, "TestFileMapBudget_RaisedLimitTakenUp", 48, raisedLimitChild)
}

// raisedLimitChild is TestFileMapBudget_RaisedLimitTakenUp's child.
func raisedLimitChild(t *testing.T, dir string) {
	const chunks = 16
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: chunks, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(make([]byte, chunks*cs), 0); err != nil {
		t.Fatal(err)
	}
	pinAll := func() {
		t.Helper()
		for c := range int64(chunks) {
			p, err := m.Pin(c*cs, 8)
			if err != nil {
				t.Fatalf("Pin of chunk %d: %v", c, err)
			}
			p.Release()
		}
	}
	pinAll()
	if got := m.Stats().Mapped; got > 8 {
		t.Fatalf("%d chunks mapped under a limit of 48, want at most 8", got)
	}
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	r.Cur = min(r.Max, 1024)
	if r.Cur < 4*(chunks+8) {
		t.Skipf("the hard descriptor limit is %d", r.Max)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		pinAll()
	}
	if st := m.Stats(); st.Mapped != chunks {
		t.Fatalf("after the limit was raised to %d, %d chunks stay mapped, want %d: %+v", r.Cur, st.Mapped, chunks, st)
	}
}

// TestFileMapBudget_ScratchGrowthRefused: a scratch dataset keeps a
// descriptor for each of its chunks, which it cannot give back; in a child
// whose descriptor limit is 256, its growth must be refused (ErrIO,
// matching syscall.EMFILE, saying why) before the Managers hold more than
// seven eighths of the limit of their own, with every byte appended
// before intact; and it must grow again once a Truncate has freed chunks.
// It used to grow until the system refused it a descriptor, with the
// process left none.
func TestFileMapBudget_ScratchGrowthRefused(t *testing.T) {
	underFileLimit(t, "TestFileMapBudget_ScratchGrowthRefused", 256, scratchGrowthChild)
}

// scratchGrowthChild is TestFileMapBudget_ScratchGrowthRefused's child.
func scratchGrowthChild(t *testing.T, dir string) {
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	chunkOf := func(i int64) []byte { return bytes.Repeat([]byte{byte(i + 1)}, cs) }
	var n int64
	for ; ; n++ {
		if n == 256 {
			t.Fatal("a scratch dataset grew to 256 chunks under a descriptor limit of 256")
		}
		_, err := m.Append(chunkOf(n))
		if err == nil {
			continue
		}
		if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EMFILE) || !strings.Contains(err.Error(), "scratch dataset keeps a descriptor for each of its chunks") {
			t.Fatalf("Append of chunk %d: %v; want ErrIO matching EMFILE, saying why", n, err)
		}
		t.Logf("Append of chunk %d refused: %v", n, err)
		break
	}
	if n < 200 || n > 7*256/8 {
		t.Fatalf("growth refused at chunk %d; want it near seven eighths of the limit (224), and no later", n)
	}
	if size := m.Size(); size != n*cs {
		t.Fatalf("Size %d after the refused Append, want %d", size, n*cs)
	}
	got := make([]byte, cs)
	for i := range n {
		if _, err := m.ReadAt(got, i*cs); err != nil || !bytes.Equal(got, chunkOf(i)) {
			t.Fatalf("chunk %d read back: %v, or the bytes differ", i, err)
		}
	}
	if err := m.Truncate(n / 2 * cs); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(chunkOf(0)); err != nil {
		t.Fatalf("Append after a Truncate freed chunks: %v", err)
	}
}

// TestFileMapBudget_ScratchLeavesAnEighth: a scratch dataset grown until
// its growth is refused (seven eighths of the limit) and then read chunk
// by chunk must leave the rest of the program an eighth of the limit, less
// what the process held before: the shares of mapped chunks and cached
// files (each a clone of a scratch chunk's descriptor) shrink to what the
// scratch chunks leave. They did not count the scratch chunks, and at a
// limit of 256 the reads took the process to its limit: the program could
// open 11 files, and the system refused the Manager mappings.
func TestFileMapBudget_ScratchLeavesAnEighth(t *testing.T) {
	underFileLimit(t, "TestFileMapBudget_ScratchLeavesAnEighth", 256, scratchEighthChild)
}

// scratchEighthChild is TestFileMapBudget_ScratchLeavesAnEighth's child.
func scratchEighthChild(t *testing.T, dir string) {
	const limit = 256
	base := openFdCount(t)
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, Scratch: true, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var n int64
	for ; ; n++ {
		if _, err := m.Append(bytes.Repeat([]byte{byte(n)}, cs)); err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatalf("Append of chunk %d: %v", n, err)
			}
			break
		}
	}
	got := make([]byte, 8)
	for round := range 2 {
		for i := range n {
			if _, err := m.ReadAt(got, i*cs+100); err != nil || got[0] != byte(i) {
				t.Fatalf("round %d: ReadAt of chunk %d: %v, %v", round, i, err, got)
			}
		}
	}
	free := 0
	var fs []*os.File
	defer func() {
		for _, f := range fs {
			f.Close()
		}
	}()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		fs = append(fs, f)
		free++
	}
	if want := limit/8 - base; free < want {
		t.Errorf("%d scratch chunks read: the program could open %d files, want %d (an eighth of the limit, less the %d the process held first): %+v", n, free, want, base, m.Stats())
	}
	if st := m.Stats(); st.Refusals != 0 {
		t.Errorf("the system refused the Manager descriptors %d times: %+v", st.Refusals, st)
	}
}

// openFdCount is how many descriptors the process has open, once the
// runtime's poller (two of them) has started.
func openFdCount(t *testing.T) int {
	t.Helper()
	if f, err := os.Open(os.DevNull); err == nil {
		f.Close()
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(fds) - 1 // the listing's own
}
