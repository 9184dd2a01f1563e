package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestHexDumper checks the squeezing of repeated lines against what
// util-linux's hexdump -C prints for the same bytes (with its offsets
// written in 16 digits).
func TestHexDumper(t *testing.T) {
	zeros := func(n int) []byte { return make([]byte, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	const (
		z16 = "00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|"
		a16 = "61 61 61 61 61 61 61 61  61 61 61 61 61 61 61 61  |aaaaaaaaaaaaaaaa|"
	)
	aaa := bytes.Repeat([]byte("a"), 16)
	tests := []struct {
		name string
		in   []byte
		all  bool
		gap  int64 // if not 0: after in, skip to this offset and dump in again
		want string
	}{
		{"empty", nil, false, 0, ""},
		{"one partial line", zeros(5), false, 0,
			"0000000000000000  00 00 00 00 00                                    |.....|\n" +
				"0000000000000005\n"},
		{"two equal lines", zeros(32), false, 0,
			"0000000000000000  " + z16 + "\n" +
				"*\n" +
				"0000000000000020\n"},
		{"a run of zeros", zeros(48), false, 0,
			"0000000000000000  " + z16 + "\n" +
				"*\n" +
				"0000000000000030\n"},
		{"a partial line after a run is printed", zeros(40), false, 0,
			"0000000000000000  " + z16 + "\n" +
				"*\n" +
				"0000000000000020  00 00 00 00 00 00 00 00                           |........|\n" +
				"0000000000000028\n"},
		{"a partial line equal so far is printed", zeros(24), false, 0,
			"0000000000000000  " + z16 + "\n" +
				"0000000000000010  00 00 00 00 00 00 00 00                           |........|\n" +
				"0000000000000018\n"},
		{"runs between different lines", cat(zeros(16), aaa, zeros(32), zeros(3)), false, 0,
			"0000000000000000  " + z16 + "\n" +
				"0000000000000010  " + a16 + "\n" +
				"0000000000000020  " + z16 + "\n" +
				"*\n" +
				"0000000000000040  00 00 00                                          |...|\n" +
				"0000000000000043\n"},
		{"all", zeros(48), true, 0,
			"0000000000000000  " + z16 + "\n" +
				"0000000000000010  " + z16 + "\n" +
				"0000000000000020  " + z16 + "\n" +
				"0000000000000030\n"},
		{"a gap ends a run", cat(aaa, aaa), false, 0x100,
			"0000000000000000  " + a16 + "\n" +
				"*\n" +
				"0000000000000100  " + a16 + "\n" +
				"*\n" +
				"0000000000000120\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			d := &hexDumper{w: w, all: tc.all}
			// Write in pieces that do not fall on line boundaries.
			for p := tc.in; len(p) > 0; p = p[min(7, len(p)):] {
				d.Write(p[:min(7, len(p))])
			}
			if tc.gap != 0 {
				d.skipTo(tc.gap)
				d.Write(tc.in)
			}
			d.Close()
			w.Flush()
			if got := buf.String(); got != tc.want {
				t.Errorf("dump =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestRun_Cat_Hexdump compares cat -hex with hexdump -C, and cat -hex -all
// with hexdump -C -v, on a dataset with a run of 4,098 equal lines of zeros
// across a chunk boundary.
func TestRun_Cat_Hexdump(t *testing.T) {
	hexdump, err := exec.LookPath("hexdump")
	if err != nil {
		t.Skip("no hexdump to compare with")
	}
	// Line 0 text, lines 1 to 4098 zeros, line 4099 text, then 7 bytes.
	data := make([]byte, 16*4100+7)
	copy(data, "Hello, chunkmap!")
	copy(data[16*4099:], "0123456789abcdef")
	copy(data[16*4100:], "the end")
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	flat := filepath.Join(t.TempDir(), "flat")
	if err := os.WriteFile(flat, data, 0o644); err != nil {
		t.Fatal(err)
	}

	// hexdump's offsets have 8 digits, or more past 4 GiB; cat's have 16.
	offset := regexp.MustCompile(`(?m)^[0-9a-f]{8,16}\b`)
	tests := []struct {
		name      string
		cat, hd   []string
		wantLines int // of cat's output; 0 to skip the check
	}{
		{"squeezed", []string{"-hex"}, []string{"-C"}, 6},
		{"all", []string{"-hex", "-all"}, []string{"-C", "-v"}, 4102},
		{"range", []string{"-hex", "-off", "0x1005", "-n", "70000"}, []string{"-C", "-s", "0x1005", "-n", "70000"}, 0},
		{"range in the zeros", []string{"-hex", "-off", "100", "-n", "5000"}, []string{"-C", "-s", "100", "-n", "5000"}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hd, err := exec.Command(hexdump, append(tc.hd, flat)...).Output()
			if err != nil {
				t.Fatalf("hexdump %v: %v", tc.hd, err)
			}
			want := offset.ReplaceAllStringFunc(string(hd), func(s string) string {
				n, _ := strconv.ParseInt(s, 16, 64)
				return fmt.Sprintf("%016x", n)
			})
			code, got, errOut := runCmd(t, append([]string{"cat", dir}, tc.cat...)...)
			if code != exitOK {
				t.Fatalf("exit status %d, stderr %q", code, errOut)
			}
			if got != want {
				t.Errorf("cat %v =\n%s\nhexdump %v =\n%s", tc.cat, head(got, 20), tc.hd, head(want, 20))
			}
			if n := strings.Count(got, "\n"); tc.wantLines != 0 && n != tc.wantLines {
				t.Errorf("cat %v printed %d lines, want %d", tc.cat, n, tc.wantLines)
			}
		})
	}
}

// head returns the first n lines of s.
func head(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("... (%d lines more)\n", len(lines)-n)
}

// bufMeters returns a meter factory whose meters draw on every call into
// w, and w's content so far.
func bufMeters(w io.Writer) func(label string, total int64) *meter {
	return func(label string, total int64) *meter {
		return &meter{w: w, label: label, total: total}
	}
}

func TestRun_Trim_Progress(t *testing.T) {
	dir := newDataset(t)
	var prog, out bytes.Buffer
	if err := trim(context.Background(), trimConfig{dir: dir, before: 5 * testChunk, meter: bufMeters(&prog)}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := "deleted 5 chunk(s) (320 KiB); start 0 -> 327680, size 328680"; !strings.Contains(out.String(), want) {
		t.Errorf("trim printed %q, want %q", out.String(), want)
	}
	// Five chunks, one step each, each drawn, then erased.
	want := ""
	for i := 1; i <= 5; i++ {
		want += fmt.Sprintf("\r\033[Ktrim %s: %3d%% (%d KiB of 320 KiB)", dir, 20*i, 64*i)
	}
	want += "\r\033[K"
	if got := prog.String(); got != want {
		t.Errorf("trim drew %q, want %q", got, want)
	}

	// A trim of many chunks goes in at most trimSteps steps.
	dir = filepath.Join(t.TempDir(), "big")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(200 * testChunk); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	prog.Reset()
	if err := trim(context.Background(), trimConfig{dir: dir, before: 190*testChunk + 5, meter: bufMeters(&prog)}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if steps := strings.Count(prog.String(), "\r\033[Ktrim"); steps < 2 || steps > trimSteps {
		t.Errorf("trim of 190 chunks drew %d steps, want 2 to %d", steps, trimSteps)
	}
	if !regexp.MustCompile(`100% \(([^)]+) of ([^)]+)\)\r\033\[K$`).MatchString(prog.String()) {
		t.Errorf("trim of 190 chunks ended its progress with %q", prog.String()[max(0, prog.Len()-60):])
	}
	if code, out, _ := runCmd(t, "info", dir); code != exitOK || !strings.Contains(out, fmt.Sprintf("start       %d ", 190*testChunk)) {
		t.Errorf("info after trim: exit status %d\n%s", code, out)
	}
}

// cancelWriter cancels a context with cause on its first write: a signal
// that arrives while trim deletes its first step.
type cancelWriter struct {
	cancel context.CancelCauseFunc
	cause  error
}

func (w cancelWriter) Write(p []byte) (int, error) {
	w.cancel(w.cause)
	return len(p), nil
}

func TestRun_Trim_Stopped(t *testing.T) {
	dir := newDataset(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	errSignal := errors.New("test signal received")
	var out bytes.Buffer
	err := trim(ctx, trimConfig{dir: dir, before: 5 * testChunk, meter: bufMeters(cancelWriter{cancel, errSignal})}, &out, io.Discard)
	want := "stopped: test signal received, with 1 of 5 chunk(s) deleted: start 0 -> 65536 (want 327680); run trim again to finish"
	if !errors.Is(err, errSignal) || err.Error() != want {
		t.Fatalf("trim stopped after a step: %v; want %q", err, want)
	}
	if out.Len() != 0 {
		t.Errorf("a stopped trim printed %q", out.String())
	}
	// What is left is a consistent dataset, and trim again finishes.
	if code, out, _ := runCmd(t, "verify", dir); code != exitOK || !strings.Contains(out, "start 65536") {
		t.Errorf("verify after a stopped trim: exit status %d\n%s", code, out)
	}
	if code, out, errOut := runCmd(t, "trim", dir, "-before", strconv.Itoa(5*testChunk)); code != exitOK || !strings.Contains(out, "deleted 4 chunk(s) (256 KiB); start 65536 -> 327680") {
		t.Errorf("trim again: exit status %d, %q, stderr %q", code, out, errOut)
	}
}

// cuttingWriter is an output that, at its first Write, runs cut (a change
// the dataset's writer makes while cat reads).
type cuttingWriter struct {
	bytes.Buffer
	cut  func() error
	done bool
	err  error
}

func (w *cuttingWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.done, w.err = true, w.cut()
	}
	return w.Buffer.Write(p)
}

// TestRun_Cat_CutMeanwhile checks cat (without -off) of a dataset whose
// writer truncates it, or drops the bytes cat has not read yet, while cat
// reads: the output holds every byte up to where the cut left it, and cat
// says where and why it stopped, with exit status 1, not a bare "EOF" nor
// a complaint about an -off it was not given. A cut that the writer grows
// back over before cat's next read, below what cat had printed, went
// unseen: cat printed the old bytes, then the new ones, which the dataset
// never held together, and exited with status 0. A cut above the range,
// and a drop of bytes cat has printed, change none of its bytes.
func TestRun_Cat_CutMeanwhile(t *testing.T) {
	other := make([]byte, 4<<20) // what a writer grows the dataset back with
	for i := range other {
		other[i] = byte(i*7) ^ 0x5a
	}
	tests := []struct {
		name   string
		args   []string // after cat, before the directory
		cut    func(m *chunkmap.Manager) error
		outLen int    // bytes of output: the first of the dataset as it was
		msg    string // in the message; "" for a cat that succeeds
	}{
		{"truncated", nil, func(m *chunkmap.Manager) error { return m.Truncate(1<<20 + 1000) }, 1<<20 + 1000, "truncated to Size 1049576"},
		{"dropped", nil, func(m *chunkmap.Manager) error { return m.DropBefore(2 << 20) }, 1 << 20, "dropped before Start 2097152"},
		{"truncated and grown back", nil, func(m *chunkmap.Manager) error {
			if err := m.Truncate(1000); err != nil {
				return err
			}
			_, err := m.WriteAt(other[1000:], 1000)
			return err
		}, 1 << 20, "truncated to Size 1000"},
		{"truncated and grown back, hex", []string{"-hex"}, func(m *chunkmap.Manager) error {
			if err := m.Truncate(0); err != nil {
				return err
			}
			_, err := m.Append(other)
			return err
		}, 1 << 20, "truncated to Size 0"},
		{"truncated above the range", []string{"-n", "2MiB"}, func(m *chunkmap.Manager) error { return m.Truncate(2<<20 + 1) }, 2 << 20, ""},
		{"dropped what cat printed", nil, func(m *chunkmap.Manager) error { return m.DropBefore(1 << 20) }, 3 << 20, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, m, data := liveDataset(t, testChunk, 3<<20) // cat reads 1 MiB at a time
			out := &cuttingWriter{cut: func() error { return tc.cut(m) }}
			var errs bytes.Buffer
			code := run(append(append([]string{"cat"}, tc.args...), dir), out, &errs)
			if out.err != nil {
				skipIfHeldDelete(t, out.err)
				t.Fatal(out.err)
			}
			t.Logf("exit %d, stderr: %s", code, errs.String())
			want := data[:tc.outLen]
			if len(tc.args) > 0 && tc.args[0] == "-hex" {
				var d bytes.Buffer
				dump := &hexDumper{w: bufio.NewWriter(&d)}
				dump.Write(want)
				dump.Close()
				dump.w.Flush()
				want = d.Bytes()
			}
			switch {
			case tc.msg == "" && code != exitOK:
				t.Errorf("exit status %d, want %d", code, exitOK)
			case tc.msg != "" && code != exitFail:
				t.Errorf("exit status %d, want %d", code, exitFail)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output: %d bytes, want %d: the first %d bytes of the dataset as it was", out.Len(), len(want), tc.outLen)
			}
			if tc.msg == "" {
				return
			}
			if msg := errs.String(); !strings.Contains(msg, tc.msg) || !strings.Contains(msg, fmt.Sprintf("ends at offset %d", tc.outLen)) || strings.Contains(msg, "-off") {
				t.Errorf("stderr %q: want %q, where the output ends, and no -off", msg, tc.msg)
			}
		})
	}
}

// TestCutMark reads the state page's record of cuts as a writer keeps it:
// each Truncate below Size counts one and records the lowest Size cuts
// from a given number on left, and a writer's Open begins a new numbering.
// (cat relies on the record's layout, which chunkmap's statePage defines.)
func TestCutMark(t *testing.T) {
	dir := newDataset(t)
	m, err := chunkmap.Open(dir, nil)
	must(t, err)
	c0, err := readCutMark(dir)
	must(t, err)
	if !c0.magic || !c0.settled || c0.id == 0 {
		t.Fatalf("readCutMark of an open dataset = %+v, want a page set up, with an id", c0)
	}
	must(t, m.Truncate(3*testChunk))
	must(t, m.Truncate(4*testChunk)) // grows: no cut
	must(t, m.Truncate(2*testChunk+5))
	must(t, m.Truncate(2*testChunk+9)) // grows
	must(t, m.Truncate(3*testChunk))   // grows
	c1, err := readCutMark(dir)
	must(t, err)
	if c1.cuts != c0.cuts+2 || c1.id != c0.id {
		t.Errorf("after two cuts: cuts %d (id %d), want %d (id %d)", c1.cuts, c1.id, c0.cuts+2, c0.id)
	}
	if low, exact, ok := c1.lowestSince(c0.cuts); !ok || !exact || low != 2*testChunk+5 {
		t.Errorf("lowest Size since the first cut = %d, exact %v, %v; want %d, exact", low, exact, ok, 2*testChunk+5)
	}
	if low, exact, ok := c1.lowestSince(c0.cuts + 1); !ok || !exact || low != 2*testChunk+5 {
		t.Errorf("lowest Size since the second cut = %d, exact %v, %v; want %d, exact", low, exact, ok, 2*testChunk+5)
	}
	if _, _, ok := c1.lowestSince(c1.cuts); ok {
		t.Errorf("lowest Size since a cut not yet made: ok")
	}
	// Rising cuts, more than the stack holds: its oldest entries move to
	// the older ones, which answer exactly until they merge, and with
	// bounds after.
	rise := func(from, to int64) { // cuts to 3*testChunk + 2i, i in [from, to)
		t.Helper()
		for i := from; i < to; i++ {
			must(t, m.Truncate(3*testChunk+2*i+1))
			must(t, m.Truncate(3*testChunk+2*i))
		}
	}
	rise(0, cutLowsCap+4)
	c3, err := readCutMark(dir)
	must(t, err)
	if c3.from <= c1.cuts || c3.older.n == 0 || c3.older.id != c3.id {
		t.Fatalf("after %d rising cuts: from %d, %d older entries (id %d of %d); want from past %d, and older entries", c3.cuts-c1.cuts, c3.from, c3.older.n, c3.older.id, c3.id, c1.cuts)
	}
	if low, exact, ok := c3.lowestSince(c1.cuts); !ok || !exact || low != 3*testChunk {
		t.Errorf("lowest Size since the rising cuts began = %d, exact %v, %v; want %d, exact", low, exact, ok, 3*testChunk)
	}
	rise(cutLowsCap+4, 3*cutLowsCap)
	c4, err := readCutMark(dir)
	must(t, err)
	// The first two rising cuts, 2 bytes apart, merged first: the
	// answer since the second is the first's Size, a bound.
	if low, exact, ok := c4.lowestSince(c1.cuts + 1); !ok || exact || low != 3*testChunk {
		t.Errorf("lowest Size since the second rising cut, with older entries merged = %d, exact %v, %v; want %d, a bound (below the true %d)", low, exact, ok, 3*testChunk, 3*testChunk+2)
	}
	if low, exact, ok := c4.lowestSince(c4.cuts - 1); !ok || !exact || low != 3*testChunk+2*(3*cutLowsCap-1) {
		t.Errorf("lowest Size since the last cut = %d, exact %v, %v; want %d, exact", low, exact, ok, 3*testChunk+2*(3*cutLowsCap-1))
	}
	must(t, m.Close())
	m, err = chunkmap.Open(dir, nil)
	must(t, err)
	defer m.Close()
	if c2, err := readCutMark(dir); err != nil || !c2.magic || c2.id == c1.id || c2.epoch == c1.epoch {
		t.Errorf("after a writer's Open: %+v, %v; want a new id and epoch (were %d, %d)", c2, err, c1.id, c1.epoch)
	}
}

// TestRun_ChunkFlagDisagrees checks info and cat given a -chunk that is
// not the chunk size of a healthy dataset: like verify and salvage, they
// refuse it (exit status 1, naming both sizes), rather than ignore it.
func TestRun_ChunkFlagDisagrees(t *testing.T) {
	dir := newDataset(t)
	for _, args := range [][]string{
		{"info", "-chunk", "128KiB", dir},
		{"cat", "-chunk", "128KiB", dir},
		{"verify", "-chunk", "128KiB", dir},
	} {
		code, stdout, stderr := runCmd(t, args...)
		if code != exitFail || !strings.Contains(stderr, "-chunk 131072 disagrees") || !strings.Contains(stderr, "65536") {
			t.Errorf("%q: exit status %d, stderr %q (stdout %d bytes); want 1 and the two chunk sizes", args, code, stderr, len(stdout))
		}
	}
	if code, _, stderr := runCmd(t, "info", "-chunk", "64KiB", dir); code != exitOK {
		t.Errorf("info -chunk 64KiB (the dataset's): exit status %d, stderr %q; want 0", code, stderr)
	}
}

// TestRun_Cat_PartialSalvage cats a dataset that a salvage killed while it
// copied in place left marked partial (SALVAGE-INCOMPLETE): it opens like a
// whole dataset, with zeros wherever the copy had not reached, so cat's
// output may be zeros that stand for nothing. info warns and exits with
// status 3, verify reports it; cat printed the bytes and exited with
// status 0, as for a whole dataset, so that a script took them for good.
// It must print them, say so naming the marker, and exit with status 1,
// as for a range that touches lost bytes.
func TestRun_Cat_PartialSalvage(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "100"},
		{"-n", "100", "-hex"},
		{"-off", strconv.Itoa(testSize)}, // an empty range: the bytes are still in doubt
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := newDataset(t)
			code, whole, _ := runCmd(t, append([]string{"cat", dir}, args...)...)
			if code != exitOK {
				t.Fatalf("cat of the whole dataset: exit status %d", code)
			}
			write(t, filepath.Join(dir, salvageMarker), "")
			code, stdout, stderr := runCmd(t, append([]string{"cat", dir}, args...)...)
			if code != exitFail || !strings.Contains(stderr, salvageMarker) || !strings.Contains(stderr, dir) {
				t.Errorf("cat of a partial salvage: exit status %d, stderr %q; want %d and a message naming %s in %s", code, stderr, exitFail, salvageMarker, dir)
			}
			if stdout != whole {
				t.Errorf("cat of a partial salvage printed %q, want the bytes it holds, %q", stdout, whole)
			}
		})
	}
}

// TestRun_Cat_CutRecordStalled: a writer stopped (or killed) while it
// records a cut leaves the state page's record of cuts in the middle of a
// change. cat took such a record for "no state page", printing a read's
// bytes unchecked where a Truncate had been grown back over, and at its
// start took it for a writer's Open later on, failing where nothing was
// cut. While the epoch stands nothing was cut; where it moved and the
// record does not settle, cat stops.
func TestRun_Cat_CutRecordStalled(t *testing.T) {
	seqOff := int64(stateOff + pageLowsOff)
	setSeq := func(t *testing.T, dir string, odd bool) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(dir, chunkmap.ManifestName), os.O_RDWR, 0)
		must(t, err)
		defer f.Close()
		var b [8]byte
		_, err = f.ReadAt(b[:], seqOff)
		must(t, err)
		q := binary.NativeEndian.Uint64(b[:])
		if odd {
			q |= 1
		} else if q&1 != 0 {
			q++
		}
		binary.NativeEndian.PutUint64(b[:], q)
		_, err = f.WriteAt(b[:], seqOff)
		must(t, err)
	}
	other := make([]byte, 2<<20)
	for i := range other {
		other[i] = byte(i*7) ^ 0x5a
	}
	tests := []struct {
		name   string
		before bool // the record is mid-change as cat begins
		cut    func(t *testing.T, m *chunkmap.Manager, dir string) error
		code   int
		outLen int
		msg    string
		// wrote applies to the dataset's first bytes what cut wrote
		// past those cat had printed, if anything.
		wrote func(b []byte)
	}{
		{"mid-change at the start, nothing cut", true, func(t *testing.T, m *chunkmap.Manager, dir string) error {
			setSeq(t, dir, false)
			return nil
		}, exitOK, 2 << 20, "", nil},
		{"mid-change at the start, a writer killed there", true, func(t *testing.T, m *chunkmap.Manager, dir string) error {
			_, err := m.WriteAt([]byte("more"), 1<<20+5) // no cut: the epoch stands
			return err
		}, exitOK, 2 << 20, "", func(b []byte) { copy(b[1<<20+5:], "more") }},
		{"cut, grown back, then a cut stalled", false, func(t *testing.T, m *chunkmap.Manager, dir string) error {
			if err := m.Truncate(1000); err != nil {
				return err
			}
			if _, err := m.WriteAt(other[1000:], 1000); err != nil {
				return err
			}
			setSeq(t, dir, true)
			return nil
		}, exitFail, 1 << 20, "the record of cuts beside it stayed in the middle of a change", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, m, data := liveDataset(t, testChunk, 2<<20)
			if tc.before {
				setSeq(t, dir, true)
			}
			out := &cuttingWriter{cut: func() error { return tc.cut(t, m, dir) }}
			var errs bytes.Buffer
			code := run([]string{"cat", dir}, out, &errs)
			must(t, out.err)
			want := bytes.Clone(data[:tc.outLen])
			if tc.wrote != nil {
				tc.wrote(want)
			}
			if code != tc.code || !bytes.Equal(out.Bytes(), want) || !strings.Contains(errs.String(), tc.msg) {
				t.Errorf("exit %d, %d bytes, stderr %q; want %d, the %d bytes of the dataset as it was, and %q", code, out.Len(), errs.String(), tc.code, len(want), tc.msg)
			}
		})
	}
}

