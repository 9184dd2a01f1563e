//go:build linux

package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// stressPat is the only non-zero value any test here stores at offset off,
// so that a byte read from the wrong chunk (another one sharing its slot,
// or a deleted one reached through a stale address) shows as neither zero
// nor stressPat(off).
func stressPat(off int64) byte {
	x := uint64(off)*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	b := byte(x >> 56)
	if b == 0 {
		b = 1
	}
	return b
}

func stressFillPat(p []byte, off int64) {
	for i := range p {
		p[i] = stressPat(off + int64(i))
	}
}

// stressCheckPat returns where p, read at off, holds a byte that is
// neither zero nor stressPat, or -1.
func stressCheckPat(p []byte, off int64) int {
	for i, b := range p {
		if b != 0 && b != stressPat(off+int64(i)) {
			return i
		}
	}
	return -1
}

// TestStress_ShrinkRacesHolders truncates and regrows a dataset of up to
// five 64 KiB chunks without pause while other goroutines hold pins,
// writable pins and long batches across chunk boundaries, Scatter, Gather,
// read and store atomically, with one or two chunks mapped in arenas of one
// or two slots. Every store writes stressPat, so every byte read must be 0
// or stressPat of its offset. It proves that Truncate of held chunks and
// their regrowth never crash, hang, hand out another chunk's bytes, or
// return an error outside the contract (ErrOutOfRange, io.EOF); that once
// everything is released the bound holds, no mapping of a deleted chunk
// file lingers (Stats and /proc/self/maps agree); and that the final
// contents survive Close and reopen with no descriptor left open.
func TestStress_ShrinkRacesHolders(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	configs := []chunkmap.Options{
		{ChunkSize: cs, MaxMapped: 1, ArenaSize: cs},
		{ChunkSize: cs, MaxMapped: 1, ArenaSize: 2 * cs, NoAdmission: true},
		{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs},
		{ChunkSize: cs, MaxMapped: 2, ArenaSize: cs, NoAdmission: true},
	}
	seed := testSeed(t, "CHUNKMAP_STRESS_SEED")
	for i, o := range configs {
		t.Run(fmt.Sprintf("mapped%d/arena%d/noadm=%v", o.MaxMapped, o.ArenaSize/cs, o.NoAdmission), func(t *testing.T) {
			s := seed + uint64(i)
			t.Logf("config seed %d", s)
			stressShrinkRun(t, o, s)
		})
	}
}

