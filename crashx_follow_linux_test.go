//go:build linux

package chunkmap_test

// A ReadOnly follower in another process reads a dataset continuously,
// through every read path, while a writer process appends, writes past
// the end, truncates, drops chunks and regrows; then the writer is killed
// with SIGKILL, a new writer opens the dataset (recovering it) and
// changes it further, and the follower must see exactly what each writer
// left.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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
	cfChunk = chunkmap.MinChunkSize
	cfLimit = 20 * cfChunk
)

// cfWords returns the n bytes (a multiple of 8) that generation gen
// writes at off (a multiple of 8): one word per 8 bytes, whose first six
// bytes name the word's offset, then gen (never 0), then the marker 0xA5.
// A follower can so tell, byte by byte, whether what it read was ever
// written at that offset: each byte is 0 (a gap, a byte not yet written)
// or the byte every generation writes there (the generation byte aside).
func cfWords(off int64, n int, gen byte) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(off+int64(i))>>3&(1<<48-1))
		b[i+6] = gen | 1
		b[i+7] = 0xA5
	}
	return b
}

// cfBad returns the index of the first byte of b, read at offset off, that
// no writer of cfWords ever wrote there and that is not a zero, or -1.
func cfBad(off int64, b []byte) int {
	for i, x := range b {
		if x == 0 {
			continue
		}
		o := off + int64(i)
		k := o & 7
		var want byte
		switch {
		case k == 6:
			continue
		case k == 7:
			want = 0xA5
		default:
			want = byte(uint64(o) >> 3 >> (8 * k))
		}
		if x != want {
			return i
		}
	}
	return -1
}

// TestCrashx_FollowerAcrossWriterKill proves that a ReadOnly Manager in
// another process, reading continuously through ReadAt, Pin, Gather,
// LoadUint64 and Batch while a writer process appends (from two
// goroutines), writes past the end, truncates down and up and drops
// chunks: never returns a byte that was not written at its offset (or a
// zero), never fails with an error that matches no sentinel or with
// ErrFault for a damaged chunk file (none is), never dies of SIGBUS and never
// hangs; and that once the writer is killed and a new writer has opened
// the dataset, after each change the new writer makes (truncating across
// chunk files it deletes and creates anew, dropping, appending, writing
// past the end) the follower, without Refresh, sees exactly the new
// writer's Start, Size and bytes through every read path.
// CHUNKMAP_CRASHX_SEED replays a run.
func TestCrashx_FollowerAcrossWriterKill(t *testing.T) {
	switch role := os.Getenv("CHUNKMAP_CRASHX_FOLLOW"); {
	case strings.HasPrefix(role, "writer,"):
		cfWriterChild(strings.TrimPrefix(role, "writer,"))
		return
	case strings.HasPrefix(role, "reader,"):
		cfReaderChild(strings.TrimPrefix(role, "reader,"))
		return
	}
	// Its work is in child processes (or the go command): it runs beside
	// the package's other such tests, two at a time on two cores, once the
	// sequential tests are done.
	t.Parallel()
	seed := testSeed(t, "CHUNKMAP_CRASHX_SEED")
	rng := rand.New(rand.NewPCG(seed, 5))
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for round := range rounds {
		cfRound(t, t.TempDir(), rng.Uint64(), round)
	}
}

// cfChild is a child process of the follow test (see mpStart).
type cfChild struct{ *mpChild }

func cfStart(t *testing.T, role string) *cfChild {
	t.Helper()
	return &cfChild{mpStart(t, "TestCrashx_FollowerAcrossWriterKill", "CHUNKMAP_CRASHX_FOLLOW="+role)}
}

// reply returns the child's next line of output that is not a progress
// report, failing the test if the child reports a violation, dies, or
// says nothing for a minute (a hang).
func (c *cfChild) reply(t *testing.T, what string) string {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				c.cmd.Wait()
				t.Fatalf("%s: the child died (%v)\n%s", what, c.cmd.ProcessState, c.stderr.String())
			}
			if strings.HasPrefix(line, "bad ") {
				t.Fatalf("%s: the follower %s", what, strings.TrimPrefix(line, "bad "))
			}
			if strings.HasPrefix(line, "progress ") {
				continue
			}
			return line
		case <-timeout:
			t.Fatalf("%s: no answer from the child in a minute (hung)\n%s", what, c.stderr.String())
		}
	}
}

