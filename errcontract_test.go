//go:build unix

package chunkmap_test

// This file checks the error contract (errors.go, README.md "Errors"): every
// exported call, through each failure it can have, returns an error that
// matches the expected sentinel with errors.Is, and whose message starts
// with the operation, names the length and the offset where the call has
// them, and names the directory or the file involved, each once. Run with
// -v to read every message. The failures that need Linux (a full tmpfs, a
// descriptor limit) are in errcontract_linux_test.go.

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

const ecChunk = chunkmap.MinChunkSize

// shape is what an error must be: the sentinel it matches, and the shape of
// its message.
type shape struct {
	want  error    // errors.Is(err, want)
	also  error    // and errors.Is(err, also), if not nil
	op    string   // the message starts with op and a space
	n     string   // the length it names ("4 bytes"); "" for a call without one
	off   string   // the offset it names ("at offset 12"); "" for a call without one
	paths []string // the directory or files it names, each once
	noDir bool     // a call on no directory (a zero Manager): "op: ...", not "op DIR: ..."
}

// ecCase is one failure of one call.
type ecCase struct {
	name string
	do   func() error
	shape
}

// runCases runs each case and checks its error.
func runCases(t *testing.T, cases []ecCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkShape(t, c.do(), c.shape)
		})
	}
}

// checkShape checks err against s and logs its message.
func checkShape(t *testing.T, err error, s shape) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want an error matching %v", s.want)
	}
	msg := err.Error()
	t.Logf("%s", msg)
	if !errors.Is(err, s.want) {
		t.Errorf("error %q does not match %v", msg, s.want)
	}
	if s.also != nil && !errors.Is(err, s.also) {
		t.Errorf("error %q does not match %v", msg, s.also)
	}
	if s.want != fs.ErrNotExist && !matchesSentinel(err) {
		t.Errorf("error %q matches no sentinel", msg)
	}
	// The place is the message up to the first ": ".
	head, _, _ := strings.Cut(msg, ": ")
	if !strings.HasPrefix(head, s.op+" ") && !(s.noDir && head == s.op) {
		t.Errorf("error %q does not start with the operation %q", msg, s.op)
	}
	if s.n != "" {
		if !strings.Contains(head, " "+s.n) {
			t.Errorf("error %q does not name the length %q at its start", msg, s.n)
		}
	} else if strings.Contains(head, " byte") {
		t.Errorf("error %q names a length, but the call has none", msg)
	}
	if s.off != "" {
		if !strings.Contains(head, " "+s.off) {
			t.Errorf("error %q does not name the offset %q at its start", msg, s.off)
		}
	} else if strings.Contains(head, "offset") {
		t.Errorf("error %q names an offset, but the call has none", msg)
	}
	if strings.Contains(msg, " 0 bytes at offset") && s.n != "0 bytes" {
		t.Errorf("error %q names 0 bytes", msg)
	}
	for _, p := range s.paths {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not name %s", msg, p)
		}
		for path, n := range pathsIn(msg, p) {
			if n > 1 {
				t.Errorf("error %q names %s %d times", msg, path, n)
			}
		}
	}
}

// pathsIn counts the paths in msg that start with prefix: each runs to the
// next space, colon, comma, semicolon, parenthesis or newline.
func pathsIn(msg, prefix string) map[string]int {
	counts := make(map[string]int)
	for rest := msg; ; {
		i := strings.Index(rest, prefix)
		if i < 0 {
			return counts
		}
		rest = rest[i:]
		end := strings.IndexAny(rest, " :,;()\n")
		if end < 0 {
			end = len(rest)
		}
		counts[rest[:end]]++
		rest = rest[len(prefix):]
	}
}

var allSentinels = []error{
	chunkmap.ErrClosed, chunkmap.ErrReadOnly, chunkmap.ErrOutOfRange, chunkmap.ErrCorrupt,
	chunkmap.ErrLocked, chunkmap.ErrInvalidOptions, chunkmap.ErrUnaligned, chunkmap.ErrNoSpace,
	chunkmap.ErrBusy, chunkmap.ErrFault, chunkmap.ErrIO, chunkmap.ErrSyncFailed,
	chunkmap.ErrLeftover,
}

// without returns cases without those named names.
func without(cases []ecCase, names ...string) []ecCase {
	var kept []ecCase
	for _, c := range cases {
		if !slices.Contains(names, c.name) {
			kept = append(kept, c)
		}
	}
	return kept
}

