package chunkmap

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadAgain_ReaderFollowingNoWriter checks a read across chunks by a
// ReadOnly Manager that follows no writer (one opened on a version 1
// manifest), whose shrink epoch its own Refresh may move mid-read: a read
// the epoch moved under once is made again and returns the bytes whole;
// one it moves under on every try fails after followTries of them with
// ErrOutOfRange, naming the read, and returns no bytes.
func TestReadAgain_ReaderFollowingNoWriter(t *testing.T) {
	const cs = MinChunkSize
	dir := t.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 4*cs/16)
	if _, err := w.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Every chunk a miss that maps it in place of the one before, so each
	// chunk of a read takes the locked path, where the hook runs.
	r, err := Open(dir, &Options{ChunkSize: cs, ReadOnly: true, MaxMapped: 1, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.follows.Store(false) // as a reader of a version 1 manifest

	var calls int
	moves := 1
	readSlowHook = func() {
		if calls++; calls <= moves {
			r.shrinks.Add(1)
		}
	}
	defer func() { readSlowHook = nil }()
	p := make([]byte, 3*cs)
	if n, err := r.ReadAt(p, cs/2); n != len(p) || err != nil {
		t.Fatalf("ReadAt across chunks with the epoch moved once = %d, %v; want %d, nil", n, err, len(p))
	}
	if !bytes.Equal(p, data[cs/2:cs/2+3*cs]) {
		t.Fatal("ReadAt made again read other bytes than were written")
	}
	if calls < 2*3 {
		t.Errorf("%d locked reads for a read of 3 chunks moved under once, want it made again (6 or more)", calls)
	}

	calls, moves = 0, 1<<30
	n, err := r.ReadAt(p, cs/2)
	if n != 0 || !errors.Is(err, ErrOutOfRange) || !strings.Contains(err.Error(), "read ") || !strings.Contains(err.Error(), "tries") {
		t.Fatalf("ReadAt across chunks with the epoch moved on every try = %d, %v; want 0 and ErrOutOfRange naming the read and its tries", n, err)
	}
	if calls < followTries*3 {
		t.Errorf("%d locked reads before giving up, want %d tries of 3 chunks", calls, followTries)
	}
}

// TestReadAgain_WriterBesideGrowth checks that a writer's read that a
// shrink overtook is made again without waiting for resize, which a growth
// of many chunk files holds for writing as long as it makes them (see
// fileRun): it waited for the whole growth, seconds for thousands of files.
// The test holds resize for writing itself, as such a growth does, and
// moves the shrink epoch once during the read, as a Truncate that
// overtook it would; the read must return, whole, while resize is held.
// Overtaken again, the read waits for resize as before, and returns once
// it is let go of.
func TestReadAgain_WriterBesideGrowth(t *testing.T) {
	const cs = MinChunkSize
	// Every chunk a miss that maps it in place of the one before, so each
	// chunk of a read takes the locked path, where the hook runs.
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4*cs/16)
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	var always atomic.Bool
	readSlowHook = func() {
		if calls.Add(1) == 1 || always.Load() {
			m.shrinks.Add(1)
		}
	}
	defer func() { readSlowHook = nil }()

	read := func() <-chan error {
		done := make(chan error, 1)
		go func() {
			p := make([]byte, 3*cs)
			n, err := m.ReadAt(p, cs/2)
			if err == nil && (n != len(p) || !bytes.Equal(p, data[cs/2:cs/2+3*cs])) {
				err = errors.New("read other bytes than were written")
			}
			done <- err
		}()
		return done
	}
	m.resize.Lock()
	select {
	case err := <-read():
		m.resize.Unlock()
		if err != nil {
			t.Fatalf("ReadAt made again beside a growth: %v", err)
		}
	case <-time.After(10 * time.Second):
		m.resize.Unlock()
		t.Fatal("a read that a shrink overtook waited for resize, held for writing, before it was made again")
	}

	always.Store(true) // the first read and the one made again without resize
	m.resize.Lock()
	done := read()
	select {
	case err := <-done:
		m.resize.Unlock()
		t.Fatalf("ReadAt overtaken twice returned (%v) while resize was held for writing: a third try must hold it", err)
	case <-time.After(100 * time.Millisecond):
	}
	always.Store(false)
	m.resize.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("ReadAt overtaken twice, once resize was let go of: %v", err)
	}
}
