package accessor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// advCS is the chunk size of the adversarial tests' datasets.
const advCS = chunkmap.MinChunkSize

// advCustomOrder is big endian under a type the accessor does not know, so
// that the accessor takes its custom-order path.
type advCustomOrder struct{}

func (advCustomOrder) Uint16(b []byte) uint16       { return binary.BigEndian.Uint16(b) }
func (advCustomOrder) Uint32(b []byte) uint32       { return binary.BigEndian.Uint32(b) }
func (advCustomOrder) Uint64(b []byte) uint64       { return binary.BigEndian.Uint64(b) }
func (advCustomOrder) PutUint16(b []byte, x uint16) { binary.BigEndian.PutUint16(b, x) }
func (advCustomOrder) PutUint32(b []byte, x uint32) { binary.BigEndian.PutUint32(b, x) }
func (advCustomOrder) PutUint64(b []byte, x uint64) { binary.BigEndian.PutUint64(b, x) }
func (advCustomOrder) String() string               { return "advCustomOrder" }

// advOrders are the byte orders every typed test runs in, with the order
// that encodes the model's bytes for each.
var advOrders = []struct {
	name  string
	order binary.ByteOrder // given to accessor.New
	enc   binary.ByteOrder // encodes the model
}{
	{"nil", nil, binary.LittleEndian},
	{"little", binary.LittleEndian, binary.LittleEndian},
	{"big", binary.BigEndian, binary.BigEndian},
	{"native", binary.NativeEndian, binary.NativeEndian},
	{"custom", advCustomOrder{}, binary.BigEndian},
}

// advOpen opens (or creates) the dataset in dir with small chunks.
func advOpen(t testing.TB, dir string, opts *chunkmap.Options) *chunkmap.Manager {
	t.Helper()
	o := chunkmap.Options{ChunkSize: advCS}
	if opts != nil {
		o = *opts
		if o.ChunkSize == 0 {
			o.ChunkSize = advCS
		}
	}
	m, err := chunkmap.Open(dir, &o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// advModel mirrors the bytes of a dataset from offset 0.
type advModel struct {
	b []byte
}

// put records p at off, extending the model with zeros as WriteAt does.
func (md *advModel) put(off int64, p []byte) {
	if end := int(off) + len(p); end > len(md.b) {
		md.b = append(md.b, make([]byte, end-len(md.b))...)
	}
	copy(md.b[off:], p)
}

// truncate records a Truncate.
func (md *advModel) truncate(size int64) {
	if int(size) < len(md.b) {
		md.b = md.b[:size]
		return
	}
	md.b = append(md.b, make([]byte, int(size)-len(md.b))...)
}

// advCheck compares [Start, Size) of m with the model, byte by byte, and
// Size with the model's length.
func advCheck(t testing.TB, m *chunkmap.Manager, md *advModel, what string) {
	t.Helper()
	if got, want := m.Size(), int64(len(md.b)); got != want {
		t.Fatalf("%s: Size = %d, model %d", what, got, want)
	}
	start := m.Start()
	got := make([]byte, len(md.b)-int(start))
	if _, err := m.ReadAt(got, start); err != nil {
		t.Fatalf("%s: ReadAt(%d bytes at %d): %v", what, len(got), start, err)
	}
	if want := md.b[start:]; !bytes.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: byte at offset %d is %#x, model %#x", what, start+int64(i), got[i], want[i])
			}
		}
	}
}

// advReopen closes m, opens the dataset in dir again and checks it against
// the model; it returns the new Manager.
func advReopen(t testing.TB, m *chunkmap.Manager, dir string, md *advModel) *chunkmap.Manager {
	t.Helper()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	m2 := advOpen(t, dir, nil)
	advCheck(t, m2, md, "after reopen")
	return m2
}

// advIsErr checks that err matches the sentinel and that its message names
// each of the words (the operation, the offset...).
func advIsErr(t testing.TB, what string, err, sentinel error, words ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: nil error, want %v", what, sentinel)
		return
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("%s: error %q does not match %v", what, err, sentinel)
		return
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not name %q", what, err, w)
		}
	}
}

// advTimeout runs f and fails the test if it has not returned within d
// (a hang); a panic of f is re-raised in the test's goroutine.
func advTimeout(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	select {
	case p := <-done:
		if p != nil {
			panic(fmt.Sprintf("%s: panic: %v", what, p))
		}
	case <-time.After(d):
		t.Fatalf("%s: still running after %v (hang)", what, d)
	}
}

// advPinned fails the test unless no chunk is held.
func advPinned(t testing.TB, m *chunkmap.Manager, what string) {
	t.Helper()
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("%s: Stats().Pinned = %d, want 0 (%+v)", what, st.Pinned, st)
	}
}