func matchesSentinel(err error) bool {
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// ecDataset opens a new dataset of 64 KiB chunks (and o's other options)
// in a fresh directory and writes size bytes to it with bulk writes, which
// leave the chunks unmapped. The Manager is closed when the test ends.
func ecDataset(t *testing.T, o chunkmap.Options, size int) (*chunkmap.Manager, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	if o.ChunkSize == 0 {
		o.ChunkSize = ecChunk
	}
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if size > 0 {
		if _, err := m.WriteAt(bytes.Repeat([]byte{0xa5}, size), 0); err != nil {
			t.Fatal(err)
		}
	}
	return m, dir
}

// faulty returns options whose Managers work through a new Faulty file
// system, and the Faulty.
func faulty() (chunkmap.Options, *vfstest.Faulty) {
	f := vfstest.NewFaulty(nil)
	o := chunkmap.Options{ChunkSize: ecChunk}
	chunkmap.SetFS(&o, f)
	return o, f
}

// managerCalls returns a case per method of m that takes no more than the
// offset 12 and 4 bytes, each expecting s with the call's operation,
// length and offset filled in; write selects the writing calls, read the
// others.
func managerCalls(m *chunkmap.Manager, s shape, read, write bool) []ecCase {
	p := make([]byte, 4)
	at := func(op, n, off string) shape {
		s := s
		s.op, s.n, s.off = op, n, off
		return s
	}
	var cases []ecCase
	add := func(isWrite bool, name string, do func() error, s shape) {
		if isWrite && write || !isWrite && read {
			cases = append(cases, ecCase{name, do, s})
		}
	}
	add(false, "ReadAt", func() error { _, err := m.ReadAt(p, 12); return err }, at("read", "4 bytes", "at offset 12"))
	add(false, "Pin", func() error { _, err := m.Pin(12, 4); return err }, at("pin", "4 bytes", "at offset 12"))
	add(false, "Gather", func() error { return m.Gather(p, []int64{12}, 4) }, at("gather", "4 bytes", "at offset 12"))
	add(false, "Advise", func() error { return m.Advise(12, 4, chunkmap.AdviceRandom) }, at("advise", "4 bytes", "at offset 12"))
	add(false, "LoadUint32", func() error { _, err := m.LoadUint32(12); return err }, at("atomic load", "4 bytes", "at offset 12"))
	add(false, "LoadUint64", func() error { _, err := m.LoadUint64(16); return err }, at("atomic load", "8 bytes", "at offset 16"))
	add(false, "Batch.Bytes", func() error {
		return m.Batch(func(b *chunkmap.Batch) error { _, err := b.Bytes(12, 4); return err })
	}, at("batch read", "4 bytes", "at offset 12"))
	add(false, "Batch.Hold", func() error {
		return m.Batch(func(b *chunkmap.Batch) error { return b.Hold(12, 4) })
	}, at("batch hold", "4 bytes", "at offset 12"))
	add(true, "WriteAt", func() error { _, err := m.WriteAt(p, 12); return err }, at("write", "4 bytes", "at offset 12"))
	add(true, "Append", func() error { _, err := m.Append(p); return err }, at("append", "4 bytes", ""))
	add(true, "Grow", func() error { return m.Grow(4) }, at("grow", "4 bytes", "at offset"))
	add(true, "Truncate", func() error { return m.Truncate(12) }, at("truncate", "", "at offset 12"))
	add(true, "DropBefore", func() error { return m.DropBefore(12) }, at("drop", "", "at offset 12"))
	add(true, "PinWritable", func() error { _, err := m.PinWritable(12, 4); return err }, at("pin", "4 bytes", "at offset 12"))
	add(true, "Scatter", func() error { return m.Scatter(p, []int64{12}, 4) }, at("scatter", "4 bytes", "at offset 12"))
	add(true, "StoreUint32", func() error { return m.StoreUint32(12, 1) }, at("atomic store", "4 bytes", "at offset 12"))
	add(true, "AddUint32", func() error { _, err := m.AddUint32(12, 1); return err }, at("atomic add", "4 bytes", "at offset 12"))
	add(true, "CompareAndSwapUint32", func() error { _, err := m.CompareAndSwapUint32(12, 0, 1); return err }, at("atomic compare-and-swap", "4 bytes", "at offset 12"))
	add(true, "StoreUint64", func() error { return m.StoreUint64(16, 1) }, at("atomic store", "8 bytes", "at offset 16"))
	add(true, "AddUint64", func() error { _, err := m.AddUint64(16, 1); return err }, at("atomic add", "8 bytes", "at offset 16"))
	add(true, "CompareAndSwapUint64", func() error { _, err := m.CompareAndSwapUint64(16, 0, 1); return err }, at("atomic compare-and-swap", "8 bytes", "at offset 16"))
	add(true, "Batch.WritableBytes", func() error {
		return m.Batch(func(b *chunkmap.Batch) error { _, err := b.WritableBytes(12, 4); return err })
	}, at("batch write", "4 bytes", "at offset 12"))
	add(true, "Batch.HoldWritable", func() error {
		return m.Batch(func(b *chunkmap.Batch) error { return b.HoldWritable(12, 4) })
	}, at("batch hold writable", "4 bytes", "at offset 12"))
	return cases
}

func TestErrorContract_Closed(t *testing.T) {
	m, dir := ecDataset(t, chunkmap.Options{}, 100)
	var kept *chunkmap.Batch
	if err := m.Batch(func(b *chunkmap.Batch) error { kept = b; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	closed := shape{want: chunkmap.ErrClosed, paths: []string{dir}}
	// Batch itself reports the closed Manager (below), before any
	// Batch method can.
	cases := without(managerCalls(m, closed, true, true), "Batch.Bytes", "Batch.WritableBytes", "Batch.Hold", "Batch.HoldWritable")
	whole := func(op string) shape { s := closed; s.op = op; return s }
	cases = append(cases,
		ecCase{"Close", m.Close, whole("close")},
		ecCase{"Sync", m.Sync, whole("sync")},
		ecCase{"Refresh", m.Refresh, whole("refresh")},
		ecCase{"Batch", func() error { return m.Batch(func(*chunkmap.Batch) error { return nil }) }, whole("batch")},
		ecCase{"Batch.Bytes after the function", func() error { _, err := kept.Bytes(12, 4); return err },
			shape{want: chunkmap.ErrClosed, op: "batch read", n: "4 bytes", off: "at offset 12"}},
		ecCase{"Batch.Hold after the function", func() error { return kept.Hold(12, 4) },
			shape{want: chunkmap.ErrClosed, op: "batch hold", n: "4 bytes", off: "at offset 12"}},
	)
	// Arguments that an open Manager refuses do not hide the closed one:
	// ErrClosed answers every call after Close.
	advise := func(off, n string) shape { s := closed; s.op, s.n, s.off = "advise", n, off; return s }
	cases = append(cases,
		ecCase{"Advise/unknown advice", func() error { return m.Advise(12, 4, chunkmap.Advice(99)) }, advise("at offset 12", "4 bytes")},
		ecCase{"Advise/negative offset", func() error { return m.Advise(-8, 4, chunkmap.AdviceNormal) }, advise("at offset -8", "4 bytes")},
		ecCase{"Advise/negative length", func() error { return m.Advise(12, -4, chunkmap.AdviceNormal) }, advise("at offset 12", "-4 bytes")},
		ecCase{"Batch/nil function", func() error { return m.Batch(nil) }, whole("batch")},
	)
	cases = append(cases, negativeLengths(m, closed)...)
	runCases(t, cases)
	// Code written for *os.File recognises a closed file by os.ErrClosed.
	for _, c := range cases {
		if err := c.do(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s after Close: %v does not match os.ErrClosed", c.name, err)
		}
	}
	if errors.Is(chunkmap.ErrIO, fs.ErrClosed) || !errors.Is(chunkmap.ErrClosed, chunkmap.ErrClosed) {
		t.Error("ErrClosed's match of fs.ErrClosed leaks to other sentinels, or ErrClosed no longer matches itself")
	}
}

// TestErrorContract_ZeroManager: a Manager that Open did not return is a
// closed one. Every method returns ErrClosed, as after Close, instead of
// panicking in Close or reading and writing files through a Manager with no
// directory (Truncate of a zero Manager used to try to create a chunk file
// in the working directory, DropBefore and Refresh returned nil, ReadAt
// io.EOF), and the message names no directory.
func TestErrorContract_ZeroManager(t *testing.T) {
	t.Chdir(t.TempDir()) // whatever a zero Manager might create lands here
	var m chunkmap.Manager
	closed := shape{want: chunkmap.ErrClosed, noDir: true}
	whole := func(op string) shape { s := closed; s.op = op; return s }
	cases := without(managerCalls(&m, closed, true, true), "Batch.Bytes", "Batch.WritableBytes", "Batch.Hold", "Batch.HoldWritable")
	cases = append(cases,
		ecCase{"Close", m.Close, whole("close")},
		ecCase{"Sync", m.Sync, whole("sync")},
		ecCase{"Refresh", m.Refresh, whole("refresh")},
		ecCase{"Batch", func() error { return m.Batch(func(*chunkmap.Batch) error { return nil }) }, whole("batch")},
	)
	cases = append(cases, negativeLengths(&m, closed)...)
	runCases(t, cases)
	for _, c := range cases {
		if msg := c.do().Error(); strings.Contains(msg, " in :") || strings.Contains(msg, "  ") {
			t.Errorf("%s: message %q names an empty directory", c.name, msg)
		}
	}
	if m.Size() != 0 || m.Start() != 0 || m.Stats() != (chunkmap.Stats{}) {
		t.Errorf("zero Manager: Size %d, Start %d, Stats %+v, want all zero", m.Size(), m.Start(), m.Stats())
	}
	// A deferred Close after a failed Open closes a nil *Manager.
	var nilm *chunkmap.Manager
	checkShape(t, nilm.Close(), whole("close"))
	if ents, err := os.ReadDir("."); err != nil || len(ents) != 0 {
		t.Errorf("the calls of a zero Manager left %v in the working directory (%v)", ents, err)
	}
}

// negativeLengths are calls given a negative length that check the Manager
// (closed, read-only) before the length: their messages name the length
// given, not 0.
func negativeLengths(m *chunkmap.Manager, s shape) []ecCase {
	grow, pin := s, s
	grow.op, grow.n, grow.off = "grow", "-1 bytes", "at offset"
	pin.op, pin.n, pin.off = "pin", "-4 bytes", "at offset 12"
	return []ecCase{
		{"Grow/negative", func() error { return m.Grow(-1) }, grow},
		{"PinWritable/negative", func() error { _, err := m.PinWritable(12, -4); return err }, pin},
	}
}

func TestErrorContract_ReadOnly(t *testing.T) {
	w, dir := ecDataset(t, chunkmap.Options{}, 3*ecChunk)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ro := shape{want: chunkmap.ErrReadOnly, paths: []string{dir}}
	// A Hold over several chunks is named as a whole, not by the part
	// that failed.
	across := ro
	across.op, across.n, across.off = "batch hold writable", "131080 bytes", "at offset 5"
	// A negative length is named as given, also where ErrReadOnly comes
	// before the check of the range.
	bw := ro
	bw.op, bw.n, bw.off = "batch write", "-4 bytes", "at offset 12"
	cases := append(managerCalls(m, ro, false, true),
		ecCase{"Batch.HoldWritable/across chunks", func() error {
			return m.Batch(func(b *chunkmap.Batch) error { return b.HoldWritable(5, 2*ecChunk+8) })
		}, across},
		ecCase{"Batch.WritableBytes/negative", func() error {
			return m.Batch(func(b *chunkmap.Batch) error { _, err := b.WritableBytes(12, -4); return err })
		}, bw})
	runCases(t, append(cases, negativeLengths(m, ro)...))
}

func TestErrorContract_OutOfRange(t *testing.T) {
	m, dir := ecDataset(t, chunkmap.Options{}, 3*ecChunk+100)
	if err := m.DropBefore(ecChunk); err != nil {
		t.Fatal(err)
	}
	size := int64(3*ecChunk + 100)
	oor := func(op, n, off string) shape {
		return shape{want: chunkmap.ErrOutOfRange, op: op, n: n, off: off, paths: []string{dir}}
	}
	p := make([]byte, 4)
	below := managerCalls(m, oor("", "", ""), true, false)
	for i := range below {
		below[i].name += "/below start"
	}
	runCases(t, append(below,
		ecCase{"ReadAt/negative", func() error { _, err := m.ReadAt(p, -1); return err }, oor("read", "4 bytes", "at offset -1")},
		ecCase{"ReadAt/overflow", func() error { _, err := m.ReadAt(p, math.MaxInt64-1); return err }, oor("read", "4 bytes", "at offset 9223372036854775806")},
		ecCase{"WriteAt/negative", func() error { _, err := m.WriteAt(p, -1); return err }, oor("write", "4 bytes", "at offset -1")},
		ecCase{"WriteAt/overflow", func() error { _, err := m.WriteAt(p, math.MaxInt64-1); return err }, oor("write", "4 bytes", "at offset 9223372036854775806")},
		ecCase{"WriteAt/below start", func() error { _, err := m.WriteAt(p, 12); return err }, oor("write", "4 bytes", "at offset 12")},
		ecCase{"Grow/negative", func() error { return m.Grow(-1) }, oor("grow", "-1 bytes", "at offset 196708")},
		ecCase{"Grow/overflow", func() error { return m.Grow(math.MaxInt64) }, oor("grow", "9223372036854775807 bytes", "at offset 196708")},
		ecCase{"Truncate/negative", func() error { return m.Truncate(-1) }, oor("truncate", "", "at offset -1")},
		ecCase{"Truncate/below start", func() error { return m.Truncate(12) }, oor("truncate", "", "at offset 12")},
		ecCase{"DropBefore/negative", func() error { return m.DropBefore(-1) }, oor("drop", "", "at offset -1")},
		ecCase{"DropBefore/past size", func() error { return m.DropBefore(size + 1) }, oor("drop", "", "at offset 196709")},
		ecCase{"Pin/negative length", func() error { _, err := m.Pin(ecChunk, -1); return err }, oor("pin", "-1 bytes", "at offset 65536")},
		ecCase{"Pin/past size", func() error { _, err := m.Pin(size-2, 4); return err }, oor("pin", "4 bytes", "at offset 196706")},
		ecCase{"Pin/overflow", func() error { _, err := m.Pin(math.MaxInt64-1, 4); return err }, oor("pin", "4 bytes", "at offset 9223372036854775806")},
		ecCase{"PinWritable/negative", func() error { _, err := m.PinWritable(-4, 4); return err }, oor("pin", "4 bytes", "at offset -4")},
		ecCase{"PinWritable/past size", func() error { _, err := m.PinWritable(size, 4); return err }, oor("pin", "4 bytes", "at offset 196708")},
		ecCase{"Batch.Bytes/past size", func() error {
			return m.Batch(func(b *chunkmap.Batch) error { _, err := b.Bytes(size-2, 4); return err })
		}, oor("batch read", "4 bytes", "at offset 196706")},
		ecCase{"Batch.WritableBytes/past size", func() error {
			return m.Batch(func(b *chunkmap.Batch) error { _, err := b.WritableBytes(size, 1); return err })
		}, oor("batch write", "1 byte", "at offset 196708")},
		ecCase{"Batch.Hold/past size", func() error {
			return m.Batch(func(b *chunkmap.Batch) error { return b.Hold(ecChunk, size) })
		}, oor("batch hold", "196708 bytes", "at offset 65536")},
		ecCase{"Batch.Hold/from past size", func() error {
			return m.Batch(func(b *chunkmap.Batch) error { return b.Hold(size+10, 3*ecChunk) })
		}, oor("batch hold", "196608 bytes", "at offset 196718")},
		ecCase{"Batch.Hold/below start across chunks", func() error {
			return m.Batch(func(b *chunkmap.Batch) error { return b.Hold(10, 3*ecChunk) })
		}, oor("batch hold", "196608 bytes", "at offset 10")},
		ecCase{"Batch.HoldWritable/negative", func() error {
			return m.Batch(func(b *chunkmap.Batch) error { return b.HoldWritable(ecChunk, -1) })
		}, oor("batch hold writable", "-1 bytes", "at offset 65536")},
		ecCase{"Gather/past size", func() error { return m.Gather(make([]byte, 16), []int64{ecChunk, size - 4}, 8) }, oor("gather", "8 bytes", "at offset 196704")},
		ecCase{"Gather/value size", func() error { return m.Gather(p, []int64{ecChunk}, 0) }, oor("gather", "0 bytes", "")},
		ecCase{"Gather/short buffer", func() error { return m.Gather(p, []int64{ecChunk}, 8) }, oor("gather", "8 bytes", "")},
		ecCase{"Scatter/below start", func() error { return m.Scatter(p, []int64{ecChunk, 8}, 2) }, oor("scatter", "2 bytes", "at offset 8")},
		ecCase{"Advise/negative length", func() error { return m.Advise(ecChunk, -1, chunkmap.AdviceRandom) }, oor("advise", "-1 bytes", "at offset 65536")},
		ecCase{"Advise/past size", func() error { return m.Advise(size-2, 4, chunkmap.AdviceRandom) }, oor("advise", "4 bytes", "at offset 196706")},
		ecCase{"Advise/unknown advice", func() error { return m.Advise(ecChunk, 4, chunkmap.Advice(99)) }, oor("advise", "4 bytes", "at offset 65536")},
		ecCase{"LoadUint64/past size", func() error { _, err := m.LoadUint64(size - 4); return err }, oor("atomic load", "8 bytes", "at offset 196704")},
		ecCase{"AddUint32/negative", func() error { _, err := m.AddUint32(-4, 1); return err }, oor("atomic add", "4 bytes", "at offset -4")},
		ecCase{"StoreUint64/past size", func() error { return m.StoreUint64(size+4, 1) }, oor("atomic store", "8 bytes", "at offset 196712")},
	))
	t.Run("ReadAt/past size", func(t *testing.T) {
		if _, err := m.ReadAt(p, size-2); err != io.EOF {
			t.Errorf("ReadAt past Size: err = %v, want io.EOF itself", err)
		}
	})
}

func TestErrorContract_Unaligned(t *testing.T) {
	m, dir := ecDataset(t, chunkmap.Options{}, 100)
	un := func(op, n, off string) shape {
		return shape{want: chunkmap.ErrUnaligned, op: op, n: n, off: off, paths: []string{dir}}
	}
	runCases(t, []ecCase{
		{"LoadUint32", func() error { _, err := m.LoadUint32(2); return err }, un("atomic load", "4 bytes", "at offset 2")},
		{"StoreUint32", func() error { return m.StoreUint32(3, 1) }, un("atomic store", "4 bytes", "at offset 3")},
		{"AddUint64", func() error { _, err := m.AddUint64(4, 1); return err }, un("atomic add", "8 bytes", "at offset 4")},
		{"CompareAndSwapUint64", func() error { _, err := m.CompareAndSwapUint64(12, 0, 1); return err }, un("atomic compare-and-swap", "8 bytes", "at offset 12")},
	})
}

func TestErrorContract_Open(t *testing.T) {
	openIn := func(dir string, o *chunkmap.Options) func() error {
		return func() error {
			m, err := chunkmap.Open(dir, o)
			if err == nil {
				m.Close()
			}
			return err
		}
	}
	open := func(want error, dir string, paths ...string) shape {
		return shape{want: want, op: "open", paths: append([]string{dir}, paths...)}
	}
	base := t.TempDir()
	file := filepath.Join(base, "file")
	writeFile(t, base, "file", "not a dataset")
	missing := filepath.Join(base, "missing")

	_, locked := ecDataset(t, chunkmap.Options{}, 100) // stays open

	garbled := filepath.Join(base, "garbled")
	writeFile(t, garbled, chunkmap.ManifestName, strings.Repeat("x", 4096))

	mfDir := filepath.Join(base, "manifest-dir")
	if err := os.MkdirAll(filepath.Join(mfDir, chunkmap.ManifestName), 0o755); err != nil {
		t.Fatal(err)
	}

	w, gap := ecDataset(t, chunkmap.Options{}, 3*ecChunk)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(gap, chunk.Name(1))); err != nil {
		t.Fatal(err)
	}

	w, sized := ecDataset(t, chunkmap.Options{}, 100)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	failing := func(op string, errno syscall.Errno) (string, *chunkmap.Options) {
		o, f := faulty()
		dir := filepath.Join(t.TempDir(), "ds")
		if op == vfstest.OpReadDir {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		f.Add(vfstest.Rule{Match: vfstest.OpOn(op, filepath.Base(dir)), Err: errno})
		return dir, &o
	}
	mkdirDir, mkdirOpts := failing(vfstest.OpMkdirAll, syscall.EACCES)
	lstatDir, lstatOpts := failing(vfstest.OpLstat, syscall.EACCES)
	readDirDir, readDirOpts := failing(vfstest.OpReadDir, syscall.EIO)

	cs := func(o chunkmap.Options) *chunkmap.Options { o.ChunkSize = ecChunk; return &o }
	runCases(t, []ecCase{
		{"regular file", openIn(file, nil), open(chunkmap.ErrCorrupt, file)},
		{"missing/ReadOnly", openIn(missing, &chunkmap.Options{ReadOnly: true}),
			shape{want: chunkmap.ErrReadOnly, also: fs.ErrNotExist, op: "open", paths: []string{missing}}},
		{"missing/ErrorIfNotExists", openIn(missing, &chunkmap.Options{ErrorIfNotExists: true}), open(fs.ErrNotExist, missing)},
		{"empty/ReadOnly", openIn(base, &chunkmap.Options{ReadOnly: true}),
			shape{want: chunkmap.ErrReadOnly, also: fs.ErrNotExist, op: "open", paths: []string{base}}},
		{"locked", openIn(locked, cs(chunkmap.Options{})), open(chunkmap.ErrLocked, locked)},
		{"garbled manifest", openIn(garbled, nil), open(chunkmap.ErrCorrupt, garbled, filepath.Join(garbled, chunkmap.ManifestName))},
		{"manifest is a directory", openIn(mfDir, nil), open(chunkmap.ErrCorrupt, mfDir, filepath.Join(mfDir, chunkmap.ManifestName))},
		{"manifest is a directory/ReadOnly", openIn(mfDir, &chunkmap.Options{ReadOnly: true}), open(chunkmap.ErrCorrupt, mfDir, filepath.Join(mfDir, chunkmap.ManifestName))},
		{"chunk missing", openIn(gap, nil), open(chunkmap.ErrCorrupt, gap, filepath.Join(gap, chunk.Name(1)))},
		{"invalid options", openIn(filepath.Join(base, "new"), &chunkmap.Options{ChunkSize: 1000}), open(chunkmap.ErrInvalidOptions, filepath.Join(base, "new"))},
		{"Scratch and ReadOnly", openIn(filepath.Join(base, "new"), &chunkmap.Options{Scratch: true, ReadOnly: true}), open(chunkmap.ErrInvalidOptions, filepath.Join(base, "new"))},
		{"other chunk size", openIn(sized, &chunkmap.Options{ChunkSize: 2 * ecChunk}), open(chunkmap.ErrInvalidOptions, sized)},
		{"mkdir permission denied", openIn(mkdirDir, mkdirOpts),
			shape{want: chunkmap.ErrIO, also: fs.ErrPermission, op: "open", paths: []string{mkdirDir}}},
		{"lstat permission denied", openIn(lstatDir, lstatOpts),
			shape{want: chunkmap.ErrIO, also: fs.ErrPermission, op: "open", paths: []string{lstatDir}}},
		{"readdir I/O error", openIn(readDirDir, readDirOpts),
			shape{want: chunkmap.ErrIO, also: syscall.EIO, op: "open", paths: []string{readDirDir}}},
	})
}

func TestErrorContract_Remove(t *testing.T) {
	base := t.TempDir()
	writeFile(t, base, "file", "not a dataset")
	_, locked := ecDataset(t, chunkmap.Options{}, 100) // stays open
	w, fifo := ecDataset(t, chunkmap.Options{}, 100)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(fifo, chunk.Name(5)), 0o755); err != nil {
		t.Fatal(err)
	}
	remove := func(want error, dir string) ecCase {
		return ecCase{filepath.Base(dir), func() error { return chunkmap.Remove(dir) },
			shape{want: want, op: "remove", paths: []string{dir}}}
	}
	runCases(t, []ecCase{
		remove(fs.ErrNotExist, filepath.Join(base, "missing")),
		remove(fs.ErrNotExist, base),
		remove(chunkmap.ErrCorrupt, filepath.Join(base, "file")),
		remove(chunkmap.ErrCorrupt, fifo),
		remove(chunkmap.ErrLocked, locked),
	})
}

func TestErrorContract_Batch(t *testing.T) {
	m, dir := ecDataset(t, chunkmap.Options{}, 100)
	runCases(t, []ecCase{
		{"nil function", func() error { return m.Batch(nil) },
			shape{want: chunkmap.ErrInvalidOptions, op: "batch", paths: []string{dir}}},
		{"Close in the function", func() error {
			var err error
			m.Batch(func(*chunkmap.Batch) error { err = m.Close(); return nil })
			return err
		}, shape{want: chunkmap.ErrBusy, op: "close", paths: []string{dir}}},
	})
}

// TestErrorContract_Fault truncates chunk 1 from outside, mapped and not,
// and reaches it through every kind of call.
func TestErrorContract_Fault(t *testing.T) {
	const off = ecChunk + 104 // in chunk 1, a multiple of 8
	m, dir := ecDataset(t, chunkmap.Options{MaxMapped: 8, NoAdmission: true}, 3*ecChunk)
	victim := filepath.Join(dir, chunk.Name(1))
	p := make([]byte, 8)
	fault := func(op, n, off string) shape {
		return shape{want: chunkmap.ErrFault, op: op, n: n, off: off, paths: []string{victim}}
	}
	calls := []ecCase{
		{"ReadAt", func() error { _, err := m.ReadAt(p, off); return err }, fault("read", "8 bytes", "at offset 65640")},
		{"WriteAt", func() error { _, err := m.WriteAt(p, off); return err }, fault("write", "8 bytes", "at offset 65640")},
		{"WriteAt/bulk", func() error { _, err := m.WriteAt(make([]byte, ecChunk), ecChunk); return err }, fault("write", "65536 bytes", "at offset 65536")},
		{"Gather", func() error { return m.Gather(p, []int64{off}, 8) }, fault("gather", "8 bytes", "at offset 65640")},
		{"Scatter", func() error { return m.Scatter(p, []int64{off}, 8) }, fault("scatter", "8 bytes", "at offset 65640")},
		{"LoadUint64", func() error { _, err := m.LoadUint64(off); return err }, fault("atomic load", "8 bytes", "at offset 65640")},
		{"CompareAndSwapUint32", func() error { _, err := m.CompareAndSwapUint32(off, 0, 1); return err }, fault("atomic compare-and-swap", "4 bytes", "at offset 65640")},
		{"Batch", func() error {
			return m.Batch(func(b *chunkmap.Batch) error {
				q, err := b.Bytes(off, 8)
				if err == nil {
					p[0] = q[0]
				}
				return err
			})
		}, fault("batch", "", "at offset 65640")},
	}
	// Mapped first, then truncated under the mapping.
	if _, err := m.ReadAt(p, off); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(victim, 0); err != nil {
		t.Fatal(err)
	}
	t.Run("mapped", func(t *testing.T) { runCases(t, calls) })

	// Unmapped: a reopened Manager finds the file short when it maps it.
	if err := os.Truncate(victim, ecChunk); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 8, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	m = m2 // the cases call through the variable
	if err := os.Truncate(victim, 0); err != nil {
		t.Fatal(err)
	}
	t.Run("unmapped", func(t *testing.T) {
		runCases(t, append(calls[:1],
			ecCase{"Pin", func() error { _, err := m.Pin(off, 8); return err }, fault("pin", "8 bytes", "at offset 65640")},
			ecCase{"PinWritable", func() error { _, err := m.PinWritable(off, 8); return err }, fault("pin", "8 bytes", "at offset 65640")},
			ecCase{"Advise", func() error { return m.Advise(off, 8, chunkmap.AdviceWillNeed) }, fault("advise", "8 bytes", "at offset 65640")},
		))
	})
}

// TestErrorContract_FaultInView faults in a Batch's private view: bytes
// across chunks 1 and 2, whose slots in an arena of two wrap around its
// end.
func TestErrorContract_FaultInView(t *testing.T) {
	m, dir := ecDataset(t, chunkmap.Options{ArenaSize: 2 * ecChunk}, 3*ecChunk)
	victim := filepath.Join(dir, chunk.Name(2))
	err := m.Batch(func(b *chunkmap.Batch) error {
		q, err := b.Bytes(2*ecChunk-8, 16)
		if err != nil {
			return err
		}
		if err := os.Truncate(victim, 0); err != nil {
			t.Fatal(err)
		}
		q[0] = q[12] // offset 2*ecChunk+4, in chunk 2
		return nil
	})
	checkShape(t, err, shape{want: chunkmap.ErrFault, op: "batch", off: "at offset 131076", paths: []string{victim}})
}

// TestErrorContract_IO makes the file system fail where no other sentinel
// applies: the error matches ErrIO and keeps the system's error.
func TestErrorContract_IO(t *testing.T) {
	o, f := faulty()
	o.MaxMapped, o.NoAdmission = 8, true
	m, dir := ecDataset(t, o, 3*ecChunk)
	// Opened again, the Manager has no chunk file open: a file that growth
	// kept open would serve the mapping that the open case below fails.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	file := func(i int64) string { return filepath.Join(dir, chunk.Name(i)) }
	emfile := func(name string) *vfstest.Rule {
		return f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpOpen, name), Err: syscall.EMFILE})
	}
	ioErr := func(op, n, off string, path string) shape {
		return shape{want: chunkmap.ErrIO, also: syscall.EMFILE, op: op, n: n, off: off, paths: []string{path}}
	}
	t.Run("open chunk", func(t *testing.T) {
		r := emfile(chunk.Name(2))
		defer f.Disarm(r)
		const off = 2*ecChunk + 16
		runCases(t, []ecCase{
			{"ReadAt", func() error { _, err := m.ReadAt(make([]byte, 4), off); return err }, ioErr("read", "4 bytes", "at offset 131088", file(2))},
			{"Pin", func() error { _, err := m.Pin(off, 4); return err }, ioErr("pin", "4 bytes", "at offset 131088", file(2))},
			{"AddUint64", func() error { _, err := m.AddUint64(off, 1); return err }, ioErr("atomic add", "8 bytes", "at offset 131088", file(2))},
			{"Batch.Bytes", func() error {
				return m.Batch(func(b *chunkmap.Batch) error { _, err := b.Bytes(off, 4); return err })
			}, ioErr("batch read", "4 bytes", "at offset 131088", file(2))},
		})
	})
	t.Run("create chunk", func(t *testing.T) {
		r := emfile(chunk.Name(3))
		defer f.Disarm(r)
		runCases(t, []ecCase{
			{"WriteAt", func() error { _, err := m.WriteAt(make([]byte, 4), 3*ecChunk+8); return err }, ioErr("write", "4 bytes", "at offset 196616", file(3))},
			{"Append", func() error { _, err := m.Append(make([]byte, 4)); return err }, ioErr("append", "4 bytes", "at offset 196608", file(3))},
			{"Grow", func() error { return m.Grow(1) }, ioErr("grow", "1 byte", "at offset 196608", file(3))},
			{"Truncate", func() error { return m.Truncate(3*ecChunk + 1) }, ioErr("truncate", "", "at offset 196609", file(3))},
		})
	})
	t.Run("sync", func(t *testing.T) {
		// A chunk written with pwrite is fsync'd through a descriptor
		// of its own: failing to open it fails this Sync only.
		if _, err := m.WriteAt(make([]byte, ecChunk), 0); err != nil {
			t.Fatal(err)
		}
		// Not through the file the pwrite left in the descriptor cache,
		// which Sync would use: by name.
		chunkmap.DropFileCache(m)
		r := emfile(chunk.Name(0))
		checkShape(t, m.Sync(), ioErr("sync", "", "", file(0)))
		f.Disarm(r)
		if err := m.Sync(); err != nil {
			t.Errorf("Sync after the failure: %v, want nil", err)
		}
		if _, err := m.WriteAt(make([]byte, ecChunk), 0); err != nil {
			t.Fatal(err)
		}
		chunkmap.DropFileCache(m)
		r = emfile(chunk.Name(0))
		defer f.Disarm(r)
		checkShape(t, m.Close(), ioErr("close", "", "", file(0)))
	})
}

