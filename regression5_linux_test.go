// Regression tests for bugs a review of the durability redesign found:
// each failed before its fix.

package chunkmap

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

func TestRegression_ViewDropBeforeSyncForever(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir, &Options{ChunkSize: cs, ArenaSize: 2 * cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Append(make([]byte, 4*cs))
	p, err := m.PinWritable(cs+cs/2, cs) // chunks 1,2 wrap the 2-slot arena: a view
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DropBefore(3 * cs); err != nil {
		t.Fatal(err)
	}
	t.Logf("Sync with the pin: %v", m.Sync() != nil)
	p.Release()
	m.Append(make([]byte, 4*cs)) // the dataset grows on; 1 and 2 never come back
	for i := range 2 {
		if err := m.Sync(); err != nil {
			t.Errorf("Sync %d: %v", i, err)
		}
	}
}

func deletedFds(t *testing.T, dir string) int {
	ents, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if strings.HasPrefix(l, dir) && strings.HasSuffix(l, "(deleted)") {
			n++
		}
	}
	return n
}

func TestRegression_GrowRollbackFdLeak(t *testing.T) {
	dir := t.TempDir()
	f := vfstest.NewFaulty(nil)
	o := &Options{ChunkSize: cs}
	SetFS(o, f)
	m, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpOpen, "0000000000000002.chunk"), Err: syscall.ENOSPC, Times: 1})
	_, err = m.Append(make([]byte, 3*cs))
	t.Logf("Append: %v; descriptors of deleted chunk files held: %d", err, deletedFds(t, dir))
}