// TestRun_Cat_ManyCutsAboveRange: a writer that keeps cutting above the
// range (an append log that truncates a partial tail, say) makes more cuts
// during a long cat than the state page's record holds. Such cuts spare
// the range: cat forgets them after each read, where it ended the output
// with status 1 ("truncated") once the record no longer reached back to
// where it began; and where more of them come between two reads than the
// record's stack holds (a slow reader), the entries that leave it answer
// still, merged where they must be so as to change the answer least, where
// cat exited 1 because the stack had dropped them. A cut below the range
// before cat began, which the record holds beside them, must not be merged
// into the answer.
func TestRun_Cat_ManyCutsAboveRange(t *testing.T) {
	tests := []struct {
		name     string
		perRead  int  // cuts between two of cat's reads
		cutFirst bool // a cut below the range before cat begins
	}{
		{"fewer than the stack holds, between reads", cutLowsCap / 2, false},
		{"more than the record holds, between reads", 2 * cutLowsCap, false},
		{"more than the record holds, after a cut below the range", 2 * cutLowsCap, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, m, data := liveDataset(t, testChunk, 6<<20)
			if tc.cutFirst {
				must(t, m.Truncate(1<<20))
				_, err := m.WriteAt(data[1<<20:], 1<<20)
				must(t, err)
			}
			cuts := 0
			out := &everyWrite{each: func() error {
				for range tc.perRead {
					base := int64(4<<20 + 100*cuts)
					cuts++
					if err := m.Truncate(base + 50); err != nil {
						return err
					}
					if err := m.Truncate(base); err != nil {
						return err
					}
				}
				return nil
			}}
			var errs bytes.Buffer
			code := run([]string{"cat", "-n", "4MiB", dir}, out, &errs)
			must(t, out.err)
			if code != exitOK || !bytes.Equal(out.Bytes(), data[:4<<20]) || cuts < 2*cutLowsCap {
				t.Errorf("exit %d, %d bytes, after %d cuts, stderr %q; want %d and the first 4 MiB, after more than %d cuts", code, out.Len(), cuts, errs.String(), exitOK, 2*cutLowsCap)
			}
		})
	}
}

