//go:build unix

package chunkmap_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// followByte is the byte the follow tests write at offset off.
func followByte(off int64) byte { return byte(off*7+off>>12) | 1 }

func followBytes(off, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = followByte(off + int64(i))
	}
	return b
}

// TestFollow_AcrossProcesses has a reader in another process follow a
// writer's Appends live, without Refresh and without any Sync: for each
// Append the child spins on Size until it covers the new bytes, reads them
// (from chunk files it learns of on its first miss) and reports when it saw
// them. The bound checked is generous (the machine is shared); the log and
// BenchmarkFollow give the figure.
func TestFollow_AcrossProcesses(t *testing.T) {
	if os.Getenv("CHUNKMAP_FOLLOW_CHILD") != "" {
		followChild()
		return
	}
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Append(followBytes(0, 10)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFollow_AcrossProcesses$")
	cmd.Env = append(os.Environ(), "CHUNKMAP_FOLLOW_CHILD="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	replies := bufio.NewScanner(stdout)
	reply := func() string {
		t.Helper()
		if !replies.Scan() {
			t.Fatalf("child stopped: %v\n%s", replies.Err(), stderr.String())
		}
		return replies.Text()
	}
	if got := reply(); got != "ready 10" {
		t.Fatalf("child: %q, want %q\n%s", got, "ready 10", stderr.String())
	}
	var lat, after []time.Duration
	for i := range 200 {
		n := int64(1 + (i*7919)%(3*cs)) // up to three chunks: new files on the way
		size := w.Size()
		fmt.Fprintf(stdin, "want %d %d\n", size, n)
		if got := reply(); got != "spinning" {
			t.Fatalf("child: %q\n%s", got, stderr.String())
		}
		t0 := time.Now()
		if _, err := w.Append(followBytes(size, n)); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		got := reply()
		ns, err := strconv.ParseInt(strings.TrimPrefix(got, "seen "), 10, 64)
		if err != nil || !strings.HasPrefix(got, "seen ") {
			t.Fatalf("append %d (%d bytes at %d): child says %q\n%s", i, n, size, got, stderr.String())
		}
		lat = append(lat, time.Unix(0, ns).Sub(t0))
		after = append(after, max(0, time.Unix(0, ns).Sub(t1)))
	}
	slices.Sort(lat)
	slices.Sort(after)
	t.Logf("a follower in another process saw %d Appends (of up to 3 chunks, new chunk files included) after they started: median %v, 99th percentile %v, max %v; after they returned: median %v, 99th percentile %v",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], after[len(after)/2], after[len(after)*99/100])
	if max := lat[len(lat)-1]; max > time.Second {
		t.Errorf("the follower saw an Append %v after it started, want well under a second", max)
	}
}

// followChild is the reader of TestFollow_AcrossProcesses: it opens the
// dataset ReadOnly and answers "want OFF N" by spinning until Size reaches
// OFF+N, then checking the N bytes.
func followChild() {
	fail := func(format string, args ...any) {
		fmt.Printf("error "+format+"\n", args...)
		os.Exit(1)
	}
	m, err := chunkmap.Open(os.Getenv("CHUNKMAP_FOLLOW_CHILD"), &chunkmap.Options{ReadOnly: true})
	if err != nil {
		fail("%v", err)
	}
	fmt.Printf("ready %d\n", m.Size())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var off, n int64
		if _, err := fmt.Sscanf(in.Text(), "want %d %d", &off, &n); err != nil {
			fail("%q: %v", in.Text(), err)
		}
		fmt.Println("spinning")
		deadline := time.Now().Add(5 * time.Second)
		for m.Size() < off+n {
			if time.Now().After(deadline) {
				fail("Size %d after 5 s, want %d", m.Size(), off+n)
			}
		}
		seen := time.Now().UnixNano()
		buf := make([]byte, n)
		if k, err := m.ReadAt(buf, off); err != nil && !(err == io.EOF && int64(k) == n) {
			fail("ReadAt(%d bytes at %d): %d, %v", n, off, k, err)
		}
		if !bytes.Equal(buf, followBytes(off, n)) {
			fail("bytes at %d differ from the writer's", off)
		}
		fmt.Printf("seen %d\n", seen)
	}
}

