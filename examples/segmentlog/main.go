// Segmentlog is an append-only record log on chunkmap's Append: records
// framed as length + CRC-32C + payload, an offset index, recovery at open
// that scans from the last synced point and stops at the first torn or
// corrupt record, iteration from any record, and retention by size or age
// through DropBefore (each chunk of the records dataset is one segment).
// log.go holds the log; this file runs it:
//
//	go run ./examples/segmentlog [-records 200000] [-segment 4MiB] [-retain 32MiB] [-dir DIR]
//
// It appends records with a Sync every -sync-every records, reopens the log,
// simulates a crash that leaves a record past the index and a torn record
// after it, reopens and shows the recovery, iterates from the middle, reads
// records at random by number, and applies retention, printing what each
// step did and how long it took. Without -dir it works in a temporary
// directory and removes it afterwards. Sizes are bytes, 0x-prefixed hex, or
// a number with a unit (64KiB, 1.5MiB, 10MB).
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/program"
	"github.com/chunkmap/chunkmap/internal/stop"
	"github.com/chunkmap/chunkmap/internal/units"
)

func main() { program.Main("segmentlog", run) }

// config is the command line.
type config struct {
	dir       string
	records   int
	segment   int64
	retain    int64
	retainAge time.Duration
	syncEvery int
	maxLen    int
	reads     int
}

// run runs the example with the command line args, printing to w.
func run(args []string, w io.Writer) (err error) {
	var cfg config
	fs := program.Flags("segmentlog")
	fs.StringVar(&cfg.dir, "dir", "", "log `directory`, new or empty, kept afterwards (default: a temporary directory, removed)")
	fs.IntVar(&cfg.records, "records", 200_000, "records to append")
	segment := fs.String("segment", "4MiB", "segment (chunk) size: a power of two from 64KiB to 2GiB")
	retain := fs.String("retain", "32MiB", "retention: keep the newest `bytes` of records, deleting older segments")
	fs.DurationVar(&cfg.retainAge, "retain-age", 0, "retention by age: also delete segments whose records are all older than this (0: off)")
	fs.IntVar(&cfg.syncEvery, "sync-every", 1000, "records between Syncs")
	fs.IntVar(&cfg.maxLen, "max-len", 1024, "largest payload in bytes; payloads are 16 to max-len bytes")
	fs.IntVar(&cfg.reads, "reads", 10_000, "random reads by record number")
	if help, err := program.Parse(fs, args, w); help || err != nil {
		return err
	}
	if cfg.segment, err = units.ParseSize(*segment); err != nil {
		return fmt.Errorf("-segment: %w", err)
	}
	if cfg.retain, err = units.ParseSize(*retain); err != nil {
		return fmt.Errorf("-retain: %w", err)
	}
	// Checked before anything is made, so that an error names the flag
	// rather than the Options field the library would name, after the
	// example made its directory.
	switch {
	case cfg.segment < chunkmap.MinChunkSize || cfg.segment > chunkmap.MaxChunkSize || cfg.segment&(cfg.segment-1) != 0:
		return fmt.Errorf("-segment %s: want a power of two from 64KiB to 2GiB", *segment)
	case cfg.records < 2:
		return fmt.Errorf("-records %d: want at least 2", cfg.records)
	case cfg.syncEvery < 1:
		return fmt.Errorf("-sync-every %d: want at least 1", cfg.syncEvery)
	case cfg.maxLen < 16 || uint64(cfg.maxLen) > MaxMaxRecord:
		return fmt.Errorf("-max-len %d: want 16 to %d (a frame's length is 32 bits)", cfg.maxLen, uint64(MaxMaxRecord))
	case cfg.reads < 0:
		return fmt.Errorf("-reads %d: want at least 0", cfg.reads)
	case cfg.retainAge < 0:
		return fmt.Errorf("-retain-age %v: want 0 (off) or more", cfg.retainAge)
	}
	return program.Work(w, cfg.dir, "segmentlog", program.Empty, func(dir string, st *stop.Stopper) error {
		cfg.dir = dir
		return demo(cfg, st, st)
	})
}

