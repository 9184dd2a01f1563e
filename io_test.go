package chunkmap_test

// Tests of ReadAt, WriteAt, Append and the io helpers over a Manager.

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

func TestManager_ReadAt(t *testing.T) {
	m := newTestManager(t, nil)
	size := int64(3*cs + 100)
	data := pattern(3, int(size))
	writeAt(t, m, data, 0)
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		off     int64
		n       int
		wantN   int
		wantErr error
	}{
		{"inside", cs + 10, 100, 100, nil},
		{"straddle", 2*cs - 50, 100, 100, nil},
		{"from start", cs, 2 * cs, 2 * cs, nil},
		{"to size", size - 100, 100, 100, nil},
		{"whole", cs, int(size - cs), int(size - cs), nil},
		{"short at size", size - 10, 100, 10, io.EOF},
		{"short across chunks", 2*cs + 1, 2 * cs, int(size - 2*cs - 1), io.EOF},
		{"at size", size, 10, 0, io.EOF},
		{"past size", size + cs, 10, 0, io.EOF},
		{"empty", cs + 1, 0, 0, nil},
		{"empty at size", size, 0, 0, nil},
		{"below start", cs - 1, 1, 0, chunkmap.ErrOutOfRange},
		{"into start", cs - 1, 10, 0, chunkmap.ErrOutOfRange},
		{"zero", 0, 10, 0, chunkmap.ErrOutOfRange},
		{"negative", -1, 10, 0, chunkmap.ErrOutOfRange},
		{"negative empty", -1, 0, 0, chunkmap.ErrOutOfRange},
		{"min int64", math.MinInt64, 1, 0, chunkmap.ErrOutOfRange},
		{"end overflows", math.MaxInt64 - 5, 10, 0, chunkmap.ErrOutOfRange},
		{"ending at MaxInt64", math.MaxInt64 - 1, 1, 0, io.EOF},
		{"at MaxInt64", math.MaxInt64, 1, 0, chunkmap.ErrOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := bytes.Repeat([]byte{0xaa}, tc.n)
			n, err := m.ReadAt(p, tc.off)
			if n != tc.wantN {
				t.Errorf("ReadAt(%d bytes, %d) = %d bytes, want %d", tc.n, tc.off, n, tc.wantN)
			}
			if tc.wantErr == io.EOF {
				// io.ReaderAt: EOF itself, never wrapped.
				if err != io.EOF {
					t.Errorf("ReadAt(%d bytes, %d) error = %v, want io.EOF", tc.n, tc.off, err)
				}
			} else {
				wantErr(t, fmt.Sprintf("ReadAt(%d bytes, %d)", tc.n, tc.off), err, tc.wantErr)
			}
			if n > 0 && !bytes.Equal(p[:n], data[tc.off:tc.off+int64(n)]) {
				t.Errorf("ReadAt(%d bytes, %d) read other bytes than written", tc.n, tc.off)
			}
		})
	}
}

