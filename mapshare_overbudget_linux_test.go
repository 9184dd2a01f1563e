package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

// TestMapShare_OverBudget: a Manager over the process's budget with nothing
// of its own to unmap serves every call, and a Sync makes what pwrite
// wrote durable (a power loss right after it keeps it).
func TestMapShare_OverBudget(t *testing.T) {
	for _, noAdm := range []bool{true, false} {
		start := chunkmap.MapsHeld()
		restore := chunkmap.SetMapBudget(start + retiredHeld() + 1)
		root := t.TempDir()
		dir := filepath.Join(root, "d")
		rec := vfstest.NewRecorder(vfs.OS, "A")
		o := chunkmap.Options{ChunkSize: shareChunk, NoAdmission: noAdm}
		chunkmap.SetFS(&o, rec)
		m, err := chunkmap.Open(dir, &o)
		if err != nil {
			t.Fatal(err)
		}
		model := chunkPattern(0, 5*shareChunk+123)
		if _, err := m.WriteAt(model, 0); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			off := int64(i) * 17001 % int64(len(model)-300)
			if _, err := m.WriteAt(model[off:off+300], off); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 300)
			if _, err := m.ReadAt(got, off); err != nil || !bytes.Equal(got, model[off:off+300]) {
				t.Fatalf("ReadAt %d: %v", off, err)
			}
		}
		if st := m.Stats(); st.Mapped != 0 {
			t.Errorf("over budget, Mapped = %d after ReadAt/WriteAt", st.Mapped)
		}
		// pins, batches, atomics, Gather map all the same
		p, err := m.PinWritable(shareChunk-4, 8)
		if err != nil {
			t.Fatal(err)
		}
		copy(p.Bytes(), "ABCDEFGH")
		copy(model[shareChunk-4:], "ABCDEFGH")
		p.Release()
		if _, err := m.AddUint64(3*shareChunk, 5); err != nil {
			t.Fatal(err)
		}
		model[3*shareChunk] += 5
		err = m.Batch(func(b *chunkmap.Batch) error {
			w, err := b.WritableBytes(2*shareChunk-10, 20)
			if err != nil {
				return err
			}
			copy(w, "batchbatchbatchbatch")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		copy(model[2*shareChunk-10:], "batchbatchbatchbatch")
		dst := make([]byte, 16)
		if err := m.Gather(dst, []int64{0, 4*shareChunk + 7}, 8); err != nil || !bytes.Equal(dst[:8], model[:8]) || !bytes.Equal(dst[8:], model[4*shareChunk+7:4*shareChunk+15]) {
			t.Fatalf("Gather: %v", err)
		}
		// more pwrites after the chunks above were mapped
		for i := range 10 {
			off := int64(i)*31337%int64(len(model)-50) + 1
			b := bytes.Repeat([]byte{byte(i + 1)}, 50)
			if _, err := m.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
			copy(model[off:], b)
		}
		ext := chunkPattern(int64(len(model)), 2*shareChunk)
		if _, err := m.Append(ext); err != nil {
			t.Fatal(err)
		}
		model = append(model, ext...)
		got := make([]byte, len(model))
		if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, model) {
			t.Fatalf("whole ReadAt: %v", err)
		}
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		img := filepath.Join(root, "img")
		if err := rec.Materialize(dir, vfstest.Cut{After: rec.Steps()}, img); err != nil {
			t.Fatal(err)
		}
		m.Close()
		o2 := chunkmap.Options{ChunkSize: shareChunk}
		chunkmap.SetFS(&o2, vfstest.WithBootID(vfs.OS, "B"))
		m2, err := chunkmap.Open(img, &o2)
		if err != nil {
			t.Fatal(err)
		}
		if m2.Size() != int64(len(model)) {
			t.Errorf("after a power loss past Sync: Size %d, want %d", m2.Size(), len(model))
		}
		got = make([]byte, m2.Size())
		m2.ReadAt(got, 0)
		if !bytes.Equal(got, model[:len(got)]) {
			for i := range got {
				if got[i] != model[i] {
					t.Errorf("NoAdmission %v: after a power loss past Sync, byte %d = %d, want %d", noAdm, i, got[i], model[i])
					break
				}
			}
		}
		m2.Close()
		restore()
		wantHeld(t, "end", start)
	}
}