// TestRun_Cat_BoundWithinRange: the record of cuts holds, before cat
// begins, rising cuts below its range's end R, the last to R-8; between
// two of cat's reads the writer cuts above R more times than the record's
// stack and older entries hold, each above the last, the first to R+8. The
// older entries merge the closest pair, the cut to R-8 with the one to
// R+8, and their answer for cat's mark is the bound R-8, though no cut
// reached below R+8 while cat read. cat prints the bytes below the bound,
// and stops there with status 1, saying the dataset was perhaps truncated.
func TestRun_Cat_BoundWithinRange(t *testing.T) {
	const r = 2 << 20
	dir, m, data := liveDataset(t, testChunk, 3<<20)
	cutTo := func(size int64) { // a cut, from above size
		t.Helper()
		if m.Size() <= size {
			must(t, m.Truncate(size+1))
		}
		must(t, m.Truncate(size))
	}
	for k := int64(1); k <= 13; k++ {
		cutTo(k * testChunk)
	}
	cutTo(r - 8)
	_, err := m.WriteAt(data, 0) // the dataset's bytes again
	must(t, err)
	cuts := 0
	out := &everyWrite{each: func() error {
		if cuts > 0 {
			return nil
		}
		for j := int64(0); j < cutLowsCap+cutsOlderCap+8; j++ {
			size := r + 8 + j*(16<<10)
			if err := m.Truncate(size + 1); err != nil {
				return err
			}
			if err := m.Truncate(size); err != nil {
				return err
			}
			cuts++
		}
		return nil
	}}
	want := data[:r-8]
	var errs bytes.Buffer
	code := run([]string{"cat", "-n", "2MiB", dir}, out, &errs)
	must(t, out.err)
	msg := errs.String()
	if code != exitFail || !bytes.Equal(out.Bytes(), want) || !strings.Contains(msg, "perhaps truncated") || !strings.Contains(msg, fmt.Sprintf("below %d", r-8)) || !strings.Contains(msg, fmt.Sprintf("ends at offset %d", r-8)) {
		t.Errorf("exit %d, %d bytes (match %v), after %d cuts, stderr %q; want %d, the first %d bytes, and perhaps truncated below %d", code, out.Len(), bytes.Equal(out.Bytes(), want), cuts, msg, exitFail, r-8, r-8)
	}
}

