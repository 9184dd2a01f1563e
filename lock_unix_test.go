//go:build unix

package chunkmap_test

// Tests of the directory lock, and of readers following a writer (live, and
// with Refresh), across processes. A test that needs a second process runs
// the test binary again with -test.run=^TestX$ and CHUNKMAP_LOCK_PEER set to
// the dataset directory (as syscall's TestFcntlFlock does). That peer reads
// commands from stdin, one per line, and answers each with one line on file
// descriptor 3; the same commands also drive a Manager in this process, so
// one scenario can be run both ways.

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

const (
	lockChunk = 64 << 10
	// peerEnv holds the dataset directory in a peer process.
	peerEnv = "CHUNKMAP_LOCK_PEER"
	// peerTimeout bounds every wait for a peer; it only turns a hang into a
	// failure and asserts nothing about speed.
	peerTimeout = 60 * time.Second
)

// genByte is the byte at offset off written in generation gen. Different
// generations differ at almost every offset, so stale bytes show.
func genByte(gen int, off int64) byte {
	x := uint64(off)*0x9e3779b97f4a7c15 + uint64(gen)*0xbf58476d1ce4e5b9
	x ^= x >> 29
	return byte(x >> 32)
}

func genBytes(gen int, off, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = genByte(gen, off+int64(i))
	}
	return b
}

// errClass names the sentinel err matches, for a peer's reply.
func errClass(err error) string {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"locked", chunkmap.ErrLocked},
		{"outofrange", chunkmap.ErrOutOfRange},
		{"closed", chunkmap.ErrClosed},
		{"readonly", chunkmap.ErrReadOnly},
		{"corrupt", chunkmap.ErrCorrupt},
		{"fault", chunkmap.ErrFault},
		{"eof", io.EOF},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "other"
}

// peerState runs the commands of one peer against at most one Manager.
//
//	open rw|ro [admit]  Open the dataset read-write or ReadOnly, with
//	                    NoAdmission (admit: with admission and MaxMapped 1)
//	close               Close
//	refresh             Refresh
//	state               reply "ok Start Size"
//	chunks              reply "ok N" with N = Stats().Chunks
//	read OFF N          reply "ok HEX" with the N bytes at OFF
//	verify GEN FROM TO  check that [FROM, TO) holds generation GEN
//	write GEN OFF N     WriteAt generation GEN bytes
//	append GEN N        Append N generation GEN bytes at Size
//	sync                Sync
//	grow ROUNDS N       ROUNDS times: Append N generation 1 bytes, Sync
//	churn ROUNDS N      grow, with DropBefore and Truncate in between
//
// Failures reply "err CLASS: message" (see errClass).
type peerState struct {
	dir string
	m   *chunkmap.Manager
}

