package chunkmap

import (
	"testing"
	"unsafe"
)

// TestSync_FlushesStatePageMapping: a Sync after a Truncate or DropBefore
// that deleted chunk files fsyncs the manifest so that the state page on
// disk holds the Start and Size the Sync acknowledged (syncPageLocked). The
// page is stored to through a mapping, which an fsync covers on Linux only:
// elsewhere (msync, FlushViewOfFile) the fsync left the page on disk as
// before the shrink, for an Open in the same boot to follow to chunk files
// the shrink deleted. Seen through flushStatePage, which does nothing on
// Linux: the last flush before each Sync returns must have seen the new
// Start and Size, and a Sync with nothing new flushes nothing.
func TestSync_FlushesStatePageMapping(t *testing.T) {
	var seen [][2]int64
	prev := flushStatePage
	flushStatePage = func(b []byte) error {
		st := (*statePage)(unsafe.Pointer(&b[stateOff]))
		seen = append(seen, [2]int64{st.start.Load(), st.size.Load()})
		return prev(b)
	}
	t.Cleanup(func() { flushStatePage = prev })

	const cs = MinChunkSize
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(make([]byte, 4*cs)); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		shrink func() error
	}{
		{"Truncate deleting a chunk", func() error { return m.Truncate(2*cs + cs/2) }},
		{"DropBefore", func() error { return m.DropBefore(cs) }},
	} {
		seen = nil
		if err := c.shrink(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := m.Sync(); err != nil {
			t.Fatalf("%s: Sync: %v", c.name, err)
		}
		want := [2]int64{m.Start(), m.Size()}
		if len(seen) == 0 || seen[len(seen)-1] != want {
			t.Errorf("%s, then Sync: the state page's mapping was flushed with Start and Size %v, want %v last", c.name, seen, want)
		}
	}
	seen = nil
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 0 {
		t.Errorf("a Sync with nothing new flushed the state page %d times", len(seen))
	}
}
