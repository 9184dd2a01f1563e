package bench

// This file holds the builders of the append workload: each grows a dataset
// from empty, one block at a time.

import (
	"errors"
	"os"

	"github.com/edsrzf/mmap-go"

	"github.com/chunkmap/chunkmap"
)

// Builder grows a new dataset from empty by appends.
type Builder interface {
	// Append writes p at the end of the dataset.
	Append(p []byte) error
	// Close releases the dataset; its files stay for the caller to remove.
	Close() error
}

// BuildImpl is a named builder.
type BuildImpl struct {
	Name string
	// Create creates an empty dataset at path (a file or a directory). A
	// chunkmap dataset uses opts.
	Create func(path string, opts chunkmap.Options) (Builder, error)
}

// BuildImpls are the builders, in the order they run. "flat" is flat with
// remap-on-grow, the way bbolt grows its mapping.
var BuildImpls = []BuildImpl{
	{Name: "flat", Create: createFlatBuilder},
	{Name: "pread", Create: createPwriteBuilder},
	{Name: "chunkmap", Create: createChunkmapBuilder},
}

// flatBuilder writes through one mapping of one file; when an append does
// not fit, it unmaps, extends the file and maps it again, with bbolt's
// growth policy (db.go mmapSize): double from 32 KiB up to 1 GiB, then grow
// 1 GiB at a time. Every remap must wait for all readers in bbolt; here it is
// the stall that shows in the slowest append.
type flatBuilder struct {
	f    *os.File
	m    mmap.MMap
	size int64
}

func createFlatBuilder(path string, _ chunkmap.Options) (Builder, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &flatBuilder{f: f}, nil
}

// remapSize is bbolt's mmapSize: the mapping size for a file that must hold
// at least need bytes.
func remapSize(need int64) int64 {
	const maxStep = 1 << 30
	for i := uint(15); i <= 30; i++ {
		if need <= 1<<i {
			return 1 << i
		}
	}
	if rem := need % maxStep; rem > 0 {
		need += maxStep - rem
	}
	return need
}

func (c *flatBuilder) Append(p []byte) error {
	end := c.size + int64(len(p))
	if end > int64(len(c.m)) {
		if c.m != nil {
			if err := c.m.Unmap(); err != nil {
				return err
			}
			c.m = nil
		}
		n := remapSize(end)
		if err := c.f.Truncate(n); err != nil {
			return err
		}
		m, err := mmap.Map(c.f, mmap.RDWR, 0)
		if err != nil {
			return err
		}
		c.m = m
	}
	copy(c.m[c.size:], p)
	c.size = end
	return nil
}

func (c *flatBuilder) Close() error {
	var err error
	if c.m != nil {
		err = c.m.Unmap()
	}
	return errors.Join(err, c.f.Truncate(c.size), c.f.Close())
}

// pwriteBuilder appends with pwrite.
type pwriteBuilder struct {
	f    *os.File
	size int64
}

func createPwriteBuilder(path string, _ chunkmap.Options) (Builder, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &pwriteBuilder{f: f}, nil
}

func (c *pwriteBuilder) Append(p []byte) error {
	n, err := c.f.WriteAt(p, c.size)
	c.size += int64(n)
	return err
}

func (c *pwriteBuilder) Close() error { return c.f.Close() }

// chunkmapBuilder uses Manager.Append.
type chunkmapBuilder struct {
	m *chunkmap.Manager
}

func createChunkmapBuilder(path string, opts chunkmap.Options) (Builder, error) {
	m, err := chunkmap.Open(path, &opts)
	if err != nil {
		return nil, err
	}
	return &chunkmapBuilder{m: m}, nil
}

func (c *chunkmapBuilder) Append(p []byte) error {
	_, err := c.m.Append(p)
	return err
}

func (c *chunkmapBuilder) Close() error { return c.m.Close() }
