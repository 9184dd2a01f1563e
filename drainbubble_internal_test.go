package chunkmap

import (
	"os"
	"os/exec"
	"testing"
	"testing/synctest"
	"time"
)

// TestDrainWriters_InABubbleWithCallersWaiting evicts, inside a
// testing/synctest bubble, a chunk whose slot a lock-free store (here
// simulated, outside the bubble) is still announced in, while another
// caller of the bubble waits for the Manager's lock. The eviction waits
// for the store under the lock; it slept on the clock between its looks,
// and a bubble's clock only moves while every goroutine of the bubble is
// durably blocked, which one waiting for a mutex never is: the eviction
// slept for good, and with it the waiting caller and the bubble. The
// scenario runs in a child process, which a hang leaves to a timeout.
func TestDrainWriters_InABubbleWithCallersWaiting(t *testing.T) {
	if os.Getenv("CHUNKMAP_DRAIN_CHILD") == "" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^TestDrainWriters_InABubbleWithCallersWaiting$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CHUNKMAP_DRAIN_CHILD=1", "CHUNKMAP_DRAIN_DIR="+t.TempDir())
		done := make(chan struct{})
		var out []byte
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("an eviction waiting for a store in flight, inside a bubble with another caller waiting for the lock, hung")
		}
		return
	}
	m, err := Open(os.Getenv("CHUNKMAP_DRAIN_DIR"), &Options{ChunkSize: MinChunkSize, MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append(make([]byte, 4*MinChunkSize)); err != nil {
		t.Fatal(err)
	}
	hold := func(idx int64) error {
		return m.Batch(func(b *Batch) error { _, err := b.Bytes(idx*MinChunkSize, 8); return err })
	}
	if err := hold(1); err != nil { // chunk 1 mapped, and not held
		t.Fatal(err)
	}
	s := &m.slots[m.slotNum(1)]
	s.enter() // a store in flight, outside the bubble
	go func() {
		time.Sleep(200 * time.Millisecond)
		s.leave()
	}()
	synctest.Test(t, func(t *testing.T) {
		evicted := make(chan error, 1)
		go func() { evicted <- hold(2) }() // evicts chunk 1, waiting for the store
		time.Sleep(time.Millisecond)
		waited := make(chan error, 1)
		go func() { waited <- hold(3) }() // waits for the lock
		for _, c := range []chan error{evicted, waited} {
			if err := <-c; err != nil {
				t.Error(err)
			}
		}
	})
}
