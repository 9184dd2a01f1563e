package accessor_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// openExample opens a new dataset with 64 KiB chunks in a temporary
// directory; cleanup closes it and removes the directory.
func openExample() (m *chunkmap.Manager, cleanup func()) {
	dir, err := os.MkdirTemp("", "accessor-example")
	if err != nil {
		log.Fatal(err)
	}
	m, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	return m, func() {
		m.Close()
		os.RemoveAll(dir)
	}
}

// The package's whole API in one place: typed values, slices, atomics and
// a zero-copy view.
func Example() {
	m, cleanup := openExample()
	defer cleanup()
	va := accessor.New(m, binary.BigEndian)

	// A write past Size extends the dataset, as WriteAt does.
	if err := va.WriteUint64(0, 0xcafe); err != nil {
		log.Fatal(err)
	}
	x, err := va.ReadUint64(0)
	if err != nil {
		log.Fatal(err)
	}

	if err := va.WriteFloat64s(8, []float64{1.5, 2.5}); err != nil {
		log.Fatal(err)
	}
	vals := make([]float64, 2)
	if err := va.ReadFloat64s(8, vals); err != nil {
		log.Fatal(err)
	}

	// Atomics work on bytes that exist: [Start, Size).
	if err := va.WriteUint64(24, 0); err != nil {
		log.Fatal(err)
	}
	n, err := va.AddUint64(24, 1)
	if err != nil {
		log.Fatal(err)
	}

	w, err := va.Slice(0, 32)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%#x %v %d %#x %d\n", x, vals, n, w.Bytes()[6:8], m.Size())
	w.Release()
	// Output: 0xcafe [1.5 2.5] 1 0xcafe 32
}