func (s *peerState) handle(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return "err other: empty command"
	}
	var args []int64
	for _, a := range f[1:] {
		if n, err := strconv.ParseInt(a, 10, 64); err == nil {
			args = append(args, n)
		}
	}
	need := func(n int) bool { return len(args) == n }
	reply := func(err error) string {
		if err != nil {
			return fmt.Sprintf("err %s: %v", errClass(err), err)
		}
		return "ok"
	}
	if f[0] == "open" {
		if s.m != nil {
			return "err other: already open"
		}
		// Without admit every miss maps its chunk.
		opts := &chunkmap.Options{ChunkSize: lockChunk, ReadOnly: len(f) > 1 && f[1] == "ro", NoAdmission: true}
		if len(f) > 2 && f[2] == "admit" {
			// Most misses are then served with pread through cached
			// file descriptors instead of mappings.
			opts.NoAdmission, opts.MaxMapped = false, 1
		}
		m, err := chunkmap.Open(s.dir, opts)
		if err == nil {
			s.m = m
		}
		return reply(err)
	}
	if s.m == nil {
		return "err other: not open"
	}
	switch {
	case f[0] == "close":
		err := s.m.Close()
		s.m = nil
		return reply(err)
	case f[0] == "refresh":
		return reply(s.m.Refresh())
	case f[0] == "state":
		return fmt.Sprintf("ok %d %d", s.m.Start(), s.m.Size())
	case f[0] == "chunks":
		return fmt.Sprintf("ok %d", s.m.Stats().Chunks)
	case f[0] == "sync":
		return reply(s.m.Sync())
	case f[0] == "grow" && need(2):
		// Append and Sync rounds pieces of generation 1, each piece
		// straddling a chunk boundary now and then.
		for range args[0] {
			off := s.m.Size()
			if _, err := s.m.Append(genBytes(1, off, args[1])); err != nil {
				return reply(err)
			}
			if err := s.m.Sync(); err != nil {
				return reply(err)
			}
		}
		return "ok"
	case f[0] == "read" && need(2):
		b := make([]byte, args[1])
		if _, err := s.m.ReadAt(b, args[0]); err != nil {
			return reply(err)
		}
		return "ok " + hex.EncodeToString(b)
	case f[0] == "verify" && need(3):
		gen, from, to := int(args[0]), args[1], args[2]
		b := make([]byte, lockChunk)
		for off := from; off < to; off += int64(len(b)) {
			b = b[:min(int64(len(b)), to-off)]
			if _, err := s.m.ReadAt(b, off); err != nil {
				return reply(err)
			}
			for i, c := range b {
				if want := genByte(gen, off+int64(i)); c != want {
					return fmt.Sprintf("mismatch at %d: got %#x, want %#x (generation %d)", off+int64(i), c, want, gen)
				}
			}
		}
		return "ok"
	case f[0] == "churn" && need(2):
		// grow, with a DropBefore every 4th round and a Truncate that
		// deletes a chunk every 6th.
		for i := range args[0] {
			off := s.m.Size()
			if _, err := s.m.Append(genBytes(1, off, args[1])); err != nil {
				return reply(err)
			}
			var err error
			switch {
			case i%4 == 3:
				err = s.m.DropBefore(s.m.Size() - 3*lockChunk)
			case i%6 == 5:
				err = s.m.Truncate(max(s.m.Start(), s.m.Size()-lockChunk-10))
			}
			if err == nil {
				err = s.m.Sync()
			}
			if err != nil {
				return reply(err)
			}
		}
		return "ok"
	case f[0] == "write" && need(3):
		_, err := s.m.WriteAt(genBytes(int(args[0]), args[1], args[2]), args[1])
		return reply(err)
	case f[0] == "append" && need(2):
		off := s.m.Size()
		got, err := s.m.Append(genBytes(int(args[0]), off, args[1]))
		if err == nil && got != off {
			return fmt.Sprintf("err other: Append at %d, want %d", got, off)
		}
		return reply(err)
	}
	return fmt.Sprintf("err other: bad command %q", line)
}

// runPeer serves commands from stdin until it closes, then closes the
// Manager. It runs in the peer process, in place of the test.
func runPeer(dir string) {
	out := os.NewFile(3, "replies")
	s := &peerState{dir: dir}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Fprintln(out, s.handle(sc.Text()))
	}
	if s.m != nil {
		s.m.Close()
	}
	out.Close()
}

// peer is the side of a peer the test talks to.
type peer interface {
	do(cmd string) string
}

// expect sends cmd to p and checks the reply: want exactly, or for an error
// want ("err locked") followed by the message.
func expectReply(t *testing.T, p peer, cmd, want string) {
	t.Helper()
	got := p.do(cmd)
	if got != want && !strings.HasPrefix(got, want+": ") {
		t.Fatalf("%s: got %q, want %q", cmd, got, want)
	}
}

func expectReplyf(t *testing.T, p peer, want, format string, args ...any) {
	t.Helper()
	expectReply(t, p, fmt.Sprintf(format, args...), want)
}

// localPeer runs peer commands in this process.
type localPeer struct{ s *peerState }

func newLocalPeer(t *testing.T, dir string) *localPeer {
	p := &localPeer{s: &peerState{dir: dir}}
	t.Cleanup(func() {
		if p.s.m != nil {
			p.s.m.Close()
		}
	})
	return p
}

func (p *localPeer) do(cmd string) string { return p.s.handle(cmd) }

