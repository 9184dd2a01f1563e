//go:build unix

package chunkmap_test

import (
	"errors"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestClose_ReportsReplacedChunkHeldWritable checks a chunk held by a
// writable pin across a Sync (which clears its dirty flag), stored to
// through the pin, then replaced by another program: the stores went to
// the old file and are lost, and Close's Sync must report it, not fsync
// the new file by name.
func TestClose_ReportsReplacedChunkHeldWritable(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(cs); err != nil {
		t.Fatal(err)
	}
	p, err := m.PinWritable(0, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if err := m.Sync(); err != nil { // clears the flag; the hold keeps it queued
		t.Fatal(err)
	}
	copy(p.Bytes(), "lostlost") // to the old file
	chunkmap.ReplaceChunkFile(t, dir, 0)
	err = m.Close()
	if !errors.Is(err, chunkmap.ErrFault) {
		t.Errorf("Close = %v, want ErrFault: stores through the writable pin went to a file another program replaced", err)
	}
}

// TestClose_ReportsReplacedChunkInView checks a writable pin across two
// chunks, through a private view (scattered arena), that stores to chunk 1
// after the last Sync, whose file another program then replaces: no chunk
// file was deleted by the Manager, so Close's Sync must compare with the
// view's file and report the loss.
func TestClose_ReportsReplacedChunkInView(t *testing.T) {
	defer chunkmap.SetScatteredArena(chunkmap.SetScatteredArena(true))
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(2 * cs); err != nil {
		t.Fatal(err)
	}
	p, err := m.PinWritable(cs-8, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	copy(p.Bytes()[8:], "lostlost") // chunk 1, old file
	chunkmap.ReplaceChunkFile(t, dir, 1)
	if err := m.Close(); !errors.Is(err, chunkmap.ErrFault) {
		t.Errorf("Close = %v, want ErrFault: stores through the pin's view went to a file another program replaced, and the dataset never shrank", err)
	}
}

// TestClose_InBatchReportsReplacedChunk is the Batch form of
// TestClose_ReportsReplacedChunkHeldWritable: a chunk held writable by a
// Batch across a Sync, stored to, replaced by another program, then the
// Manager closed from inside the batch.
func TestClose_InBatchReportsReplacedChunk(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(cs); err != nil {
		t.Fatal(err)
	}
	var closeErr error
	_ = m.Batch(func(b *chunkmap.Batch) error {
		p, err := b.WritableBytes(0, 8)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		copy(p, "lostlost")
		chunkmap.ReplaceChunkFile(t, dir, 0)
		closeErr = m.Close()
		return nil
	})
	if !errors.Is(closeErr, chunkmap.ErrFault) {
		t.Errorf("Close = %v, want ErrFault: stores through the Batch went to a file another program replaced", closeErr)
	}
}
