package chunkmap_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// This file checks Sync against the kernel's own count of dirty pages
// (cachestat(2), Linux 6.5 and later): after a Sync that returned nil, no
// chunk file has a page that the page cache still holds dirty, whatever
// path stored into it. A dirty flag that some path forgets to set, or sets
// on the wrong chunk, passes every test that reads the data back through
// the same process, and loses the bytes at the next power loss; here it
// shows as a dirty page.

// dirtyPages returns the dirty pages the page cache holds of the file at
// path, and false if the kernel has no cachestat.
func dirtyPages(t *testing.T, path string) (uint64, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Cachestat_t
	err = unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0) // Len 0: to the end
	if errors.Is(err, unix.ENOSYS) {
		return 0, false
	}
	if err != nil {
		t.Fatalf("cachestat %s: %v", path, err)
	}
	return st.Dirty, true
}

// requireClean fails if a chunk file in dir has a dirty page.
func requireClean(t *testing.T, dir, when string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.chunk"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		n, ok := dirtyPages(t, name)
		if !ok {
			t.Skip("this kernel has no cachestat(2) (Linux 6.5 and later)")
		}
		if n != 0 {
			t.Errorf("%s: %s has %d dirty pages after a nil Sync", when, filepath.Base(name), n)
		}
	}
}