// procPeer is a peer in another process.
type procPeer struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      *os.File
	replies chan string
	exited  chan struct{}
	log     string
}

// peerMode serves as a peer and reports true if this process is one.
func peerMode() bool {
	dir := os.Getenv(peerEnv)
	if dir == "" {
		return false
	}
	runPeer(dir)
	return true
}

// startPeer runs the current test again in a new process, as a peer on dir.
// The test must begin with: if peerMode() { return }.
func startPeer(t *testing.T, dir string) *procPeer {
	t.Helper()
	var run []string
	for _, part := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+part+"$")
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "peer.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(run, "/"))
	// Under -race a process sleeps a second on exit by default; a peer
	// has no reason to.
	cmd.Env = append(os.Environ(), peerEnv+"="+dir,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Stdin = inR
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = []*os.File{outW}
	err = cmd.Start()
	inR.Close()
	outW.Close()
	logf.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		t.Fatal(err)
	}
	p := &procPeer{t: t, cmd: cmd, in: inW, replies: make(chan string, 16), exited: make(chan struct{}), log: logPath}
	go func() {
		defer close(p.replies)
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			p.replies <- sc.Text()
		}
	}()
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *procPeer) do(cmd string) string {
	p.t.Helper()
	p.send(cmd)
	return p.reply(cmd)
}

// send sends cmd without waiting for the reply.
func (p *procPeer) send(cmd string) {
	p.t.Helper()
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		p.t.Fatalf("peer %d: sending %q: %v\n%s", p.cmd.Process.Pid, cmd, err, p.output())
	}
}

// reply waits for the reply to cmd.
func (p *procPeer) reply(cmd string) string {
	p.t.Helper()
	select {
	case r, ok := <-p.replies:
		if !ok {
			p.t.Fatalf("peer %d exited before answering %q\n%s", p.cmd.Process.Pid, cmd, p.output())
		}
		return r
	case <-time.After(peerTimeout):
		p.cmd.Process.Kill()
		p.t.Fatalf("peer %d: no answer to %q within %v\n%s", p.cmd.Process.Pid, cmd, peerTimeout, p.output())
	}
	return ""
}

// replied reports, without waiting, whether the peer has answered cmd,
// sent before deadline was made, with "ok"; any other answer, its exit, or
// the deadline passing fail the test.
func (p *procPeer) replied(cmd string, deadline <-chan time.Time) bool {
	p.t.Helper()
	select {
	case <-deadline:
		p.t.Fatalf("peer %d did not answer %q within %v\n%s", p.cmd.Process.Pid, cmd, peerTimeout, p.output())
	case r, ok := <-p.replies:
		if r != "ok" || !ok {
			p.t.Fatalf("peer %d: %s: %q\n%s", p.cmd.Process.Pid, cmd, r, p.output())
		}
		return true
	case <-p.exited:
		p.t.Fatalf("peer %d exited\n%s", p.cmd.Process.Pid, p.output())
	default:
	}
	return false
}

func (p *procPeer) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// kill sends SIGKILL to the peer and waits until it is gone.
func (p *procPeer) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill peer %d: %v", p.cmd.Process.Pid, err)
	}
	p.wait()
}

func (p *procPeer) wait() {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(peerTimeout):
		p.t.Fatalf("peer %d did not exit within %v", p.cmd.Process.Pid, peerTimeout)
	}
}

// stop closes the peer's stdin, which makes it close its Manager and exit,
// and kills it if it does not.
func (p *procPeer) stop() {
	p.in.Close()
	select {
	case <-p.exited:
	case <-time.After(peerTimeout):
		p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("peer %d did not exit within %v of stdin closing\n%s", p.cmd.Process.Pid, peerTimeout, p.output())
	}
}

var (
	rwOptions = &chunkmap.Options{ChunkSize: lockChunk}
	roOptions = &chunkmap.Options{ChunkSize: lockChunk, ReadOnly: true}
)

