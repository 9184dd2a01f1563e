package main

// This file holds the demo subcommand: a dataset larger than the mapped
// window, written, verified and read at random through a Manager, and the
// same work done through one os.File for comparison.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/stop"
)

// Demo defaults: 1 GiB in 64 MiB chunks with 4 mapped, so three quarters of
// the dataset is unmapped at any time and the LRU works through the whole
// run; it takes a few seconds on a 2-core machine.
const (
	defaultDemoSize      = 1 << 30
	defaultDemoChunk     = 64 << 20
	defaultDemoMaxMapped = 4
	defaultDemoBlock     = 1 << 20
	defaultDemoReads     = 100_000
	defaultDemoReadSize  = 4 << 10
)

// demoConfig is the demo's command line.
type demoConfig struct {
	dir       string
	size      int64
	chunk     int64
	maxMapped int
	block     int64
	reads     int
	readSize  int64
	compare   bool
	admission bool
	seed      uint64
	// meter returns the progress meter of a phase; nil means newMeter on
	// standard error. Tests set it to see the meters.
	meter func(label string, total int64) *meter
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo")
	cfg := demoConfig{}
	size, chunkSize := newSize(defaultDemoSize), newSize(defaultDemoChunk)
	block, readSize := newSize(defaultDemoBlock), newSize(defaultDemoReadSize)
	fs.StringVar(&cfg.dir, "dir", "", "keep the dataset in `DIR` (new or empty); default: a temporary directory, removed afterwards")
	fs.Var(&size, "size", "dataset `size`: a positive multiple of 8 bytes")
	fs.Var(&chunkSize, "chunk", "chunk `size`: a power of two from 64KiB to 2GiB")
	fs.IntVar(&cfg.maxMapped, "max-mapped", defaultDemoMaxMapped, "most chunks mapped at once")
	fs.Var(&block, "block", "`size` of each sequential WriteAt and ReadAt: a multiple of 8 bytes, at most 1GiB")
	fs.IntVar(&cfg.reads, "reads", defaultDemoReads, "random reads in each random phase")
	fs.Var(&readSize, "read-size", "`size` of each random read: a multiple of 8 bytes, at most 1GiB and at most -size")
	fs.BoolVar(&cfg.compare, "compare", true, "run the same phases through os.File for comparison")
	fs.BoolVar(&cfg.admission, "admission", true, "serve misses with pread/pwrite unless a chunk is worth mapping (-admission=false sets Options.NoAdmission: map a chunk on every miss)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the random offsets")
	_, code, ok := parse(fs, args, 0,
		`Demo builds a dataset bigger than what may stay mapped (size > max-mapped x
chunk), writes it sequentially, syncs it, reads it back sequentially checking
every byte, then reads it at random, over the whole dataset and over a hot set
that fits in the mapped window. It prints a table with the throughput of
each phase, next to the same phases done with os.File's WriteAt and ReadAt
on one file in the same directory. While a phase runs, a progress line goes
to standard error when it is a terminal.

Ctrl-C, SIGTERM, SIGHUP or a closed standard output (chunkmap demo | head -1)
stop it at its next check: it closes the dataset, removes its temporary
directory (a -dir DIR keeps what was written), and exits with status 1,
quietly for a closed output.`, stdout, stderr)
	if !ok {
		return code
	}
	cfg.size, cfg.chunk, cfg.block, cfg.readSize = size.n, chunkSize.n, block.n, readSize.n
	if cfg.dir != "" {
		// A symlink to the directory is followed, as every command's
		// DIR is: the library's Open refuses one.
		cfg.dir = datasetDir(cfg.dir)
	}
	if err := cfg.check(); err != nil {
		fmt.Fprintf(stderr, "chunkmap demo: %v\n", err)
		return exitUsage
	}

	s := stop.New(rawOutput(stdout))
	defer s.Release()
	err := demo(s.Context(), cfg, s, stderr)
	return status(s, "demo", err, stderr)
}

// maxMapped32 is what a 32-bit process may keep mapped: -chunk times
// -max-mapped (Options.MaxMapped).
const maxMapped32 = 1 << 30

