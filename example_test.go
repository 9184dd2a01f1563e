package chunkmap_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/chunkmap/chunkmap"
)

// exampleDir returns a new empty directory and a function that removes it.
func exampleDir() (string, func()) {
	dir, err := os.MkdirTemp("", "chunkmap-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}

// The package doc's code, run (with chunks of 64 KiB rather than 64 MiB):
// one record appended, read back and made durable.
func Example() {
	dir, cleanup := exampleDir()
	defer cleanup()

	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	off, err := m.Append([]byte("first record")) // concurrent appends never overlap
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 12)
	if _, err := m.ReadAt(buf, off); err != nil { // io.ReaderAt
		log.Fatal(err)
	}
	if err := m.Sync(); err != nil { // durable from here on
		log.Fatal(err)
	}
	fmt.Printf("%d %q %d\n", off, buf, m.Size())
	// Output: 0 "first record" 12
}

func ExampleOpen() {
	dir, cleanup := exampleDir()
	defer cleanup()

	// A new dataset: 64 KiB chunks, at most 4 of them mapped at once.
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10, MaxMapped: 4})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("persistent"), 100_000); err != nil {
		log.Fatal(err)
	}
	if err := m.Close(); err != nil {
		log.Fatal(err)
	}

	// Reopen with default options: the chunk size is the dataset's own.
	m, err = chunkmap.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println("chunk size:", m.ChunkSize())
	fmt.Println("size:", m.Size())
	fmt.Println("chunks:", m.Stats().Chunks)

	// A second writer is refused while this one has the dataset open.
	_, err = chunkmap.Open(dir, nil)
	fmt.Println("second writer locked out:", errors.Is(err, chunkmap.ErrLocked))
	// Output:
	// chunk size: 65536
	// size: 100010
	// chunks: 2
	// second writer locked out: true
}

func ExampleManager_WriteAt() {
	dir, cleanup := exampleDir()
	defer cleanup()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// Writes and reads may cross chunk boundaries: this one starts 3 bytes
	// before the end of chunk 0.
	if _, err := m.WriteAt([]byte("straddling"), 64<<10-3); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 10)
	n, err := m.ReadAt(buf, 64<<10-3)
	fmt.Printf("%d %q %v\n", n, buf[:n], err)

	// The gap before the first write reads as zeros.
	n, err = m.ReadAt(buf[:4], 1000)
	fmt.Println(n, buf[:4], err)

	// A read that runs past Size returns what there is and io.EOF.
	n, err = m.ReadAt(buf, m.Size()-4)
	fmt.Printf("%d %q %v\n", n, buf[:n], err == io.EOF)
	// Output:
	// 10 "straddling" <nil>
	// 4 [0 0 0 0] <nil>
	// 4 "ling" true
}

func ExampleManager_Append() {
	dir, cleanup := exampleDir()
	defer cleanup()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// Each Append reserves its own range at the end, so concurrent
	// appends never overlap; it returns where the bytes went.
	for _, rec := range []string{"first", "second", "third"} {
		off, err := m.Append([]byte(rec))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(off, rec)
	}
	fmt.Println("size:", m.Size())
	// Output:
	// 0 first
	// 5 second
	// 11 third
	// size: 16
}

func ExampleManager_DropBefore() {
	dir, cleanup := exampleDir()
	defer cleanup()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// Three chunks of log, then retention drops everything before offset
	// 100,000: chunk 0 goes, chunk 1 (which holds offset 100,000) stays.
	if _, err := m.Append(make([]byte, 3*64<<10)); err != nil {
		log.Fatal(err)
	}
	if err := m.DropBefore(100_000); err != nil {
		log.Fatal(err)
	}
	fmt.Println("start:", m.Start())
	fmt.Println("chunks:", m.Stats().Chunks)

	_, err = m.ReadAt(make([]byte, 1), 0)
	fmt.Println("read below start:", errors.Is(err, chunkmap.ErrOutOfRange))
	// Output:
	// start: 65536
	// chunks: 2
	// read below start: true
}