func TestSyncLeavesNoDirtyPage(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	// Two mapped of eight chunks, in an arena of four slots: stores reach
	// mapped chunks, evicted ones, private views and slots held by others.
	tight := chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 4 * cs, NoAdmission: true}
	admit := chunkmap.Options{ChunkSize: cs, MaxMapped: 1, ArenaSize: 4 * cs}
	pattern := func(n int, v byte) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = v + byte(i)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		opts chunkmap.Options
		// do stores through one path; it may call c.sync while a pin or
		// a batch still holds the bytes it stores to.
		do func(c *syncCase, m *chunkmap.Manager)
	}{
		{"WriteAt to a mapped chunk", tight, func(c *syncCase, m *chunkmap.Manager) {
			c.ok(m.ReadAt(make([]byte, 8), 100))
			c.ok(m.WriteAt(pattern(100, 9), 100))
		}},
		{"WriteAt under Admission (pwrite)", admit, func(c *syncCase, m *chunkmap.Manager) {
			for i := int64(0); i < 8; i++ {
				c.ok(m.WriteAt(pattern(100, 9), i*cs+5))
			}
		}},
		{"PinWritable held across Syncs", tight, func(c *syncCase, m *chunkmap.Manager) {
			p := c.pin(m.PinWritable(10, 100))
			defer p.Release()
			copy(p.Bytes(), pattern(100, 1))
			c.sync("pin held")
			copy(p.Bytes(), pattern(100, 2))
		}},
		{"PinWritable across the arena's end (a view)", tight, func(c *syncCase, m *chunkmap.Manager) {
			p := c.pin(m.PinWritable(3*cs+cs/2, cs)) // chunks 3 and 4: slots 3 and 0
			defer p.Release()
			copy(p.Bytes(), pattern(cs, 3))
			c.sync("view pin held")
			copy(p.Bytes(), pattern(cs, 4))
		}},
		{"PinWritable of a chunk whose slot another holds", tight, func(c *syncCase, m *chunkmap.Manager) {
			q := c.pin(m.Pin(0, 10)) // holds slot 0
			defer q.Release()
			p := c.pin(m.PinWritable(4*cs+10, 100)) // chunk 4 needs slot 0
			defer p.Release()
			copy(p.Bytes(), pattern(100, 5))
		}},
		{"Batch WritableBytes with a Sync inside", tight, func(c *syncCase, m *chunkmap.Manager) {
			err := m.Batch(func(b *chunkmap.Batch) error {
				w, err := b.WritableBytes(cs+10, 100)
				if err != nil {
					return err
				}
				copy(w, pattern(100, 6))
				c.sync("inside a batch")
				copy(w, pattern(100, 7))
				v, err := b.WritableBytes(3*cs+cs/2, cs) // a view across the arena's end
				if err != nil {
					return err
				}
				copy(v, pattern(cs, 8))
				c.sync("inside a batch, a view")
				copy(v, pattern(cs, 1))
				return nil
			})
			if err != nil {
				c.Fatal(err)
			}
		}},
		{"accessor Batch after HoldWritable", tight, func(c *syncCase, m *chunkmap.Manager) {
			err := accessor.New(m, nil).Batch(func(b *accessor.Batch) error {
				if err := b.HoldWritable(0, 2*cs); err != nil {
					return err
				}
				for round := range uint64(2) {
					for off := int64(0); off < 2*cs; off += 4096 {
						if err := b.WriteUint64(off, uint64(off)+round); err != nil {
							return err
						}
					}
					if round == 0 {
						c.sync("inside a typed batch")
					}
				}
				return nil
			})
			if err != nil {
				c.Fatal(err)
			}
		}},
		{"atomics", tight, func(c *syncCase, m *chunkmap.Manager) {
			for i := int64(0); i < 8; i++ {
				c.ok(m.AddUint64(i*cs+8, 1))
				if err := m.StoreUint32(i*cs+4096, 1); err != nil {
					c.Fatal(err)
				}
				c.ok(m.CompareAndSwapUint64(i*cs+8192, 0, 5))
			}
		}},
		{"Scatter to evicted and mapped chunks", tight, func(c *syncCase, m *chunkmap.Manager) {
			c.ok(m.ReadAt(make([]byte, 8), cs))
			offs := []int64{5, cs + 5, 2*cs + 5, 7*cs - 3, 3*cs + 9, cs + 4096*5}
			if err := m.Scatter(pattern(48, 1), offs, 8); err != nil {
				c.Fatal(err)
			}
		}},
		{"accessor bulk and scatter writes", tight, func(c *syncCase, m *chunkmap.Manager) {
			va := accessor.New(m, nil)
			src := make([]uint64, 3*cs/8)
			for i := range src {
				src[i] = uint64(i)
			}
			if err := va.WriteUint64s(100, src); err != nil {
				c.Fatal(err)
			}
			if err := va.WriteUint64sAt([]int64{8, cs + 16, 5*cs - 4}, []uint64{1, 2, 3}); err != nil {
				c.Fatal(err)
			}
		}},
		{"Truncate down and up, then a write past Size", tight, func(c *syncCase, m *chunkmap.Manager) {
			c.ok(m.WriteAt(pattern(100, 1), 6*cs+100))
			if err := m.Truncate(6*cs + 50); err != nil {
				c.Fatal(err)
			}
			if err := m.Truncate(7 * cs); err != nil {
				c.Fatal(err)
			}
			c.ok(m.WriteAt(pattern(10, 1), 8*cs+5))
		}},
		{"Append, bulk and small", tight, func(c *syncCase, m *chunkmap.Manager) {
			c.ok(m.Append(pattern(5*cs+77, 2)))
			c.ok(m.Append(pattern(3, 2)))
		}},
		{"stores to chunks evicted before the Sync", tight, func(c *syncCase, m *chunkmap.Manager) {
			for i := int64(0); i < 8; i++ {
				p := c.pin(m.PinWritable(i*cs, 64))
				copy(p.Bytes(), pattern(64, byte(i)))
				p.Release()
			}
		}},
		{"DropBefore, then a write", tight, func(c *syncCase, m *chunkmap.Manager) {
			c.ok(m.WriteAt(pattern(10, 1), 2*cs))
			if err := m.DropBefore(cs); err != nil {
				c.Fatal(err)
			}
			c.ok(m.WriteAt(pattern(10, 1), 2*cs+5))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := tc.opts
			m, err := chunkmap.Open(dir, &opts)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			c := &syncCase{t, m, dir}
			c.ok(m.WriteAt(make([]byte, 8*cs), 0))
			c.sync("8 chunks written")
			tc.do(c, m)
			c.sync("after the stores")
		})
	}
}

// syncCase is a case of TestSyncLeavesNoDirtyPage.
type syncCase struct {
	*testing.T
	m   *chunkmap.Manager
	dir string
}

// sync syncs and checks that no chunk file is left with a dirty page.
func (c *syncCase) sync(when string) {
	c.Helper()
	if err := c.m.Sync(); err != nil {
		c.Fatalf("%s: Sync: %v", when, err)
	}
	requireClean(c.T, c.dir, when)
}

// ok fails the test if a call that returns a value and an error failed.
func (c *syncCase) ok(_ any, err error) {
	c.Helper()
	if err != nil {
		c.Fatal(err)
	}
}

// pin returns the pin that Pin or PinWritable returned, or fails the test.
func (c *syncCase) pin(p *chunkmap.Pinned, err error) *chunkmap.Pinned {
	c.Helper()
	if err != nil {
		c.Fatal(err)
	}
	return p
}