// check validates the flags, before the library sees them, so that an error
// names the flag and what it accepts rather than an Options field.
func (c *demoConfig) check() error {
	if err := checkChunkFlag(c.chunk); err != nil {
		return err
	}
	switch {
	case bits.UintSize == 32 && c.chunk > 1<<30:
		return fmt.Errorf("-chunk %d: want at most 1 GiB in a 32-bit process", c.chunk)
	case c.size <= 0 || c.size%8 != 0:
		return fmt.Errorf("-size %d: want a positive multiple of 8 bytes", c.size)
	case c.block <= 0 || c.block%8 != 0 || c.block > 1<<30:
		return fmt.Errorf("-block %d: want a positive multiple of 8 bytes, at most 1 GiB", c.block)
	case c.readSize <= 0 || c.readSize%8 != 0 || c.readSize > 1<<30 || c.readSize > c.size:
		// At most 1 GiB, as -block: the buffer is allocated whole.
		return fmt.Errorf("-read-size %d: want a positive multiple of 8 bytes, at most 1 GiB and at most -size (%d)", c.readSize, c.size)
	case c.maxMapped <= 0:
		return fmt.Errorf("-max-mapped %d: want at least 1", c.maxMapped)
	case bits.UintSize == 32 && c.chunk*int64(c.maxMapped) > maxMapped32:
		return fmt.Errorf("-max-mapped %d: %d chunks of %s exceed the %s a 32-bit process can keep mapped",
			c.maxMapped, c.maxMapped, formatBytes(c.chunk), formatBytes(maxMapped32))
	case c.reads < 0:
		return fmt.Errorf("-reads %d: want at least 0", c.reads)
	}
	return nil
}

// target is what the phases run against: a Manager or an os.File.
type target interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
}

// result is the measurement of one phase.
type result struct {
	bytes int64
	ops   int
	dur   time.Duration
	maps  int64 // chunk mappings made during the phase (chunkmap only)
}

// phase names, in the order they run.
var phaseNames = []string{"write", "sync", "sequential read", "random read", "random read, hot set"}

