//go:build linux

package chunkmap_test

// Re-entry from every kind of callback (a Batch function, run on its own
// goroutine or handing the call to a goroutine it waits for; an accessor
// Batch function; a block scan's and a typed scan's loop body, which
// breaks right after the call) into the calls the other re-entry tests
// leave out: Advise, Grow, Append, an atomic, Remove of the open dataset
// and Refresh on a writer. The dataset is checked against a model byte
// slice inside the callback, after it, and after a reopen, and the process
// must map and hold nothing of it once it is closed.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// rmModel is the dataset as it must be: model holds [0, Size), of which
// [start, Size) is readable.
type rmModel struct {
	t     *testing.T
	m     *chunkmap.Manager
	model []byte
	start int64
}

// rmPat is the pattern of the bytes written at off.
func rmPat(off int64, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((off+int64(i))*13 + 5)
	}
	return p
}

// same reports where got, the bytes at off, first differs from the model,
// or -1.
func (r *rmModel) same(got []byte, off int64) int64 {
	want := r.model[off : off+int64(len(got))]
	if bytes.Equal(got, want) {
		return -1
	}
	i := 0
	for got[i] == want[i] {
		i++
	}
	return off + int64(i)
}

func TestReentry_CallbacksKeepModel(t *testing.T) {
	watchdog.Start(t, 60*time.Second)
	const cs = chunkmap.MinChunkSize
	ops := []struct {
		name string
		f    func(r *rmModel) error
	}{
		{"advise-dontneed", func(r *rmModel) error {
			return r.m.Advise(r.start, int64(len(r.model))-r.start, chunkmap.AdviceDontNeed)
		}},
		{"advise-willneed", func(r *rmModel) error {
			return r.m.Advise(r.start, int64(len(r.model))-r.start, chunkmap.AdviceWillNeed)
		}},
		{"grow", func(r *rmModel) error { return r.m.Grow(3 * cs) }},
		{"append", func(r *rmModel) error {
			p := rmPat(77, 1000)
			off, err := r.m.Append(p)
			if err == nil {
				if off != int64(len(r.model)) {
					r.t.Errorf("Append at %d, want %d", off, len(r.model))
				}
				r.model = append(r.model, p...)
			}
			return err
		}},
		{"atomic", func(r *rmModel) error {
			x, err := r.m.AddUint64(cs-8, 1)
			if err == nil {
				binary.NativeEndian.PutUint64(r.model[cs-8:], x)
			}
			return err
		}},
		{"remove", func(r *rmModel) error {
			// flock locks belong to the open file description: the
			// writer's own process must be refused too.
			if err := chunkmap.Remove(r.m.Dir()); !errors.Is(err, chunkmap.ErrLocked) {
				r.t.Errorf("Remove of the open dataset: %v, want ErrLocked", err)
			}
			return nil
		}},
		{"refresh", func(r *rmModel) error { return r.m.Refresh() }},
	}
	contexts := []string{"batch", "batch-goroutine", "accessor-batch", "blocks", "typed-break"}
	for _, ctx := range contexts {
		for _, op := range ops {
			t.Run(ctx+"/"+op.name, func(t *testing.T) {
				dir := t.TempDir() + "/ds"
				// Two slots for six chunks: batches reach most of them
				// through private views.
				m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs})
				if err != nil {
					t.Fatal(err)
				}
				r := &rmModel{t: t, m: m, model: rmPat(0, 6*cs)}
				if _, err := m.WriteAt(r.model, 0); err != nil {
					t.Fatal(err)
				}
				va := accessor.New(m, binary.LittleEndian)
				call := func() {
					if err := op.f(r); err != nil {
						t.Errorf("%s: %v", op.name, err)
					}
				}
				switch ctx {
				case "batch", "batch-goroutine":
					err = m.Batch(func(b *chunkmap.Batch) error {
						if _, err := b.WritableBytes(cs-10, 2*cs); err != nil {
							return err
						}
						if ctx == "batch" {
							call()
						} else {
							done := make(chan struct{})
							go func() { defer close(done); call() }()
							<-done
						}
						n := len(r.model)
						p, err := b.Bytes(0, n)
						if err != nil {
							return err
						}
						if at := r.same(p, 0); at >= 0 {
							t.Errorf("the batch's bytes differ from the model at %d", at)
						}
						w, err := b.WritableBytes(int64(n)-3, 3)
						if err != nil {
							return err
						}
						copy(w, "end")
						copy(r.model[n-3:], "end")
						return nil
					})
				case "accessor-batch":
					err = va.Batch(func(b *accessor.Batch) error {
						if err := b.WriteUint64(cs-3, 0x1122334455667788); err != nil {
							return err
						}
						binary.LittleEndian.PutUint64(r.model[cs-3:], 0x1122334455667788)
						call()
						for o := int64(0); o+8 <= int64(len(r.model)); o += 997 {
							x, err := b.ReadUint64(o)
							if err != nil {
								return err
							}
							if want := binary.LittleEndian.Uint64(r.model[o:]); x != want {
								t.Errorf("ReadUint64(%d) = %#x, model %#x", o, x, want)
								break
							}
						}
						return nil
					})
				case "blocks":
					s := va.Scan()
					first := true
					for off, p := range s.Blocks(0, 6*cs) {
						if first {
							first = false
							call()
						}
						if at := r.same(p, off); at >= 0 {
							t.Errorf("block at %d differs from the model at %d", off, at)
						}
					}
					err = s.Err()
				case "typed-break":
					s := va.Scan()
					for range s.Uint64s(0, 6*cs/8) {
						call()
						break
					}
					err = s.Err()
				}
				if err != nil {
					t.Errorf("%s: %v", ctx, err)
				}
				if st := m.Stats(); st.Pinned != 0 || st.Mapped > 2 {
					t.Errorf("after the callback: Stats %+v, want nothing held and at most 2 mapped", st)
				}
				got := make([]byte, len(r.model))
				if _, err := m.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				if at := r.same(got, 0); at >= 0 {
					t.Errorf("after the callback: ReadAt differs from the model at %d", at)
				}
				if err := m.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				m2, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
				if err != nil {
					t.Fatal(err)
				}
				if m2.Size() != int64(len(r.model)) {
					t.Errorf("reopened: Size %d, want %d", m2.Size(), len(r.model))
				} else if _, err := m2.ReadAt(got, 0); err != nil {
					t.Error(err)
				} else if at := r.same(got, 0); at >= 0 {
					t.Errorf("reopened: bytes differ from the model at %d", at)
				}
				if err := m2.Close(); err != nil {
					t.Error(err)
				}
				m, m2, r, va = nil, nil, nil, nil
				bxWaitGone(t, dir, 1<<30)
			})
		}
	}
}