// lockOpen opens dir and closes the Manager at the end of the test unless
// the test closed it.
func lockOpen(t *testing.T, dir string, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	m, err := chunkmap.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", *opts, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func lockClose(t *testing.T, m *chunkmap.Manager) {
	t.Helper()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// wantLocked checks that a read-write Open of dir fails with ErrLocked.
func wantLocked(t *testing.T, dir string) {
	t.Helper()
	m, err := chunkmap.Open(dir, rwOptions)
	if !errors.Is(err, chunkmap.ErrLocked) {
		if err == nil {
			m.Close()
		}
		t.Fatalf("second read-write Open = %v, want ErrLocked", err)
	}
}

func TestLock_SecondWriter(t *testing.T) {
	dir := t.TempDir()
	m := lockOpen(t, dir, rwOptions)
	data := genBytes(1, 0, 3*lockChunk/2)
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	wantLocked(t, dir)
	wantLocked(t, dir) // a failed Open leaves nothing behind that changes the answer

	// The failed Opens did not disturb the holder.
	if _, err := m.WriteAt(data[:10], lockChunk); err != nil {
		t.Fatalf("WriteAt after a refused Open: %v", err)
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync after a refused Open: %v", err)
	}
	lockClose(t, m)

	m = lockOpen(t, dir, rwOptions)
	if got := m.Size(); got != int64(len(data)) {
		t.Fatalf("Size after reopen = %d, want %d", got, len(data))
	}
	wantLocked(t, dir)
	lockClose(t, m)
}

func TestLock_SecondWriterAcrossProcesses(t *testing.T) {
	if peerMode() {
		return
	}
	dir := t.TempDir()
	m := lockOpen(t, dir, rwOptions)
	if _, err := m.WriteAt(genBytes(1, 0, 1000), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	p := startPeer(t, dir)
	expectReply(t, p, "open rw", "err locked")
	expectReply(t, p, "open rw", "err locked")
	lockClose(t, m)

	expectReply(t, p, "open rw", "ok")
	expectReply(t, p, "state", "ok 0 1000")
	expectReply(t, p, "verify 1 0 1000", "ok")
	// Now the peer holds the lock, and this process is refused.
	wantLocked(t, dir)
	expectReply(t, p, "append 1 500", "ok")
	expectReply(t, p, "close", "ok")

	m = lockOpen(t, dir, rwOptions)
	if got := m.Size(); got != 1500 {
		t.Fatalf("Size after the peer's append = %d, want 1500", got)
	}
	lockClose(t, m)
}

// TestLock_ReadersCoexist checks, in one process, what Open documents: a
// ReadOnly Open takes no lock, so readers coexist with each other and with
// the writer, and the writer still excludes a second writer.
func TestLock_ReadersCoexist(t *testing.T) {
	dir := t.TempDir()
	data := genBytes(1, 0, 2*lockChunk+7)
	w := lockOpen(t, dir, rwOptions)
	if _, err := w.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	r1 := lockOpen(t, dir, roOptions)
	r2 := lockOpen(t, dir, roOptions)
	wantLocked(t, dir)
	for i, r := range []*chunkmap.Manager{r1, r2} {
		got := make([]byte, len(data))
		if _, err := r.ReadAt(got, 0); err != nil {
			t.Fatalf("reader %d: ReadAt: %v", i, err)
		}
		if string(got) != string(data) {
			t.Fatalf("reader %d read other bytes than were written", i)
		}
		if _, err := r.WriteAt(data[:1], 0); !errors.Is(err, chunkmap.ErrReadOnly) {
			t.Fatalf("reader %d: WriteAt = %v, want ErrReadOnly", i, err)
		}
	}
	lockClose(t, w)

	// Readers alone do not keep a writer out.
	w = lockOpen(t, dir, rwOptions)
	lockClose(t, w)
	lockClose(t, r1)
	lockClose(t, r2)
}

func TestLock_ReadersCoexistAcrossProcesses(t *testing.T) {
	if peerMode() {
		return
	}
	dir := t.TempDir()
	w := lockOpen(t, dir, rwOptions)
	if _, err := w.WriteAt(genBytes(1, 0, lockChunk+10), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	// Two reader processes beside the writer, and a reader in this process.
	p1, p2 := startPeer(t, dir), startPeer(t, dir)
	expectReply(t, p1, "open ro", "ok")
	expectReply(t, p2, "open ro", "ok")
	r := lockOpen(t, dir, roOptions)
	for _, p := range []peer{p1, p2} {
		expectReplyf(t, p, "ok", "verify 1 0 %d", lockChunk+10)
		expectReply(t, p, "write 1 0 1", "err readonly")
	}
	// A reader process does not let a second writer in.
	expectReply(t, p2, "close", "ok")
	expectReply(t, p2, "open rw", "err locked")
	lockClose(t, w)
	lockClose(t, r)

	// With only readers left, a writer in another process gets in, and a
	// reader in this process coexists with it too.
	expectReply(t, p2, "open rw", "ok")
	expectReply(t, p2, "append 1 20", "ok")
	expectReply(t, p2, "sync", "ok")
	r = lockOpen(t, dir, roOptions)
	if got, want := r.Size(), int64(lockChunk+30); got != want {
		t.Fatalf("Size of a reader opened after the peer's Sync = %d, want %d", got, want)
	}
	wantLocked(t, dir)
	expectReply(t, p1, "refresh", "ok")
	expectReplyf(t, p1, fmt.Sprintf("ok 0 %d", lockChunk+30), "state")
	expectReplyf(t, p1, "ok", "verify 1 0 %d", lockChunk+30)
	lockClose(t, r)
}

// refreshReaders are the ways refreshScenario opens its reader: reads
// through mappings, and reads mostly through pread.
var refreshReaders = []struct{ name, open string }{
	{"mapped", "open ro"},
	{"admission", "open ro admit"},
}

// TestRefresh_FollowsWriter follows a writer with a reader in this process;
// see refreshScenario.
func TestRefresh_FollowsWriter(t *testing.T) {
	for _, tc := range refreshReaders {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			refreshScenario(t, dir, newLocalPeer(t, dir), tc.open)
		})
	}
}

// TestRefresh_FollowsWriterAcrossProcesses follows a writer with a reader in
// another process; see refreshScenario.
func TestRefresh_FollowsWriterAcrossProcesses(t *testing.T) {
	if peerMode() {
		return
	}
	for _, tc := range refreshReaders {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			refreshScenario(t, dir, startPeer(t, dir), tc.open)
		})
	}
}