// TestCutsSince_Bound: where the record of cuts merged older entries, its
// answer for cat's mark may be a bound below the lowest Size a cut since
// left. Its bytes below the bound go out; cat ends the output there, with
// status 1, saying that a cut perhaps came, not that one came to the
// bound. Older entries that are not of the mark's numbering give no
// answer.
func TestCutsSince_Bound(t *testing.T) {
	page := func(epoch, cuts uint64, at []uint64, size []int64, oat, oupto []uint64, osize []int64) cutMark {
		c := cutMark{magic: true, boot: "b", epoch: epoch, settled: true, cuts: cuts, id: 7, from: 1, n: uint64(len(at))}
		copy(c.at[:], at)
		copy(c.size[:], size)
		if oat != nil {
			c.from = at[0] + 1
			c.older = olderCuts{id: 7, from: 1, n: uint64(len(oat))}
			copy(c.older.at[:], oat)
			copy(c.older.size[:], osize)
			copy(c.older.upto[:], oupto)
		}
		return c
	}
	mark := page(1, 10, []uint64{5, 9}, []int64{100, 5000}, nil, nil, nil)
	// Cut 12 to 5000 merged with cut 5 to 100 (as (12, 100), exact up
	// to 5) among the older entries: cuts from 6 to 12 are answered with
	// 100, a bound.
	bound := page(2, 50, []uint64{39}, []int64{9000}, []uint64{12}, []uint64{5}, []int64{100})
	exact := page(2, 40, []uint64{5, 20, 39}, []int64{100, 300, 9000}, nil, nil, nil)
	// The same older entry, unmerged (exact up to its own number).
	olderExact := page(2, 50, []uint64{39}, []int64{9000}, []uint64{12}, []uint64{12}, []int64{100})
	// Older entries of another numbering (a writer of an earlier build
	// took the page over), or of this one begun after cat's mark: no
	// answer below from.
	foreign, later := bound, bound
	foreign.older.id = 9
	later.older.from = 11
	tests := []struct {
		name    string
		now     cutMark
		p       int64
		got     int
		to      int64
		keep    int
		msg     string
		printed bool
	}{
		{"bound above the range", bound, 0, 50, 50, 50, "", false},
		{"bound within the read", bound, 0, 150, 150, 100, "perhaps truncated", false},
		{"bound below the read", bound, 200, 100, 300, 0, "perhaps truncated", true},
		{"exact within the read", exact, 200, 200, 400, 100, "truncated to Size 300", true},
		{"older entry, exact", olderExact, 0, 150, 150, 100, "truncated to Size 100", false},
		{"older entries of another numbering", foreign, 0, 150, 150, 0, "reaches back", false},
		{"older entries from after the mark", later, 0, 150, 150, 0, "reaches back", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keep, msg := cutsSince(mark, tc.now, tc.printed, tc.p, tc.got, tc.to)
			if keep != tc.keep || !strings.Contains(msg, tc.msg) || (tc.msg == "") != (msg == "") {
				t.Errorf("cutsSince = %d, %q; want %d, %q", keep, msg, tc.keep, tc.msg)
			}
			if strings.Contains(tc.msg, "perhaps") && !strings.Contains(msg, "below 100") {
				t.Errorf("cutsSince message %q does not name the bound, 100", msg)
			}
		})
	}
}

