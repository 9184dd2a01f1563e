package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/exampletest"
)

func TestHugeArray(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var out bytes.Buffer
	// 2.4 MB in 64 KiB chunks with 4 mapped: ten times the mapped window.
	args := []string{"-n", "300000", "-chunk", "64Ki", "-max-mapped", "4", "-batch", "10000", "-probes", "2000"}
	if err := run(args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	for _, want := range []string{"fill (WriteUint64s)", "sync", "matches what was written", "all 2000 probes correct"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not contain %q:\n%s", want, &out)
		}
	}
	m := regexp.MustCompile(`stats: chunks (\d+), mapped (\d+), pinned \d+, hits \d+, misses (\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no stats line in\n%s", &out)
	}
	if chunks, _ := strconv.Atoi(m[1]); chunks != 37 { // ceil(300000*8 / 65536)
		t.Errorf("%d chunks, want 37", chunks)
	}
	if mapped, _ := strconv.Atoi(m[2]); mapped > 4 {
		t.Errorf("%d chunks mapped, want at most 4", mapped)
	}
	// Ten times the mapped window: about nine probes in ten miss it, and
	// are read with pread (admission keeps the mapped chunks under
	// uniform probes rather than remap).
	if misses, _ := strconv.Atoi(m[3]); misses < 1000 {
		t.Errorf("%d misses, want most of the 2000 probes in an array ten times the mapped window", misses)
	}
	if entries, _ := os.ReadDir(os.Getenv("TMPDIR")); len(entries) != 0 {
		t.Errorf("the example left %d entries in its temporary directory", len(entries))
	}
}

func TestHugeArray_Dir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "arr")
	var out bytes.Buffer
	if err := run([]string{"-dir", dir, "-n", "20000", "-chunk", "64Ki", "-probes", "10"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.Size(); got != 20000*8 {
		t.Errorf("kept dataset: Size() = %d, want %d", got, 20000*8)
	}
	if err := run([]string{"-dir", dir, "-n", "10"}, &out); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("run in a non-empty dir: %v, want an error", err)
	}
}

func TestParseCount(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"10", 10, false},
		{"512Mi", 512 << 20, false},
		{"64Ki", 64 << 10, false},
		{"2Gi", 2 << 30, false},
		{"64KiB", 64 << 10, false},
		{"64 kib", 64 << 10, false},
		{"1.5Ki", 1536, false},
		{"1MB", 1_000_000, false},
		{"0x100", 256, false},
		{"x", 0, true},
		{"-5", 0, true},
		{"0.1Ki", 0, true},
		{"8Ei", 0, true},
	}
	for _, tc := range tests {
		got, err := parseCount(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseCount(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestRun_Flags(t *testing.T) {
	exampletest.Flags(t, run, []exampletest.FlagCase{
		{Name: "-h", Args: []string{"-h"}, WantOut: "Usage: go run ./examples/hugearray"},
		{Name: "-help", Args: []string{"-help"}, WantOut: "-max-mapped"},
		{Name: "unknown flag", Args: []string{"-nope"}, WantErr: "flag provided but not defined: -nope (-h prints the flags)"},
		{Name: "bad -n", Args: []string{"-n", "0.1Ki"}, WantErr: `-n: invalid size "0.1Ki": not a whole number of bytes`},
		{Name: "bad -chunk", Args: []string{"-chunk", "64XB"}, WantErr: `-chunk: invalid size "64XB": unknown unit`},
		{Name: "huge -n", Args: []string{"-n", "2Ei"}, WantErr: "overflow int64 offsets"},
		// Each value the program or the library refuses, or replaces with
		// a default, is named with its flag before a dataset is made.
		{Name: "zero -n", Args: []string{"-n", "0"}, WantErr: "-n 0: want at least 1"},
		{Name: "zero -chunk", Args: []string{"-chunk", "0"}, WantErr: "-chunk 0: want a power of two from 64KiB to 2GiB"},
		{Name: "odd -chunk", Args: []string{"-chunk", "1000"}, WantErr: "-chunk 1000: want a power of two from 64KiB to 2GiB"},
		{Name: "huge -chunk", Args: []string{"-chunk", "4Gi"}, WantErr: "-chunk 4Gi: want a power of two"},
		{Name: "zero -max-mapped", Args: []string{"-max-mapped", "0"}, WantErr: "-max-mapped 0: want at least 1"},
		{Name: "zero -batch", Args: []string{"-batch", "0"}, WantErr: "-batch 0: want at least 1"},
		{Name: "negative -probes", Args: []string{"-probes", "-1"}, WantErr: "-probes -1: want at least 0"},
		// The flag package stops at the first argument that is no flag:
		// "hugearray extra -n 64Ki" ignored -n and built the default
		// 4 GiB array.
		{Name: "argument", Args: []string{"-n", "64Ki", "-chunk", "64KiB", "-probes", "0", "extra"}, WantErr: `unexpected argument "extra" (-h prints the flags)`},
	})
}

// TestRun_HugeMaxMapped checks that a -max-mapped whose window, that many
// chunks, overflows int64 bytes is refused with its flag before a dataset
// is made: the header printed the window as a negative size ("at most
// 9223372036854775807 mapped (-64 KiB)"). Only a 64-bit int holds such a
// count.
func TestRun_HugeMaxMapped(t *testing.T) {
	if strconv.IntSize < 64 {
		t.Skipf("a %d-bit int holds no -max-mapped whose window overflows int64", strconv.IntSize)
	}
	exampletest.Flags(t, run, []exampletest.FlagCase{{
		Name:    "huge -max-mapped",
		Args:    []string{"-n", "64Ki", "-chunk", "64KiB", "-probes", "0", "-max-mapped", strconv.Itoa(math.MaxInt)},
		WantErr: fmt.Sprintf("-max-mapped %d: ", math.MaxInt),
	}})
}

// TestRun_HugeBatch checks that a -batch whose buffer no allocation can
// hold is refused with its flag before a dataset is made: the example
// printed its header and then died in make ("panic: runtime error:
// makeslice: len out of range", exit status 2). Only a 64-bit int holds
// such a count.
func TestRun_HugeBatch(t *testing.T) {
	if strconv.IntSize < 64 {
		t.Skipf("a %d-bit int holds no -batch whose buffer overflows an allocation", strconv.IntSize)
	}
	exampletest.Flags(t, run, []exampletest.FlagCase{{
		Name:    "huge -batch",
		Args:    []string{"-n", "1Pi", "-chunk", "64KiB", "-probes", "0", "-batch", strconv.FormatInt(1<<50, 10)},
		WantErr: fmt.Sprintf("-batch %d: want at most ", int64(1<<50)),
	}})
}

// TestMain_Help checks that -h prints the usage and exits with status 0.
func TestMain_Help(t *testing.T) {
	exampletest.Help(t, "hugearray", main, "Usage: go run ./examples/hugearray")
}

// TestMain_ClosedOutput checks that a closed standard output (hugearray |
// true) stops the example quietly with status 1 and that it removes its
// temporary directory, where SIGPIPE used to kill it at its first write
// and leave the directory behind.
func TestMain_ClosedOutput(t *testing.T) {
	exampletest.ClosedOutput(t, "hugearray", main, []string{"-n", "64Ki", "-chunk", "64KiB", "-probes", "1000"})
}

// TestMain_Signals checks that SIGINT, SIGTERM and SIGHUP stop the example
// with status 1, saying so, and that it removes its temporary directory.
func TestMain_Signals(t *testing.T) {
	// A billion probes: the example is still running when the signal
	// comes, whenever that is.
	exampletest.Signals(t, "hugearray", main, []string{"-n", "64Ki", "-chunk", "64KiB", "-probes", "1000000000"})
}

// TestMissLine checks that the probes' summary names only what happened:
// no "the rest were read with pread" when there is no rest.
func TestMissLine(t *testing.T) {
	tests := []struct {
		misses, maps, unmaps int64
		want                 string
	}{
		{0, 0, 0, "every probe hit a mapped chunk"},
		{5, 5, 2, "5 missed the mapped chunks and mapped their chunk (2 unmapped another)"},
		{7, 0, 0, "7 missed the mapped chunks and were read with pread"},
		{9, 3, 1, "9 missed the mapped chunks: 3 of those mapped their chunk (1 unmapped another), the rest were read with pread"},
	}
	for _, tt := range tests {
		if got := missLine(tt.misses, tt.maps, tt.unmaps); got != tt.want {
			t.Errorf("missLine(%d, %d, %d) = %q, want %q", tt.misses, tt.maps, tt.unmaps, got, tt.want)
		}
	}
}