func cfRound(t *testing.T, dir string, seed uint64, round int) {
	rng := rand.New(rand.NewPCG(seed, 9))
	{
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
	}
	reader := cfStart(t, fmt.Sprintf("reader,%s,%d", dir, seed))
	if got := reader.reply(t, "reader start"); got != "ready" {
		t.Fatalf("reader: %q", got)
	}
	writer := cfStart(t, fmt.Sprintf("writer,%s,%d", dir, seed))
	if got := writer.reply(t, "writer start"); got != "open" {
		t.Fatalf("writer: %q\n%s", got, writer.stderr.String())
	}
	time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
	writer.cmd.Process.Signal(syscall.SIGKILL)
	writer.cmd.Wait()
	for line := range writer.lines {
		if strings.HasPrefix(line, "error") {
			t.Fatalf("round %d (seed %d): writer: %s", round, seed, line)
		}
	}
	// The follower keeps going after its writer died.
	time.Sleep(50 * time.Millisecond)
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cfChunk, MaxMapped: 2})
	if err != nil {
		t.Fatalf("round %d (seed %d): a new writer after the kill: %v", round, seed, err)
	}
	defer w.Close()
	check := func(step string) {
		t.Helper()
		start, size := w.Start(), w.Size()
		data := make([]byte, size-start)
		if _, err := w.ReadAt(data, start); err != nil && len(data) > 0 {
			t.Fatalf("round %d: writer ReadAt: %v", round, err)
		}
		if i := cfBad(start, data); i >= 0 {
			t.Fatalf("round %d (seed %d), %s: the writer reads %#x at %d, which was never written there", round, seed, step, data[i], start+int64(i))
		}
		fmt.Fprintf(reader.stdin, "check %d\n", rng.Uint64())
		got := reader.reply(t, "check "+step)
		want := fmt.Sprintf("state %d %d %08x", start, size, crc32.ChecksumIEEE(data))
		if got != want {
			t.Fatalf("round %d (seed %d), after %s: the follower says %q, the writer %q (state START SIZE CRC)", round, seed, step, got, want)
		}
	}
	check("the new writer's Open after the kill")
	gen := byte(0x40)
	for i := range 30 {
		gen += 2
		start, size := w.Start(), w.Size()
		var step string
		var err error
		switch k := rng.IntN(6); k {
		case 0: // shrink across chunk files, then regrow over them
			to := start + rng.Int64N(size-start+1)
			step = fmt.Sprintf("Truncate(%d) and WriteAt past the end", to)
			if err = w.Truncate(to); err == nil {
				off := (to + rng.Int64N(2*cfChunk)) &^ 7
				_, err = w.WriteAt(cfWords(off, 8*(1+rng.IntN(3000)), gen), off)
			}
		case 1:
			to := size + rng.Int64N(2*cfChunk)
			step = fmt.Sprintf("Truncate(%d)", to)
			err = w.Truncate(to)
		case 2:
			off := start + rng.Int64N(size-start+1)
			step = fmt.Sprintf("DropBefore(%d)", off)
			err = w.DropBefore(off)
		case 3:
			pad := (8 - size&7) & 7
			n := 8 * (1 + rng.IntN(4000))
			step = fmt.Sprintf("Append of %d bytes", int(pad)+n)
			_, err = w.Append(append(make([]byte, pad), cfWords(size+pad, n, gen)...))
		case 4:
			off := (start + 7 + rng.Int64N(size-start+1)) &^ 7
			n := 8 * (1 + rng.IntN(3000))
			step = fmt.Sprintf("WriteAt(%d bytes at %d)", n, off)
			_, err = w.WriteAt(cfWords(off, n, gen), off)
		case 5:
			step = "Sync"
			err = w.Sync()
		}
		if err != nil {
			t.Fatalf("round %d: %s: %v", round, step, err)
		}
		if w.Size() > cfLimit {
			if err := w.Truncate(w.Start() + cfChunk); err != nil {
				t.Fatal(err)
			}
			step += ", Truncate"
		}
		check(fmt.Sprintf("step %d: %s", i, step))
	}
	fmt.Fprintln(reader.stdin, "stats")
	t.Logf("round %d (seed %d): follower: %s", round, seed, reader.reply(t, "stats"))
	reader.stdin.Close()
	if got := reader.reply(t, "reader exit"); got != "bye" {
		t.Fatalf("reader: %q", got)
	}
}

