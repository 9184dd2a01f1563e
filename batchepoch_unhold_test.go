package chunkmap

import (
	"bytes"
	"sync"
	"testing"
)

// TestBatchEpoch_UnholdNoLostEviction: pins and batches over more chunks than
// MaxMapped, released concurrently with evictions: once every hold is
// gone, no more than MaxMapped chunks stay mapped (a lost "over" would
// leave them mapped for good), and no slot keeps a hold.
func TestBatchEpoch_UnholdNoLostEviction(t *testing.T) {
	const cs = MinChunkSize
	const chunks = 12
	m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 2, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(bytes.Repeat([]byte{1}, chunks*cs)); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 200; round++ {
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					idx := int64((g*7 + i*5 + round) % chunks)
					if (g+i)&1 == 0 {
						p, err := m.Pin(idx*cs+8, 8)
						if err == nil {
							p.Release()
						}
					} else {
						m.Batch(func(b *Batch) error {
							b.Bytes(idx*cs, 8)
							b.WritableBytes(((idx+1)%chunks)*cs, 8)
							return nil
						})
					}
				}
			}(g)
		}
		wg.Wait()
		st := m.Stats()
		if st.Mapped > 2 || st.Pinned != 0 {
			t.Fatalf("round %d: after every release: %+v", round, st)
		}
		for i := range m.slots {
			if h := m.slots[i].holds.Load(); h != 0 {
				t.Fatalf("round %d: slot %d holds %d", round, i, h)
			}
		}
	}
}
