//go:build linux

package chunkmap_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// TestFollowMix_AcrossWriterKills is TestFollowMix_EveryReadPath with the
// writer in child processes, each killed with SIGKILL at a random moment
// (inside a Truncate, a growth, a write, a DropBefore) and followed by a
// new one that recovers the dataset and goes on. The followers, in this
// process, follow every writer without Refresh, and every word they
// return must be one the writers could have had there since the call
// began: the writers keep the model (fmModel) in a file all the processes
// map. CHUNKMAP_SEED replays a run.
func TestFollowMix_AcrossWriterKills(t *testing.T) {
	if spec := os.Getenv("CHUNKMAP_FMKILL"); spec != "" {
		fmWriterChild(spec)
		return
	}
	const cs = chunkmap.MinChunkSize
	seed := testSeed(t, "CHUNKMAP_SEED")
	dir := filepath.Join(t.TempDir(), "ds")
	modelPath := filepath.Join(t.TempDir(), "model")
	md, unmap, err := fmMapModel(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(shrinkWords(1, 0, fmSpan), 0); err != nil {
		t.Fatal(err)
	}
	for i := range md.floor {
		md.floor[i].Store(1 << 1)
	}
	md.gen.Store(1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var done, failed atomic.Bool
	var wg sync.WaitGroup
	fmFollow(t, dir, seed, md, &done, &failed, &wg, func(error) bool { return false })
	rng := rand.New(rand.NewPCG(seed, 7))
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		if failed.Load() {
			break
		}
		c := mpStart(t, "TestFollowMix_AcrossWriterKills", fmt.Sprintf("CHUNKMAP_FMKILL=%s,%s,%d", dir, modelPath, seed+uint64(round)))
		if line := c.next(t, "writer open"); line != "ready" {
			t.Fatalf("round %d: writer child said %q\n%s", round, line, c.stderr.String())
		}
		time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
		c.kill()
		if s := c.stderr.String(); strings.Contains(s, "FAIL") {
			t.Fatalf("round %d: writer child failed:\n%s", round, s)
		}
	}
	done.Store(true)
	wg.Wait()
	t.Logf("last generation %d", md.gen.Load())
}

// fmMapModel maps the file path, made if need be, as an fmModel shared
// with the other processes that map it, and returns it with its unmap.
func fmMapModel(path string) (fmModel, func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmModel{}, nil, err
	}
	defer f.Close()
	n := 8 * (2 + fmSpan/8)
	if err := f.Truncate(int64(n)); err != nil {
		return fmModel{}, nil, err
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fmModel{}, nil, err
	}
	return newFmModel(mem), func() { syscall.Munmap(mem) }, nil
}

// fmWriterChild is the writer process of TestFollowMix_AcrossWriterKills:
// it opens the dataset (recovering it after the last writer's kill), says
// "ready", and runs generations, going on from the model's, until it is
// killed (or its parent is gone).
func fmWriterChild(spec string) {
	parts := strings.Split(spec, ",")
	dir, modelPath := parts[0], parts[1]
	seed, _ := strconv.ParseUint(parts[2], 10, 64)
	die := func(err error) {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(2)
	}
	md, _, err := fmMapModel(modelPath)
	if err != nil {
		die(err)
	}
	w, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 8})
	if err != nil {
		die(err)
	}
	fmt.Println("ready")
	rng := rand.New(rand.NewPCG(seed, 1))
	ppid := os.Getppid()
	for gen := md.gen.Load() + 1; os.Getppid() == ppid; gen++ {
		start := w.Start()
		if err := fmStep(w, md, rng, gen, start); err != nil {
			die(err)
		}
		if gen%37 == 0 && start < 2*chunkmap.MinChunkSize {
			if err := w.DropBefore(start + chunkmap.MinChunkSize); err != nil {
				die(err)
			}
		}
		if gen%29 == 0 {
			if err := w.Sync(); err != nil {
				die(err)
			}
		}
	}
}
