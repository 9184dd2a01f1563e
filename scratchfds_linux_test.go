package chunkmap_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// scratchFDsChildEnv names the row of
// TestScratch_GrowOutOfDescriptorsUnmapsChunks that a child process runs:
// the descriptor limit is the process's, and the parent's must stay as it
// is.
const scratchFDsChildEnv = "CHUNKMAP_SCRATCHFDS_CHILD"

// TestScratch_GrowOutOfDescriptorsUnmapsChunks: a scratch Manager's growth
// refused a descriptor for its new chunk file must give back what every
// call refused a descriptor gives back (the README: its idle cached files,
// then its unheld chunks' files) and create the chunk. Scratch chunk files
// were created outside withFilesLocked, so growth failed with ErrIO
// (EMFILE) while each unheld mapped chunk held a descriptor of its own
// (its clone of the chunk's file) that unmapping it would have freed.
func TestScratch_GrowOutOfDescriptorsUnmapsChunks(t *testing.T) {
	if row := os.Getenv(scratchFDsChildEnv); row != "" {
		scratchFDsChild(t, row)
		return
	}
	for _, tc := range []struct {
		name      string
		maxMapped int
	}{
		{name: "maxMapped=2", maxMapped: 2},
		{name: "maxMapped=4", maxMapped: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestScratch_GrowOutOfDescriptorsUnmapsChunks$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", scratchFDsChildEnv, tc.maxMapped), "CHUNKMAP_SCRATCHFDS_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestScratch_GrowOutOfDescriptorsUnmapsChunks") {
				t.Fatalf("child: %v\n%s", err, out)
			}
		})
	}
}

// scratchFDsChild is the child of
// TestScratch_GrowOutOfDescriptorsUnmapsChunks for MaxMapped row.
func scratchFDsChild(t *testing.T, row string) {
	t.Helper()
	var maxMapped int
	if _, err := fmt.Sscan(row, &maxMapped); err != nil {
		t.Fatal(err)
	}
	const cs = chunkmap.MinChunkSize
	dir := filepath.Join(os.Getenv("CHUNKMAP_SCRATCHFDS_DIR"), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped, NoAdmission: true, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	chunks := int64(maxMapped + 2)
	want := make([]byte, (chunks+1)*cs)
	for i := range chunks {
		p := bytes.Repeat([]byte{byte(i + 1)}, 700)
		copy(want[i*cs+100:], p)
		if _, err := m.WriteAt(p, i*cs+100); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Stats().Mapped; got != maxMapped {
		t.Fatalf("%d chunks mapped, want %d", got, maxMapped)
	}
	chunkmap.DropFileCache(m)
	restore := lowerFileLimit(t)
	p := []byte("grown")
	copy(want[chunks*cs+cs-int64(len(p)):], p)
	_, werr := m.WriteAt(p, chunks*cs+cs-int64(len(p)))
	restore()
	if werr != nil {
		t.Fatalf("growth of a scratch dataset with no descriptor free but those of %d unheld mapped chunks = %v, want nil", maxMapped, werr)
	}
	got := make([]byte, len(want))
	if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadAt after the growth: %v, or the bytes differ", err)
	}
}