func TestManager_WriteAt(t *testing.T) {
	tests := []struct {
		name     string
		off      int64
		n        int
		wantErr  error
		wantSize int64 // after the write; the dataset starts at [cs, 2cs+100)
	}{
		{"inside", cs + 10, 100, nil, 2*cs + 100},
		{"to size", 2*cs + 50, 50, nil, 2*cs + 100},
		{"extend", 2*cs + 50, 100, nil, 2*cs + 150},
		{"at size", 2*cs + 100, 1, nil, 2*cs + 101},
		{"past size", 5 * cs, 10, nil, 5*cs + 10},
		{"straddle", 2*cs - 5, 10, nil, 2*cs + 100},
		{"at start", cs, 1, nil, 2*cs + 100},
		{"empty", cs + 1, 0, nil, 2*cs + 100},
		{"empty past size", 10 * cs, 0, nil, 2*cs + 100},
		{"empty below start", 0, 0, nil, 2*cs + 100},
		{"below start", cs - 1, 1, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"into start", cs - 5, 10, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"zero", 0, 10, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"negative", -1, 1, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"negative empty", -1, 0, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"min int64", math.MinInt64, 1, chunkmap.ErrOutOfRange, 2*cs + 100},
		{"end overflows", math.MaxInt64 - 5, 10, chunkmap.ErrOutOfRange, 2*cs + 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, nil)
			md := model{data: pattern(1, 2*cs+100)}
			writeAt(t, m, md.data, 0)
			if err := m.DropBefore(cs); err != nil {
				t.Fatal(err)
			}
			md.start = cs

			p := pattern(2, tc.n)
			n, err := m.WriteAt(p, tc.off)
			wantErr(t, fmt.Sprintf("WriteAt(%d bytes, %d)", tc.n, tc.off), err, tc.wantErr)
			if tc.wantErr != nil {
				if n != 0 {
					t.Errorf("failed WriteAt wrote %d bytes", n)
				}
			} else {
				if n != tc.n {
					t.Errorf("WriteAt(%d bytes, %d) = %d, want %d", tc.n, tc.off, n, tc.n)
				}
				md.writeAt(p, tc.off)
			}
			if got := m.Size(); got != tc.wantSize {
				t.Errorf("Size() = %d, want %d", got, tc.wantSize)
			}
			md.check(t, m)
			wantChunks := int((tc.wantSize+cs-1)/cs - 1)
			if got := m.Stats().Chunks; got != wantChunks {
				t.Errorf("Stats().Chunks = %d, want %d", got, wantChunks)
			}
			wantChunkFiles(t, m.Dir(), 1, int64(wantChunks)+1)
		})
	}
}

// TestManager_Straddle writes and reads every window that starts from 9
// bytes before a chunk boundary to 1 byte after it, with one chunk mapped
// at a time, so each access that crosses the boundary maps both chunks.
func TestManager_Straddle(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	var md model
	md.writeAt(pattern(1, 3*cs+50), 0)
	writeAt(t, m, md.data, 0)
	seed := uint64(100)
	for _, boundary := range []int64{cs, 2 * cs, 3 * cs} {
		for off := boundary - 9; off <= boundary+1; off++ {
			for _, n := range []int{1, 2, 8, 9, 10, 11, 16, cs + 3} {
				seed++
				p := pattern(seed, n)
				writeAt(t, m, p, off)
				md.writeAt(p, off)
				if got := readAt(t, m, off, n); !bytes.Equal(got, p) {
					t.Fatalf("ReadAt(%d bytes, %d) after WriteAt = %d-th byte differs", n, off, firstDiff(got, p))
				}
				// A read shifted by one sees the neighbours too.
				lo := max(off-1, 0)
				want := md.data[lo:min(off+int64(n)+1, int64(len(md.data)))]
				if got := readAt(t, m, lo, len(want)); !bytes.Equal(got, want) {
					t.Fatalf("ReadAt(%d bytes, %d) differs from the model at byte %d", len(want), lo, firstDiff(got, want))
				}
			}
		}
	}
	md.check(t, m)
	m = reopen(t, m, &chunkmap.Options{MaxMapped: 1})
	md.check(t, m)
}

// TestManager_WriteAtGap writes far past Size: every chunk in between is
// created, and the gap reads as zeros.
func TestManager_WriteAtGap(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	var md model
	head := pattern(1, 100)
	writeAt(t, m, head, 0)
	md.writeAt(head, 0)
	wantChunkFiles(t, m.Dir(), 0, 1)

	for _, step := range []struct {
		off    int64
		chunks int64
	}{
		{5*cs + 100, 6},
		{6 * cs, 7},      // exactly at a boundary, no gap chunk
		{21*cs - 10, 21}, // past index 0x0f: names must still sort
		{33 * cs, 34},
	} {
		p := pattern(uint64(step.off), 10)
		writeAt(t, m, p, step.off)
		md.writeAt(p, step.off)
		// chunkFiles lists in directory order, which is name order: it
		// must come out as the offset order with no hole.
		wantChunkFiles(t, m.Dir(), 0, step.chunks)
		if got := m.Stats().Chunks; got != int(step.chunks) {
			t.Errorf("Stats().Chunks = %d, want %d", got, step.chunks)
		}
		md.check(t, m)
	}
	m = reopen(t, m, nil)
	md.check(t, m)
}

