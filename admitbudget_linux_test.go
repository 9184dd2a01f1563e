package chunkmap_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chunkmap/chunkmap"
	"golang.org/x/sys/unix"
)

// admitBudgetRows are the Managers of TestAdmission_AtTheProcessBudget, in
// a child whose descriptor limit of 256 gives the Managers of the process
// 64 mapped chunks between them.
var admitBudgetRows = []struct {
	name      string
	managers  int
	maxMapped int
}{
	{"one Manager, default MaxMapped (64, the budget)", 1, 0},
	{"two Managers of 40 each", 2, 40},
}

// TestAdmission_AtTheProcessBudget reads 200 chunks of each Manager at
// random, far more than the budget of mapped chunks holds. Admission
// serves such a uniform workload by pread once the window is full. But
// where the Managers reached the process's budget before their own
// MaxMapped (one Manager with the default MaxMapped does, as it counts
// itself against the budget), admission let every miss through without a
// comparison, and the budget then evicted the oldest chunk for it: the
// Manager remapped at nearly every miss, as with NoAdmission.
func TestAdmission_AtTheProcessBudget(t *testing.T) {
	if row := os.Getenv("CHUNKMAP_ADMITBUDGET_ROW"); row != "" {
		admitBudgetChild(t, row, os.Getenv("CHUNKMAP_ADMITBUDGET_DIR"))
		return
	}
	for i, row := range admitBudgetRows {
		t.Run(row.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAdmission_AtTheProcessBudget$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "CHUNKMAP_ADMITBUDGET_ROW="+strconv.Itoa(i), "CHUNKMAP_ADMITBUDGET_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("admitbudget: done")) {
				t.Fatalf("child with 256 descriptors: %v\n%s", err, out)
			}
		})
	}
}

// admitBudgetChild is TestAdmission_AtTheProcessBudget's child for row.
func admitBudgetChild(t *testing.T, row, base string) {
	t.Helper()
	const limit, chunks, reads = 256, 200, 20000
	i, err := strconv.Atoi(row)
	if err != nil {
		t.Fatal(err)
	}
	r := admitBudgetRows[i]
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Skip(err)
	}
	var ms []*chunkmap.Manager
	for k := range r.managers {
		m, err := chunkmap.Open(filepath.Join(base, strconv.Itoa(k)), &chunkmap.Options{ChunkSize: cs, MaxMapped: r.maxMapped})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if _, err := m.Append(make([]byte, chunks*cs)); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 8)
	for range reads {
		for _, m := range ms {
			if _, err := m.ReadAt(b, rnd.Int64N(chunks)*cs); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, m := range ms {
		// A window of 64 fills with 64 maps; admission may replace a
		// few of them as the counts drift, not thousands.
		if s := m.Stats(); s.Maps > 2*limit/4 {
			t.Errorf("Manager %d mapped %d times for %d random reads: admission let the misses through (Stats %+v)", k, s.Maps, reads, s)
		}
	}
	fmt.Println("admitbudget: done")
}