// refreshScenario has a writer in this process grow, overwrite, drop,
// truncate and regrow the dataset in dir while reader r, opened at the start
// with command open, follows it live: Start and Size move without Refresh
// and without Sync (the shared state page), a read past the chunk files the
// reader knows finds the new ones, and a read after a Truncate or DropBefore
// never returns bytes of a deleted chunk file where the writer has made a
// new one. Refresh, where called, is an explicit point in time that agrees.
func refreshScenario(t *testing.T, dir string, r peer, open string) {
	const c = lockChunk
	w := lockOpen(t, dir, &chunkmap.Options{ChunkSize: c, MaxMapped: 2})
	if _, err := w.WriteAt(genBytes(1, 0, 100000), 0); err != nil {
		t.Fatal(err)
	}
	// Not synced: the reader's Open takes Size from the state page.
	expectReply(t, r, open, "ok")
	expectReply(t, r, "state", "ok 0 100000")
	expectReply(t, r, "verify 1 0 100000", "ok")
	expectReply(t, r, "read 100000 1", "err eof")

	// Growth across several new chunks is in the reader's Size as soon as
	// the Appends return; its first read there finds the new files.
	end := int64(5*c + 123)
	appendGen(t, w, 1, end)
	expectReplyf(t, r, fmt.Sprintf("ok 0 %d", end), "state")
	expectReplyf(t, r, "ok", "verify 1 0 %d", end)
	expectReplyf(t, r, "err eof", "read %d 1", end)
	expectReply(t, r, "chunks", "ok 6")
	// A Sync changes nothing the reader sees, and a Refresh agrees.
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	expectReplyf(t, r, fmt.Sprintf("ok 0 %d", end), "state")
	expectReply(t, r, "refresh", "ok")
	expectReplyf(t, r, fmt.Sprintf("ok 0 %d", end), "state")
	expectReply(t, r, "chunks", "ok 6")

	// Writes inside Size show at once, across a chunk boundary, through
	// the chunks the reader has open.
	if _, err := w.WriteAt(genBytes(2, c-10, 20), c-10); err != nil {
		t.Fatal(err)
	}
	expectReplyf(t, r, "ok", "verify 2 %d %d", c-10, c+10)
	expectReplyf(t, r, "ok", "verify 1 %d %d", c+10, end)

	// DropBefore moves the reader's Start up to the first chunk left.
	if err := w.DropBefore(2*c + 5); err != nil {
		t.Fatal(err)
	}
	expectReplyf(t, r, fmt.Sprintf("ok %d %d", 2*c, end), "state")
	expectReply(t, r, "read 0 1", "err outofrange")
	expectReplyf(t, r, "err outofrange", "read %d 4", c+10)
	expectReplyf(t, r, "err outofrange", "read %d 1", 2*c-1)
	expectReplyf(t, r, "ok", "verify 1 %d %d", 2*c, end)
	expectReply(t, r, "chunks", "ok 4")

	// A Truncate that deletes chunks moves Size down at once.
	cut := int64(3*c + 50)
	if err := w.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	expectReplyf(t, r, fmt.Sprintf("ok %d %d", 2*c, cut), "state")
	expectReplyf(t, r, "err eof", "read %d 1", cut)
	expectReplyf(t, r, "ok", "verify 1 %d %d", 2*c, cut)
	expectReply(t, r, "chunks", "ok 2")

	// So does one within the last chunk.
	cut = 3*c + 10
	if err := w.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	expectReplyf(t, r, fmt.Sprintf("ok %d %d", 2*c, cut), "state")
	expectReplyf(t, r, "err eof", "read %d 1", cut)
	expectReplyf(t, r, "ok", "verify 1 %d %d", 2*c, cut)

	// Regrowing over the deleted chunks and over the truncated bytes: the
	// reader sees the new generation, not what its old mappings and
	// files of those chunks held.
	end = 6*c + 7
	appendGen(t, w, 2, end)
	expectReplyf(t, r, fmt.Sprintf("ok %d %d", 2*c, end), "state")
	expectReplyf(t, r, "ok", "verify 1 %d %d", 2*c, cut)
	expectReplyf(t, r, "ok", "verify 2 %d %d", cut, end)

	// The same when the reader does not look between the shrink and the
	// regrowth: it holds chunk 5 of generation 2 open, and the writer
	// deletes it and makes a new one under the same name.
	mid := cut
	cut = 4*c + 1
	if err := w.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	appendGen(t, w, 3, end)
	expectReplyf(t, r, fmt.Sprintf("ok %d %d", 2*c, end), "state")
	expectReplyf(t, r, "ok", "verify 3 %d %d", cut, end)
	expectReplyf(t, r, "ok", "verify 2 %d %d", mid, cut)

	// Refresh after the writer's Sync: still the same point.
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	expectReply(t, r, "refresh", "ok")
	expectReplyf(t, r, fmt.Sprintf("ok %d %d", 2*c, end), "state")
	expectReplyf(t, r, "ok", "verify 3 %d %d", cut, end)

	// The writer's Close leaves the reader working, with or without
	// Refresh.
	lockClose(t, w)
	expectReplyf(t, r, fmt.Sprintf("ok %d %d", 2*c, end), "state")
	expectReplyf(t, r, "ok", "verify 3 %d %d", cut, end)
	expectReply(t, r, "refresh", "ok")
	expectReplyf(t, r, fmt.Sprintf("ok %d %d", 2*c, end), "state")
	expectReplyf(t, r, "ok", "verify 2 %d %d", mid, cut)

	// A writer that opens next is followed too: it truncates chunk 5
	// away and regrows it with a fourth generation.
	w = lockOpen(t, dir, &chunkmap.Options{ChunkSize: c})
	cut = 5*c - 3
	if err := w.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	end = 7 * c
	appendGen(t, w, 4, end)
	expectReplyf(t, r, fmt.Sprintf("ok %d %d", 2*c, end), "state")
	expectReplyf(t, r, "ok", "verify 3 %d %d", 4*c+1, cut)
	expectReplyf(t, r, "ok", "verify 4 %d %d", cut, end)
	lockClose(t, w)
	expectReply(t, r, "close", "ok")
}