// TestManager_ZeroLengthWrite checks that zero-length writes change nothing:
// not Size, not the chunk files, not the manifest.
func TestManager_ZeroLengthWrite(t *testing.T) {
	m := newTestManager(t, nil)
	writeAt(t, m, pattern(1, 100), 0)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, m.Dir())
	for _, off := range []int64{0, 50, 100, 101, cs, 10 * cs, math.MaxInt64} {
		if n, err := m.WriteAt(nil, off); n != 0 || err != nil {
			t.Errorf("WriteAt(nil, %d) = %d, %v, want 0, nil", off, n, err)
		}
		if n, err := m.WriteAt([]byte{}, off); n != 0 || err != nil {
			t.Errorf("WriteAt([]byte{}, %d) = %d, %v, want 0, nil", off, n, err)
		}
	}
	off, err := m.Append(nil)
	if off != 100 || err != nil {
		t.Errorf("Append(nil) = %d, %v, want 100, nil", off, err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := m.Size(); got != 100 {
		t.Errorf("Size() = %d, want 100", got)
	}
	wantSameSnapshot(t, before, snapshot(t, m.Dir()))
}

func TestManager_Append(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	var md model
	want := int64(0)
	for i, n := range []int{1, 10, cs - 11, 1, cs, 3*cs + 7, 5} {
		p := pattern(uint64(i), n)
		off, err := m.Append(p)
		if off != want || err != nil {
			t.Fatalf("Append(%d bytes) = %d, %v, want %d, nil", n, off, err, want)
		}
		md.writeAt(p, off)
		want += int64(n)
		md.check(t, m)
	}
	// After a DropBefore and a Truncate, appends continue at Size.
	if err := m.DropBefore(2 * cs); err != nil {
		t.Fatal(err)
	}
	md.start = 2 * cs
	if err := m.Truncate(4*cs + 3); err != nil {
		t.Fatal(err)
	}
	md.truncate(4*cs + 3)
	p := pattern(50, 100)
	if off, err := m.Append(p); off != 4*cs+3 || err != nil {
		t.Fatalf("Append after Truncate = %d, %v, want %d, nil", off, err, 4*cs+3)
	}
	md.writeAt(p, 4*cs+3)
	md.check(t, m)
	m = reopen(t, m, nil)
	md.check(t, m)
	if off, err := m.Append(p); off != int64(len(md.data)) || err != nil {
		t.Fatalf("Append after reopen = %d, %v, want %d, nil", off, err, len(md.data))
	}
	md.writeAt(p, int64(len(md.data)))
	md.check(t, m)
}

// TestManager_ReadOnly checks that every write through a ReadOnly Manager
// returns ErrReadOnly, that reads work, and that the session changes nothing
// on disk.
func TestManager_ReadOnly(t *testing.T) {
	dir, data := buildDataset(t)
	before := snapshot(t, dir)
	m := openTestManager(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1})
	if !m.ReadOnly() {
		t.Error("ReadOnly() = false")
	}
	p := []byte("x")
	writes := []struct {
		name string
		fn   func() error
	}{
		{"WriteAt", func() error { _, err := m.WriteAt(p, 0); return err }},
		{"WriteAt empty", func() error { _, err := m.WriteAt(nil, 0); return err }},
		{"WriteAt past size", func() error { _, err := m.WriteAt(p, 10*cs); return err }},
		{"Append", func() error { _, err := m.Append(p); return err }},
		{"Append empty", func() error { _, err := m.Append(nil); return err }},
		{"Grow", func() error { return m.Grow(cs) }},
		{"Truncate", func() error { return m.Truncate(cs) }},
		{"Truncate up", func() error { return m.Truncate(10 * cs) }},
		{"DropBefore", func() error { return m.DropBefore(cs) }},
		{"PinWritable", func() error { _, err := m.PinWritable(0, 1); return err }},
		{"Scatter", func() error { return m.Scatter(make([]byte, 16), []int64{0, 8}, 8) }},
		// Read-only comes before the arguments, as for WriteAt past Size.
		{"Scatter short src", func() error { return m.Scatter(make([]byte, 8), []int64{0, 8}, 8) }},
		{"Scatter bad value size", func() error { return m.Scatter(nil, []int64{0}, 0) }},
	}
	for _, w := range writes {
		wantErr(t, w.name, w.fn(), chunkmap.ErrReadOnly)
	}
	if err := m.Sync(); err != nil {
		t.Errorf("Sync on a ReadOnly Manager = %v, want nil", err)
	}
	md := model{data: data}
	md.check(t, m)
	pin, err := m.Pin(cs+10, 100)
	if err != nil {
		t.Fatalf("Pin on a ReadOnly Manager: %v", err)
	}
	if !bytes.Equal(pin.Bytes(), data[cs+10:cs+110]) {
		t.Error("read pin on a ReadOnly Manager holds other bytes")
	}
	pin.Release()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wantSameSnapshot(t, before, snapshot(t, dir))
}

