// Quickstart is the README's quick start, complete: it opens a dataset,
// writes typed values across a chunk boundary, reads them back, syncs,
// closes, reopens the dataset and shows that the values survived.
//
//	go run ./examples/quickstart [-dir DIR]
//
// Without -dir it works in a temporary directory and removes it afterwards,
// also when Ctrl-C, SIGTERM, SIGHUP or a closed standard output
// (quickstart | head -1) would stop it: it finishes its few milliseconds
// of work, removes the directory and exits with status 1, quietly for a
// closed output.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/program"
	"github.com/chunkmap/chunkmap/internal/stop"
)

func main() { program.Main("quickstart", run) }

// run runs the example with the command line args, printing to w.
func run(args []string, w io.Writer) error {
	fs := program.Flags("quickstart")
	dir := fs.String("dir", "", "dataset `directory`, kept afterwards (default: a temporary directory, removed)")
	if help, err := program.Parse(fs, args, w); help || err != nil {
		return err
	}
	// The work is too short to be worth stopping: a stop is seen after it.
	return program.Work(w, *dir, "quickstart", program.Any, func(dir string, st *stop.Stopper) error {
		return quickstart(dir, st)
	})
}

// quickstart runs the example in the directory dir, printing to w.
func quickstart(dir string, w io.Writer) (err error) {
	step := stepper(w)

	// Open creates the dataset. Chunks are 64 KiB here, the smallest size,
	// so that a few bytes are enough to cross from one chunk to the next.
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 64 << 10, MaxMapped: 2})
	if err != nil {
		return err
	}
	step("open %s: chunk size %d, size %d", dir, m.ChunkSize(), m.Size())

	// A typed view in little-endian byte order (nil means little endian).
	va := accessor.New(m, nil)
	off := m.ChunkSize() - 4 // the uint64 at off is half in chunk 0, half in chunk 1
	const magic = uint64(0x0123456789abcdef)
	floats := []float64{math.Pi, math.E, math.Sqrt2}
	if err := va.WriteUint64(off, magic); err != nil {
		return errors.Join(err, m.Close())
	}
	if err := va.WriteFloat64s(off+8, floats); err != nil {
		return errors.Join(err, m.Close())
	}
	if err := va.WriteInt32(off+32, -42); err != nil {
		return errors.Join(err, m.Close())
	}
	step("write uint64 %#x at offset %d (across the boundary of chunks 0 and 1), %d float64s at %d, int32 -42 at %d",
		magic, off, len(floats), off+8, off+32)

	got, err := check(va, off, magic, floats)
	if err != nil {
		return errors.Join(err, m.Close())
	}
	step("read them back: %s; size is now %d", got, m.Size())

	// Append writes at the end; concurrent appends never overlap, and each
	// returns the offset it wrote at.
	event := []byte("event")
	pos, err := m.Append(event)
	if err != nil {
		return errors.Join(err, m.Close())
	}
	step("append %q at offset %d; size is now %d", event, pos, m.Size())

	if err := m.Sync(); err != nil {
		return errors.Join(err, m.Close())
	}
	step("sync: the values and the size are durable")
	if err := m.Close(); err != nil {
		return err
	}
	step("close")

	// Reopen: ChunkSize 0 means "whatever the dataset has".
	m, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.Close()) }()
	step("reopen read-only: chunk size %d, size %d, %d chunk files", m.ChunkSize(), m.Size(), m.Stats().Chunks)
	if got, err = check(accessor.New(m, nil), off, magic, floats); err != nil {
		return fmt.Errorf("after reopening: %w", err)
	}
	back := make([]byte, len(event))
	if _, err := m.ReadAt(back, pos); err != nil {
		return fmt.Errorf("after reopening: %w", err)
	}
	if !bytes.Equal(back, event) {
		return fmt.Errorf("after reopening: read %q at %d, want %q", back, pos, event)
	}
	step("read them again: %s and %q at %d; everything survived", got, back, pos)
	return nil
}

// check reads the values the example wrote at off, compares them with what
// it wrote, and returns them formatted.
func check(va *accessor.ViewAccessor, off int64, magic uint64, floats []float64) (string, error) {
	u, err := va.ReadUint64(off)
	if err != nil {
		return "", err
	}
	f := make([]float64, len(floats))
	if err := va.ReadFloat64s(off+8, f); err != nil {
		return "", err
	}
	i, err := va.ReadInt32(off + 32)
	if err != nil {
		return "", err
	}
	got := fmt.Sprintf("%#x %.6g %d", u, f, i)
	if u != magic || !slices.Equal(f, floats) || i != -42 {
		return "", fmt.Errorf("read %s, want %#x %.6g -42", got, magic, floats)
	}
	return got, nil
}

// stepper returns a function that prints one step with the time it took
// since the previous one.
func stepper(w io.Writer) func(format string, args ...any) {
	last := time.Now()
	return func(format string, args ...any) {
		now := time.Now()
		fmt.Fprintf(w, "%9s  %s\n", now.Sub(last).Round(time.Microsecond), fmt.Sprintf(format, args...))
		last = now
	}
}