// TestErrorContract_Sync checks what Sync and the calls after it report
// when an fsync fails (sticky), when another program removed a dirty chunk
// file, and when it removed the manifest.
func TestErrorContract_Sync(t *testing.T) {
	t.Run("fsync fails", func(t *testing.T) {
		o, f := faulty()
		m, dir := ecDataset(t, o, 3*ecChunk)
		f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, chunk.Name(1)), Err: syscall.EIO})
		sticky := func(op, n, off string) shape {
			return shape{want: chunkmap.ErrSyncFailed, also: syscall.EIO, op: op, n: n, off: off,
				paths: []string{dir, filepath.Join(dir, chunk.Name(1))}}
		}
		p := make([]byte, 4)
		runCases(t, []ecCase{
			{"Sync", m.Sync, sticky("sync", "", "")},
			{"Sync again", m.Sync, sticky("sync", "", "")},
			{"WriteAt", func() error { _, err := m.WriteAt(p, 12); return err }, sticky("write", "4 bytes", "at offset 12")},
			{"Append", func() error { _, err := m.Append(p); return err }, sticky("append", "4 bytes", "")},
			{"PinWritable", func() error { _, err := m.PinWritable(12, 4); return err }, sticky("pin", "4 bytes", "at offset 12")},
			{"Truncate", func() error { return m.Truncate(12) }, sticky("truncate", "", "at offset 12")},
			{"StoreUint32", func() error { return m.StoreUint32(12, 1) }, sticky("atomic store", "4 bytes", "at offset 12")},
			{"Close", m.Close, sticky("close", "", "")},
		})
	})
	t.Run("manifest fsync fails", func(t *testing.T) {
		o, f := faulty()
		m, dir := ecDataset(t, o, 3*ecChunk)
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, chunkmap.ManifestName), Err: syscall.EIO})
		checkShape(t, m.DropBefore(ecChunk), shape{want: chunkmap.ErrSyncFailed, also: syscall.EIO, op: "drop", off: "at offset 65536",
			paths: []string{filepath.Join(dir, chunkmap.ManifestName)}})
	})
	t.Run("chunk removed", func(t *testing.T) {
		m, dir := ecDataset(t, chunkmap.Options{}, 3*ecChunk)
		victim := filepath.Join(dir, chunk.Name(1))
		if err := os.Remove(victim); err != nil {
			t.Fatal(err)
		}
		checkShape(t, m.Sync(), shape{want: chunkmap.ErrFault, op: "sync", paths: []string{dir, victim}})
	})
	t.Run("manifest removed", func(t *testing.T) {
		m, dir := ecDataset(t, chunkmap.Options{}, 3*ecChunk)
		if err := m.Sync(); err != nil { // so that Truncate has a record to lower
			t.Fatal(err)
		}
		mf := filepath.Join(dir, chunkmap.ManifestName)
		if err := os.Remove(mf); err != nil {
			t.Fatal(err)
		}
		checkShape(t, m.Sync(), shape{want: chunkmap.ErrCorrupt, op: "sync", paths: []string{dir, mf}})
		checkShape(t, m.Truncate(12), shape{want: chunkmap.ErrCorrupt, op: "truncate", off: "at offset 12", paths: []string{mf}})
	})
}

