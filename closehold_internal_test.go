package chunkmap

import (
	"errors"
	"testing"
	"time"
)

// TestWritableHold_CloseBetweenCheckAndCount begins a Close in the instant
// between a writable hold's check that the Manager is open and the count
// of the hold, on Pin's lock-free path and in a Batch. Close may have
// looked for writable holds in that instant and marked the state page
// clean, so the hold must be given back with ErrClosed rather than hand
// out bytes whose stores nothing would sync.
func TestWritableHold_CloseBetweenCheckAndCount(t *testing.T) {
	defer func() { writeHoldHook = nil }()
	for _, tc := range []struct {
		name string
		hold func(m *Manager) error
	}{
		{"PinWritable", func(m *Manager) error {
			p, err := m.PinWritable(8, 8)
			if err == nil {
				p.Release()
			}
			return err
		}},
		{"Batch.WritableBytes", func(m *Manager) error {
			return m.Batch(func(b *Batch) error {
				_, err := b.WritableBytes(8, 8)
				return err
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Open(t.TempDir(), &Options{ChunkSize: MinChunkSize, NoAdmission: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Append(make([]byte, 2*MinChunkSize)); err != nil {
				t.Fatal(err)
			}
			if _, err := m.ReadAt(make([]byte, 8), 0); err != nil { // maps chunk 0
				t.Fatal(err)
			}
			closed := make(chan error, 1)
			ran := false
			writeHoldHook = func() {
				writeHoldHook = nil
				ran = true
				go func() { closed <- m.Close() }()
				for deadline := time.Now().Add(20 * time.Second); m.live.Load(); {
					if time.Now().After(deadline) {
						t.Error("Close did not mark the Manager closed within 20 s")
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
			err = tc.hold(m)
			writeHoldHook = nil
			if !ran {
				t.Fatal("the writable hold never reached its count")
			}
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s with Close begun between its check and its count: %v, want ErrClosed", tc.name, err)
			}
			select {
			case <-closed:
			case <-time.After(20 * time.Second):
				t.Fatal("Close did not return within 20 s")
			}
		})
	}
}
