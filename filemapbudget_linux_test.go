package chunkmap_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"golang.org/x/sys/unix"
)

// TestFileMapBudget_ManagersShareTheDescriptors runs, in a child whose
// descriptor limit is 256, four Managers of 64 KiB chunks with the default
// MaxMapped (here 64 each: a quarter of the limit), each reading 100 of
// its chunks until admission maps them. Every mapped chunk keeps its file
// open, and the Managers together mapped 4 × 64 chunks, the whole limit:
// the system refused them files (Stats.Refusals), and the rest of the
// program could be refused one too. The Managers of a process now keep at
// most a quarter of the limit mapped between them.
func TestFileMapBudget_ManagersShareTheDescriptors(t *testing.T) {
	if dir := os.Getenv("CHUNKMAP_FILEMAPBUDGET_DIR"); dir != "" {
		fileMapBudgetChild(t, dir)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileMapBudget_ManagersShareTheDescriptors$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CHUNKMAP_FILEMAPBUDGET_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("filemapbudget: done")) {
		t.Fatalf("child with 256 descriptors: %v\n%s", err, out)
	}
}

// fileMapBudgetChild is TestFileMapBudget_ManagersShareTheDescriptors'
// child.
func fileMapBudgetChild(t *testing.T, base string) {
	const limit, chunks = 256, 100
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Skip(err)
	}
	var ms []*chunkmap.Manager
	for i := range 4 {
		m, err := chunkmap.Open(filepath.Join(base, fmt.Sprint(i)), &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		ms = append(ms, m)
		if _, err := m.Append(make([]byte, chunks*cs)); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 8)
	for pass := range 4 {
		for _, m := range ms {
			for c := range int64(chunks) {
				if _, err := m.ReadAt(b, c*cs+int64(pass)); err != nil {
					t.Fatalf("ReadAt chunk %d: %v", c, err)
				}
			}
		}
	}
	mapped := 0
	for i, m := range ms {
		s := m.Stats()
		if s.Refusals != 0 {
			t.Errorf("Manager %d: the system refused it %d files or mappings (Stats %+v)", i, s.Refusals, s)
		}
		mapped += s.Mapped
	}
	if mapped+len(ms) > limit/4 {
		t.Errorf("the Managers map %d chunks between them, and count %d themselves; want at most a quarter of the %d descriptors", mapped, len(ms), limit)
	}
	if mapped == 0 {
		t.Errorf("no chunk is mapped: the reads never took the mapped path")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatalf("the program cannot open a file: %v", err)
	}
	f.Close()
	fmt.Println("filemapbudget: done")
}