// TestManager_IO checks the Manager with the standard library's io helpers.
func TestManager_IO(t *testing.T) {
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	var md model
	md.writeAt(pattern(1, 3*cs+500), 0)
	writeAt(t, m, md.data, 0)
	size := int64(len(md.data))
	sections := []struct {
		name   string
		off, n int64
	}{
		{"straddle", cs - 3000, 5000},
		{"to size", size - 4000, 4000},
		{"small", 2*cs - 1, 2},
		{"empty", 10, 0},
	}
	for _, s := range sections {
		t.Run("TestReader/"+s.name, func(t *testing.T) {
			r := io.NewSectionReader(m, s.off, s.n)
			if err := iotest.TestReader(r, md.data[s.off:s.off+s.n]); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("OffsetWriter", func(t *testing.T) {
		base := int64(2*cs - 700)
		w := io.NewOffsetWriter(m, base)
		var want []byte
		for i := range 5 {
			p := pattern(uint64(i+10), 333)
			if n, err := w.Write(p); n != len(p) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			want = append(want, p...)
		}
		if _, err := w.Seek(100, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		p := pattern(20, 50)
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		copy(want[100:], p)
		p = pattern(21, 2000)
		if _, err := w.WriteAt(p, int64(len(want))-5); err != nil {
			t.Fatal(err)
		}
		want = append(want[:len(want)-5], p...)
		md.writeAt(want, base)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(io.NewSectionReader(m, base, int64(len(want))), got); err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("read back through a SectionReader differs at byte %d", i)
		}
		md.check(t, m)
	})
	t.Run("Copy", func(t *testing.T) {
		src := pattern(30, 3*cs)
		off := m.Size() + 17
		if _, err := io.Copy(io.NewOffsetWriter(m, off), bytes.NewReader(src)); err != nil {
			t.Fatal(err)
		}
		md.writeAt(src, off)
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.NewSectionReader(m, 0, m.Size()+cs)); err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(buf.Bytes(), md.data); i >= 0 {
			t.Fatalf("io.Copy out of the Manager differs at byte %d", i)
		}
	})
}

// TestAppend_FailureLeavesSize checks that an Append or a WriteAt past
// Size whose write fails leaves Size where it was, and that the next
// Append takes the same offset: a failed write must not extend the dataset
// over bytes it never wrote.
func TestAppend_FailureLeavesSize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(m *chunkmap.Manager, p []byte) error
	}{
		{"append", func(m *chunkmap.Manager, p []byte) error { _, err := m.Append(p); return err }},
		{"writeat", func(m *chunkmap.Manager, p []byte) error { _, err := m.WriteAt(p, m.Size()); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := vfstest.NewFaulty(nil)
			o := chunkmap.Options{ChunkSize: chunkmap.MinChunkSize}
			chunkmap.SetFS(&o, f)
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &o)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.Append([]byte("head")); err != nil {
				t.Fatal(err)
			}
			// A write of a whole chunk goes to the chunk file by pwrite;
			// the rule fails it once.
			r := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpWrite, "*.chunk"), Times: 1})
			p := bytes.Repeat([]byte{0xab}, 2*chunkmap.MinChunkSize)
			if err := tc.write(m, p); err == nil || f.Fired(r) == 0 {
				t.Fatalf("write with a failing pwrite: err %v, rule fired %d times; want an error", err, f.Fired(r))
			}
			if got := m.Size(); got != 4 {
				t.Fatalf("Size after the failed write = %d, want 4", got)
			}
			off, err := m.Append([]byte("tail"))
			if err != nil || off != 4 {
				t.Fatalf("Append after the failed write = %d, %v; want 4, nil", off, err)
			}
			got := make([]byte, 8)
			if _, err := m.ReadAt(got, 0); err != nil || string(got) != "headtail" {
				t.Fatalf("ReadAt(0, 8) = %q, %v; want \"headtail\"", got, err)
			}
		})
	}
}

