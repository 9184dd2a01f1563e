package chunkmap_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"bytes"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestLifecycle_StoreAfterCutThenRegrowReadsZero: a batch stores through bytes
// it got before a Truncate cut them off (inside a chunk that stays); a
// Truncate that extends the dataset again must show zeros there.
func TestLifecycle_StoreAfterCutThenRegrowReadsZero(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, variant := range []string{"plain", "sync", "hold", "pin", "reopen"} {
		for _, regrow := range []string{"truncate", "writeat", "append", "grow", "writesmall"} {
			t.Run(variant+"/"+regrow, func(t *testing.T) {
				dir := t.TempDir()
				m := advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
				defer func() { m.Close() }()
				if _, err := m.WriteAt(bytes.Repeat([]byte{1}, 3*cs), 0); err != nil {
					t.Fatal(err)
				}
				var pin *chunkmap.Pinned
				err := m.Batch(func(b *chunkmap.Batch) error {
					if variant == "hold" {
						if err := b.HoldWritable(0, 3*cs); err != nil {
							return err
						}
					}
					p, err := b.WritableBytes(cs+200, 8)
					if err != nil {
						return err
					}
					if variant == "pin" {
						pin, err = m.PinWritable(cs+300, 8)
						if err != nil {
							return err
						}
					}
					if err := m.Truncate(cs + 100); err != nil {
						return err
					}
					copy(p, "XXXXXXXX")
					if pin != nil {
						copy(pin.Bytes(), "YYYYYYYY")
					}
					if variant == "sync" {
						if err := m.Sync(); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if pin != nil {
					pin.Release()
				}
				if variant == "reopen" {
					if err := m.Close(); err != nil {
						t.Fatal(err)
					}
					m = advOpen(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1})
				}
				var err2 error
				switch regrow {
				case "truncate":
					err2 = m.Truncate(2 * cs)
				case "writeat":
					_, err2 = m.WriteAt([]byte{0}, 2*cs-1)
				case "append":
					_, err2 = m.Append(make([]byte, cs-100))
				case "grow":
					if err2 = m.Grow(3 * cs); err2 == nil {
						_, err2 = m.WriteAt([]byte{0}, 2*cs-1)
					}
				case "scatter":
					err2 = m.Scatter([]byte{0}, []int64{2*cs - 1}, 1)
				case "writesmall":
					_, err2 = m.WriteAt(make([]byte, 8), cs+100)
					if err2 == nil {
						_, err2 = m.WriteAt(make([]byte, 8), cs+108)
					}
					if err2 == nil {
						_, err2 = m.WriteAt([]byte{0}, 2*cs-1)
					}
				}
				if err2 != nil {
					t.Fatal(err2)
				}
				got := make([]byte, cs-100)
				if _, err := m.ReadAt(got, cs+100); err != nil {
					t.Fatal(err)
				}
				if i := bytes.IndexFunc(got, func(r rune) bool { return r != 0 }); i >= 0 {
					t.Errorf("byte at %d past the cut reads %q after regrowth", cs+100+int64(i), got[i:i+8])
				}
			})
		}
	}
}