// BenchmarkFollow measures how long a ReadOnly Manager takes to see an
// Append made by the writer (in this process, through its own mapping of
// the manifest's state page, as a reader in another process would): the
// reader spins on Size in a goroutine; ns/op is the time from the start of
// the Append to the reader seeing the new Size.
func BenchmarkFollow(b *testing.B) {
	w, r := openFollowing(b)
	p := make([]byte, 64)
	want := make(chan int64)
	seen := make(chan time.Time)
	go func() {
		for n := range want {
			for r.Size() < n {
			}
			seen <- time.Now()
		}
	}()
	defer close(want)
	var total time.Duration
	for b.Loop() {
		want <- w.Size() + int64(len(p))
		t0 := time.Now()
		if _, err := w.Append(p); err != nil {
			b.Fatal(err)
		}
		total += (<-seen).Sub(t0)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/seen")
}

// TestFollow_EveryReadPath checks that a following reader sees the writer's
// new bytes, and stops seeing the bytes of a chunk the writer deleted and
// made anew, through every way of reading, not only ReadAt: Pin, Gather,
// the atomic loads, Batch and Advise each bring it up to date first.
func TestFollow_EveryReadPath(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	w, r := openFollowing(t)
	if _, err := w.Append(make([]byte, cs+8)); err != nil {
		t.Fatal(err)
	}
	reads := []struct {
		name string
		read func(off int64) ([]byte, error)
	}{
		{"Pin", func(off int64) ([]byte, error) {
			p, err := r.Pin(off, 8)
			if err != nil {
				return nil, err
			}
			defer p.Release()
			return bytes.Clone(p.Bytes()), nil
		}},
		{"Gather", func(off int64) ([]byte, error) {
			b := make([]byte, 8)
			return b, r.Gather(b, []int64{off}, 8)
		}},
		{"LoadUint64", func(off int64) ([]byte, error) {
			x, err := r.LoadUint64(off)
			return binary.LittleEndian.AppendUint64(nil, x), err
		}},
		{"Batch", func(off int64) ([]byte, error) {
			var b []byte
			err := r.Batch(func(bt *chunkmap.Batch) error {
				p, err := bt.Bytes(off, 8)
				b = bytes.Clone(p)
				return err
			})
			return b, err
		}},
		{"Advise", func(off int64) ([]byte, error) {
			if err := r.Advise(off, 8, chunkmap.AdviceWillNeed); err != nil {
				return nil, err
			}
			b := make([]byte, 8)
			_, err := r.ReadAt(b, off)
			return b, err
		}},
	}
	for i, rd := range reads {
		// New bytes past the Size the reader last saw.
		off := w.Size()
		val := bytes.Repeat([]byte{byte('a' + i)}, 8)
		if _, err := w.Append(val); err != nil {
			t.Fatal(err)
		}
		if got, err := rd.read(off); err != nil || !bytes.Equal(got, val) {
			t.Errorf("%s of an Append the writer made: %q, %v; want %q", rd.name, got, err, val)
		}
		// A chunk deleted and made anew under the reader.
		at := w.Size() - 8
		old := bytes.Repeat([]byte{'A' + byte(i)}, 8)
		if _, err := w.WriteAt(old, at); err != nil {
			t.Fatal(err)
		}
		if got, err := rd.read(at); err != nil || !bytes.Equal(got, old) {
			t.Fatalf("%s before the truncate: %q, %v; want %q", rd.name, got, err, old)
		}
		if err := w.Truncate(at / cs * cs); err != nil {
			t.Fatal(err)
		}
		fresh := bytes.Repeat([]byte{'0' + byte(i)}, 8)
		if _, err := w.WriteAt(fresh, at); err != nil {
			t.Fatal(err)
		}
		if got, err := rd.read(at); err != nil || !bytes.Equal(got, fresh) {
			t.Errorf("%s after the writer truncated and wrote again: %q, %v; want %q", rd.name, got, err, fresh)
		}
	}
}