// TestFileIO_PanicLetsCloseReturn makes a chunk file's pread or pwrite
// panic, recovers the panic as a server would, and checks that the
// Manager stays usable, that Truncate and Close return, and that Close
// leaves no chunk file open: a pwrite, a descriptor reference or a lock
// left held by the unwinding call would make Truncate or Close wait for
// ever, or keep the file open.
func TestFileIO_PanicLetsCloseReturn(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, tc := range []struct {
		name string
		op   string
		do   func(m *chunkmap.Manager) error
	}{
		// A growth write of whole chunks goes to the chunk files by
		// pwrite.
		{"pwrite", vfstest.OpWrite, func(m *chunkmap.Manager) error {
			_, err := m.WriteAt(bytes.Repeat([]byte{0xab}, 2*cs), m.Size())
			return err
		}},
		// With MaxMapped 1 and chunk 0 mapped, admission serves a read
		// of chunk 2 by pread, and a Scatter to it by pwrite, on the
		// path that holds resize.
		{"pread", vfstest.OpRead, func(m *chunkmap.Manager) error {
			_, err := m.ReadAt(make([]byte, 8), 2*cs)
			return err
		}},
		{"scatter", vfstest.OpWrite, func(m *chunkmap.Manager) error {
			return m.Scatter(make([]byte, 8), []int64{2 * cs}, 8)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := vfstest.NewFaulty(nil)
			m, dir := openOnFSUnclosed(t, f, chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
			if _, err := m.WriteAt(pattern(5, 3*cs), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := m.ReadAt(make([]byte, 8), 0); err != nil {
				t.Fatal(err)
			}
			r := f.Add(vfstest.Rule{Match: vfstest.OpOn(tc.op, "*.chunk"), Mode: vfstest.Panic, Times: 1})
			recovered := func() (v any) {
				defer func() { v = recover() }()
				tc.do(m)
				return nil
			}()
			if recovered == nil || f.Fired(r) != 1 {
				t.Fatalf("%s through a panicking file: recovered %v, rule fired %d times; want the panic", tc.name, recovered, f.Fired(r))
			}
			if err := tc.do(m); err != nil {
				t.Fatalf("%s again, with the file system healthy: %v", tc.name, err)
			}
			nilWithin(t, "Truncate after the recovered panic", func() error { return m.Truncate(3 * cs) })
			nilWithin(t, "Close after the recovered panic", m.Close)
			if open, ok := probeFDsUnder(dir); ok && len(open) > 0 {
				t.Fatalf("after Close, the process still holds open %q", open)
			}
		})
	}
}

// TestFileIO_PanickedPwriteIsSynced checks that a pwrite whose file system
// panicked marks its chunk for the next Sync, as a pwrite that returned
// does: the file system may have written part of the bytes first. A Skip
// rule on the chunk file's fsync counts the fsyncs Sync makes of it.
func TestFileIO_PanickedPwriteIsSynced(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	f := vfstest.NewFaulty(nil)
	m, _ := openOnFSUnclosed(t, f, chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	defer m.Close()
	if _, err := m.WriteAt(pattern(5, 3*cs), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	// A value of a Scatter goes to chunk 2 by pwrite, since admission
	// refuses it a mapping while chunk 0 is mapped (MaxMapped 1).
	if _, err := m.ReadAt(make([]byte, 8), 0); err != nil {
		t.Fatal(err)
	}
	r := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpWrite, chunkName(2)), Mode: vfstest.Panic, Times: 1})
	func() {
		defer func() { recover() }()
		m.Scatter(make([]byte, 8), []int64{2*cs + 8}, 8)
	}()
	if f.Fired(r) != 1 {
		t.Fatal("the Scatter's pwrite to chunk 2 was never tried")
	}
	synced := f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, chunkName(2)), Mode: vfstest.Skip})
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if f.Fired(synced) == 0 {
		t.Fatal("Sync made no fsync of chunk 2 after a pwrite to it panicked")
	}
}