func stressShrinkRun(t *testing.T, opts chunkmap.Options, seed uint64) {
	const cs = chunkmap.MinChunkSize
	const maxSize = 5 * cs
	dir := t.TempDir()
	fdBase, _ := stressFDs(t, dir)
	m, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	full := make([]byte, maxSize)
	stressFillPat(full, 0)
	if _, err := m.WriteAt(full, 0); err != nil {
		t.Fatal(err)
	}
	master := rand.New(rand.NewPCG(seed, 2))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var truncs int
	trng := rand.New(rand.NewPCG(master.Uint64(), 0))
	advGo(t, &wg, "truncator", func() {
		for !t.Failed() {
			select {
			case <-stop:
				return
			default:
			}
			if err := m.Truncate(trng.Int64N(maxSize + 1)); stressErr(t, "truncate", err) {
				return
			}
			truncs++
			lo := trng.Int64N(maxSize)
			if _, err := m.WriteAt(full[lo:], lo); stressErr(t, "regrow", err) {
				return
			}
			if trng.IntN(8) == 0 {
				if err := m.Sync(); stressErr(t, "sync", err) {
					return
				}
			}
			time.Sleep(time.Duration(trng.IntN(300)) * time.Microsecond)
		}
	})
	bad := func(what string, p []byte, off int64) bool {
		if i := stressCheckPat(p, off); i >= 0 {
			t.Errorf("%s: byte at %d (chunk %d) = %#x, want 0 or %#x", what, off+int64(i), (off+int64(i))/cs, p[i], stressPat(off+int64(i)))
			return true
		}
		return false
	}
	for g := 0; g < 4; g++ {
		rng := rand.New(rand.NewPCG(master.Uint64(), uint64(g+1)))
		advGo(t, &wg, fmt.Sprintf("worker %d", g), func() {
			for !t.Failed() {
				select {
				case <-stop:
					return
				default:
				}
				off := rng.Int64N(maxSize)
				n := 1 + rng.IntN(int(min(maxSize-off, 2*cs)))
				switch rng.IntN(7) {
				case 0:
					p := make([]byte, n)
					k, err := m.ReadAt(p, off)
					if stressErr(t, "ReadAt", err, chunkmap.ErrOutOfRange) || bad("ReadAt", p[:k], off) {
						return
					}
				case 1, 2:
					pin, err := m.Pin(off, n)
					if err == nil && rng.IntN(2) == 0 {
						pin.Release()
						pin, err = m.PinWritable(off, n)
						if err == nil {
							stressFillPat(pin.Bytes(), off)
						}
					}
					if stressErr(t, "pin", err, chunkmap.ErrOutOfRange) {
						return
					}
					if err != nil {
						continue
					}
					time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
					failed := bad("pinned bytes", pin.Bytes(), off)
					pin.Release()
					if failed {
						return
					}
				case 3:
					err := m.Batch(func(b *chunkmap.Batch) error {
						for range 4 {
							o := rng.Int64N(maxSize)
							k := 1 + rng.IntN(int(min(maxSize-o, cs+cs/2)))
							if rng.IntN(2) == 0 {
								w, err := b.WritableBytes(o, k)
								if err != nil {
									return err
								}
								stressFillPat(w, o)
							} else {
								r, err := b.Bytes(o, k)
								if err != nil {
									return err
								}
								if bad("batch bytes", r, o) {
									return nil
								}
							}
							time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
						}
						return nil
					})
					if stressErr(t, "batch", err, chunkmap.ErrOutOfRange) {
						return
					}
				case 4, 5:
					k := 1 + rng.IntN(400)
					vn := 1 + rng.IntN(16)
					offs := make([]int64, k)
					for i := range offs {
						offs[i] = rng.Int64N(maxSize - int64(vn) + 1)
					}
					buf := make([]byte, k*vn)
					var err error
					if rng.IntN(2) == 0 {
						for i, o := range offs {
							stressFillPat(buf[i*vn:(i+1)*vn], o)
						}
						err = m.Scatter(buf, offs, vn)
					} else if err = m.Gather(buf, offs, vn); err == nil {
						for i, o := range offs {
							if bad("Gather", buf[i*vn:(i+1)*vn], o) {
								return
							}
						}
					}
					if stressErr(t, "gather/scatter", err, chunkmap.ErrOutOfRange) {
						return
					}
				case 6:
					o := off &^ 7
					x, err := m.LoadUint64(o)
					if stressErr(t, "LoadUint64", err, chunkmap.ErrOutOfRange) {
						return
					}
					if err == nil {
						var w [8]byte
						for i := range w {
							w[i] = byte(x >> (8 * i))
						}
						if bad("LoadUint64", w[:], o) {
							return
						}
						var want uint64
						for i := 7; i >= 0; i-- {
							want = want<<8 | uint64(stressPat(o+int64(i)))
						}
						if err := m.StoreUint64(o, want); stressErr(t, "StoreUint64", err, chunkmap.ErrOutOfRange) {
							return
						}
					}
				}
			}
		})
	}
	time.Sleep(time.Second)
	close(stop)
	advWait(t, &wg, 60*time.Second, "workers")
	t.Logf("%d truncations", truncs)
	if t.Failed() {
		m.Close()
		return
	}
	// Quiet: regrow to full, check every path reads the whole pattern.
	if _, err := m.WriteAt(full, 0); err != nil {
		t.Fatal(err)
	}
	stressCheckBound(t, m, dir, opts.MaxMapped, 0, "quiet, after the races")
	verify := func(m *chunkmap.Manager, what string) {
		t.Helper()
		got := make([]byte, maxSize)
		if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, full) {
			t.Fatalf("%s: ReadAt: %v, at %d", what, err, firstDiff(got, full))
		}
		offs := make([]int64, 0, maxSize/61)
		for o := int64(0); o+61 <= maxSize; o += 61 {
			offs = append(offs, o)
		}
		g := make([]byte, len(offs)*61)
		if err := m.Gather(g, offs, 61); err != nil || !bytes.Equal(g, full[:len(g)]) {
			t.Fatalf("%s: Gather: %v, at %d", what, err, firstDiff(g, full[:len(g)]))
		}
		err := m.Batch(func(b *chunkmap.Batch) error {
			p, err := b.Bytes(cs/2, 3*cs)
			if err != nil {
				return err
			}
			if !bytes.Equal(p, full[cs/2:cs/2+3*cs]) {
				return fmt.Errorf("batch bytes differ at %d", firstDiff(p, full[cs/2:cs/2+3*cs]))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: Batch: %v", what, err)
		}
		pin, err := m.Pin(cs-7, 2*cs)
		if err != nil {
			t.Fatalf("%s: Pin: %v", what, err)
		}
		if !bytes.Equal(pin.Bytes(), full[cs-7:3*cs-7]) {
			t.Errorf("%s: pinned bytes differ at %d", what, firstDiff(pin.Bytes(), full[cs-7:3*cs-7]))
		}
		pin.Release()
	}
	verify(m, "after the races")
	stressCheckBound(t, m, dir, opts.MaxMapped, 0, "quiet, after verifying")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if k := stressChunkMapped(t, dir); k != 0 {
		t.Errorf("after Close, /proc/self/maps lists %d bytes of chunk files", k)
	}
	if all, of := stressFDs(t, dir); of != 0 || all > fdBase {
		t.Errorf("after Close: %d descriptors (%d before Open), %d of the dataset", all, fdBase, of)
	}
	m2, err := chunkmap.Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	verify(m2, "after reopen")
}

// TestStress_PinAcrossTruncateRegrow holds a writable pin and a batch on
// chunks that Truncate then deletes and WriteAt creates again with other
// bytes, with MaxMapped 1 and an arena of one or two slots, so that the
// new chunks must live beside (or be kept out of their slot by) the
// doomed ones. It proves that every path (ReadAt, Gather, a new Pin, a new
// Batch) reads the new bytes while the old holds are open, that stores
// through the old pin are discarded with the deleted chunk, and that once
// the holds end no mapping of a deleted file is left and the bound holds.
func TestStress_PinAcrossTruncateRegrow(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, arena := range []int64{1, 2, 4} {
		for _, noadm := range []bool{false, true} {
			t.Run(fmt.Sprintf("arena%d/noadm=%v", arena, noadm), func(t *testing.T) {
				dir := t.TempDir()
				fdBase, _ := stressFDs(t, dir)
				opts := chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: arena * cs, NoAdmission: noadm}
				m, err := chunkmap.Open(dir, &opts)
				if err != nil {
					t.Fatal(err)
				}
				a := bytes.Repeat([]byte{0xa1}, 4*cs)
				if _, err := m.WriteAt(a, 0); err != nil {
					t.Fatal(err)
				}
				pin, err := m.PinWritable(2*cs-100, 200) // chunks 1 and 2
				if err != nil {
					t.Fatal(err)
				}
				inBatch, endBatch, batchDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
				go func() {
					batchDone <- m.Batch(func(b *chunkmap.Batch) error {
						if _, err := b.WritableBytes(3*cs-10, 20); err != nil { // chunks 2 and 3
							return err
						}
						close(inBatch)
						<-endBatch
						return nil
					})
				}()
				select {
				case <-inBatch:
				case err := <-batchDone:
					t.Fatalf("batch: %v", err)
				}
				stressCheckBound(t, m, dir, 1, 4, "pin and batch open") // two holds of two chunks each
				if err := m.Truncate(cs); err != nil {
					t.Fatal(err)
				}
				bb := make([]byte, 3*cs)
				stressFillPat(bb, cs)
				if _, err := m.WriteAt(bb, cs); err != nil {
					t.Fatal(err)
				}
				want := append(bytes.Repeat([]byte{0xa1}, cs), bb...)
				// Stores through the old pin go to the deleted chunks.
				for i := range pin.Bytes() {
					if pin.Bytes()[i] != 0xa1 {
						t.Fatalf("old pin byte %d = %#x, want the deleted chunk's 0xa1", i, pin.Bytes()[i])
					}
					pin.Bytes()[i] = 0xee
				}
				check := func(what string) {
					t.Helper()
					got := make([]byte, 4*cs)
					if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
						t.Fatalf("%s: ReadAt: %v, first difference at %d", what, err, firstDiff(got, want))
					}
					offs := []int64{2*cs - 4, 3*cs - 4, cs - 4, 4*cs - 8, 2 * cs}
					g := make([]byte, 8*len(offs))
					if err := m.Gather(g, offs, 8); err != nil {
						t.Fatalf("%s: Gather: %v", what, err)
					}
					for i, o := range offs {
						if !bytes.Equal(g[8*i:8*i+8], want[o:o+8]) {
							t.Fatalf("%s: Gather at %d = %x, want %x", what, o, g[8*i:8*i+8], want[o:o+8])
						}
					}
					p2, err := m.Pin(2*cs-100, 200)
					if err != nil {
						t.Fatalf("%s: Pin: %v", what, err)
					}
					if !bytes.Equal(p2.Bytes(), want[2*cs-100:2*cs+100]) {
						t.Errorf("%s: new pin reads %x..., want %x...", what, p2.Bytes()[:8], want[2*cs-100:2*cs-92])
					}
					p2.Release()
					err = m.Batch(func(b *chunkmap.Batch) error {
						p, err := b.Bytes(3*cs-10, 20)
						if err != nil {
							return err
						}
						if !bytes.Equal(p, want[3*cs-10:3*cs+10]) {
							return fmt.Errorf("reads %x, want %x", p, want[3*cs-10:3*cs+10])
						}
						return nil
					})
					if err != nil {
						t.Fatalf("%s: new Batch: %v", what, err)
					}
				}
				check("holds open")
				close(endBatch)
				if err := <-batchDone; err != nil {
					t.Fatalf("batch: %v", err)
				}
				pin.Release()
				check("holds released")
				stressCheckBound(t, m, dir, 1, 0, "holds released")
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				if all, of := stressFDs(t, dir); of != 0 || all > fdBase {
					t.Errorf("after Close: %d descriptors (%d before Open), %d of the dataset", all, fdBase, of)
				}
				m, err = chunkmap.Open(dir, &opts)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				check("after reopen")
			})
		}
	}
}

