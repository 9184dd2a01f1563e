package chunkmap_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestModulePathV2 copies the package into a module whose path ends in /v2,
// as a fork or the next major version would be, and runs the eviction
// stress tests there. The first version found readers by matching a
// function name that includes the module path, and under /v2 unmapped
// chunks under live readers; nothing may depend on a name now.
func TestModulePathV2(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package again in a temporary module")
	}
	// Its work is in child processes (or the go command): it runs beside
	// the package's other such tests, two at a time on two cores, once the
	// sequential tests are done.
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	const oldPath, newPath = "github.com/chunkmap/chunkmap", "github.com/chunkmap/chunkmap/v2"
	dst := t.TempDir()
	copyFile := func(rel string) {
		b, err := os.ReadFile(rel)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte(`"`+oldPath), []byte(`"`+newPath))
		if rel == "go.mod" {
			b = bytes.Replace(b, []byte("module "+oldPath+"\n"), []byte("module "+newPath+"\n"), 1)
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("go.mod")
	copyFile("go.sum")
	// The package itself, and of its tests only arena_test.go (where the
	// eviction stress tests are) and what it needs: building every test
	// file of the package took most of this test's time.
	root, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	tests := []string{"arena_test.go", "helpers_test.go", "seed_test.go", "export_test.go", "race_on_test.go", "race_off_test.go", "memory_linux_test.go", "memory_other_test.go",
		"heldskip_other_test.go", "heldskip_windows_test.go", "errno_other_test.go", "errno_windows_test.go"}
	for _, f := range root {
		if !strings.HasSuffix(f, "_test.go") || slices.Contains(tests, f) {
			copyFile(f)
		}
	}
	// The packages the root package's tests import come along.
	for _, dir := range []string{"internal", "accessor"} {
		err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") {
				copyFile(path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goTool, "test", "-count=1", "-run", "^(TestStragglers|TestEviction_ManyIdleGoroutines|TestPin_AcrossBoundariesUnderPressure)$", ".")
	cmd.Dir = dst
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test under %s: %v\n%s", newPath, err, out)
	}
	if !bytes.Contains(out, []byte("ok  \t"+newPath)) {
		t.Fatalf("go test under %s ran nothing:\n%s", newPath, out)
	}
}