// TestMapShare_PinsPastShare: Managers opened up to Open's refusal, each
// then taking one pin, atomic or batch and letting it go, must not leave
// the Managers holding more than Open's three quarters (held <= 1.5 budgets,
// as TestMapLimit_ManyManagers checks after ReadAt and WriteAt).
func TestMapShare_PinsPastShare(t *testing.T) {
	for _, how := range []string{"atomic", "pin", "batch"} {
		t.Run(how, func(t *testing.T) {
			start := chunkmap.MapsHeld()
			budget := start + retiredHeld() + 8
			defer chunkmap.SetMapBudget(budget)()
			root := t.TempDir()
			var ms []*chunkmap.Manager
			defer func() {
				for _, m := range ms {
					m.Close()
				}
			}()
			for i := 0; i < 4*int(budget); i++ {
				m, err := chunkmap.Open(filepath.Join(root, fmt.Sprint(i)), &chunkmap.Options{ChunkSize: shareChunk, NoAdmission: true})
				if err != nil {
					break
				}
				ms = append(ms, m)
				if _, err := m.WriteAt(chunkPattern(0, 2*shareChunk), 0); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range ms {
				switch how {
				case "atomic":
					if _, err := m.AddUint64(shareChunk, 1); err != nil {
						t.Fatal(err)
					}
				case "pin":
					p, err := m.Pin(shareChunk, 8)
					if err != nil {
						t.Fatal(err)
					}
					p.Release()
				case "batch":
					if err := m.Batch(func(b *chunkmap.Batch) error { _, err := b.Bytes(shareChunk, 8); return err }); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := chunkmap.MapsHeld(); got > 3*budget/2+1 {
				t.Errorf("%d Managers (refused at the next), each after one %s let go: MapsHeld %d, over the %d that Open's three quarters allow (budget %d): about %d of %d mappings",
					len(ms), how, got, 3*budget/2+1, budget, 2*got, 4*budget)
			}
		})
	}
}

// TestMapShare_HeldChunksRefused: pins map the chunks they hold past the
// process's share of mappings, and held chunks never give way, so pins
// taken one after another without a release must be refused (ErrIO
// matching syscall.ENOMEM, saying what gives room) before the Managers of
// the process hold seven eighths of the mappings the system allows it.
// Before, every pin was granted up to the system's limit, past which the
// runtime's next mapping killed the process. ReadAt of a chunk that is not
// mapped still works meanwhile (pread), and once the pins are released a
// pin is granted again.
func TestMapShare_HeldChunksRefused(t *testing.T) {
	// A share b (a quarter of the system's limit: 4b mappings, two to a
	// chunk) whose seven eighths (1.75 b chunks) leave room for about 32
	// pins beside what earlier tests hold, and whose three quarters (1.5 b
	// chunks) still let this Manager in.
	start := chunkmap.MapsHeld() + retiredHeld()
	budget := max((2*start+4)/3+1, (4*(start+32)+6)/7)
	chunks := 7*budget/4 - start + 16
	defer chunkmap.SetSystemMapBudget(budget)()
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: shareChunk, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteAt(chunkPattern(0, chunks*shareChunk), 0); err != nil {
		t.Fatal(err)
	}
	var pins []*chunkmap.Pinned
	release := func() {
		for _, p := range pins {
			p.Release()
		}
		pins = nil
	}
	defer release()
	var refused error
	for c := range chunks {
		p, err := m.Pin(c*shareChunk, 8)
		if err != nil {
			refused = err
			break
		}
		pins = append(pins, p)
	}
	if refused == nil {
		t.Fatalf("%d pins held at once, all granted, with a share of %d mappings' worth of chunks: MapsHeld %d, about %d of the %d mappings the budget stands for",
			len(pins), budget, chunkmap.MapsHeld(), 2*chunkmap.MapsHeld(), 4*budget)
	}
	if !errors.Is(refused, chunkmap.ErrIO) || !errors.Is(refused, syscall.ENOMEM) || !strings.Contains(refused.Error(), "release pins") {
		t.Errorf("pin %d refused with %v; want ErrIO matching syscall.ENOMEM that says to release pins", len(pins), refused)
	}
	if msg := refused.Error(); !strings.Contains(msg, chunkName(int64(len(pins)))) || strings.Contains(msg, "ulimit -v") {
		t.Errorf("pin %d refused with %q; want it to name the chunk's file (%s), and no advice about address space", len(pins), msg, chunkName(int64(len(pins))))
	}
	if held := chunkmap.MapsHeld(); 2*held > 7*budget/2+1 {
		t.Errorf("with %d pins held, MapsHeld %d: about %d of %d mappings, past seven eighths", len(pins), held, 2*held, 4*budget)
	}
	if len(pins) < 16 {
		t.Errorf("only %d pins granted, with room for about 32 (share %d, %d held before)", len(pins), budget, start)
	}
	b := make([]byte, shareChunk)
	last := chunks - 1
	if _, err := m.ReadAt(b, last*shareChunk); err != nil || !bytes.Equal(b, chunkPattern(last*shareChunk, shareChunk)) {
		t.Errorf("ReadAt of chunk %d beside %d pins: %v, or wrong bytes", last, len(pins), err)
	}
	release()
	p, err := m.Pin(last*shareChunk, 8)
	if err != nil {
		t.Fatalf("Pin after the pins were released: %v", err)
	}
	p.Release()
}