// cfWriterChild changes the dataset until it is killed: an appender
// goroutine and a goroutine of everything else.
func cfWriterChild(spec string) {
	parts := strings.Split(spec, ",")
	dir := parts[0]
	seed, _ := strconv.ParseUint(parts[1], 10, 64)
	fail := func(err error) {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	r := rand.New(rand.NewPCG(seed, 77))
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cfChunk, MaxMapped: 1 + r.IntN(3), NoAdmission: r.IntN(2) == 0})
	if err != nil {
		fail(err)
	}
	fmt.Println("open")
	var appendMu sync.Mutex // an Append of words needs an aligned end
	go func() {
		ar := rand.New(rand.NewPCG(seed, 78))
		for gen := byte(0); ; gen++ {
			if m.Size() > cfLimit {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			appendMu.Lock()
			size := m.Size()
			pad := (8 - size&7) & 7
			n := 8 * (1 + ar.IntN(2000))
			if _, err := m.Append(append(make([]byte, pad), cfWords(size+pad, n, gen)...)); err != nil {
				fail(err)
			}
			appendMu.Unlock()
		}
	}()
	for gen := byte(128); ; gen++ {
		start, size := m.Start(), m.Size()
		var err error
		switch k := r.IntN(100); {
		case k < 35:
			off := (start + 7 + r.Int64N(size-start+2*cfChunk)) &^ 7
			n := 8 * (1 + r.IntN(2000))
			if r.IntN(6) == 0 {
				n = 64<<10 + 8*r.IntN(4000) // pwrite
			}
			appendMu.Lock()
			_, err = m.WriteAt(cfWords(off, n, gen), off)
			appendMu.Unlock()
		case k < 65 || size > cfLimit:
			to := start + r.Int64N(size-start+1)
			if size <= cfLimit && r.IntN(3) == 0 {
				to = size + r.Int64N(2*cfChunk)
			}
			appendMu.Lock()
			err = m.Truncate(to)
			appendMu.Unlock()
		case k < 80:
			err = m.DropBefore(start + r.Int64N(size-start+1))
			if errors.Is(err, chunkmap.ErrOutOfRange) {
				err = nil // a concurrent Truncate moved Size
			}
		case k < 90:
			err = m.Sync()
		default:
			time.Sleep(time.Millisecond)
		}
		if err != nil {
			fail(err)
		}
	}
}

// cfReaderChild follows the dataset: two goroutines read it continuously
// and report a byte never written at its offset, or an error that is not
// an expected race with the writer, as "bad ..."; the main goroutine
// answers "check SEED" with "state START SIZE CRC" of what it reads now,
// having cross-checked it through every read path.
func cfReaderChild(spec string) {
	parts := strings.Split(spec, ",")
	dir := parts[0]
	seed, _ := strconv.ParseUint(parts[1], 10, 64)
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	r0 := rand.New(rand.NewPCG(seed, 1))
	m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1 + r0.IntN(3), NoAdmission: r0.IntN(2) == 0, ArenaSize: []int64{0, 2, 5}[r0.IntN(3)] * cfChunk})
	if err != nil {
		say("bad Open: %v", err)
		os.Exit(1)
	}
	var reads, races atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	// expected says whether err is what a read racing with the writer may
	// get: the range moved (ErrOutOfRange), or a short read at Size.
	var gone atomic.Int64 // reads that failed otherwise: none may
	expected := func(err error) bool {
		if errors.Is(err, chunkmap.ErrOutOfRange) || err == io.EOF {
			return true
		}
		gone.Add(1)
		return false
	}
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(g)+10))
			for !stop.Load() {
				start, size := m.Start(), m.Size()
				if size <= start {
					continue
				}
				off := start + r.Int64N(size-start)
				n := 1 + r.IntN(min(3*cfChunk, int(size-off)))
				method, at, b, err := cfReadRandom(m, r, off, n, start, size, 300, func(format string, args ...any) { say("bad "+format, args...) })
				off = at
				reads.Add(1)
				if err != nil {
					if !expected(err) {
						say("bad read method %d of %d bytes at %d: %v (sentinel: %v)", method, n, off, err, crashxSentinel(err))
					}
					races.Add(1)
					continue
				}
				if j := cfBad(off, b); j >= 0 {
					say("bad read method %d of %d bytes at %d: %#x at %d, never written there", method, n, off, b[j], off+int64(j))
				}
			}
		}()
	}
	say("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch f[0] {
		case "stats":
			say("reads %d, of which %d raced with the writer (%d of those failed with ErrFault or ErrCorrupt for a chunk file removed or being created)", reads.Load(), races.Load(), gone.Load())
		case "check":
			cs, _ := strconv.ParseUint(f[1], 10, 64)
			say("%s", cfState(m, cs))
		}
	}
	stop.Store(true)
	wg.Wait()
	say("bye")
}