func demo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) (err error) {
	base, dsDir, osPath := cfg.dir, cfg.dir, filepath.Join(cfg.dir, "demo-osfile.tmp")
	if cfg.dir == "" {
		if base, err = os.MkdirTemp("", "chunkmap-demo-"); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(base)) }()
		dsDir, osPath = filepath.Join(base, "dataset"), filepath.Join(base, "osfile")
	} else if entries, err := os.ReadDir(cfg.dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("-dir %s is not empty; give a new or empty directory", cfg.dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}

	m, err := chunkmap.Open(dsDir, &chunkmap.Options{ChunkSize: cfg.chunk, MaxMapped: cfg.maxMapped, NoAdmission: !cfg.admission})
	if err != nil {
		return err
	}
	nchunks := chunksFor(cfg.size, cfg.chunk) // (size+chunk-1)/chunk overflows near math.MaxInt64
	// The product overflows for a -max-mapped near math.MaxInt64 (on
	// 64-bit platforms, where check does not bound it): it is at least
	// any dataset then.
	window := int64(math.MaxInt64)
	if int64(cfg.maxMapped) <= math.MaxInt64/cfg.chunk {
		window = int64(cfg.maxMapped) * cfg.chunk
	}
	admission := ""
	if cfg.admission {
		admission = ", with Admission"
	}
	fmt.Fprintf(stdout, "chunkmap demo: %s in %d chunks of %s, at most %d mapped (%s)%s, in %s\n",
		formatBytes(cfg.size), nchunks, formatBytes(cfg.chunk), cfg.maxMapped, formatBytes(window), admission, dsDir)
	if cfg.size <= window {
		fmt.Fprintf(stdout, "note: the dataset fits in the mapped window, so nothing is ever evicted; use -size larger than %s to see the LRU work\n",
			formatBytes(window))
	}

	if cfg.meter == nil {
		cfg.meter = func(label string, total int64) *meter { return newMeter(stderr, label, total) }
	}
	peak := 0
	sample := func() { peak = max(peak, m.Stats().Mapped) }
	maps := func() int64 { return m.Stats().Maps }
	// The hot set holds one read at least: a window smaller than
	// -read-size (which check keeps within -size) left no offset to read
	// from.
	hot := max(cfg.readSize, min(cfg.size, window))

	cm, err := phases(ctx, "chunkmap", m, cfg, hot, sample, maps)
	stats := m.Stats()
	sample()
	if err != nil {
		return errors.Join(err, m.Close())
	}
	if err := m.Close(); err != nil {
		return err
	}

	var of []result
	if cfg.compare {
		f, err := os.OpenFile(osPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		of, err = phases(ctx, "os.File", f, cfg, hot, func() {}, func() int64 { return 0 })
		err = errors.Join(err, f.Close(), os.Remove(osPath))
		if err != nil {
			return err
		}
	}

	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	header := "phase\tchunkmap\t\tchunk maps"
	if cfg.compare {
		header += "\tos.File ReadAt/WriteAt\t\tchunkmap/os.File speed"
	}
	fmt.Fprintln(tw, header)
	for i, name := range phaseNames {
		row := fmt.Sprintf("%s\t%s\t%s\t%d", phaseLabel(name, cfg, hot), rate(cm[i]), seconds(cm[i].dur), cm[i].maps)
		if cfg.compare {
			row += fmt.Sprintf("\t%s\t%s\t%s", rate(of[i]), seconds(of[i].dur), ratio(cm[i], of[i]))
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()

	fmt.Fprintf(stdout, "\nchunkmap stats: %d chunks, at most %d mapped at once (MaxMapped %d); %d maps, %d unmaps, %d evictions, %d misses\n",
		stats.Chunks, peak, cfg.maxMapped, stats.Maps, stats.Unmaps, stats.Evictions, stats.Misses)
	fmt.Fprintf(stdout, "verified: every byte read back sequentially, and %d random reads of %s, through chunkmap", 2*cfg.reads, formatBytes(cfg.readSize))
	if cfg.compare {
		fmt.Fprint(stdout, " and os.File")
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "reads are served from the page cache when it holds the data; sync is bound by the disk")
	if !cfg.admission && cm[3].maps > int64(cfg.reads)/10 {
		fmt.Fprintln(stdout, "random reads over more than the mapped window map a chunk on most misses; leave -admission on, which serves them with pread instead")
	}
	if cfg.dir != "" {
		fmt.Fprintf(stdout, "dataset kept in %s (try: chunkmap info %s)\n", dsDir, cmdArg(dsDir))
	}
	return nil
}

// phases runs every phase against t and returns their results in the
// order of phaseNames. sample is called now and then to watch the mapping
// count; maps returns the number of chunk mappings made so far. Each phase
// has its meter, erased when the phase ends, or when phases returns early.
func phases(ctx context.Context, who string, t target, cfg demoConfig, hot int64, sample func(), maps func() int64) ([]result, error) {
	var res []result
	// The random reads use it too, and -read-size may exceed -block.
	buf := make([]byte, max(cfg.block, cfg.readSize))
	mapsBefore := maps()
	add := func(r result) {
		now := maps()
		r.maps, mapsBefore = now-mapsBefore, now
		res = append(res, r)
	}
	var m *meter
	begin := func(phase string, total int64) time.Time {
		m.finish()
		m = cfg.meter(who+" "+phase, total)
		return time.Now()
	}
	defer func() { m.finish() }()

	// write: sequential blocks of the pattern.
	start := begin("write", cfg.size)
	for off := int64(0); off < cfg.size; off += cfg.block {
		if err := stopErr(ctx); err != nil {
			return nil, err
		}
		b := buf[:min(cfg.block, cfg.size-off)]
		fill(b, off)
		if _, err := t.WriteAt(b, off); err != nil {
			return nil, err
		}
		m.add(int64(len(b)))
		if off%cfg.chunk == 0 {
			sample()
		}
	}
	add(result{bytes: cfg.size, dur: time.Since(start)})

	// sync: one call, which cannot be stopped or measured; the meter shows
	// the time it takes.
	start = begin("sync", cfg.size)
	if err := m.wait(t.Sync); err != nil {
		return nil, err
	}
	add(result{bytes: cfg.size, dur: time.Since(start)})

	// sequential read, verified.
	start = begin("sequential read", cfg.size)
	for off := int64(0); off < cfg.size; off += cfg.block {
		if err := stopErr(ctx); err != nil {
			return nil, err
		}
		b := buf[:min(cfg.block, cfg.size-off)]
		if _, err := t.ReadAt(b, off); err != nil {
			return nil, err
		}
		if err := check(b, off); err != nil {
			return nil, fmt.Errorf("%s: %w", who, err)
		}
		m.add(int64(len(b)))
		if off%cfg.chunk == 0 {
			sample()
		}
	}
	add(result{bytes: cfg.size, dur: time.Since(start)})

	// random reads, over the whole dataset and over the hot set.
	for _, span := range []int64{cfg.size, hot} {
		start = begin(fmt.Sprintf("random read of %s", formatBytes(span)), int64(cfg.reads)*cfg.readSize)
		r, err := randomReads(ctx, who, t, cfg, span, buf[:cfg.readSize], m, sample)
		if err != nil {
			return nil, err
		}
		r.dur = time.Since(start)
		add(r)
	}
	return res, nil
}

// randomReads reads cfg.reads blocks at random 8-byte-aligned offsets in
// [0, span), checking each, and counts them on m. The offsets depend only
// on cfg.seed and span, so every target reads the same ones.
func randomReads(ctx context.Context, who string, t target, cfg demoConfig, span int64, b []byte, m *meter, sample func()) (result, error) {
	rng := rand.New(rand.NewPCG(cfg.seed, uint64(span)))
	slots := (span-int64(len(b)))/8 + 1
	const every = 4096 // reads between checks of ctx and of the meter
	for i := range cfg.reads {
		off := rng.Int64N(slots) * 8
		if _, err := t.ReadAt(b, off); err != nil {
			return result{}, err
		}
		if err := check(b, off); err != nil {
			return result{}, fmt.Errorf("%s: %w", who, err)
		}
		if (i+1)%every == 0 {
			if err := stopErr(ctx); err != nil {
				return result{}, err
			}
			m.add(every * int64(len(b)))
			sample()
		}
	}
	return result{bytes: int64(cfg.reads) * int64(len(b)), ops: cfg.reads}, nil
}

// word returns the 8 bytes the demo stores at offset off (a multiple of 8):
// a different value at every offset, never zero, so a misplaced or missing
// block cannot go unnoticed.
func word(off int64) uint64 {
	return (uint64(off)/8 + 1) * 0x9e3779b97f4a7c15
}

// fill stores the pattern for offset off into b.
func fill(b []byte, off int64) {
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], word(off+int64(i)))
	}
}

