//go:build linux

package chunkmap_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// stressFDsChildEnv names the child role of TestStress_FDsFreshProcess.
const stressFDsChildEnv = "CHUNKMAP_STRESS_FDS_CHILD"

// TestStress_FDsFreshProcess runs TestStress_FDsChild in a process of its
// own, started as a test binary run directly is (no -test.testlogfile, so
// no file is open before the test), where the first file the process opens
// is Open's: the count stressFDs takes before Open must not grow by the
// runtime's poller descriptors that Open's first file creates.
func TestStress_FDsFreshProcess(t *testing.T) {
	if os.Getenv(stressFDsChildEnv) != "" {
		t.Skip("in the child")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStress_FDsChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), stressFDsChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestStress_FDsChild") {
		t.Errorf("child failed: %v\n%s", err, out)
	}
}

// TestStress_FDsChild is the child of TestStress_FDsFreshProcess; it does
// nothing unless run as one.
func TestStress_FDsChild(t *testing.T) {
	if os.Getenv(stressFDsChildEnv) == "" {
		t.Skip("run by TestStress_FDsFreshProcess")
	}
	dir := t.TempDir()
	fdBase, _ := stressFDs(t, dir)
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("x"), 2*chunkmap.MinChunkSize); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if all, of := stressFDs(t, dir); of != 0 || all > fdBase {
		t.Errorf("after Close: %d descriptors (%d before Open), %d of the dataset", all, fdBase, of)
	}
}