func ExampleManager_Pin() {
	dir, cleanup := exampleDir()
	defer cleanup()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10, MaxMapped: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Append([]byte("hello, world")); err != nil {
		log.Fatal(err)
	}

	// A writable pin hands out the mapped bytes themselves; they stay
	// mapped, whatever else is mapped meanwhile, until Release.
	p, err := m.PinWritable(7, 5)
	if err != nil {
		log.Fatal(err)
	}
	copy(p.Bytes(), "there")
	fmt.Println("pinned:", m.Stats().Pinned)
	p.Release()

	buf := make([]byte, 12)
	if _, err := m.ReadAt(buf, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", buf)

	// A pin may cross chunk boundaries: its bytes are one slice, and every
	// chunk under it stays mapped until Release.
	if _, err := m.WriteAt([]byte("left|right"), 64<<10-5); err != nil {
		log.Fatal(err)
	}
	q, err := m.Pin(64<<10-5, 10)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("across a boundary: %s, %d chunks pinned\n", q.Bytes(), m.Stats().Pinned)
	q.Release()
	// Output:
	// pinned: 1
	// hello, there
	// across a boundary: left|right, 2 chunks pinned
}

// ExampleManager_Gather reads 8-byte values at scattered offsets in one call.
func ExampleManager_Gather() {
	dir, cleanup := exampleDir()
	defer cleanup()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	offs := []int64{8, 70_000, 65_532} // the last straddles two chunks
	if err := m.Scatter([]byte("aaaaaaaabbbbbbbbcccccccc"), offs, 8); err == nil {
		log.Fatal("Scatter past Size succeeded")
	}
	if err := m.Truncate(200_000); err != nil { // Scatter does not extend
		log.Fatal(err)
	}
	if err := m.Scatter([]byte("aaaaaaaabbbbbbbbcccccccc"), offs, 8); err != nil {
		log.Fatal(err)
	}
	got := make([]byte, 24)
	if err := m.Gather(got, []int64{65_532, 8}, 8); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(got[:16]))
	// Output: ccccccccaaaaaaaa
}

// ExampleRemove deletes a dataset once its writer has closed it.
func ExampleRemove() {
	dir, cleanup := exampleDir()
	defer cleanup()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.Append([]byte("short-lived")); err != nil {
		log.Fatal(err)
	}

	// While a writer has the dataset open, Remove refuses.
	err = chunkmap.Remove(dir)
	fmt.Println("while open:", errors.Is(err, chunkmap.ErrLocked))
	if err := m.Close(); err != nil {
		log.Fatal(err)
	}
	if err := chunkmap.Remove(dir); err != nil {
		log.Fatal(err)
	}

	// The directory held nothing else, so it is gone too; a second Remove,
	// or an Open that must not create, finds no dataset.
	_, err = os.Stat(dir)
	fmt.Println("directory removed:", errors.Is(err, os.ErrNotExist))
	fmt.Println("removed again:", errors.Is(chunkmap.Remove(dir), os.ErrNotExist))
	_, err = chunkmap.Open(dir, &chunkmap.Options{ErrorIfNotExists: true})
	fmt.Println("opened again:", errors.Is(err, os.ErrNotExist))
	// Output:
	// while open: true
	// directory removed: true
	// removed again: true
	// opened again: true
}

// A dataset built under a name of its own, synced by its Close, then moved
// into place: readers of "current" never see it half built.
func ExampleRename() {
	parent, cleanup := exampleDir()
	defer cleanup()
	next, current := filepath.Join(parent, "next"), filepath.Join(parent, "current")

	m, err := chunkmap.Open(next, &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.Append([]byte("index, version 2")); err != nil {
		log.Fatal(err)
	}
	if err := m.Close(); err != nil { // syncs
		log.Fatal(err)
	}
	if err := chunkmap.Rename(next, current); err != nil {
		log.Fatal(err)
	}

	r, err := chunkmap.Open(current, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	p := make([]byte, r.Size())
	if _, err := r.ReadAt(p, 0); err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(next)
	fmt.Printf("%s; next gone: %v\n", p, errors.Is(err, os.ErrNotExist))
	// Output:
	// index, version 2; next gone: true
}
