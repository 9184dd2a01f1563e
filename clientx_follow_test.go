package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestClientxFollowerBatchSeesWriterShrink holds a Batch open on a ReadOnly
// follower while the writer deletes the chunk the Batch read (Truncate, then
// writes new bytes there; or DropBefore). Manager.Batch promises that each
// call sees the dataset as it is at that moment and reaches a chunk deleted
// and created again anew, and Options.ReadOnly that a read never returns
// bytes of a chunk file the writer has replaced: the Batch's next Bytes call
// must return the new bytes (or an error), never the deleted chunk's.
func TestClientxFollowerBatchSeesWriterShrink(t *testing.T) {
	for _, how := range []string{"truncate-rewrite", "drop"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			m := clxOpen(t, dir, &chunkmap.Options{ChunkSize: clxChunk, MaxMapped: 4})
			defer m.Close()
			old := bytes.Repeat([]byte{0xAA}, 2*clxChunk)
			if _, err := m.WriteAt(old, 0); err != nil {
				t.Fatal(err)
			}
			fol := clxOpen(t, dir, &chunkmap.Options{ReadOnly: true})
			defer fol.Close()
			const off = clxChunk / 2 // in chunk 0
			var first, second []byte
			var secondErr error
			err := fol.Batch(func(b *chunkmap.Batch) error {
				p, err := b.Bytes(off, 8)
				if err != nil {
					return err
				}
				first = bytes.Clone(p)
				switch how {
				case "truncate-rewrite":
					if err := m.Truncate(0); err != nil {
						return err
					}
					if _, err := m.WriteAt(bytes.Repeat([]byte{0xBB}, clxChunk), 0); err != nil {
						return err
					}
				case "drop":
					if err := m.DropBefore(clxChunk); err != nil {
						return err
					}
				}
				p, secondErr = b.Bytes(off, 8)
				second = bytes.Clone(p)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, old[:8]) {
				t.Fatalf("first Bytes = %x", first)
			}
			// What a fresh read of the follower says now.
			now := make([]byte, 8)
			_, rerr := fol.ReadAt(now, off)
			switch how {
			case "truncate-rewrite":
				if rerr != nil || !bytes.Equal(now, bytes.Repeat([]byte{0xBB}, 8)) {
					t.Fatalf("follower ReadAt after the rewrite: %x, %v", now, rerr)
				}
				if secondErr == nil && !bytes.Equal(second, now) {
					t.Fatalf("follower Batch.Bytes(%d, 8) after the writer's Truncate and rewrite = %x (the deleted chunk's bytes), want %x as ReadAt returns", off, second, now)
				}
			case "drop":
				if d := clxErr(rerr, chunkmap.ErrOutOfRange, "read"); d != "" {
					t.Fatalf("follower ReadAt below the writer's new Start: %s", d)
				}
				if d := clxErr(secondErr, chunkmap.ErrOutOfRange, "batch read", fmt.Sprintf("offset %d", off)); d != "" {
					t.Fatalf("follower Batch.Bytes(%d, 8) after the writer's DropBefore(%d) = %x: %s", off, clxChunk, second, d)
				}
			}
		})
	}
}

// TestClientxWriterBatchSeesOwnShrink is the same on the writer's own
// Batch, where it holds (a baseline: the follower must behave the same).
func TestClientxWriterBatchSeesOwnShrink(t *testing.T) {
	m := clxOpen(t, t.TempDir(), &chunkmap.Options{ChunkSize: clxChunk, MaxMapped: 4})
	defer m.Close()
	if _, err := m.WriteAt(bytes.Repeat([]byte{0xAA}, 2*clxChunk), 0); err != nil {
		t.Fatal(err)
	}
	err := m.Batch(func(b *chunkmap.Batch) error {
		if _, err := b.Bytes(100, 8); err != nil {
			return err
		}
		if err := m.Truncate(0); err != nil {
			return err
		}
		if _, err := m.WriteAt(bytes.Repeat([]byte{0xBB}, clxChunk), 0); err != nil {
			return err
		}
		p, err := b.Bytes(100, 8)
		if err != nil || !bytes.Equal(p, bytes.Repeat([]byte{0xBB}, 8)) {
			return fmt.Errorf("Bytes after Truncate and rewrite = %x, %v", p, err)
		}
		if err := m.DropBefore(clxChunk); err != nil {
			return err
		}
		if _, err := b.Bytes(100, 8); !errors.Is(err, chunkmap.ErrOutOfRange) {
			return fmt.Errorf("Bytes below Start after DropBefore: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