// demo runs the example, printing to w; it stops at its next check once
// st.Err is not nil.
func demo(cfg config, st *stop.Stopper, w io.Writer) (err error) {
	opts := &Options{SegmentSize: cfg.segment, MaxRecord: cfg.maxLen}
	begin := time.Now()
	l, rec, err := OpenLog(cfg.dir, opts)
	if err != nil {
		return err
	}
	// Printed once the log is open, so that a refused -dir prints only
	// its error.
	fmt.Fprintf(w, "segment log in %s: segments of %s, payloads of 16 to %d bytes\n", cfg.dir, size(cfg.segment), cfg.maxLen)
	defer func() {
		if l != nil {
			err = errors.Join(err, l.Close())
		}
	}()
	step(w, begin, "open a new log", describe(rec))

	// Append, with a Sync every syncEvery records.
	var buf []byte
	var payloadBytes int64
	syncs := 0
	begin = time.Now()
	for i := range cfg.records {
		buf = payloadFor(uint64(i), cfg.maxLen, buf)
		if _, err := l.Append(buf); err != nil {
			return err
		}
		payloadBytes += int64(len(buf))
		if (i+1)%cfg.syncEvery == 0 || i == cfg.records-1 {
			if err := l.Sync(); err != nil {
				return err
			}
			syncs++
		}
		if err := st.Err(); err != nil {
			return err
		}
	}
	d := time.Since(begin)
	step(w, begin, fmt.Sprintf("append %d records", cfg.records),
		fmt.Sprintf("%s of payload, %.0f records/s, %s/s, %d Syncs (one per %d records)",
			size(payloadBytes), float64(cfg.records)/d.Seconds(), size(int64(float64(payloadBytes)/d.Seconds())), syncs, cfg.syncEvery))

	// A clean close and reopen: nothing to recover.
	if err := st.Err(); err != nil {
		return err
	}
	begin = time.Now()
	if err := l.Close(); err != nil {
		l = nil
		return err
	}
	if l, rec, err = OpenLog(cfg.dir, opts); err != nil {
		return err
	}
	step(w, begin, "close and reopen", describe(rec))

	// A crash: one record reached the records but not the index, and the
	// next one was torn.
	if err := l.Close(); err != nil {
		l = nil
		return err
	}
	l = nil
	next := uint64(cfg.records)
	if err := simulateCrash(cfg.dir, payloadFor(next, cfg.maxLen, nil), payloadFor(next+1, cfg.maxLen, nil)); err != nil {
		return err
	}
	begin = time.Now()
	if l, rec, err = OpenLog(cfg.dir, opts); err != nil {
		return err
	}
	step(w, begin, "reopen after a simulated crash", describe(rec))
	if l.Next() != next+1 {
		return fmt.Errorf("after recovery the log ends at record %d, want %d", l.Next(), next+1)
	}

	// Iterate from the middle, checking every record.
	mid := l.Next() / 2
	n, nbytes := 0, int64(0)
	begin = time.Now()
	for r, err := range l.Records(mid) {
		if err != nil {
			return err
		}
		if want := payloadFor(r.Seq, cfg.maxLen, buf); string(r.Data) != string(want) {
			return fmt.Errorf("record %d holds other data", r.Seq)
		}
		n++
		nbytes += int64(len(r.Data))
		if err := st.Err(); err != nil {
			return err
		}
	}
	if uint64(n) != l.Next()-mid {
		return fmt.Errorf("iteration from %d returned %d records, want %d", mid, n, l.Next()-mid)
	}
	d = time.Since(begin)
	step(w, begin, fmt.Sprintf("iterate from record %d", mid),
		fmt.Sprintf("%d records, %s, each checked: %.0f records/s", n, size(nbytes), float64(n)/d.Seconds()))

	// Random reads by record number, through the index.
	rng := rand.New(rand.NewPCG(1, 2))
	begin = time.Now()
	for i := range cfg.reads {
		if i%1024 == 0 {
			if err := st.Err(); err != nil {
				return err
			}
		}
		seq := rng.Uint64N(l.Next())
		r, err := l.Read(seq)
		if err != nil {
			return err
		}
		if string(r.Data) != string(payloadFor(seq, cfg.maxLen, buf)) {
			return fmt.Errorf("record %d holds other data", seq)
		}
	}
	d = time.Since(begin)
	step(w, begin, fmt.Sprintf("read %d records at random", cfg.reads), fmt.Sprintf("%.0f reads/s", float64(cfg.reads)/d.Seconds()))

	// Retention.
	if err := st.Err(); err != nil {
		return err
	}
	segsBefore, bytesBefore := l.Segments(), l.Bytes()
	begin = time.Now()
	dropped, err := l.RetainBytes(cfg.retain)
	if err != nil {
		return err
	}
	if cfg.retainAge > 0 {
		more, err := l.RetainAge(cfg.retainAge, time.Now())
		if err != nil {
			return err
		}
		dropped += more
	}
	// The step names every policy it applied: with -retain-age, most of
	// what goes may be the age's doing, not the bytes'.
	policy := fmt.Sprintf("retain the newest %s", size(cfg.retain))
	if cfg.retainAge > 0 {
		policy += fmt.Sprintf(" and the records of the last %v", cfg.retainAge)
	}
	step(w, begin, policy,
		fmt.Sprintf("deleted %d records in %d segments (%s -> %s); the log holds records [%d, %d)",
			dropped, segsBefore-l.Segments(), size(bytesBefore), size(l.Bytes()), l.First(), l.Next()))
	if first := l.First(); first > 0 {
		_, err := l.Read(first - 1)
		fmt.Fprintf(w, "%12s  a read of record %d now fails: %v\n", "", first-1, err)
		if !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("read of a deleted record: %v, want ErrNotFound", err)
		}
	}
	return nil
}

