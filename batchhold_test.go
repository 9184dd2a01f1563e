package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestBatchHold_Errors: Hold and HoldWritable refuse what Bytes and
// WritableBytes refuse, with an error that names the call, the range and
// the sentinel, and accept an empty range at a valid offset.
func TestBatchHold_Errors(t *testing.T) {
	m, cs := openWindowed(t, 4)
	size := m.Size()
	tests := []struct {
		name   string
		off, n int64
		write  bool
		want   error
		msg    string // a part of the message
	}{
		{"whole", 0, size, false, nil, ""},
		{"whole writable", 0, size, true, nil, ""},
		{"empty", cs, 0, false, nil, ""},
		{"one byte at the end", size - 1, 1, true, nil, ""},
		{"negative length", 0, -1, false, chunkmap.ErrOutOfRange, "batch hold -1 bytes at offset 0"},
		{"negative offset", -5, 10, true, chunkmap.ErrOutOfRange, "batch hold writable 10 bytes at offset -5"},
		{"end overflows", 1, math.MaxInt64, false, chunkmap.ErrOutOfRange, "end overflows int64"},
		{"past size", cs, size, false, chunkmap.ErrOutOfRange, "past size"},
		{"empty at size", size, 0, false, chunkmap.ErrOutOfRange, "past size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := m.Batch(func(b *chunkmap.Batch) error {
				if tc.write {
					return b.HoldWritable(tc.off, tc.n)
				}
				return b.Hold(tc.off, tc.n)
			})
			if !errors.Is(err, tc.want) || (err != nil && !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("Hold(%d, %d): %v, want %v with %q", tc.off, tc.n, err, tc.want, tc.msg)
			}
		})
	}

	var zero chunkmap.Batch
	if err := zero.Hold(0, 8); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Hold on a zero Batch: %v, want ErrClosed", err)
	}
	var ended *chunkmap.Batch
	if err := m.Batch(func(b *chunkmap.Batch) error { ended = b; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := ended.HoldWritable(0, 8); !errors.Is(err, chunkmap.ErrClosed) || !strings.Contains(err.Error(), "used after its function returned") {
		t.Errorf("HoldWritable after the batch ended: %v, want ErrClosed naming the misuse", err)
	}

	ro, err := chunkmap.Open(m.Dir(), &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	err = ro.Batch(func(b *chunkmap.Batch) error {
		if err := b.Hold(0, size); err != nil {
			return err
		}
		return b.HoldWritable(0, 8)
	})
	if !errors.Is(err, chunkmap.ErrReadOnly) {
		t.Errorf("HoldWritable on a ReadOnly Manager: %v, want ErrReadOnly", err)
	}
	// The Manager's state is checked before the range, as Bytes and Pin
	// check it: a bad range on a ReadOnly or closed Manager names that.
	err = ro.Batch(func(b *chunkmap.Batch) error { return b.HoldWritable(-1, 8) })
	if !errors.Is(err, chunkmap.ErrReadOnly) {
		t.Errorf("HoldWritable(-1, 8) on a ReadOnly Manager: %v, want ErrReadOnly", err)
	}
	err = ro.Batch(func(b *chunkmap.Batch) error {
		if err := ro.Close(); err != nil {
			t.Logf("Close inside the batch: %v", err) // ErrBusy: the batch is open
		}
		return b.Hold(-1, -1)
	})
	if !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("Hold(-1, -1) after Close: %v, want ErrClosed", err)
	}
}

// TestBatchHold_BoundAndRelease: a Hold keeps every chunk of its range
// mapped while the batch runs, beyond MaxMapped, counted in Pinned; once
// the batch ends they are let go, and reads elsewhere bring the mapped
// chunks back within MaxMapped.
func TestBatchHold_BoundAndRelease(t *testing.T) {
	const cs, chunks, maxMapped = chunkmap.MinChunkSize, 12, 2
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := make([]byte, chunks*cs)
	for i := range want {
		want[i] = byte(i*7 + i>>16)
	}
	if _, err := m.Append(want); err != nil {
		t.Fatal(err)
	}
	err = m.Batch(func(b *chunkmap.Batch) error {
		if err := b.Hold(cs/2, (chunks-1)*cs); err != nil {
			return err
		}
		if st := m.Stats(); st.Mapped < chunks || st.Pinned < chunks {
			t.Errorf("inside the batch after Hold of all %d chunks: Mapped %d, Pinned %d", chunks, st.Mapped, st.Pinned)
		}
		p, err := b.Bytes(0, chunks*cs)
		if err != nil {
			return err
		}
		if !bytes.Equal(p, want) {
			t.Error("the held range reads other bytes than were appended")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("after the batch: Pinned %d, want 0", st.Pinned)
	}
	buf := make([]byte, 8)
	for i := range int64(chunks) {
		if _, err := m.ReadAt(buf, i*cs); err != nil {
			t.Fatal(err)
		}
	}
	if st := m.Stats(); st.Mapped > maxMapped {
		t.Errorf("after the batch and a read of each chunk: Mapped %d, want at most MaxMapped %d", st.Mapped, maxMapped)
	}
}

// TestBatchHold_WritableStoresPersist: stores through WritableBytes after
// HoldWritable of the range are made durable by Sync and read back after
// the Manager is opened again.
func TestBatchHold_WritableStoresPersist(t *testing.T) {
	m, cs := openWindowed(t, 6)
	size := m.Size()
	err := m.Batch(func(b *chunkmap.Batch) error {
		if err := b.HoldWritable(cs-3, size-cs); err != nil {
			return err
		}
		for off := cs - 3; off < size-8; off += cs / 2 {
			p, err := b.WritableBytes(off, 8)
			if err != nil {
				return err
			}
			copy(p, "HOLDHOLD")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	m2 := reopen(t, m, nil)
	buf := make([]byte, 8)
	for off := cs - 3; off < size-8; off += cs / 2 {
		if _, err := m2.ReadAt(buf, off); err != nil || string(buf) != "HOLDHOLD" {
			t.Fatalf("after reopening, %d reads %q (%v), want HOLDHOLD", off, buf, err)
		}
	}
}

// TestBatchHold_TruncatedMidway: a Truncate between a Hold's holds and its
// checks (run from the hook there) ends the Hold with ErrOutOfRange naming
// the whole range asked for, and the batch goes on working within the new
// Size: where the range's chunks lie side by side in the arena, held in one
// go, and where the arena is too small for them, between two parts.
func TestBatchHold_TruncatedMidway(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, tc := range []struct {
		name     string
		arena    int64
		truncAt  int // the hook call that truncates
		wantHook int // the hook calls the Hold makes
	}{
		{"side by side", 0, 1, 1},
		{"part by part", 4 * cs, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 8, NoAdmission: true, ArenaSize: tc.arena})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for i := range 6 {
				if _, err := m.Append(bytes.Repeat([]byte{byte('a' + i)}, cs)); err != nil {
					t.Fatal(err)
				}
			}
			calls := 0
			chunkmap.SetBatchHeldHook(func() {
				if calls++; calls == tc.truncAt {
					if err := m.Truncate(2 * cs); err != nil {
						t.Error(err)
					}
				}
			})
			defer chunkmap.SetBatchHeldHook(nil)
			err = m.Batch(func(b *chunkmap.Batch) error {
				err := b.Hold(100, 5*cs)
				if want := fmt.Sprintf("batch hold %d bytes at offset 100", 5*cs); !errors.Is(err, chunkmap.ErrOutOfRange) || !strings.Contains(err.Error(), want) {
					t.Errorf("Hold across a Truncate: %v, want ErrOutOfRange naming %q", err, want)
				}
				if calls != tc.wantHook {
					t.Errorf("the Hold reached its checks %d times, want %d", calls, tc.wantHook)
				}
				p, err := b.Bytes(cs, int(cs))
				if err != nil {
					return err
				}
				if !bytes.Equal(p, bytes.Repeat([]byte{'b'}, int(cs))) {
					t.Error("chunk 1 reads other bytes after the Truncate")
				}
				_, err = b.Bytes(2*cs, 1)
				if !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("Bytes past the new Size: %v, want ErrOutOfRange", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