// appendGen appends generation gen bytes to w, in uneven pieces, until
// its Size is end.
func appendGen(t *testing.T, w *chunkmap.Manager, gen int, end int64) {
	t.Helper()
	for size := w.Size(); size < end; size = w.Size() {
		n := min(end-size, 40000)
		if _, err := w.Append(genBytes(gen, size, n)); err != nil {
			t.Fatalf("Append %d bytes at %d: %v", n, size, err)
		}
	}
}

// TestLock_ReleasedOnKill checks that the kernel drops the lock of a
// writer that dies without closing.
func TestLock_ReleasedOnKill(t *testing.T) {
	if peerMode() {
		return
	}
	dir := t.TempDir()
	p := startPeer(t, dir)
	expectReply(t, p, "open rw", "ok")
	expectReply(t, p, "append 1 1000", "ok")
	expectReply(t, p, "sync", "ok")
	wantLocked(t, dir)
	p.kill()

	m := lockOpen(t, dir, rwOptions)
	if got := m.Size(); got != 1000 {
		t.Fatalf("Size after the killed writer's Sync = %d, want 1000", got)
	}
	got := make([]byte, 1000)
	if _, err := m.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(genBytes(1, 0, 1000)) {
		t.Fatal("bytes synced by the killed writer are not there")
	}
	lockClose(t, m)
}