// everyWrite is a bytes.Buffer that runs each before every Write.
type everyWrite struct {
	bytes.Buffer
	each func() error
	err  error
}

func (w *everyWrite) Write(p []byte) (int, error) {
	if w.err == nil {
		w.err = w.each()
	}
	return w.Buffer.Write(p)
}

// readCutMark reads the state page of dir's manifest once, as cat does as
// it begins.
func readCutMark(dir string) (cutMark, error) {
	w, err := watchManifest(dir)
	if err != nil {
		return cutMark{}, err
	}
	defer w.close()
	return w.read(nil)
}

// TestCutMark_Pending: the writer stores a cut's Size, records the cut,
// and only then moves the epoch. A page read in between counts a cut that
// has changed nothing yet; cat took it into its mark as a cut already
// seen, and once the epoch moved and the writer grew the dataset back, it
// found no cut since its mark and printed the new bytes after the old
// ones, exiting 0. The mark keeps such a cut as one still to come.
func TestCutMark_Pending(t *testing.T) {
	dir := newDataset(t)
	m, err := chunkmap.Open(dir, nil)
	must(t, err)
	defer m.Close()
	before, err := readCutMark(dir)
	must(t, err)
	must(t, m.Truncate(3*testChunk+10))
	after, err := readCutMark(dir)
	must(t, err)
	if !after.pending || after.since() != before.cuts {
		t.Fatalf("after a Truncate, with the page holding its Size: pending %v, since %d; want true, %d", after.pending, after.since(), before.cuts)
	}
	// The page as it is between the record and the epoch's move.
	gap := after
	gap.epoch = before.epoch
	// Then the epoch moves and the writer grows the dataset back.
	_, err = m.WriteAt(make([]byte, 2*testChunk), 3*testChunk+10)
	must(t, err)
	grown, err := readCutMark(dir)
	must(t, err)
	if grown.pending || grown.cuts != after.cuts {
		t.Fatalf("after growth: pending %v, cuts %d; want false, %d", grown.pending, grown.cuts, after.cuts)
	}
	p := int64(4 * testChunk) // cat printed [0, p) before the cut
	keep, cut := cutsSince(gap, grown, true, p, testChunk, 5*testChunk)
	if keep != 0 || !strings.Contains(cut, fmt.Sprintf("truncated to Size %d", 3*testChunk+10)) {
		t.Errorf("cutsSince(mark taken between the cut's record and its epoch, after growth) = %d, %q; want 0 and the cut", keep, cut)
	}
}