// Typed reads and writes go to the right chunk; a value across a chunk
// boundary is assembled from both.
func ExampleNew() {
	m, cleanup := openExample()
	defer cleanup()
	va := accessor.New(m, nil) // nil: little endian

	boundary := m.ChunkSize()
	if err := va.WriteInt32(boundary-2, -42); err != nil { // 2 bytes in each chunk
		log.Fatal(err)
	}
	if err := va.WriteFloat32(boundary+2, 0.25); err != nil {
		log.Fatal(err)
	}
	i, err := va.ReadInt32(boundary - 2)
	if err != nil {
		log.Fatal(err)
	}
	f, err := va.ReadFloat32(boundary + 2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(i, f, m.Size()-boundary)

	// Reading past Size is out of range, not io.EOF.
	_, err = va.ReadUint64(m.Size() - 4)
	fmt.Println(err != nil && err != io.EOF)
	// Output:
	// -42 0.25 6
	// true
}

// Bulk calls convert a whole slice in one call.
func ExampleViewAccessor_WriteUint32s() {
	m, cleanup := openExample()
	defer cleanup()
	be := accessor.New(m, binary.BigEndian)
	le := accessor.New(m, binary.LittleEndian)

	if err := be.WriteUint32s(100, []uint32{1, 2, 0x01020304}); err != nil {
		log.Fatal(err)
	}
	got := make([]uint32, 3)
	if err := be.ReadUint32s(100, got); err != nil {
		log.Fatal(err)
	}
	swapped := make([]uint32, 3)
	if err := le.ReadUint32s(100, swapped); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%#x\n%#x\n", got, swapped)
	// Output:
	// [0x1 0x2 0x1020304]
	// [0x1000000 0x2000000 0x4030201]
}

// Atomics are safe across goroutines (and across processes that map the
// same chunk files). They touch only bytes inside [Start, Size), so make
// room first.
func ExampleViewAccessor_AddUint64() {
	m, cleanup := openExample()
	defer cleanup()
	va := accessor.New(m, nil)
	const counter = 64
	if err := va.WriteUint64(counter, 0); err != nil {
		log.Fatal(err)
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if _, err := va.AddUint64(counter, 1); err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
	total, err := va.LoadUint64(counter)
	if err != nil {
		log.Fatal(err)
	}
	swapped, err := va.CompareAndSwapUint64(counter, 4000, 0)
	if err != nil {
		log.Fatal(err)
	}
	_, err = va.AddUint64(counter+4, 1) // not 8-byte aligned
	fmt.Println(total, swapped, err != nil)
	// Output: 4000 true true
}

// Slice hands out the mapped bytes themselves, pinned until Release.
func ExampleViewAccessor_Slice() {
	m, cleanup := openExample()
	defer cleanup()
	va := accessor.New(m, nil)
	if _, err := va.WriteAt([]byte("hello, world"), 1000); err != nil {
		log.Fatal(err)
	}

	w, err := va.Slice(1000, 12)
	if err != nil {
		log.Fatal(err)
	}
	copy(w.Bytes()[7:], "chunk") // a store to the dataset itself
	fmt.Printf("%s %d\n", w.Bytes(), m.Stats().Pinned)
	w.Release()
	w.Release() // idempotent

	buf := make([]byte, 12)
	if _, err := va.ReadAt(buf, 1000); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %d\n", buf, m.Stats().Pinned)

	// A view must lie within [Start, Size), but may cross chunk
	// boundaries: its bytes are one slice, and every chunk under it stays
	// pinned until Release.
	_, err = va.Slice(m.ChunkSize()-4, 8)
	fmt.Println(errors.Is(err, chunkmap.ErrOutOfRange))
	if _, err := va.WriteAt([]byte("left|right"), m.ChunkSize()-5); err != nil {
		log.Fatal(err)
	}
	w, err = va.Slice(m.ChunkSize()-5, 10)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %d\n", w.Bytes(), m.Stats().Pinned)
	w.Release()
	// Output:
	// hello, chunk 1
	// hello, chunk 0
	// true
	// left|right 2
}

// The standard library supplies streams over a range of a Manager or a
// ViewAccessor.
func Example_sectionReader() {
	m, cleanup := openExample()
	defer cleanup()
	va := accessor.New(m, nil)

	w := io.NewOffsetWriter(va, m.ChunkSize()-5)
	fmt.Fprintf(w, "across %s boundary", "the")
	r := io.NewSectionReader(va, m.ChunkSize()-5, 10)
	b, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", b)
	// Output: "across the"
}

// Random reads at memory speed: one call gathers the values at many offsets.
func ExampleViewAccessor_ReadUint64sAt() {
	m, cleanup := openExample()
	defer cleanup()
	va := accessor.New(m, nil)
	if err := va.WriteUint64s(0, []uint64{10, 11, 12, 13, 14, 15, 16, 17}); err != nil {
		log.Fatal(err)
	}
	dst := make([]uint64, 3)
	if err := va.ReadUint64sAt([]int64{56, 0, 24}, dst); err != nil {
		log.Fatal(err)
	}
	fmt.Println(dst)
	// Output: [17 10 13]
}

// A Batch reads and writes in place under one fault guard for the whole
// loop; it does not extend the dataset.
func ExampleViewAccessor_Batch() {
	m, cleanup := openExample()
	defer cleanup()
	va := accessor.New(m, nil)
	if err := m.Truncate(1 << 20); err != nil { // 16 chunks of zeros
		log.Fatal(err)
	}
	var sum uint64
	err := va.Batch(func(b *accessor.Batch) error {
		for off := int64(4); off < 1<<20-8; off += 1 << 16 {
			if err := b.WriteUint64(off, uint64(off)); err != nil {
				return err
			}
		}
		for off := int64(4); off < 1<<20-8; off += 1 << 16 {
			x, err := b.ReadUint64(off)
			if err != nil {
				return err
			}
			sum += x
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
	// Output: 7864384
}

// A Batch that will reach most chunks of a range in no useful order holds
// the range first, so that every access finds its chunk without a call.
func ExampleBatch_Hold() {
	m, cleanup := openExample()
	defer cleanup()
	va := accessor.New(m, nil)
	const n = 1 << 17 // 128 Ki uint64s: 1 MiB, 16 chunks
	if err := m.Truncate(8 * n); err != nil {
		log.Fatal(err)
	}
	err := va.Batch(func(b *accessor.Batch) error {
		if err := b.HoldWritable(0, 8*n); err != nil {
			return err
		}
		for i := range int64(n) {
			if err := b.WriteUint64(8*i, uint64(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	var sum uint64
	err = va.Batch(func(b *accessor.Batch) error {
		if err := b.Hold(0, 8*n); err != nil {
			return err
		}
		for i := range int64(1000) {
			x, err := b.ReadUint64(8 * (i * 7919 % n)) // a stride that visits the chunks out of order
			if err != nil {
				return err
			}
			sum += x
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
	// Output: 65192468
}