// TestAppend_ReturnsCovered checks that every Append returns only once
// Size covers it, also when an earlier, longer Append is still writing:
// otherwise a crash (or a Sync) right after it returned would lose it.
func TestAppend_ReturnsCovered(t *testing.T) {
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	big := make([]byte, 4<<20)
	small := make([]byte, 100)
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range 40 {
				p := small
				if (g+i)%4 == 0 {
					p = big
				}
				off, err := m.Append(p)
				if err != nil {
					errs <- err
					return
				}
				if size := m.Size(); size < off+int64(len(p)) {
					errs <- fmt.Errorf("Append of %d bytes returned offset %d with Size %d: not covered", len(p), off, size)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadAtOvertakenByTruncate reads the whole dataset while another
// goroutine shrinks and regrows it: a read that a Truncate overtakes must
// end at the new Size with io.EOF, as a file's read does, never fail with
// ErrOutOfRange (Start stays 0) or return more than it asked for.
func TestReadAtOvertakenByTruncate(t *testing.T) {
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const full = 8 * cs
	writeAt(t, m, pattern(9, full), 0)
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() {
		for !stop.Load() {
			for _, size := range []int64{cs, full} {
				if err := m.Truncate(size); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	p := make([]byte, full)
	var short int
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		n, err := m.ReadAt(p, 0)
		switch {
		case err == nil && n == full:
		case err == io.EOF && n < full:
			short++
		default:
			stop.Store(true)
			<-done
			t.Fatalf("ReadAt(%d bytes at 0) beside a shrinking Truncate = %d, %v; want %d, nil or fewer and io.EOF", full, n, err, full)
		}
	}
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads ended early at a new Size", short)
}

// TestReadAtOvertakenEndsAtNewSize truncates a 1 MiB dataset of one chunk
// to 512 KiB as a 1 MiB read of it takes its locked path: the read must
// end at the new Size, with its 512 KiB and io.EOF, not where it was when
// the Truncate overtook it.
func TestReadAtOvertakenEndsAtNewSize(t *testing.T) {
	const big = 1 << 20
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: big, MaxMapped: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	data := pattern(4, big)
	writeAt(t, m, data, 0)
	fired := false
	chunkmap.SetReadSlowHook(func() {
		if !fired {
			fired = true
			if err := m.Truncate(big / 2); err != nil {
				t.Error(err)
			}
		}
	})
	defer chunkmap.SetReadSlowHook(nil)
	p := make([]byte, big)
	n, err := m.ReadAt(p, 0)
	if !fired {
		t.Fatal("the read did not take its locked path")
	}
	if n != big/2 || err != io.EOF || !bytes.Equal(p[:n], data[:n]) {
		t.Fatalf("ReadAt(%d bytes at 0) overtaken by Truncate(%d) = %d, %v (bytes equal: %v); want %d, io.EOF",
			big, big/2, n, err, bytes.Equal(p[:n], data[:n]), big/2)
	}
}
