package accessor_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestRestatedErrorNamesPlaceOnce opens a dataset through a symlink,
// a relative path and a path with a trailing slash (so that Dir differs
// from the directory the Manager's messages name), and checks that a bulk
// call's or a scan's error restated from the Manager's names the call once:
// its own operation, length and offset, not also the Manager's "read 0 bytes
// at offset 0".
func TestRestatedErrorNamesPlaceOnce(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink among the parents: Open resolves it once (the directory
	// itself may not be a symlink).
	link := filepath.Join(base, "link")
	if err := os.Symlink(base, link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(base)
	for _, dir := range []string{real, filepath.Join(link, "real"), "real", "./real"} {
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
		if err != nil {
			t.Fatalf("Open(%q): %v", dir, err)
		}
		va := accessor.New(m, nil)
		if _, err := m.WriteAt(make([]byte, 64), 0); err != nil {
			t.Fatal(err)
		}
		negative := func() error { // before Close
			s := va.Scan()
			for range s.Int32s(-4, 1) {
			}
			return s.Err()
		}()
		negCount := scanErr(va.Scan(), func(s *accessor.Scanner) {
			for range s.Int32s(0, -1) {
			}
		})
		slicePast := second(va.Slice(60, 8))
		// The accessor's own refusals, before Close, each built where
		// the accessor finds the fault.
		own := []struct {
			name string
			err  error
		}{
			{"ReadUint64 past Size", second(va.ReadUint64(60))},
			{"Scan().Int32s(0, -1)", scanErr(va.Scan(), func(s *accessor.Scanner) {
				for range s.Int32s(0, -1) {
				}
			})},
			{"ReadUint64sAt with no room", va.ReadUint64sAt([]int64{0}, nil)},
			{"Batch.ReadUint64 past Size", va.Batch(func(b *accessor.Batch) error { return second(b.ReadUint64(60)) })},
		}
		m.Close()
		own = append(own, struct {
			name string
			err  error
		}{"ReadUint64 after Close", second(va.ReadUint64(8))})
		// Every message names the directory as the Manager's own messages
		// do, the one Open resolved, once, whatever path Open was given.
		resolved := managerDir(t, m)
		for _, c := range append(own, struct {
			name string
			err  error
		}{"Scan().Int32s(-4, 1)", negative}) {
			if c.err == nil {
				t.Fatalf("Open(%q): %s succeeded", dir, c.name)
			}
			if msg := c.err.Error(); !strings.Contains(msg, " in "+resolved+": ") || strings.Count(msg, resolved) != 1 ||
				(m.Dir() != resolved && strings.Contains(msg, " in "+m.Dir()+":")) {
				t.Errorf("Open(%q): %s does not name the directory once as the Manager's messages do (%s):\n\t%s", dir, c.name, resolved, msg)
			}
		}
		for _, c := range []struct {
			name, extent string
			err          error
			want         error
		}{
			{"ReadUint64s after Close", "(16 bytes) at offset 8", va.ReadUint64s(8, make([]uint64, 2)), chunkmap.ErrClosed},
			{"ReadUint64 after Close", "read uint64 (8 bytes) at offset 8", second(va.ReadUint64(8)), chunkmap.ErrClosed},
			{"WriteInt16 after Close", "write int16 (2 bytes) at offset 6", va.WriteInt16(6, 1), chunkmap.ErrClosed},
			{"Scan().Int32s(-4, 1)", "(4 bytes) at offset -4", negative, chunkmap.ErrOutOfRange},
			// A negative count is named as given, not as 0 bytes.
			{"Scan().Int32s(0, -1)", "scan int32s (-1 values) at offset 0", negCount, chunkmap.ErrOutOfRange},
			// Slice names itself, not also the Pin underneath.
			{"Slice past Size", "slice (8 bytes) at offset 60", slicePast, chunkmap.ErrOutOfRange},
			{"Slice after Close", "slice (4 bytes) at offset 8", second(va.Slice(8, 4)), chunkmap.ErrClosed},
			{"Scan().Uint64s(8, 4) after Close", "(32 bytes) at offset 8", scanErr(va.Scan(), func(s *accessor.Scanner) {
				for range s.Uint64s(8, 4) {
				}
			}), chunkmap.ErrClosed},
			{"Scan().Blocks(0, 100) after Close", "(100 bytes) at offset 0", scanErr(va.Scan(), func(s *accessor.Scanner) {
				for range s.Blocks(0, 100) {
				}
			}), chunkmap.ErrClosed},
		} {
			if !errors.Is(c.err, c.want) {
				t.Fatalf("Open(%q): %s: %v, want %v", dir, c.name, c.err, c.want)
			}
			msg := c.err.Error()
			if strings.Count(msg, "at offset") != 1 || strings.Contains(msg, "read 0 bytes") || !strings.Contains(msg, c.extent) {
				t.Errorf("Open(%q), Dir() %q: %s does not name its own extent, %q, once:\n\t%s", dir, m.Dir(), c.name, c.extent, msg)
			}
		}
	}
}

// second returns the error of a call that returns a value and an error.
func second[T any](_ T, err error) error { return err }

// scanErr runs loop over s and returns s.Err.
func scanErr(s *accessor.Scanner, loop func(*accessor.Scanner)) error {
	loop(s)
	return s.Err()
}

// managerDir returns the directory that m's own error messages name: what
// a refused call's message says after " in ".
func managerDir(t *testing.T, m *chunkmap.Manager) string {
	t.Helper()
	_, err := m.ReadAt(nil, -1)
	if err == nil {
		t.Fatal("ReadAt at offset -1 succeeded")
	}
	_, rest, ok := strings.Cut(err.Error(), " in ")
	dir, _, ok2 := strings.Cut(rest, ": ")
	if !ok || !ok2 {
		t.Fatalf("no directory in %q", err)
	}
	return dir
}
