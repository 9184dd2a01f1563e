package chunkmap

import (
	"bytes"
	"testing"
)

// TestFileLimit_CacheBudget checks the share of descriptors that the
// Managers' caches of open files keep between them: with a budget of 6,
// three Managers serving reads of 12 chunks each by pread (one chunk
// mapped each, admission on) keep at most 6 files cached together, read
// right throughout, and give every file back at Close.
func TestFileLimit_CacheBudget(t *testing.T) {
	const cs, n, budget = MinChunkSize, 12, 6
	was := testFileBudget.Swap(budget)
	defer testFileBudget.Store(was)
	start := filesInProcess.Load()
	var ms [3]*Manager
	for i := range ms {
		m, err := Open(t.TempDir(), &Options{ChunkSize: cs, MaxMapped: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if _, err := m.Append(bytes.Repeat([]byte{byte('a' + i)}, n*cs)); err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	buf := make([]byte, 8)
	for round := range 3 {
		for c := int64(0); c < n; c++ {
			for i, m := range ms {
				if _, err := m.ReadAt(buf, c*cs+int64(round)); err != nil || !bytes.Equal(buf, bytes.Repeat([]byte{byte('a' + i)}, 8)) {
					t.Fatalf("Manager %d ReadAt(%d) = %q, %v", i, c*cs, buf, err)
				}
				if got := filesInProcess.Load() - start; got > budget {
					t.Fatalf("round %d, chunk %d: %d files cached, budget %d", round, c, got, budget)
				}
			}
		}
	}
	for _, m := range ms {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := filesInProcess.Load() - start; got != 0 {
		t.Errorf("after Close: %d files still counted as cached", got)
	}
}