// TestRun_Cat_ManifestReplaced: another program puts a copy of the
// manifest under its name (a restore of a backup, say) while cat reads.
// The writer goes on updating the file it has open, so the copy's epoch
// never moves: cat read the copy and saw no cut, and where the reader it
// reads through, which follows the file the writer updates, had no chunk
// file to open by name (all in one chunk), nothing else noticed either: a
// Truncate grown back over then went unseen, and cat printed the new
// bytes after the old ones, exiting 0. It watches the file it began with,
// and stops where another stands under the name.
func TestRun_Cat_ManifestReplaced(t *testing.T) {
	dir, m, data := liveDataset(t, 4<<20, 3<<20)
	out := &cuttingWriter{cut: func() error {
		path := filepath.Join(dir, chunkmap.ManifestName)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path+".copy", b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(path+".copy", path); err != nil {
			return err
		}
		if err := m.Truncate(1000); err != nil {
			return err
		}
		other := bytes.Repeat([]byte{0x5a}, len(data)-1000)
		_, err = m.WriteAt(other, 1000)
		return err
	}}
	var errs bytes.Buffer
	code := run([]string{"cat", dir}, out, &errs)
	must(t, out.err)
	if code != exitFail || !bytes.Equal(out.Bytes(), data[:1<<20]) || !strings.Contains(errs.String(), "was replaced by another file") {
		t.Errorf("exit %d, %d bytes, stderr %q; want %d, the first MiB, and the manifest named as replaced", code, out.Len(), errs.String(), exitFail)
	}
}