// TestStress_BatchViewAfterRegrow reads (and writes) a range across the
// arena's end inside a Batch (so the Batch maps it in a private view), has
// Truncate delete its chunks and WriteAt create them again with new
// bytes, and reads (and writes) the same range through the same Batch. The
// Batch's documentation promises that each call sees the dataset as it is,
// and that a chunk deleted and created again is reached anew; a Batch
// that kept handing out its old view would return the deleted chunks'
// bytes, and its stores would be lost with them.
func TestStress_BatchViewAfterRegrow(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, write := range []bool{false, true} {
		t.Run(fmt.Sprintf("writable=%v", write), func(t *testing.T) {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 2 * cs})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.WriteAt(bytes.Repeat([]byte{0xaa}, 4*cs), 0); err != nil {
				t.Fatal(err)
			}
			off := int64(2*cs - 16) // chunks 1 and 2: slots 1 and 0, across the arena's end
			get := func(b *chunkmap.Batch) ([]byte, error) {
				if write {
					return b.WritableBytes(off, 32)
				}
				return b.Bytes(off, 32)
			}
			err = m.Batch(func(b *chunkmap.Batch) error {
				if _, err := get(b); err != nil {
					return err
				}
				if err := m.Truncate(cs); err != nil {
					return err
				}
				if _, err := m.WriteAt(bytes.Repeat([]byte{0xbb}, 3*cs), cs); err != nil {
					return err
				}
				p, err := get(b)
				if err != nil {
					return err
				}
				if !bytes.Equal(p, bytes.Repeat([]byte{0xbb}, 32)) {
					t.Errorf("after Truncate and regrow the Batch hands out %x, want the new bytes bb...", p)
				}
				if write {
					copy(p, bytes.Repeat([]byte{0xcc}, 32))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if write {
				got := make([]byte, 32)
				if _, err := m.ReadAt(got, off); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, bytes.Repeat([]byte{0xcc}, 32)) {
					t.Errorf("stores through WritableBytes after the regrow read back as %x: lost", got)
				}
			}
		})
	}
}

