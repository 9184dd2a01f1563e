package bench

// This file makes the data every contender reads: one flat file and one
// chunkmap dataset per size, holding the same bytes, cached in one temporary
// directory for the life of the process.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/chunkmap/chunkmap"
)

// BlockSize is the unit in which data files are generated, warmed and
// appended, and the size of one sequential read: 1 MiB.
const BlockSize = 1 << 20

// Value returns the uint64 that every dataset holds, little endian, at the
// 8-aligned offset off. Random writes store the same value back, so the
// bytes stay the same whatever order the benchmarks run in, and any
// contender's read can be checked against it.
func Value(off int64) uint64 { return uint64(off)*0x9e3779b97f4a7c15 ^ 0x5851f42d4c957f2d }

// Fill sets p to the dataset's bytes at offset off. Both off and len(p) must
// be multiples of 8.
func Fill(p []byte, off int64) {
	for i := 0; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], Value(off+int64(i)))
	}
}

// Cache holds the data files of a run in one directory: a file or dataset
// is made the first time its size is asked for, and reused after that, so
// that disk use stays bounded by one copy per size and layout. Files are made
// under a temporary name and renamed when complete, so a directory shared by
// several processes (cmd/report runs one test process per round) only ever
// holds complete ones. Remove deletes the directory if the Cache created it.
//
// A Cache is safe for concurrent use; making a file holds its lock.
type Cache struct {
	dir   string
	owned bool // made by NewCache; Remove deletes it

	mu sync.Mutex
}

// NewCache returns a cache in dir, creating it if need be; an empty dir
// means a new temporary directory under os.TempDir().
func NewCache(dir string) (*Cache, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		return &Cache{dir: dir}, nil
	}
	dir, err := os.MkdirTemp("", "chunkmap-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return &Cache{dir: dir, owned: true}, nil
}

// Dir returns the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Path returns a fresh path inside the cache directory for scratch files,
// which the caller removes.
func (c *Cache) Path(name string) string { return filepath.Join(c.dir, "scratch-"+name) }

// Remove deletes the cache directory and everything in it if NewCache
// created it, and only the scratch files otherwise.
func (c *Cache) Remove() error {
	if c.owned {
		return os.RemoveAll(c.dir)
	}
	scratch, err := filepath.Glob(filepath.Join(c.dir, "scratch-*"))
	for _, p := range scratch {
		err = errors.Join(err, os.RemoveAll(p))
	}
	return err
}

// FlatFile returns the path of a file of size bytes holding the dataset's
// bytes. size must be a multiple of 8.
func (c *Cache) FlatFile(size int64) (string, error) {
	name := "flat-" + FormatSize(size)
	return c.make(name, func(path string) error { return writeFlat(path, size) })
}

// ChunkDataset returns the directory of a chunkmap dataset of size bytes in
// chunks of chunkSize bytes, holding the dataset's bytes.
func (c *Cache) ChunkDataset(size, chunkSize int64) (string, error) {
	name := "chunkmap-" + FormatSize(size) + "-" + FormatSize(chunkSize)
	return c.make(name, func(path string) error { return writeChunked(path, size, chunkSize) })
}

func (c *Cache) make(name string, create func(path string) error) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	path := filepath.Join(c.dir, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := filepath.Join(c.dir, "scratch-"+name)
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := create(tmp); err != nil {
		return "", errors.Join(fmt.Errorf("bench: make %s: %w", name, err), os.RemoveAll(tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", errors.Join(fmt.Errorf("bench: make %s: %w", name, err), os.RemoveAll(tmp))
	}
	return path, nil
}

func writeFlat(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	buf := make([]byte, BlockSize)
	for off := int64(0); off < size; off += BlockSize {
		p := buf[:min(BlockSize, size-off)]
		Fill(p, off)
		if _, err := f.WriteAt(p, off); err != nil {
			return errors.Join(err, f.Close())
		}
	}
	// Written back now, so that no benchmark pays for it (a chunkmap
	// dataset is synced by Close).
	return errors.Join(f.Sync(), f.Close())
}

func writeChunked(dir string, size, chunkSize int64) error {
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkSize})
	if err != nil {
		return err
	}
	buf := make([]byte, min(BlockSize, chunkSize))
	for off := int64(0); off < size; off += int64(len(buf)) {
		p := buf[:min(int64(len(buf)), size-off)]
		Fill(p, off)
		if _, err := m.Append(p); err != nil {
			return errors.Join(err, m.Close())
		}
	}
	return m.Close()
}

// Warm reads [0, size) of r in blocks, so that the page cache holds the
// bytes and, for the mapping contenders, the page tables map them.
func Warm(r io.ReaderAt, size int64) error {
	buf := make([]byte, BlockSize)
	for off := int64(0); off < size; off += BlockSize {
		p := buf[:min(BlockSize, size-off)]
		if _, err := r.ReadAt(p, off); err != nil {
			return fmt.Errorf("bench: warm at offset %d: %w", off, err)
		}
	}
	return nil
}