// simulateCrash leaves the records dataset of the log in dir as a crash
// can: a complete record with payload the index does not know, then a torn
// one with the first 10 bytes of next. The log must be closed.
func simulateCrash(dir string, payload, next []byte) error {
	m, err := chunkmap.Open(filepath.Join(dir, "records"), nil)
	if err != nil {
		return err
	}
	frame := appendFrame(nil, payload)
	torn := appendFrame(nil, next)[:headerLen+10]
	if _, err := m.Append(append(frame, torn...)); err != nil {
		return errors.Join(err, m.Close())
	}
	return m.Close()
}

// describe says what a recovery did.
func describe(r Recovery) string {
	s := fmt.Sprintf("recovery scanned from position %d: %d record(s) past the index", r.From, r.Scanned)
	if r.IndexDropped > 0 {
		s += fmt.Sprintf(", %d index entries dropped", r.IndexDropped)
	}
	if r.Discarded > 0 {
		s += fmt.Sprintf(", %d bytes discarded (%s)", r.Discarded, r.Reason)
	}
	return s
}

// step prints one step and the time since begin.
func step(w io.Writer, begin time.Time, what, detail string) {
	fmt.Fprintf(w, "%12s  %s: %s\n", time.Since(begin).Round(time.Microsecond), what, detail)
}

// payloadFor returns the payload of record seq, built in buf: 16 to maxLen
// bytes, starting with seq itself, then bytes that depend on seq.
func payloadFor(seq uint64, maxLen int, buf []byte) []byte {
	h := seq*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	n := 16 + int((h>>33)%uint64(maxLen-15))
	buf = binary.LittleEndian.AppendUint64(buf[:0], seq)
	for i := 8; i < n; i++ {
		buf = append(buf, byte(h>>(8*(i%8)))^byte(i))
	}
	return buf
}

// size formats a byte count with a binary unit.
func size(n int64) string { return units.FormatBytes(n) }
