// Hugearray keeps a uint64 array bigger than what may stay mapped in a
// chunkmap dataset: it fills the array sequentially with bulk writes,
// syncs it, checksums it with bulk reads, probes it at random, and prints
// the throughput of each step and the Manager's Stats.
//
//	go run ./examples/hugearray [-n 512Mi] [-chunk 64MiB] [-max-mapped 8] [-dir DIR]
//
// Sizes are bytes, 0x-prefixed hex, or a number with a unit (64MiB, 1.5GiB,
// 10MB); counts take the same forms, and the binary units also without
// their B (512Mi elements are 512 × 2^20).
//
// The default array is 4 GiB (2^29 elements) in 64 MiB chunks with 8 mapped,
// so at most 512 MiB is mapped at a time and the LRU evicts throughout.
// Without -dir it works in a temporary directory and removes it afterwards.
// Ctrl-C, SIGTERM, SIGHUP or a closed standard output (hugearray | head -1)
// stop it at its next check: it closes the dataset, removes its temporary
// directory (a -dir DIR keeps what was written) and exits with status 1,
// quietly for a closed output.
package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/program"
	"github.com/chunkmap/chunkmap/internal/stop"
	"github.com/chunkmap/chunkmap/internal/units"
)

func main() { program.Main("hugearray", run) }

// maxBatch is the most elements -batch takes: its buffer, 8 bytes an
// element, is allocated whole.
const maxBatch = 128 << 20

// config is the command line.
type config struct {
	dir       string
	n         int64 // elements
	chunk     int64 // bytes
	maxMapped int
	batch     int // elements per bulk call
	probes    int
	seed      uint64
}

// run runs the example with the command line args, printing to w.
func run(args []string, w io.Writer) (err error) {
	var cfg config
	fs := program.Flags("hugearray")
	fs.StringVar(&cfg.dir, "dir", "", "dataset `directory`, new or empty, kept afterwards (default: a temporary directory, removed)")
	n := fs.String("n", "512Mi", "array `length` in elements (8 bytes each): a count such as 300000, 64Ki or 512Mi")
	chunk := fs.String("chunk", "64MiB", "chunk `size`: a power of two from 64KiB (or 64Ki) to 2GiB")
	fs.IntVar(&cfg.maxMapped, "max-mapped", 8, "most chunks mapped at once")
	fs.IntVar(&cfg.batch, "batch", 1<<20, "elements per bulk write or read, at most 128Mi (a buffer of 1 GiB)")
	fs.IntVar(&cfg.probes, "probes", 100_000, "random probes")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the probe positions")
	if help, err := program.Parse(fs, args, w); help || err != nil {
		return err
	}
	if cfg.n, err = parseCount(*n); err != nil {
		return fmt.Errorf("-n: %w", err)
	}
	if cfg.chunk, err = parseCount(*chunk); err != nil {
		return fmt.Errorf("-chunk: %w", err)
	}
	// Checked before anything is made, so that an error names the flag
	// rather than the Options field the library would name, and the
	// header does not print a chunk size or window the library replaces
	// with its defaults (0 means those there).
	switch {
	case cfg.n <= 0:
		return fmt.Errorf("-n %s: want at least 1", *n)
	case cfg.chunk < chunkmap.MinChunkSize || cfg.chunk > chunkmap.MaxChunkSize || cfg.chunk&(cfg.chunk-1) != 0:
		return fmt.Errorf("-chunk %s: want a power of two from 64KiB to 2GiB", *chunk)
	case cfg.maxMapped < 1:
		return fmt.Errorf("-max-mapped %d: want at least 1", cfg.maxMapped)
	case cfg.batch < 1:
		return fmt.Errorf("-batch %d: want at least 1", cfg.batch)
	case cfg.batch > maxBatch:
		// The buffer is allocated whole: a count past what memory can
		// hold died in make (makeslice: len out of range) or ran the
		// process out of memory.
		return fmt.Errorf("-batch %d: want at most %d (a buffer of %s)", cfg.batch, maxBatch, size(maxBatch*8))
	case cfg.probes < 0:
		return fmt.Errorf("-probes %d: want at least 0", cfg.probes)
	}
	if cfg.n > math.MaxInt64/8 {
		return fmt.Errorf("-n %d: the array's bytes would overflow int64 offsets", cfg.n)
	}
	// The header prints the window in bytes, which a count this large
	// would wrap to a negative size.
	if int64(cfg.maxMapped) > math.MaxInt64/cfg.chunk {
		return fmt.Errorf("-max-mapped %d: that many chunks of %s would overflow int64 bytes", cfg.maxMapped, *chunk)
	}
	return program.Work(w, cfg.dir, "hugearray", program.Empty, func(dir string, st *stop.Stopper) error {
		cfg.dir = dir
		return hugeArray(cfg, st, st)
	})
}

// value is the element stored at index i: distinct for every index, so a
// misplaced write shows up in the probes.
func value(i int64) uint64 { return uint64(i)*0x9e3779b97f4a7c15 + 1 }

// checksum folds v into sum. The order of the elements matters, and the
// rotation carries high bits of the product down into the low ones.
func checksum(sum, v uint64) uint64 { return bits.RotateLeft64((sum^v)*0x100000001b3, 29) }

