package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"strings"
	"testing"
)

// smallDemo is a demo that takes a fraction of a second.
func smallDemo() demoConfig {
	return demoConfig{
		size: 2 << 20, chunk: testChunk, maxMapped: 2, block: 256 << 10,
		reads: 8192, readSize: 8, compare: true, admission: true, seed: 1,
	}
}

// TestDemo_Progress checks that every phase of both targets, sync included,
// draws its progress line and erases it.
func TestDemo_Progress(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var prog, out bytes.Buffer
	cfg := smallDemo()
	cfg.meter = bufMeters(&prog)
	if err := demo(context.Background(), cfg, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	got := prog.String()
	rest := got
	for _, who := range []string{"chunkmap", "os.File"} {
		for _, want := range []string{
			"\r\033[K" + who + " write: 100% (2 MiB of 2 MiB)",
			"\r\033[K" + who + " sync: ",
			"\r\033[K" + who + " sequential read: 100% (2 MiB of 2 MiB)",
			"\r\033[K" + who + " random read of 2 MiB: ",
			"\r\033[K" + who + " random read of 128 KiB: ",
		} {
			i := strings.Index(rest, want)
			if i < 0 {
				t.Fatalf("no %q in order in the progress lines:\n%q", want, got)
			}
			rest = rest[i+len(want):]
		}
	}
	if !strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("the last progress line is not erased: %q", got[max(0, len(got)-80):])
	}
	if strings.Contains(out.String(), "\r") {
		t.Errorf("progress went to standard output:\n%q", out.String())
	}
}

// TestDemo_Stopped checks that a demo stopped by a signal (here a context
// cancelled with a cause) returns "stopped" and the cause, and removes its
// temporary directory.
func TestDemo_Stopped(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	errSignal := errors.New("test signal received")
	for _, after := range []int{0, 1, 3} { // meter draws before the stop
		ctx, cancel := context.WithCancelCause(context.Background())
		cfg := smallDemo()
		draws := 0
		cfg.meter = func(label string, total int64) *meter {
			return &meter{w: writerFunc(func(p []byte) (int, error) {
				if draws++; draws > after {
					cancel(errSignal)
				}
				return len(p), nil
			}), label: label, total: total}
		}
		if after == 0 {
			cancel(errSignal)
		}
		err := demo(ctx, cfg, io.Discard, io.Discard)
		cancel(nil)
		if !errors.Is(err, errSignal) || !strings.HasPrefix(err.Error(), "stopped: test signal received") {
			t.Errorf("stopped after %d draws: demo returned %v, want stopped: %v", after, err, errSignal)
		}
		if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
			t.Errorf("stopped after %d draws: the demo left %d entries in its temporary directory (err %v)", after, len(entries), err)
		}
	}
}

// TestRun_Demo_OutputError checks that a write error on standard output
// stops the demo and is reported, and that the temporary directory goes.
// (A broken pipe is quiet: see signal_unix_test.go.)
func TestRun_Demo_OutputError(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	errFull := errors.New("no space left on the test device")
	out := writerFunc(func([]byte) (int, error) { return 0, errFull })
	var errOut bytes.Buffer
	code := run([]string{"demo", "-size", "2MiB", "-chunk", "64KiB", "-reads", "100"}, out, &errOut)
	if want := "chunkmap demo: stopped: write standard output: " + errFull.Error(); code != exitFail || !strings.Contains(errOut.String(), want) {
		t.Errorf("exit status %d, stderr %q; want %d and %q", code, errOut.String(), exitFail, want)
	}
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Errorf("the demo left %d entries in its temporary directory (err %v)", len(entries), err)
	}
}

// writerFunc is an io.Writer made of a function.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestDemo_NoReads checks that random-read phases that read nothing
// (-reads 0) show no rate and no speed ratio, where a ratio of two loops
// around nothing would read as a measurement.
func TestDemo_NoReads(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var out bytes.Buffer
	cfg := smallDemo()
	cfg.reads = 0
	if err := demo(context.Background(), cfg, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for line := range strings.Lines(out.String()) {
		if !strings.HasPrefix(line, "random ") {
			continue
		}
		rows++
		f := strings.Fields(line)
		// ... rate, seconds, maps, os.File rate, seconds, ratio
		if n := len(f); n < 6 || f[n-1] != "-" || f[n-3] != "-" || f[n-6] != "-" {
			t.Errorf("a phase of no reads shows a rate or a ratio: %q", line)
		}
	}
	if rows != 2 {
		t.Errorf("%d random-read rows, want 2:\n%s", rows, out.String())
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}

// TestDemo_HugeSizeChunkCount checks the chunk count the demo's first line
// gives for a -size near the largest one: the rounding up to whole chunks
// overflowed, and the line said "8.00 EiB in -140737488355327 chunks".
// The demo is stopped before it writes.
func TestDemo_HugeSizeChunkCount(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("test signal received"))
	cfg := smallDemo()
	cfg.size = math.MaxInt64 &^ 7
	var out bytes.Buffer
	if err := demo(ctx, cfg, &out, io.Discard); err == nil {
		t.Fatal("a stopped demo returned no error")
	}
	if want := " in 140737488355328 chunks of 64 KiB,"; !strings.Contains(out.String(), want) {
		t.Errorf("the demo's first line does not say %q:\n%s", want, out.String())
	}
}