// TestRefresh_ReadersWhileWriterGrows has readers in this process follow a
// writer in another process that appends and syncs: one reader opened at
// the start follows it live, without Refresh, and others are opened and
// refreshed again and again. A reader's Open and Refresh must never fail on
// the directory changing under them, and what any reader shows must be what
// was written.
func TestRefresh_ReadersWhileWriterGrows(t *testing.T) {
	if peerMode() {
		return
	}
	const (
		rounds = 300
		piece  = lockChunk/3 + 1
	)
	dir := t.TempDir()
	w := startPeer(t, dir)
	expectReply(t, w, "open rw", "ok")
	live := lockOpen(t, dir, roOptions)
	cmd := fmt.Sprintf("grow %d %d", rounds, piece)
	w.send(cmd)
	check := func(what string, m *chunkmap.Manager) {
		t.Helper()
		start, size := m.Start(), m.Size()
		if size%piece != 0 {
			t.Fatalf("%s: Size %d is not a multiple of the %d-byte pieces appended", what, size, piece)
		}
		if size == 0 {
			return
		}
		// The last chunk's bytes, where the newest data is.
		from := max(start, (size-1)/lockChunk*lockChunk)
		got := make([]byte, size-from)
		if _, err := m.ReadAt(got, from); err != nil {
			t.Fatalf("%s: ReadAt(%d bytes at %d): %v", what, len(got), from, err)
		}
		for i, b := range got {
			if want := genByte(1, from+int64(i)); b != want {
				t.Fatalf("%s: byte at %d = %#x, want %#x", what, from+int64(i), b, want)
			}
		}
	}
	opens := 0
	var liveSizes []int64 // the live reader's Size, when it changed
	deadline := time.After(peerTimeout)
	for done := false; !done; {
		done = w.replied(cmd, deadline)
		check("live reader", live)
		if n := len(liveSizes); n == 0 || liveSizes[n-1] != live.Size() {
			if n > 0 && live.Size() < liveSizes[n-1] {
				t.Fatalf("live reader: Size went down from %d to %d", liveSizes[n-1], live.Size())
			}
			liveSizes = append(liveSizes, live.Size())
		}
		r, err := chunkmap.Open(dir, roOptions)
		if err != nil {
			t.Fatalf("ReadOnly Open %d while the writer grows: %v", opens, err)
		}
		opens++
		check("after Open", r)
		for range 3 {
			if err := r.Refresh(); err != nil {
				r.Close()
				t.Fatalf("Refresh while the writer grows: %v", err)
			}
			check("after Refresh", r)
		}
		lockClose(t, r)
	}
	// The live reader has the final Size without a Refresh.
	if got, want := live.Size(), int64(rounds*piece); got != want {
		t.Fatalf("live reader: Size after the writer finished = %d, want %d", got, want)
	}
	check("live reader at the end", live)
	r := lockOpen(t, dir, roOptions)
	if got, want := r.Size(), int64(rounds*piece); got != want {
		t.Fatalf("Size after the writer finished = %d, want %d", got, want)
	}
	check("at the end", r)
	t.Logf("%d ReadOnly Opens, %d sizes seen live, while the writer grew the dataset to %d chunks",
		opens, len(liveSizes), (rounds*piece+lockChunk-1)/lockChunk)
}

