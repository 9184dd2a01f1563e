package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// syncFDsChildEnv names the row of TestSync_OutOfDescriptorsUnmapsChunks
// that a child process runs: the descriptor limit is the process's, and
// the parent's must stay as it is.
const syncFDsChildEnv = "CHUNKMAP_SYNCFDS_CHILD"

// TestSync_OutOfDescriptorsUnmapsChunks: a Sync that must open chunk files
// by name to fsync them (dirty chunks evicted with no cached file left),
// in a process with no descriptor free but those of the Manager's mapped
// chunks, must give back what the README says every call refused a
// descriptor gives back, its unheld chunks' files included, and succeed.
// It closed only the idle cached files, found none, and failed with ErrIO
// (EMFILE) every time, although unmapping one chunk would have freed a
// descriptor.
func TestSync_OutOfDescriptorsUnmapsChunks(t *testing.T) {
	if row := os.Getenv(syncFDsChildEnv); row != "" {
		syncFDsChild(t, row)
		return
	}
	for _, tc := range []struct {
		name      string
		maxMapped int
	}{
		{name: "maxMapped=1", maxMapped: 1},
		{name: "maxMapped=4", maxMapped: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestSync_OutOfDescriptorsUnmapsChunks$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", syncFDsChildEnv, tc.maxMapped), "CHUNKMAP_SYNCFDS_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestSync_OutOfDescriptorsUnmapsChunks") {
				t.Fatalf("child: %v\n%s", err, out)
			}
		})
	}
}

// syncFDsChild is the child of TestSync_OutOfDescriptorsUnmapsChunks for
// MaxMapped row.
func syncFDsChild(t *testing.T, row string) {
	t.Helper()
	var maxMapped int
	if _, err := fmt.Sscan(row, &maxMapped); err != nil {
		t.Fatal(err)
	}
	const cs = chunkmap.MinChunkSize
	dir := filepath.Join(os.Getenv("CHUNKMAP_SYNCFDS_DIR"), "ds")
	opts := chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped, NoAdmission: true}
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Small writes store through the mappings: each chunk is mapped, and
	// the first two are evicted dirty by the ones after them.
	chunks := int64(maxMapped + 2)
	want := make([]byte, (chunks-1)*cs+800)
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
	serr := m.Sync()
	restore()
	if serr != nil {
		t.Errorf("Sync with no descriptor free but those of %d unheld mapped chunks = %v, want nil", maxMapped, serr)
		if !errors.Is(serr, chunkmap.ErrIO) || !errors.Is(serr, syscall.EMFILE) {
			t.Errorf("and its error matches neither ErrIO nor EMFILE")
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, len(want))
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadAt after reopen: %v, or the bytes differ", err)
	}
}