// check compares b, read at offset off, with the pattern.
func check(b []byte, off int64) error {
	for i := 0; i+8 <= len(b); i += 8 {
		if got, want := binary.LittleEndian.Uint64(b[i:]), word(off+int64(i)); got != want {
			return fmt.Errorf("verify: offset %d holds %#016x, want %#016x", off+int64(i), got, want)
		}
	}
	return nil
}

func phaseLabel(name string, cfg demoConfig, hot int64) string {
	switch name {
	case "write":
		return fmt.Sprintf("write (%s blocks)", formatBytes(cfg.block))
	case "sequential read":
		return fmt.Sprintf("sequential read (%s blocks, verified)", formatBytes(cfg.block))
	case "random read":
		return fmt.Sprintf("random %s reads, all %s", formatBytes(cfg.readSize), formatBytes(cfg.size))
	case "random read, hot set":
		return fmt.Sprintf("random %s reads, hot %s", formatBytes(cfg.readSize), formatBytes(hot))
	}
	return name
}

// rate formats the throughput of r: bytes per second, and operations per
// second for phases counted in operations. A phase that moved no bytes
// (-reads 0) has none.
func rate(r result) string {
	s := r.dur.Seconds()
	if s <= 0 || r.bytes == 0 {
		return "-"
	}
	bps := formatBytes(int64(float64(r.bytes)/s)) + "/s"
	if r.ops == 0 {
		return bps
	}
	return fmt.Sprintf("%s (%.0fk reads/s)", bps, float64(r.ops)/s/1000)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// ratio says how many times faster chunkmap was than os.File; "-" where a
// phase moved no bytes, whose time measures only the loop around nothing.
func ratio(cm, of result) string {
	if cm.dur <= 0 || of.dur <= 0 || cm.bytes == 0 || of.bytes == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", of.dur.Seconds()/cm.dur.Seconds())
}
