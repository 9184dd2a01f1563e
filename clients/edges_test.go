package clients

import (
	"errors"
	"io"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestFileEdges checks, against what an os.File does, the edge cases a
// file's client relies on.
func TestFileEdges(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	m := openCM(t, dir, chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
	defer func() { m.Close() }()

	// A second read-write Open of the same dataset in this process fails:
	// a VFS must share one Manager between its handles.
	if m2, err := chunkmap.Open(dir, nil); err == nil {
		m2.Close()
		t.Errorf("second read-write Open succeeded")
	} else if !errors.Is(err, chunkmap.ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}

	// Empty dataset.
	if n, err := m.ReadAt(make([]byte, 10), 0); n != 0 || err != io.EOF {
		t.Errorf("ReadAt on empty: %d %v", n, err)
	}
	if n, err := m.ReadAt(nil, 100); n != 0 || err != nil {
		t.Errorf("zero-length ReadAt past the end: %d %v (os.File: 0, nil)", n, err)
	}
	// A zero-length write past the end does not extend (as pwrite).
	if n, err := m.WriteAt(nil, 5*cs); n != 0 || err != nil || m.Size() != 0 {
		t.Errorf("zero-length WriteAt: %d %v, Size %d", n, err, m.Size())
	}
	// A write past the end leaves a hole of zeros.
	if _, err := m.WriteAt([]byte("tail"), 3*cs+5); err != nil {
		t.Fatal(err)
	}
	if m.Size() != 3*cs+9 {
		t.Fatalf("Size %d", m.Size())
	}
	p := make([]byte, 20)
	for i := range p {
		p[i] = 0xAA
	}
	n, err := m.ReadAt(p, 3*cs-6)
	if n != 15 || err != io.EOF || string(p[11:15]) != "tail" {
		t.Fatalf("read across the hole: %d %v %q", n, err, p[:n])
	}
	for _, b := range p[:11] {
		if b != 0 {
			t.Fatalf("hole not zero: %x", p[:11])
		}
	}
	// Read exactly to the end: n == len, nil or EOF both fine for
	// io.ReaderAt.
	if n, err := m.ReadAt(make([]byte, 4), 3*cs+5); n != 4 || (err != nil && err != io.EOF) {
		t.Errorf("read to the end: %d %v", n, err)
	}
	if n, err := m.ReadAt(make([]byte, 4), m.Size()); n != 0 || err != io.EOF {
		t.Errorf("read at Size: %d %v", n, err)
	}
	if _, err := m.ReadAt(make([]byte, 4), -1); err == nil {
		t.Errorf("negative offset read succeeded")
	}
	if _, err := m.WriteAt(make([]byte, 4), -1); err == nil {
		t.Errorf("negative offset write succeeded")
	}
	if err := m.Truncate(-1); err == nil {
		t.Errorf("Truncate(-1) succeeded")
	}

	// Shrink into the middle of a chunk, grow by Truncate: zeros.
	if err := m.Truncate(3*cs + 6); err != nil {
		t.Fatal(err)
	}
	if err := m.Truncate(4 * cs); err != nil {
		t.Fatal(err)
	}
	q := make([]byte, 4)
	if n, err := m.ReadAt(q, 3*cs+5); n != 4 || err != nil || string(q) != "t\x00\x00\x00" {
		t.Fatalf("after shrink and regrow: %d %v %q", n, err, q)
	}
	// Same across a reopen, shrinking to Size 0 first.
	if err := m.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openCM(t, dir, chunkmap.Options{MaxMapped: 1})
	if m.Size() != 0 {
		t.Fatalf("reopened Size %d", m.Size())
	}
	if off, err := m.Append([]byte("x")); off != 0 || err != nil {
		t.Fatalf("Append on empty reopened dataset: %d %v", off, err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	// Reading a Closed Manager fails, not EOF.
	m.Close()
	if _, err := m.ReadAt(q, 0); !errors.Is(err, chunkmap.ErrClosed) {
		t.Errorf("ReadAt after Close: %v", err)
	}
}