// TestStress_BatchWriteRacingTruncate has one goroutine Truncate a dataset
// to one 64 KiB chunk and write it back to three, while another asks a
// Batch for WritableBytes in the third chunk. The Batch's call must either
// succeed or fail with ErrOutOfRange (the range went past Size: "read
// Start and Size again"); ErrFault says a chunk file was truncated or
// removed by another process and that its data is in doubt, which is false
// here: the Manager itself deleted it.
func TestStress_BatchWriteRacingTruncate(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	data := make([]byte, 3*cs)
	stressFillPat(data, 0)
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	advGo(t, &wg, "truncator", func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := m.Truncate(cs); err != nil {
				t.Errorf("truncate: %v", err)
				return
			}
			if _, err := m.WriteAt(data[cs:], cs); err != nil {
				t.Errorf("regrow: %v", err)
				return
			}
		}
	})
	deadline := time.Now().Add(stormFor(2 * time.Second))
	var ok, oor int
	for time.Now().Before(deadline) && !t.Failed() {
		err := m.Batch(func(b *chunkmap.Batch) error {
			_, err := b.WritableBytes(2*cs+100, 100)
			return err
		})
		switch {
		case err == nil:
			ok++
		case errors.Is(err, chunkmap.ErrOutOfRange):
			oor++
		default:
			t.Errorf("after %d successes and %d ErrOutOfRange: WritableBytes racing Truncate: %v", ok, oor, err)
		}
	}
	close(stop)
	advWait(t, &wg, 30*time.Second, "truncator")
	t.Logf("%d successes, %d ErrOutOfRange", ok, oor)
}