// liveDataset makes a dataset of chunkSize chunks holding n bytes of a
// pattern, and returns it with the writer that keeps it open until the
// test ends, and the bytes.
func liveDataset(t *testing.T, chunkSize int64, n int) (dir string, m *chunkmap.Manager, data []byte) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkSize})
	must(t, err)
	t.Cleanup(func() { m.Close() })
	data = make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	_, err = m.WriteAt(data, 0)
	must(t, err)
	return dir, m, data
}

// TestRun_Cat_PageWrittenOver: another program writes over the manifest's
// state page while cat reads (zeros over its magic). Nothing then says
// whether the writer cut the dataset: cat stops, naming the page, with
// status 1 and the bytes it had printed.
func TestRun_Cat_PageWrittenOver(t *testing.T) {
	dir, _, data := liveDataset(t, testChunk, 3<<20)
	out := &cuttingWriter{cut: func() error {
		f, err := os.OpenFile(filepath.Join(dir, chunkmap.ManifestName), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteAt(make([]byte, 8), stateOff)
		return err
	}}
	var errs bytes.Buffer
	code := run([]string{"cat", dir}, out, &errs)
	must(t, out.err)
	if code != exitFail || !bytes.Equal(out.Bytes(), data[:1<<20]) || !strings.Contains(errs.String(), "left without a state page") {
		t.Errorf("exit %d, %d bytes, stderr %q; want %d, the first MiB, and the page named", code, out.Len(), errs.String(), exitFail)
	}
}