// TestRefresh_ReadersWhileWriterChurns is TestRefresh_ReadersWhileWriterGrows
// with a writer that also drops and truncates: a reader's Open and Refresh
// must still never fail. Reads may, if a chunk goes between a reader's
// check of Start or Size and its access (ErrOutOfRange, io.EOF, ErrFault),
// but they never return bytes the writer did not write there: the writer
// writes generation 1 at every offset, so every byte read is generation 1,
// or 0 where a truncated range is being written again.
func TestRefresh_ReadersWhileWriterChurns(t *testing.T) {
	if peerMode() {
		return
	}
	dir := t.TempDir()
	w := startPeer(t, dir)
	expectReply(t, w, "open rw", "ok")
	expectReplyf(t, w, "ok", "append 1 %d", 4*lockChunk)
	expectReply(t, w, "sync", "ok")
	live := lockOpen(t, dir, roOptions)
	cmd := fmt.Sprintf("churn %d %d", 300, lockChunk/3+1)
	w.send(cmd)
	buf := make([]byte, lockChunk+100)
	// check reads across the end of the chunk before the last one, which
	// the writer's Truncates delete and its Appends create again.
	check := func(what string, m *chunkmap.Manager) {
		t.Helper()
		start, size := m.Start(), m.Size()
		if start%lockChunk != 0 || start > size {
			t.Fatalf("%s: Start %d, Size %d", what, start, size)
		}
		from := max(start, size-int64(len(buf)))
		n, err := m.ReadAt(buf[:size-from], from)
		switch errClass(err) {
		case "eof", "outofrange", "fault":
		default:
			if err != nil {
				t.Fatalf("%s: ReadAt(%d bytes at %d): %v", what, size-from, from, err)
			}
		}
		for i, b := range buf[:n] {
			if off := from + int64(i); b != genByte(1, off) && b != 0 {
				t.Fatalf("%s: byte at %d = %#x, want %#x (or 0)", what, off, b, genByte(1, off))
			}
		}
	}
	opens := 0
	deadline := time.After(peerTimeout)
	for done := false; !done; {
		done = w.replied(cmd, deadline)
		check("live reader", live)
		r, err := chunkmap.Open(dir, roOptions)
		if err != nil {
			t.Fatalf("ReadOnly Open %d while the writer churns: %v", opens, err)
		}
		opens++
		for range 3 {
			if err := r.Refresh(); err != nil {
				r.Close()
				t.Fatalf("Refresh while the writer churns: %v", err)
			}
			check("after Refresh", r)
		}
		lockClose(t, r)
	}
	// Settled: the live reader agrees with a new one, and reads without
	// errors.
	r := lockOpen(t, dir, roOptions)
	if ls, lz, s, z := live.Start(), live.Size(), r.Start(), r.Size(); ls != s || lz != z {
		t.Fatalf("live reader: Start, Size = %d, %d; a reader opened now: %d, %d", ls, lz, s, z)
	}
	for _, m := range []*chunkmap.Manager{live, r} {
		got := make([]byte, m.Size()-m.Start())
		if _, err := m.ReadAt(got, m.Start()); err != nil {
			t.Fatalf("ReadAt after the writer finished: %v", err)
		}
		for i, b := range got {
			if off := m.Start() + int64(i); b != genByte(1, off) {
				t.Fatalf("after the writer finished: byte at %d = %#x, want %#x", off, b, genByte(1, off))
			}
		}
	}
	t.Logf("%d ReadOnly Opens while the writer churned", opens)
}