// hugeArray runs the example, printing to w; it stops at its next check
// once st.Err is not nil.
func hugeArray(cfg config, st *stop.Stopper, w io.Writer) (err error) {
	m, err := chunkmap.Open(cfg.dir, &chunkmap.Options{ChunkSize: cfg.chunk, MaxMapped: cfg.maxMapped})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.Close()) }()
	arr := accessor.New(m, nil)
	bytes := cfg.n * 8
	fmt.Fprintf(w, "array of %d uint64 (%s) in %s: chunks of %s, at most %d mapped (%s)\n",
		cfg.n, size(bytes), cfg.dir, size(cfg.chunk), cfg.maxMapped, size(int64(cfg.maxMapped)*cfg.chunk))

	// Fill, one bulk write per batch.
	batch := make([]uint64, min(int64(cfg.batch), cfg.n))
	var want uint64
	begin := time.Now()
	for i := int64(0); i < cfg.n; i += int64(len(batch)) {
		b := batch[:min(int64(len(batch)), cfg.n-i)]
		for k := range b {
			b[k] = value(i + int64(k))
			want = checksum(want, b[k])
		}
		if err := arr.WriteUint64s(i*8, b); err != nil {
			return err
		}
		if err := st.Err(); err != nil {
			return err
		}
	}
	report(w, "fill (WriteUint64s)", bytes, cfg.n, time.Since(begin))
	if err := st.Err(); err != nil {
		return err
	}

	begin = time.Now()
	if err := m.Sync(); err != nil {
		return err
	}
	report(w, "sync", bytes, 0, time.Since(begin))

	// Checksum, one bulk read per batch.
	var got uint64
	begin = time.Now()
	for i := int64(0); i < cfg.n; i += int64(len(batch)) {
		b := batch[:min(int64(len(batch)), cfg.n-i)]
		if err := arr.ReadUint64s(i*8, b); err != nil {
			return err
		}
		for _, v := range b {
			got = checksum(got, v)
		}
		if err := st.Err(); err != nil {
			return err
		}
	}
	report(w, "checksum (ReadUint64s)", bytes, cfg.n, time.Since(begin))
	if got != want {
		return fmt.Errorf("checksum %#016x, want %#016x", got, want)
	}
	fmt.Fprintf(w, "  checksum %#016x matches what was written\n", got)

	// Random probes, one typed read each.
	rng := rand.New(rand.NewPCG(cfg.seed, 0))
	before := m.Stats()
	begin = time.Now()
	for p := range cfg.probes {
		if p%4096 == 0 {
			if err := st.Err(); err != nil {
				return err
			}
		}
		i := rng.Int64N(cfg.n)
		v, err := arr.ReadUint64(i * 8)
		if err != nil {
			return err
		}
		if v != value(i) {
			return fmt.Errorf("element %d is %#x, want %#x", i, v, value(i))
		}
	}
	report(w, "random probes (ReadUint64)", int64(cfg.probes)*8, int64(cfg.probes), time.Since(begin))
	after := m.Stats()
	// With admission (the default), a miss maps its chunk only once the
	// chunk is missed more often than a mapped one is used; the other
	// misses are read with pread, which costs far less than mapping a
	// chunk for one read when the probes spread over more chunks than
	// MaxMapped.
	fmt.Fprintf(w, "  all %d probes correct; %s\n", cfg.probes,
		missLine(after.Misses-before.Misses, after.Maps-before.Maps, after.Unmaps-before.Unmaps))

	s := m.Stats()
	fmt.Fprintf(w, "stats: chunks %d, mapped %d, pinned %d, hits %d, misses %d, maps %d, unmaps %d, evictions %d\n",
		s.Chunks, s.Mapped, s.Pinned, s.Hits, s.Misses, s.Maps, s.Unmaps, s.Evictions)
	return nil
}

// report prints one step: its duration, and its throughput in bytes and, if
// ops > 0, in elements per second.
func report(w io.Writer, step string, bytes, ops int64, d time.Duration) {
	s := d.Seconds()
	fmt.Fprintf(w, "%-28s %8.3fs  %10s/s", step, s, size(int64(float64(bytes)/s)))
	if ops > 0 {
		fmt.Fprintf(w, "  %8.2f M elements/s", float64(ops)/s/1e6)
	}
	fmt.Fprintln(w)
}

// parseCount parses a count of elements or bytes with [units.ParseSize],
// which also takes the binary units without their B, as counts of
// elements are written: 512Mi is 512MiB, 2^29.
func parseCount(s string) (int64, error) {
	t := strings.TrimSpace(s)
	for _, prefix := range []string{"ki", "mi", "gi", "ti", "pi", "ei"} {
		if strings.HasSuffix(strings.ToLower(t), prefix) {
			t += "B"
			break
		}
	}
	n, err := units.ParseSize(t)
	if pe, ok := errors.AsType[*units.ParseError](err); ok && t != s {
		e := *pe
		e.Input = s // name what was given, not what it was read as
		return 0, &e
	}
	return n, err
}

// size formats a byte count with a binary unit.
func size(n int64) string { return units.FormatBytes(n) }

// missLine says how the probes that missed the mapped chunks were served.
func missLine(misses, maps, unmaps int64) string {
	switch {
	case misses == 0:
		return "every probe hit a mapped chunk"
	case maps == misses:
		return fmt.Sprintf("%d missed the mapped chunks and mapped their chunk (%d unmapped another)", misses, unmaps)
	case maps == 0:
		return fmt.Sprintf("%d missed the mapped chunks and were read with pread", misses)
	}
	return fmt.Sprintf("%d missed the mapped chunks: %d of those mapped their chunk (%d unmapped another), the rest were read with pread", misses, maps, unmaps)
}