// cfState reads the whole of [Start, Size) of the follower m with ReadAt,
// cross-checks random parts of it with every other read path, and returns
// "state START SIZE CRC", or "bad ..." if the paths disagree.
func cfState(m *chunkmap.Manager, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 2))
	start, size := m.Start(), m.Size()
	data := make([]byte, size-start)
	if len(data) > 0 {
		if _, err := m.ReadAt(data, start); err != nil {
			return fmt.Sprintf("bad ReadAt [%d, %d) of a quiet dataset: %v", start, size, err)
		}
	}
	if s, z := m.Start(), m.Size(); s != start || z != size {
		return fmt.Sprintf("bad Start, Size moved from %d, %d to %d, %d on a quiet dataset", start, size, s, z)
	}
	for range 20 {
		if size-start < 8 {
			break
		}
		off := start + r.Int64N(size-start-7)
		n := 1 + r.IntN(int(min(size-off, 2*cfChunk)))
		want := data[off-start : off-start+int64(n)]
		p, err := m.Pin(off, n)
		if err != nil {
			return fmt.Sprintf("bad Pin(%d, %d): %v", off, n, err)
		}
		same := bytes.Equal(p.Bytes(), want)
		p.Release()
		if !same {
			return fmt.Sprintf("bad Pin(%d, %d) and ReadAt disagree", off, n)
		}
		var got []byte
		err = m.Batch(func(bt *chunkmap.Batch) error {
			p, err := bt.Bytes(off, n)
			got = bytes.Clone(p)
			return err
		})
		if err != nil || !bytes.Equal(got, want) {
			return fmt.Sprintf("bad Batch.Bytes(%d, %d): %v, or it disagrees with ReadAt", off, n, err)
		}
		a := (off + 7) &^ 7
		if a+8 <= size {
			x, err := m.LoadUint64(a)
			if err != nil || x != binary.LittleEndian.Uint64(data[a-start:]) {
				return fmt.Sprintf("bad LoadUint64(%d) = %#x, %v; ReadAt says %x", a, x, err, data[a-start:a-start+8])
			}
			dst := make([]byte, 8)
			if err := m.Gather(dst, []int64{a}, 8); err != nil || !bytes.Equal(dst, data[a-start:a-start+8]) {
				return fmt.Sprintf("bad Gather(%d) = %x, %v; ReadAt says %x", a, dst, err, data[a-start:a-start+8])
			}
		}
	}
	return fmt.Sprintf("state %d %d %08x", start, size, crc32.ChecksumIEEE(data))
}

// cfReadRandom reads the n bytes at off of follower m (Start start, Size
// size) by a method it draws from r: ReadAt, Pin, LoadUint64 or Batch.Bytes,
// which return the bytes read from at (off, or for a LoadUint64 off rounded
// down to 8),
// or a Gather of up to gathers values at random 8-byte offsets, which
// checks them itself and reports a value never written at its offset to bad.
func cfReadRandom(m *chunkmap.Manager, r *rand.Rand, off int64, n int, start, size int64, gathers int, bad func(string, ...any)) (method int, at int64, b []byte, err error) {
	method, at = r.IntN(5), off
	switch method {
	case 0:
		b = make([]byte, n)
		var k int
		k, err = m.ReadAt(b, off)
		b = b[:k]
		if err == io.EOF {
			err = nil
		}
	case 1:
		var p *chunkmap.Pinned
		if p, err = m.Pin(off, n); err == nil {
			b = bytes.Clone(p.Bytes())
			p.Release()
		}
	case 2:
		k := 1 + r.IntN(gathers)
		offs := make([]int64, k)
		for i := range offs {
			offs[i] = (start + r.Int64N(size-start)) &^ 7
		}
		dst := make([]byte, 8*k)
		if err = m.Gather(dst, offs, 8); err == nil {
			for i, o := range offs {
				if j := cfBad(o, dst[8*i:8*i+8]); j >= 0 {
					bad("Gather read %#x at %d, never written there", dst[8*i+j], o+int64(j))
				}
			}
		}
	case 3:
		var x uint64
		at = off &^ 7
		if x, err = m.LoadUint64(at); err == nil {
			b = binary.LittleEndian.AppendUint64(nil, x)
		}
	case 4:
		err = m.Batch(func(bt *chunkmap.Batch) error {
			p, err := bt.Bytes(off, n)
			b = bytes.Clone(p)
			return err
		})
	}
	return method, at, b, err
}
