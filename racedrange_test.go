package chunkmap_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestRacedRange_MessageSaysWhatRan checks the message of a read or write
// whose chunks a concurrent DropBefore or Truncate removed after the call
// checked its range: it must say that the range is gone and where the
// dataset is now, not only that chunks "do not all exist".
func TestRacedRange_MessageSaysWhatRan(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, tc := range []struct {
		name string
		cut  func(m *chunkmap.Manager, round int) error
		// access reads 16 bytes near the range's start (after a drop) or
		// end (after a Truncate): ReadAt past the end returns io.EOF, as
		// io.ReaderAt says, so the end's access is a Pin.
		access func(m *chunkmap.Manager) error
		want   string
	}{
		{"DropBefore", func(m *chunkmap.Manager, round int) error { return m.DropBefore(int64(round+1) * cs) }, readNearStart, "was dropped meanwhile"},
		{"Truncate", func(m *chunkmap.Manager, round int) error { return m.Truncate(m.Size() - cs) }, pinNearEnd, "was cut off meanwhile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := openTestManager(t, t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
			const rounds = 200
			if _, err := m.WriteAt(make([]byte, (rounds+2)*cs), 0); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			seen := make(chan error, 1)
			done := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					// An error whose own range check already saw the cut
					// ("past size", "below start") is the ordinary message
					// of a call that started after it: only a call that
					// passed its check and then lost its chunks is the case
					// under test.
					if err := tc.access(m); err != nil && !checkedBeforeCut(err) {
						select {
						case seen <- err:
						default:
						}
					}
				}
			}()
			for r := 0; r < rounds; r++ {
				if err := tc.cut(m, r); err != nil {
					t.Fatal(err)
				}
			}
			close(done)
			wg.Wait()
			select {
			case err := <-seen:
				t.Log(err)
				if !errors.Is(err, chunkmap.ErrOutOfRange) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("raced read: %v, want ErrOutOfRange saying %q", err, tc.want)
				}
			default:
				t.Skip("no read raced the cut")
			}
		})
	}
}

// checkedBeforeCut reports whether err is the range check's own refusal
// (see the rangeDetail messages), made after the cut was done, rather than
// the error of a call the cut overtook.
func checkedBeforeCut(err error) bool {
	return errors.Is(err, chunkmap.ErrOutOfRange) &&
		(strings.Contains(err.Error(), "past size") || strings.Contains(err.Error(), "below start"))
}

func readNearStart(m *chunkmap.Manager) error {
	_, err := m.ReadAt(make([]byte, 16), m.Start()+chunkmap.MinChunkSize-8)
	return err
}

func pinNearEnd(m *chunkmap.Manager) error {
	p, err := m.Pin(m.Size()-16, 16)
	if err == nil {
		p.Release()
	}
	return err
}
