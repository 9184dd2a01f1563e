package accessor_test

import (
	"errors"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestClientxFollowerTypedBatchAfterWriterRewrite reads a typed value in a
// Batch of a ReadOnly follower, lets the writer Truncate the chunk away and
// write a new value there, and reads again in the same Batch: the accessor's
// Batch must see the dataset as it is at each call (chunkmap.Manager.Batch),
// never the deleted chunk's value.
func TestClientxFollowerTypedBatchAfterWriterRewrite(t *testing.T) {
	dir := t.TempDir()
	m := clxOpenM(t, dir, &chunkmap.Options{ChunkSize: clxCS, MaxMapped: 4})
	w := accessor.New(m, nil)
	if err := w.WriteUint64(8, 111); err != nil {
		t.Fatal(err)
	}
	fol := clxOpenM(t, dir, &chunkmap.Options{ReadOnly: true})
	r := accessor.New(fol, nil)
	var before, after uint64
	var afterErr error
	err := r.Batch(func(b *accessor.Batch) error {
		var err error
		if before, err = b.ReadUint64(8); err != nil {
			return err
		}
		if err := m.Truncate(0); err != nil {
			return err
		}
		if err := w.WriteUint64(8, 222); err != nil {
			return err
		}
		after, afterErr = b.ReadUint64(8)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if before != 111 {
		t.Fatalf("first read %d", before)
	}
	if afterErr == nil && after != 222 {
		t.Fatalf("follower Batch.ReadUint64(8) after the writer's Truncate(0) and WriteUint64(8, 222) = %d (the deleted chunk's value), want 222", after)
	}
	if afterErr != nil && !errors.Is(afterErr, chunkmap.ErrOutOfRange) {
		t.Fatalf("follower Batch.ReadUint64 after the rewrite: %v", afterErr)
	}
}