// TestErrorContract_Refresh checks a reader that finds a chunk file the
// writer needs in a state no writer leaves it in, or cannot look.
func TestErrorContract_Refresh(t *testing.T) {
	w, dir := ecDataset(t, chunkmap.Options{}, ecChunk)
	o, f := faulty()
	o.ReadOnly = true
	r, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.WriteAt(make([]byte, ecChunk), ecChunk); err != nil { // creates chunk 1
		t.Fatal(err)
	}
	rule := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpLstat, chunk.Name(1)), Err: syscall.EACCES})
	file1 := filepath.Join(dir, chunk.Name(1))
	checkShape(t, r.Refresh(), shape{want: chunkmap.ErrIO, also: fs.ErrPermission, op: "refresh", paths: []string{dir, file1}})
	_, err = r.ReadAt(make([]byte, 4), ecChunk+8)
	checkShape(t, err, shape{want: chunkmap.ErrIO, also: fs.ErrPermission, op: "read", n: "4 bytes", off: "at offset 65544", paths: []string{file1}})
	f.Disarm(rule)
	if err := os.Truncate(file1, 100); err != nil {
		t.Fatal(err)
	}
	checkShape(t, r.Refresh(), shape{want: chunkmap.ErrCorrupt, op: "refresh", paths: []string{dir, file1}})
}

// TestErrorContract_NoSpace checks growth the free space cannot hold, which
// is refused before any file is created.
func TestErrorContract_NoSpace(t *testing.T) {
	m, dir := ecDataset(t, chunkmap.Options{}, 100)
	const far = 1 << 60
	ns := func(op, n, off string) shape {
		return shape{want: chunkmap.ErrNoSpace, op: op, n: n, off: off, paths: []string{dir}}
	}
	runCases(t, []ecCase{
		{"WriteAt", func() error { _, err := m.WriteAt(make([]byte, 4), far); return err }, ns("write", "4 bytes", "at offset 1152921504606846976")},
		{"Grow", func() error { return m.Grow(far) }, ns("grow", "1152921504606846976 bytes", "at offset 100")},
		{"Truncate", func() error { return m.Truncate(far) }, ns("truncate", "", "at offset 1152921504606846976")},
	})
}
