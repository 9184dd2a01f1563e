package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/exampletest"
)

const testMaxLen = 300

// testOptions gives small segments, so that tests cross many of them.
var testOptions = &Options{SegmentSize: 64 << 10, MaxMapped: 2, MaxRecord: 4096}

func TestRun(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var out bytes.Buffer
	args := []string{"-records", "3000", "-segment", "64KiB", "-retain", "256KiB", "-max-len", "300", "-sync-every", "100", "-reads", "500"}
	if err := run(args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	for _, want := range []string{
		"append 3000 records",
		"close and reopen: recovery scanned from position",
		"reopen after a simulated crash: recovery scanned from position",
		"1 record(s) past the index, 18 bytes discarded (torn record (length ",
		"iterate from record 1500: 1501 records",
		"read 500 records at random",
		"retain the newest 256 KiB: deleted",
		"segmentlog: no such record",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not contain %q:\n%s", want, &out)
		}
	}
	if entries, _ := os.ReadDir(os.Getenv("TMPDIR")); len(entries) != 0 {
		t.Errorf("the example left %d entries in its temporary directory", len(entries))
	}
}

// newTestLog makes a log in a new directory with n synced records and
// closes it.
func newTestLog(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	l, _, err := OpenLog(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(payloadFor(uint64(i), testMaxLen, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// withRecords runs f on the records dataset of the closed log in dir.
func withRecords(t *testing.T, dir string, f func(m *chunkmap.Manager)) {
	t.Helper()
	m, err := chunkmap.Open(filepath.Join(dir, "records"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f(m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func rawAppend(t *testing.T, m *chunkmap.Manager, b []byte) {
	t.Helper()
	if _, err := m.Append(b); err != nil {
		t.Fatal(err)
	}
}

func frameFor(seq uint64) []byte { return appendFrame(nil, payloadFor(seq, testMaxLen, nil)) }

// checkLog checks that l holds exactly the records [First, Next), each with
// its payload, both by number and by iteration.
func checkLog(t *testing.T, l *Log) {
	t.Helper()
	first, next := l.First(), l.Next()
	for seq := first; seq < next; seq++ {
		r, err := l.Read(seq)
		if err != nil {
			t.Fatalf("Read(%d): %v", seq, err)
		}
		if !bytes.Equal(r.Data, payloadFor(seq, testMaxLen, nil)) {
			t.Fatalf("Read(%d) returned other data", seq)
		}
	}
	want := first
	for r, err := range l.Records(first) {
		if err != nil {
			t.Fatalf("Records(%d) at %d: %v", first, want, err)
		}
		if r.Seq != want || !bytes.Equal(r.Data, payloadFor(r.Seq, testMaxLen, nil)) {
			t.Fatalf("Records(%d) returned record %d with %d bytes, want record %d", first, r.Seq, len(r.Data), want)
		}
		want++
	}
	if want != next {
		t.Fatalf("Records(%d) stopped at %d, want %d", first, want, next)
	}
	if _, err := l.Read(next); !errors.Is(err, ErrNotFound) {
		t.Errorf("Read(Next) = %v, want ErrNotFound", err)
	}
	if end, size := l.end, l.records.Size(); end != size {
		t.Errorf("log ends at %d but the records dataset at %d: bytes after the last record", end, size)
	}
}

func TestOpenLog_Recovery(t *testing.T) {
	const n = 400 // about three segments
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   Recovery // From is not compared
		next   uint64
	}{
		{
			name:   "clean",
			damage: func(*testing.T, string) {},
			next:   n,
		},
		{
			name: "garbage after the tail",
			damage: func(t *testing.T, dir string) {
				withRecords(t, dir, func(m *chunkmap.Manager) {
					g := make([]byte, 100)
					rng := rand.New(rand.NewPCG(1, 1))
					for i := range g {
						g[i] = byte(rng.Uint32())
					}
					g[3] = 0xff // a length far over MaxRecord
					rawAppend(t, m, g)
				})
			},
			want: Recovery{Discarded: 100, Reason: "length"},
			next: n,
		},
		{
			name: "zeros after the tail",
			damage: func(t *testing.T, dir string) {
				withRecords(t, dir, func(m *chunkmap.Manager) {
					if err := m.Truncate(m.Size() + 64); err != nil {
						t.Fatal(err)
					}
				})
			},
			want: Recovery{Discarded: 64, Reason: "checksum"},
			next: n,
		},
		{
			name: "records past the index then a torn record",
			damage: func(t *testing.T, dir string) {
				withRecords(t, dir, func(m *chunkmap.Manager) {
					rawAppend(t, m, frameFor(n))
					rawAppend(t, m, frameFor(n+1))
					rawAppend(t, m, frameFor(n + 2)[:20])
				})
			},
			want: Recovery{Scanned: 2, Discarded: 20, Reason: "torn record"},
			next: n + 2,
		},
		{
			name: "torn header",
			damage: func(t *testing.T, dir string) {
				withRecords(t, dir, func(m *chunkmap.Manager) {
					rawAppend(t, m, frameFor(n)[:5])
				})
			},
			want: Recovery{Discarded: 5, Reason: "torn header"},
			next: n,
		},
		{
			name: "a corrupt record stops the scan",
			damage: func(t *testing.T, dir string) {
				withRecords(t, dir, func(m *chunkmap.Manager) {
					bad := frameFor(n + 1)
					bad[len(bad)-1] ^= 1
					rawAppend(t, m, frameFor(n))
					rawAppend(t, m, bad)
					rawAppend(t, m, frameFor(n+2)) // valid, but after the corrupt one
				})
			},
			want: Recovery{Scanned: 1, Discarded: int64(len(frameFor(n+1)) + len(frameFor(n+2))), Reason: "checksum"},
			next: n + 1,
		},
		{
			name: "index points past the records",
			damage: func(t *testing.T, dir string) {
				withRecords(t, dir, func(m *chunkmap.Manager) {
					// Cut the records inside the last record's frame, as
					// when the index was synced further than the records.
					last := int64(len(frameFor(n - 1)))
					if err := m.Truncate(m.Size() - last + 3); err != nil {
						t.Fatal(err)
					}
				})
			},
			want: Recovery{IndexDropped: 1, Discarded: 3, Reason: "torn header"},
			next: n - 1,
		},
		{
			name: "index lost",
			damage: func(t *testing.T, dir string) {
				if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
					t.Fatal(err)
				}
			},
			want: Recovery{Scanned: n},
			next: n,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newTestLog(t, n)
			tc.damage(t, dir)
			l, rec, err := OpenLog(dir, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Scanned != tc.want.Scanned || rec.Discarded != tc.want.Discarded || rec.IndexDropped != tc.want.IndexDropped ||
				!strings.Contains(rec.Reason, tc.want.Reason) || (tc.want.Reason == "") != (rec.Reason == "") {
				t.Errorf("recovery %+v, want %+v", rec, tc.want)
			}
			if l.Next() != tc.next {
				t.Errorf("Next() = %d, want %d", l.Next(), tc.next)
			}
			checkLog(t, l)

			// The log goes on after the recovery, and the repair stuck.
			if seq, err := l.Append(payloadFor(tc.next, testMaxLen, nil)); err != nil || seq != tc.next {
				t.Fatalf("Append after recovery = %d, %v; want %d", seq, err, tc.next)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, rec, err = OpenLog(dir, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if rec.Scanned != 0 || rec.Discarded != 0 || rec.IndexDropped != 0 {
				t.Errorf("second recovery %+v, want nothing to do", rec)
			}
			if l.Next() != tc.next+1 {
				t.Errorf("after reopening, Next() = %d, want %d", l.Next(), tc.next+1)
			}
			checkLog(t, l)
		})
	}
}

func TestLog_Records(t *testing.T) {
	dir := newTestLog(t, 100)
	l, _, err := OpenLog(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, from := range []uint64{0, 1, 37, 99, 100} {
		want := from
		for r, err := range l.Records(from) {
			if err != nil {
				t.Fatalf("Records(%d): %v", from, err)
			}
			if r.Seq != want {
				t.Fatalf("Records(%d) returned %d, want %d", from, r.Seq, want)
			}
			want++
		}
		if want != 100 {
			t.Errorf("Records(%d) stopped at %d, want 100", from, want)
		}
	}
	for _, err := range l.Records(101) {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Records(101): %v, want ErrNotFound", err)
		}
	}
	// Each record carries its own time, as Read gives it.
	for r, err := range l.Records(0) {
		if err != nil {
			t.Fatal(err)
		}
		rr, err := l.Read(r.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Time.Equal(rr.Time) || r.Pos != rr.Pos || !bytes.Equal(r.Data, rr.Data) {
			t.Fatalf("Records(0): record %d has time %v, position %d; Read has %v, %d (or other data)", r.Seq, r.Time, r.Pos, rr.Time, rr.Pos)
		}
	}
	// Breaking out of the loop early is fine.
	for r := range l.Records(10) {
		if r.Seq == 12 {
			break
		}
	}
	if _, err := l.Append(make([]byte, testOptions.MaxRecord+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append of an oversized record: %v, want ErrTooLarge", err)
	}
}

func TestLog_Retention(t *testing.T) {
	dir := newTestLog(t, 2000) // about 20 segments of 64 KiB
	l, _, err := OpenLog(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	dropped, err := l.RetainBytes(200 << 10)
	if err != nil {
		t.Fatal(err)
	}
	if dropped == 0 || uint64(dropped) != l.First() {
		t.Errorf("RetainBytes dropped %d records, First() = %d", dropped, l.First())
	}
	if b := l.Bytes(); b < 200<<10 || b > 200<<10+64<<10 {
		t.Errorf("after RetainBytes(200 KiB), Bytes() = %d, want 200 KiB to 264 KiB", b)
	}
	if l.Segments() >= segs {
		t.Errorf("Segments() = %d, was %d", l.Segments(), segs)
	}
	if _, err := l.Read(l.First() - 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Read(First-1) = %v, want ErrNotFound", err)
	}
	checkLog(t, l)

	// By age: records appended in the past are all older than an hour
	// from a clock two hours ahead.
	if _, err := l.RetainAge(time.Hour, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	first := l.First()
	if n, err := l.RetainAge(time.Hour, time.Now()); err != nil || n != 0 || l.First() != first {
		t.Errorf("RetainAge of fresh records deleted %d (%v)", n, err)
	}
	if _, err := l.RetainAge(time.Hour, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if l.Segments() > 1 {
		t.Errorf("after RetainAge of everything, %d segments are left, want at most the last one", l.Segments())
	}
	checkLog(t, l)
	// The retained log reopens cleanly and goes on.
	next := l.Next()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, rec, err := OpenLog(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if rec.Scanned != 0 || rec.Discarded != 0 || l.Next() != next {
		t.Errorf("reopen after retention: recovery %+v, Next() = %d, want %d", rec, l.Next(), next)
	}
	if _, err := l.Append(payloadFor(next, testMaxLen, nil)); err != nil {
		t.Fatal(err)
	}
	checkLog(t, l)
}

// killDirEnv names the log directory a child process of TestKillMidAppend
// appends to.
const killDirEnv = "SEGMENTLOG_KILL_DIR"

// TestKillMidAppend runs a child process (this test binary again) that
// appends records and syncs them, reporting through a pipe the records
// each Sync acknowledged, kills it with SIGKILL at a random moment, and
// checks that the reopened log holds every acknowledged record and nothing
// but whole, correct records. It does that several times on the same log.
func TestKillMidAppend(t *testing.T) {
	if dir := os.Getenv(killDirEnv); dir != "" {
		appendUntilKilled(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := filepath.Join(t.TempDir(), "log")
	rng := rand.New(rand.NewPCG(7, 7))
	var acked uint64
	for round := range 4 {
		cmd, sc := startChild(t, "TestKillMidAppend", killDirEnv+"="+dir)
		acks := 0
		for acks < 10+rng.IntN(20) && sc.Scan() {
			n, ok := strings.CutPrefix(sc.Text(), "acked ")
			if !ok {
				continue
			}
			v, err := strconv.ParseUint(n, 10, 64)
			if err != nil || v < acked {
				t.Fatalf("round %d: child reported %q after acknowledging %d", round, sc.Text(), acked)
			}
			acked = v
			acks++
		}
		// Kill it somewhere in its next appends or Sync.
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if acks == 0 {
			t.Fatalf("round %d: the child acknowledged nothing", round)
		}

		l, rec, err := OpenLog(dir, testOptions)
		if err != nil {
			t.Fatalf("round %d: reopen after the kill: %v", round, err)
		}
		if l.Next() < acked {
			t.Errorf("round %d: the log ends at record %d, but the child acknowledged %d", round, l.Next(), acked)
		}
		t.Logf("round %d: %d acknowledged, %d recovered; recovery %+v", round, acked, l.Next(), rec)
		checkLog(t, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// appendUntilKilled appends records of payloadFor to the log in dir, 20 at
// a time (alternately one Append each and one AppendBatch), syncs, and
// prints "acked N" once records [0, N) are durable. It runs until it is
// killed.
func appendUntilKilled(dir string) {
	l, _, err := OpenLog(dir, testOptions)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	seq := l.Next()
	for round := 0; ; round++ {
		batch := make([][]byte, 20)
		for i := range batch {
			batch[i] = payloadFor(seq+uint64(i), testMaxLen, nil)
		}
		if round%2 == 0 {
			for _, p := range batch {
				if _, err := l.Append(p); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(1)
				}
			}
		} else if _, err := l.AppendBatch(batch); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		seq += uint64(len(batch))
		if err := l.Sync(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		fmt.Printf("acked %d\n", seq)
	}
}

func TestRun_Flags(t *testing.T) {
	exampletest.Flags(t, run, []exampletest.FlagCase{
		{Name: "-h", Args: []string{"-h"}, WantOut: "Usage: go run ./examples/segmentlog"},
		{Name: "-help", Args: []string{"-help"}, WantOut: "-retain-age"},
		{Name: "unknown flag", Args: []string{"-nope"}, WantErr: "flag provided but not defined: -nope (-h prints the flags)"},
		{Name: "bad -segment", Args: []string{"-segment", "4XiB"}, WantErr: `-segment: invalid size "4XiB": unknown unit`},
		{Name: "bad -retain", Args: []string{"-retain", "-1MiB"}, WantErr: `-retain: invalid size "-1MiB": negative`},
		// Each value the program or the library refuses, or replaces with
		// a default, is named with its flag before a log is made.
		{Name: "zero -segment", Args: []string{"-segment", "0"}, WantErr: "-segment 0: want a power of two from 64KiB to 2GiB"},
		{Name: "odd -segment", Args: []string{"-segment", "1000"}, WantErr: "-segment 1000: want a power of two from 64KiB to 2GiB"},
		{Name: "one record", Args: []string{"-records", "1"}, WantErr: "-records 1: want at least 2"},
		{Name: "zero -sync-every", Args: []string{"-sync-every", "0"}, WantErr: "-sync-every 0: want at least 1"},
		{Name: "short -max-len", Args: []string{"-max-len", "15"}, WantErr: "-max-len 15: want 16 to 4294967295"},
		{Name: "negative -reads", Args: []string{"-reads", "-1"}, WantErr: "-reads -1: want at least 0"},
		{Name: "negative -retain-age", Args: []string{"-retain-age", "-1s"}, WantErr: "-retain-age -1s: want 0 (off) or more"},
		// The flag package stops at the first argument that is no flag:
		// the flags after it would be ignored.
		{Name: "argument", Args: []string{"-records", "2", "-reads", "0", "-segment", "64KiB", "extra"}, WantErr: `unexpected argument "extra" (-h prints the flags)`},
	})
}

// TestMain_Help checks that -h prints the usage and exits with status 0.
func TestMain_Help(t *testing.T) {
	exampletest.Help(t, "segmentlog", main, "Usage: go run ./examples/segmentlog")
}

func TestPayloadFor(t *testing.T) {
	for seq := range uint64(1000) {
		p := payloadFor(seq, testMaxLen, nil)
		if len(p) < 16 || len(p) > testMaxLen {
			t.Fatalf("payloadFor(%d) has %d bytes, want 16 to %d", seq, len(p), testMaxLen)
		}
	}
}

// TestOpenLog_MaxRecord checks that OpenLog refuses a MaxRecord the frame's
// 32-bit length cannot carry, or a negative one: the checks of recovery and
// of every read compared lengths with MaxRecord cut to 32 bits, so a log
// opened with MaxRecord 4 GiB + 100 read its own 150-byte record as corrupt
// ("length 150 over the maximum").
func TestOpenLog_MaxRecord(t *testing.T) {
	maxes := []int{-1}
	if strconv.IntSize == 64 {
		// Through variables, so that the test compiles where int is 32
		// bits and no int is past the limit.
		wide, widest := int64(MaxMaxRecord)+100, int64(MaxMaxRecord)
		maxes = append(maxes, int(wide), int(widest)) // the last is accepted
	}
	for i, max := range maxes {
		dir := filepath.Join(t.TempDir(), "log")
		l, _, err := OpenLog(dir, &Options{SegmentSize: 64 << 10, MaxRecord: max})
		if i == 2 {
			if err != nil {
				t.Fatalf("OpenLog with MaxRecord %d: %v", max, err)
			}
			if _, err := l.Append(make([]byte, 150)); err != nil {
				t.Fatal(err)
			}
			if r, err := l.Read(0); err != nil || len(r.Data) != 150 {
				t.Errorf("Read(0) = %d bytes, %v", len(r.Data), err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err == nil {
			_, aerr := l.Append(make([]byte, 150))
			_, rerr := l.Read(0)
			l.Close()
			t.Fatalf("OpenLog with MaxRecord %d: no error (Append: %v, Read: %v)", max, aerr, rerr)
		}
		if !errors.Is(err, chunkmap.ErrInvalidOptions) || !strings.Contains(err.Error(), fmt.Sprintf("MaxRecord %d", max)) {
			t.Errorf("OpenLog with MaxRecord %d: %v, want ErrInvalidOptions naming MaxRecord", max, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("OpenLog with MaxRecord %d made %s (%v)", max, dir, err)
		}
	}
}

// TestMain_ClosedOutput checks that a closed standard output (segmentlog |
// true) stops the example quietly with status 1 and that it removes its
// temporary directory, where SIGPIPE used to kill it at its first write
// and leave the directory behind.
func TestMain_ClosedOutput(t *testing.T) {
	exampletest.ClosedOutput(t, "segmentlog", main, []string{"-records", "100", "-segment", "64KiB", "-reads", "100"})
}

// TestMain_Signals checks that SIGINT, SIGTERM and SIGHUP stop the example
// with status 1, saying so, and that it removes its temporary directory.
func TestMain_Signals(t *testing.T) {
	// A billion reads: the example is still running when the signal
	// comes, whenever that is.
	exampletest.Signals(t, "segmentlog", main, []string{"-records", "100", "-segment", "64KiB", "-reads", "1000000000"})
}

// TestLog_RetainBytesKeepsTheNewestBytes checks RetainBytes' promise with
// records longer than a segment: it deletes only segments whose records
// all lie before the newest max bytes, so every record with a byte among
// them stays readable and at least max bytes stay. It cut at the first
// record that begins within the newest max bytes, so the segments holding
// the record before it, whose tail lies among them, went too (and with a
// record of several segments, Bytes fell far below max).
func TestLog_RetainBytesKeepsTheNewestBytes(t *testing.T) {
	const seg = 64 << 10
	opts := &Options{SegmentSize: seg, MaxMapped: 2, MaxRecord: 1 << 20}
	tests := []struct {
		name  string
		sizes []int // payloads
		max   int64
	}{
		{"cut in a record of three segments", []int{100, 200_000, 100}, 100_000},
		{"cut in the tail of a record that spans a boundary", []int{100, 150_000, 100}, 1000},
		{"cut in the last record", []int{100, 200_000}, 1000},
		{"cut at the start of a record", []int{seg - headerLen, seg - headerLen, 100}, seg + headerLen + 100},
		{"cut between records, nothing kept past it", []int{2 * seg, 100}, 108},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, err := OpenLog(filepath.Join(t.TempDir(), "log"), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var pos []int64 // where each record begins, and where the log ends
			for i, n := range tt.sizes {
				pos = append(pos, l.Bytes())
				if _, err := l.Append(bytes.Repeat([]byte{byte(i + 1)}, n)); err != nil {
					t.Fatal(err)
				}
			}
			end := l.Bytes()
			cut := end - tt.max
			if _, err := l.RetainBytes(tt.max); err != nil {
				t.Fatal(err)
			}
			// Record i ends at pos[i+1] (the last at end): it has a byte
			// among the newest max bytes if it ends after cut.
			keep := len(tt.sizes) // the first record that does
			for i := range tt.sizes {
				recEnd := end
				if i+1 < len(tt.sizes) {
					recEnd = pos[i+1]
				}
				if recEnd <= cut {
					continue
				}
				keep = min(keep, i)
				if r, err := l.Read(uint64(i)); err != nil || len(r.Data) != tt.sizes[i] {
					t.Errorf("record %d, [%d, %d), ends among the newest %d bytes [%d, %d): Read: %d bytes, %v; want it kept",
						i, pos[i], recEnd, tt.max, cut, end, len(r.Data), err)
				}
			}
			if got := l.Bytes(); got < tt.max {
				t.Errorf("after RetainBytes(%d), Bytes() = %d, want at least %d", tt.max, got, tt.max)
			}
			// Nothing is kept that need not be: the segments below the
			// one that holds the head of that record are gone.
			if got, want := l.records.Start(), pos[keep]/seg*seg; got != want {
				t.Errorf("after RetainBytes(%d), the records start at %d, want %d (the segment of record %d)", tt.max, got, want, keep)
			}
		})
	}
}

// TestLog_RetainEverythingReopens checks that retention which deletes
// every record reopens cleanly when the last record straddles a segment
// boundary. Retention kept the segment that holds the end of the log but
// deleted the one that holds the head of the last record, and no index
// entry was left, so OpenLog could not tell where records begin in what
// remained and refused the log as corrupt ("no index entry for the
// records from position 65536 on").
func TestLog_RetainEverythingReopens(t *testing.T) {
	for _, retain := range []string{"bytes", "age"} {
		t.Run(retain, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			l, _, err := OpenLog(dir, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			// Records of 1000 bytes until one crosses the first segment
			// boundary; the log ends 960 bytes into the second segment.
			seg := testOptions.SegmentSize
			for l.Bytes() <= seg {
				if _, err := l.Append(make([]byte, 1000-headerLen)); err != nil {
					t.Fatal(err)
				}
			}
			next := l.Next()
			if retain == "bytes" {
				_, err = l.RetainBytes(0)
			} else {
				_, err = l.RetainAge(time.Hour, time.Now().Add(2*time.Hour))
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, rec, err := OpenLog(dir, testOptions)
			if err != nil {
				t.Fatalf("reopen after retaining nothing: %v", err)
			}
			defer l.Close()
			if l.Next() != next || rec.Scanned != 0 || rec.Discarded != 0 || rec.IndexDropped != 0 {
				t.Errorf("reopen: Next() = %d, recovery %+v; want %d and nothing recovered", l.Next(), rec, next)
			}
			if _, err := l.Append(make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
			if r, err := l.Read(next); err != nil || len(r.Data) != 100 {
				t.Errorf("Read(%d) after reopening: %d bytes, %v", next, len(r.Data), err)
			}
		})
	}
}

// TestRun_RefusedDirPrintsNothing checks that a -dir the log cannot be made
// in fails with its error alone, before any line of the demo is printed.
func TestRun_RefusedDirPrintsNothing(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run([]string{"-dir", file, "-records", "2", "-reads", "0", "-segment", "64KiB"}, &out)
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("run with -dir %s = %v, want an error naming it", file, err)
	}
	if out.Len() != 0 {
		t.Errorf("run printed before it failed:\n%s", &out)
	}
}

// TestOpenLog_SmallerMaxRecordKeepsRecords checks that MaxRecord bounds
// only what Append accepts: a log closed cleanly, and one whose last
// records a crash left past the index, both reopened with a MaxRecord
// smaller than records they hold, keep every record, readable by number
// and by iteration. Recovery used to take a length over the new MaxRecord
// for a torn header: it dropped the index entries of synced records and
// truncated the log there.
func TestOpenLog_SmallerMaxRecordKeepsRecords(t *testing.T) {
	for _, pastIndex := range []bool{false, true} {
		t.Run(fmt.Sprintf("pastIndex=%v", pastIndex), func(t *testing.T) {
			const n = 200 // payloads of up to testMaxLen bytes, 300
			dir := newTestLog(t, n)
			next := uint64(n)
			if pastIndex {
				withRecords(t, dir, func(m *chunkmap.Manager) {
					rawAppend(t, m, frameFor(n))
					rawAppend(t, m, frameFor(n+1))
				})
				next += 2
			}
			small := *testOptions
			small.MaxRecord = 64
			l, rec, err := OpenLog(dir, &small)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if rec.Discarded != 0 || rec.IndexDropped != 0 {
				t.Errorf("OpenLog with MaxRecord %d: %+v, want nothing discarded or dropped", small.MaxRecord, rec)
			}
			if got := l.Next(); got != next {
				t.Fatalf("Next() = %d, want %d", got, next)
			}
			checkLog(t, l)
			if _, err := l.Append(make([]byte, 65)); !errors.Is(err, ErrTooLarge) {
				t.Errorf("Append of 65 bytes with MaxRecord 64: %v, want ErrTooLarge", err)
			}
		})
	}
}

// TestLog_RetainAgeClockSetBack checks RetainAge's promise that a clock set
// back makes retention keep records longer, never shorter: no record
// appended at or after the cut is deleted. The index's times are rewritten
// as a wall clock set back after record 600 leaves them: rising from
// record 0 to 599, then far lower. RetainAge used to find the cut with a
// binary search, which assumes rising times: it landed among the later
// records, all older than the cut, and deleted records 500 to 599 too,
// which are newer than it.
func TestLog_RetainAgeClockSetBack(t *testing.T) {
	const n, setBack = 1500, 600 // about 4 segments of 64 KiB
	dir := newTestLog(t, n)
	base := time.Now().Add(-24 * time.Hour).UnixNano()
	timeOf := func(seq uint64) int64 {
		if seq < setBack {
			return base + int64(seq)*int64(time.Second)
		}
		return base - int64(time.Hour) + int64(seq)*int64(time.Millisecond)
	}
	idx, err := chunkmap.Open(filepath.Join(dir, "index"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for seq := range uint64(n) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(timeOf(seq)))
		if _, err := idx.WriteAt(b[:], int64(seq)*entryLen+8); err != nil {
			t.Fatal(err)
		}
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	l, _, err := OpenLog(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Records 0 to 499 are older than the cut, 500 to 599 newer.
	cut := time.Unix(0, timeOf(500))
	if _, err := l.RetainAge(time.Minute, cut.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if first := l.First(); first > 500 {
		t.Errorf("RetainAge with the cut at record 500's time deleted records up to %d, appended after the cut", first-1)
	}
	if l.First() == 0 {
		t.Errorf("RetainAge deleted nothing; records 0 to 499 fill more than one segment")
	}
	checkLog(t, l)
}

// TestRun_RetentionStep checks that the retention step names every policy
// it applied: with -retain-age the segments deleted are mostly the age's,
// and a line crediting them to -retain alone misreports what was done.
func TestRun_RetentionStep(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "bytes", args: []string{"-retain", "256KiB"}, want: "retain the newest 256 KiB: deleted"},
		{name: "bytes and age", args: []string{"-retain", "1GiB", "-retain-age", "1ns"}, want: "retain the newest 1 GiB and the records of the last 1ns: deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			var out bytes.Buffer
			args := append([]string{"-records", "3000", "-segment", "64KiB", "-max-len", "300", "-reads", "0"}, tt.args...)
			if err := run(args, &out); err != nil {
				t.Fatalf("run: %v\n%s", err, &out)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output does not contain %q:\n%s", tt.want, &out)
			}
		})
	}
}

// retainDirEnv names the log directory a child process of
// TestKillMidRetention appends to and retains in.
const retainDirEnv = "SEGMENTLOG_RETAIN_DIR"

// retainMaxLen makes records of up to three segments, so that retention
// keeps segments for a record's head while its tail lies further on.
const retainMaxLen = 150_000

var retainOptions = &Options{SegmentSize: 64 << 10, MaxMapped: 2, MaxRecord: retainMaxLen}

// TestKillMidRetention kills a child that appends records (some longer
// than a segment) and applies retention by bytes and by age all the time,
// and checks that the reopened log holds every record whose Append
// returned and no record below the First a retention returned, whole and
// correct. Retention that deletes every record must keep the one whose
// tail lies in the segment left, or the reopened log has no index entry
// for the bytes there and refuses to open (a kill between the records'
// DropBefore and the index's is the other step this reaches).
func TestKillMidRetention(t *testing.T) {
	if dir := os.Getenv(retainDirEnv); dir != "" {
		retainUntilKilled(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := filepath.Join(t.TempDir(), "log")
	rng := rand.New(rand.NewPCG(11, 11))
	var next, first uint64
	for round := range 6 {
		cmd, sc := startChild(t, "TestKillMidRetention", retainDirEnv+"="+dir)
		for lines := 0; lines < 20+rng.IntN(200) && sc.Scan(); lines++ {
			var n, f uint64
			if _, err := fmt.Sscanf(sc.Text(), "next %d first %d", &n, &f); err != nil {
				t.Fatalf("round %d: child said %q", round, sc.Text())
			}
			next, first = n, f
		}
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		l, rec, err := OpenLog(dir, retainOptions)
		if err != nil {
			t.Fatalf("round %d: reopen after the kill: %v", round, err)
		}
		if l.Next() < next || l.First() < first {
			t.Errorf("round %d: the log holds [%d, %d), but the child's calls returned with [%d, %d)", round, l.First(), l.Next(), first, next)
		}
		for seq := l.First(); seq < l.Next(); seq++ {
			r, err := l.Read(seq)
			if err != nil {
				t.Fatalf("round %d: Read(%d): %v", round, seq, err)
			}
			if !bytes.Equal(r.Data, payloadFor(seq, retainMaxLen, nil)) {
				t.Fatalf("round %d: Read(%d) returned other data", round, seq)
			}
		}
		t.Logf("round %d: child returned [%d, %d), reopened [%d, %d); recovery %+v", round, first, next, l.First(), l.Next(), rec)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// retainUntilKilled appends records of payloadFor(seq, retainMaxLen) to
// the log in dir, one at a time or in batches, syncs now and then, applies
// RetainBytes or RetainAge after every few, and prints "next N first F"
// after each call returns. It runs until it is killed.
func retainUntilKilled(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	l, _, err := OpenLog(dir, retainOptions)
	if err != nil {
		fail(err)
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 3))
	seq := l.Next()
	for {
		batch := make([][]byte, 1+rng.IntN(4))
		for i := range batch {
			batch[i] = payloadFor(seq+uint64(i), retainMaxLen, nil)
		}
		if _, err := l.AppendBatch(batch); err != nil {
			fail(err)
		}
		seq += uint64(len(batch))
		if rng.IntN(8) == 0 {
			if err := l.Sync(); err != nil {
				fail(err)
			}
		}
		switch rng.IntN(6) {
		case 0:
			_, err = l.RetainAge(time.Duration(rng.IntN(20))*time.Millisecond, time.Now())
		case 1, 2:
			_, err = l.RetainBytes(rng.Int64N(4 << 16))
		}
		if err != nil {
			fail(err)
		}
		fmt.Printf("next %d first %d\n", seq, l.First())
	}
}

// startChild starts this test binary running test alone with env added,
// its standard error the test's, and returns it with a scanner of the
// lines it prints.
func startChild(t *testing.T, test, env string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

// TestLog_CrashAfterRetainingEverything checks that a log whose retention
// deleted every record, with the log's end on a segment boundary, recovers
// from a crash in its next append: the records reached the records dataset
// and the index entry did not (a process killed between the two writes,
// or a power loss in the Sync between their two fsyncs). The records'
// Start was then the end of the deleted records, a record boundary, but
// no index entry was left at or after it, and OpenLog refused the log as
// corrupt ("no index entry for the records from position 65536 on").
func TestLog_CrashAfterRetainingEverything(t *testing.T) {
	for _, retain := range []string{"bytes", "age"} {
		t.Run(retain, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			l, _, err := OpenLog(dir, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			// 16 frames of 4 KiB: the log ends on the first segment
			// boundary.
			seg := testOptions.SegmentSize
			for l.Bytes() < seg {
				if _, err := l.Append(make([]byte, 4096-headerLen)); err != nil {
					t.Fatal(err)
				}
			}
			if l.Bytes() != seg {
				t.Fatalf("the log ends at %d, want %d", l.Bytes(), seg)
			}
			next := l.Next()
			if retain == "bytes" {
				_, err = l.RetainBytes(0)
			} else {
				_, err = l.RetainAge(time.Hour, time.Now().Add(2*time.Hour))
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.First() != next || l.records.Start() != seg {
				t.Fatalf("after retaining nothing: First() = %d, records start at %d; want %d and %d", l.First(), l.records.Start(), next, seg)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			// The crash: record next reached the records, not the index.
			withRecords(t, dir, func(m *chunkmap.Manager) { rawAppend(t, m, frameFor(next)) })

			l, rec, err := OpenLog(dir, testOptions)
			if err != nil {
				t.Fatalf("reopen after a crash in the append that followed: %v", err)
			}
			defer l.Close()
			if l.First() != next || l.Next() != next+1 || rec.Scanned != 1 || rec.Discarded != 0 {
				t.Errorf("reopen: First() = %d, Next() = %d, recovery %+v; want %d, %d and 1 record scanned", l.First(), l.Next(), rec, next, next+1)
			}
			checkLog(t, l)
		})
	}
}

// TestLog_ReadRacingRetention reads records at random, and iterates over
// them slowly, while another goroutine appends and applies retention: a
// record retention deleted after the read checked First is ErrNotFound, as
// one deleted before it is, and every record read is whole and correct. It
// runs until retention has overtaken the reads a number of times.
func TestLog_ReadRacingRetention(t *testing.T) {
	l, _, err := OpenLog(filepath.Join(t.TempDir(), "log"), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := range uint64(200) {
		if _, err := l.Append(payloadFor(seq, testMaxLen, nil)); err != nil {
			t.Fatal(err)
		}
	}
	wantGone := 20
	if testing.Short() {
		wantGone = 5
	}
	const maxAppends = 1_000_000 // about 150 MiB written, 96 KiB kept
	done := make(chan struct{})  // closed by the reader
	stopped := make(chan error, 1)
	go func() {
		for i := 0; i < maxAppends; i++ {
			select {
			case <-done:
				stopped <- nil
				return
			default:
			}
			if _, err := l.Append(payloadFor(l.Next(), testMaxLen, nil)); err != nil {
				stopped <- err
				return
			}
			if i%4 == 0 {
				if _, err := l.RetainBytes(96 << 10); err != nil {
					stopped <- err
					return
				}
			}
		}
		stopped <- fmt.Errorf("%d appends and retentions overtook no read %d times", maxAppends, wantGone)
	}()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	var reads, gone int
	check := func(what string, seq uint64, r Record, err error) bool {
		t.Helper()
		switch {
		case errors.Is(err, ErrNotFound):
			gone++
		case err != nil:
			t.Errorf("%s: record %d: %v, want the record or ErrNotFound", what, seq, err)
			return false
		case r.Seq != seq || !bytes.Equal(r.Data, payloadFor(seq, testMaxLen, nil)):
			t.Errorf("%s: record %d: got record %d with other data", what, seq, r.Seq)
			return false
		default:
			reads++
		}
		return true
	}
	ok := true
	for ok && gone < wantGone && len(stopped) == 0 {
		first, next := l.First(), l.Next()
		// Mostly the oldest records, which the next retention deletes.
		span := next - first
		if rng.IntN(4) != 0 {
			span = min(span, 8)
		}
		seq := first + rng.Uint64N(span)
		r, err := l.Read(seq)
		ok = check("Read", seq, r, err)
		// A slow iteration from the oldest record, which retention
		// overtakes.
		want := first
		for r, err := range l.Records(first) {
			if ok = ok && check("Records", want, r, err); !ok || err != nil || want-first == 256 {
				break
			}
			want++
			time.Sleep(time.Microsecond)
		}
	}
	close(done)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records read, %d found deleted", reads, gone)
}

// TestLog_RetentionIndexDropFails makes the index's chunk files impossible
// to delete (its directory chattr +i) and applies retention that deletes
// segments and then the index's first chunk: the records' segments are gone when the
// index's drop fails, so the log's First must move past them all the same,
// the records below it be ErrNotFound, and those from it on read whole;
// once the file can be deleted, the log reopens and retention goes on.
func TestLog_RetentionIndexDropFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, _, err := OpenLog(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	const n = 70_000 // over the 65,536 entries of an index chunk
	const maxLen = 24
	batch := make([][]byte, 0, 1000)
	for seq := uint64(0); seq < n; seq++ {
		batch = append(batch, payloadFor(seq, maxLen, nil))
		if len(batch) == cap(batch) {
			if _, err := l.AppendBatch(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	first := filepath.Join(dir, "index")
	if out, err := exec.Command("chattr", "+i", first).CombinedOutput(); err != nil {
		t.Skipf("chattr +i %s: %v: %s", first, err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", first).Run() })
	dropped, err := l.RetainBytes(64 << 10)
	if err == nil {
		t.Fatalf("RetainBytes with the index's first chunk file immutable: %d dropped, no error", dropped)
	}
	t.Logf("RetainBytes: %d dropped, %v", dropped, err)
	f := l.First()
	if f < 65_536 {
		t.Fatalf("First %d after retention deleted the segments of the records below %d", f, n-5000)
	}
	for _, seq := range []uint64{0, f - 1} {
		if _, err := l.Read(seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("Read(%d) below First %d: %v, want ErrNotFound", seq, f, err)
		}
	}
	want := f
	for r, err := range l.Records(f) {
		if err != nil {
			t.Fatalf("Records(%d): record %d: %v", f, want, err)
		}
		if r.Seq != want || !bytes.Equal(r.Data, payloadFor(want, maxLen, nil)) {
			t.Fatalf("Records(%d): record %d is %d, or other data", f, want, r.Seq)
		}
		want++
	}
	if want != n {
		t.Errorf("Records(%d) ended at %d, want %d", f, want, n)
	}
	if err := exec.Command("chattr", "-i", first).Run(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, _, err = OpenLog(dir, testOptions); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if l.First() < f || l.Next() != n {
		t.Errorf("reopened log holds [%d, %d), want [%d, %d) or less below", l.First(), l.Next(), f, n)
	}
	if _, err := l.RetainBytes(64 << 10); err != nil {
		t.Errorf("RetainBytes after the file can be deleted: %v", err)
	}
}
