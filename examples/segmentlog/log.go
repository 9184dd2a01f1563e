package main

// This file holds the log itself; main.go drives it.
//
// A log lives in a directory with two chunkmap datasets:
//
//	records/  the records, back to back, each framed as
//	          ┌──────────────┬──────────────┬─────────────────┐
//	          │ length  u32  │ CRC-32C u32  │ payload         │
//	          └──────────────┴──────────────┴─────────────────┘
//	          little endian; the CRC covers the length bytes and the payload.
//	          Each chunk of this dataset is one segment.
//	index/    16 bytes per record, the entry of record seq at offset seq*16:
//	          position of its frame in records (int64), and the time it was
//	          appended (Unix nanoseconds, int64).
//
// Record numbers (seq) count from 0 and are never reused. Retention deletes
// whole segments with DropBefore, and the index chunks below them, so the
// positions and numbers of the records that remain never change.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chunkmap/chunkmap"
)

const (
	headerLen = 8  // length and CRC
	entryLen  = 16 // position and time

	// DefaultSegmentSize is the segment (chunk) size of a new log.
	DefaultSegmentSize = 64 << 20
	// DefaultMaxRecord is the largest payload Append accepts unless told
	// otherwise. It bounds new records only: recovery and reads take a
	// frame of any length that its CRC vouches for, so a log reopened with
	// a smaller MaxRecord keeps its longer records.
	DefaultMaxRecord = 16 << 20
	// MaxMaxRecord is the largest MaxRecord: a frame's length is 32 bits.
	MaxMaxRecord = 1<<32 - 1
	// indexChunkSize holds 65536 index entries per chunk.
	indexChunkSize = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of the log.
var (
	// ErrNotFound is returned for a record number below First or at or
	// past Next, also when retention deletes the record while it is read.
	ErrNotFound = errors.New("segmentlog: no such record")
	// ErrCorrupt is returned when a record that the index points to, or
	// that iteration reaches, fails its checks.
	ErrCorrupt = errors.New("segmentlog: corrupt record")
	// ErrTooLarge is returned by Append for a payload over MaxRecord.
	ErrTooLarge = errors.New("segmentlog: record too large")
)

// Options configure [OpenLog]. A nil *Options means the defaults.
type Options struct {
	// SegmentSize is the chunk size of a new log's records, in bytes: a
	// power of two from 64 KiB to 2 GiB; 0 means DefaultSegmentSize. An
	// existing log keeps its own.
	SegmentSize int64
	// MaxMapped is the most segments mapped at once; 0 means 16.
	MaxMapped int
	// MaxRecord is the largest payload in bytes that Append accepts, at
	// most MaxMaxRecord; 0 means DefaultMaxRecord. Records a log already
	// holds stay whatever their length.
	MaxRecord int
}

// Recovery says what OpenLog found past the last synced point.
type Recovery struct {
	From         int64  // position the scan started at: the end of the last indexed record
	Scanned      int    // complete records found past the index, and indexed
	Discarded    int64  // bytes cut from the first torn or corrupt record to the end
	Reason       string // why the scan stopped early, when Discarded > 0
	IndexDropped int    // index entries dropped because their record did not survive
}

// Record is one record read from the log.
type Record struct {
	Seq  uint64    // record number
	Pos  int64     // position of its frame in the records dataset
	Time time.Time // when it was appended (for records found by recovery: when they were found)
	Data []byte    // the payload
}

// Log is an append-only record log. It is safe for concurrent use: appends
// are serialised, so record numbers follow positions, and reads run in
// parallel with them.
type Log struct {
	records *chunkmap.Manager
	index   *chunkmap.Manager
	max     int

	mu    sync.Mutex // serialises appends, retention and Close; protects the fields below
	first uint64     // first record still readable
	next  uint64     // number of the next record
	end   int64      // position after the last record
	buf   []byte     // frames being appended
	err   error      // a failed append leaves the log in doubt until reopened
}

// OpenLog opens the log in dir, creating it if need be, and recovers it: the
// records written after the last synced point are checked one by one and
// indexed, and everything from the first torn or corrupt record on is cut.
func OpenLog(dir string, opts *Options) (*Log, Recovery, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxMapped == 0 {
		o.MaxMapped = 16
	}
	if o.MaxRecord == 0 {
		o.MaxRecord = DefaultMaxRecord
	}
	// Checked before anything is made: a frame's length is 32 bits, so
	// Append would cut a longer payload's length to 32 bits and write a
	// frame that no check could take.
	if o.MaxRecord < 0 || uint64(o.MaxRecord) > MaxMaxRecord {
		return nil, Recovery{}, fmt.Errorf("open log %s: %w: MaxRecord %d is outside [0, %d]", dir, chunkmap.ErrInvalidOptions, o.MaxRecord, uint64(MaxMaxRecord))
	}
	segment := o.SegmentSize
	recDir := filepath.Join(dir, "records")
	if _, err := os.Stat(filepath.Join(recDir, chunkmap.ManifestName)); err == nil {
		segment = 0 // the log's own
	} else if segment == 0 {
		segment = DefaultSegmentSize
	}
	records, err := chunkmap.Open(recDir, &chunkmap.Options{ChunkSize: segment, MaxMapped: o.MaxMapped})
	if err != nil {
		return nil, Recovery{}, err
	}
	index, err := chunkmap.Open(filepath.Join(dir, "index"), &chunkmap.Options{ChunkSize: indexChunkSize, MaxMapped: 4})
	if err != nil {
		return nil, Recovery{}, errors.Join(err, records.Close())
	}
	l := &Log{records: records, index: index, max: o.MaxRecord}
	rec, err := l.recover()
	if err != nil {
		return nil, rec, errors.Join(err, l.close())
	}
	return l, rec, nil
}

// recover finds the last synced point, indexes the complete records after
// it and cuts the rest.
func (l *Log) recover() (Recovery, error) {
	var rec Recovery
	rStart, rSize := l.records.Start(), l.records.Size()

	// A torn index entry cannot happen (the Manager's Size only covers
	// whole appends), but costs nothing to handle.
	n := uint64(l.index.Size() / entryLen)
	if l.index.Size()%entryLen != 0 {
		if err := l.index.Truncate(int64(n) * entryLen); err != nil {
			return rec, err
		}
	}
	// Entries below first belong to segments retention deleted.
	first, err := l.search(uint64(l.index.Start()/entryLen), n, func(e entry) bool { return e.pos >= rStart })
	if err != nil {
		return rec, err
	}
	// The index is synced after the records, but may hold entries for
	// records appended after the records' Size was recorded. Drop the
	// entries whose record did not survive.
	from := rStart
	for n > first {
		e, err := l.entry(n - 1)
		if err != nil {
			return rec, err
		}
		length, reason, err := l.frameAt(e.pos, rSize, nil)
		if err != nil {
			return rec, err
		}
		if reason == "" {
			from = e.pos + length
			break
		}
		n--
		rec.IndexDropped++
	}
	if n == first && rStart > 0 && rSize > rStart {
		// Segments were deleted, and the index has no entry from the
		// first of the records after them on. Retention leaves an entry
		// there unless it deleted every record, which it does only where
		// the log ends on a segment boundary (dropBefore): Start is then
		// where the next record begins, and a crash after that record
		// reached the records and before its entry reached the index
		// leaves this. Elsewhere a chunk boundary may fall in the middle
		// of a record, which only an index damaged from outside leaves:
		// a frame that fails its checks at Start says so, and the log is
		// refused rather than cut to nothing.
		_, reason, err := l.frameAt(rStart, rSize, nil)
		if err != nil {
			return rec, err
		}
		if reason != "" {
			return rec, fmt.Errorf("%w: no index entry for the records from position %d on, and no record there (%s)", ErrCorrupt, rStart, reason)
		}
	}

	// Scan from the last synced point; index what is complete.
	rec.From = from
	pos, now := from, time.Now().UnixNano()
	for pos < rSize {
		length, reason, err := l.frameAt(pos, rSize, nil)
		if err != nil {
			return rec, err
		}
		if reason != "" {
			rec.Reason = fmt.Sprintf("%s at position %d", reason, pos)
			break
		}
		if err := l.putEntry(n, entry{pos: pos, time: now}); err != nil {
			return rec, err
		}
		n++
		rec.Scanned++
		pos += length
	}
	rec.Discarded = rSize - pos
	if rec.Discarded > 0 {
		if err := l.records.Truncate(pos); err != nil {
			return rec, err
		}
	}
	if l.index.Size() > int64(n)*entryLen {
		if err := l.index.Truncate(int64(n) * entryLen); err != nil {
			return rec, err
		}
	}
	l.first, l.next, l.end = first, n, pos
	if rec.Scanned > 0 || rec.Discarded > 0 || rec.IndexDropped > 0 {
		// Make the repair durable before anything is appended after it.
		if err := l.sync(); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// frameAt checks the frame at pos, which must end by end. It returns the
// frame's length, or why it is not a valid record; err is for I/O errors
// only. If payload is not nil, the payload is read into *payload.
//
// A length is checked against the bytes present and then by the frame's
// CRC, never against MaxRecord, which bounds what Append takes and not
// what a log holds: recovery and Read of a log reopened with a smaller
// MaxRecord keep its longer records. Without payload (recovery) the CRC is
// computed a piece at a time, so that a garbage length, which may be up to
// 4 GiB, costs no buffer of its size.
func (l *Log) frameAt(pos, end int64, payload *[]byte) (length int64, reason string, err error) {
	if end-pos < headerLen {
		return 0, fmt.Sprintf("torn header (%d bytes)", end-pos), nil
	}
	var h [headerLen]byte
	if _, err := l.records.ReadAt(h[:], pos); err != nil {
		return 0, "", err
	}
	n := binary.LittleEndian.Uint32(h[0:])
	if int64(n) > end-pos-headerLen {
		return 0, fmt.Sprintf("torn record (length %d, %d bytes present)", n, end-pos-headerLen), nil
	}
	var crc uint32
	if payload == nil {
		if crc, err = l.crcAt(h[:4], pos+headerLen, int64(n)); err != nil {
			return 0, "", err
		}
	} else {
		buf := *payload
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := l.records.ReadAt(buf, pos+headerLen); err != nil {
			return 0, "", err
		}
		*payload = buf
		crc = frameCRC(h[:4], buf)
	}
	if got := binary.LittleEndian.Uint32(h[4:]); got != crc {
		return 0, fmt.Sprintf("checksum %#08x, want %#08x", got, crc), nil
	}
	return headerLen + int64(n), "", nil
}

// crcAt returns the CRC-32C of lenBytes and the n bytes of records at off
// (frameCRC of a frame whose payload it reads a piece of at most 64 KiB at
// a time).
func (l *Log) crcAt(lenBytes []byte, off, n int64) (uint32, error) {
	piece := make([]byte, min(n, 64<<10))
	crc := crc32.Checksum(lenBytes, castagnoli)
	for n > 0 {
		b := piece[:min(n, int64(len(piece)))]
		if _, err := l.records.ReadAt(b, off); err != nil {
			return 0, err
		}
		crc = crc32.Update(crc, castagnoli, b)
		off += int64(len(b))
		n -= int64(len(b))
	}
	return crc, nil
}

// frameCRC is the CRC-32C of a frame's length bytes and payload.
func frameCRC(lenBytes, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(lenBytes, castagnoli), castagnoli, payload)
}

// appendFrame appends the frame of payload to b.
func appendFrame(b, payload []byte) []byte {
	var h [headerLen]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], frameCRC(h[:4], payload))
	return append(append(b, h[:]...), payload...)
}

// entry is one index entry.
type entry struct {
	pos  int64
	time int64
}

func (l *Log) entry(seq uint64) (entry, error) {
	var b [entryLen]byte
	if _, err := l.index.ReadAt(b[:], int64(seq)*entryLen); err != nil {
		return entry{}, fmt.Errorf("index entry %d: %w", seq, err)
	}
	return entry{pos: int64(binary.LittleEndian.Uint64(b[0:])), time: int64(binary.LittleEndian.Uint64(b[8:]))}, nil
}

func appendEntry(b []byte, e entry) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(e.pos))
	return binary.LittleEndian.AppendUint64(b, uint64(e.time))
}

func (l *Log) putEntry(seq uint64, e entry) error {
	_, err := l.index.WriteAt(appendEntry(nil, e), int64(seq)*entryLen)
	return err
}

// search returns the first record number in [lo, hi) whose entry satisfies
// ok, or hi if none does; ok must be false, then true, along the index.
func (l *Log) search(lo, hi uint64, ok func(entry) bool) (uint64, error) {
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := l.entry(mid)
		if err != nil {
			return 0, err
		}
		if ok(e) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// Append appends one record and returns its number. The record is durable
// once a Sync that started after Append returned has returned nil.
func (l *Log) Append(payload []byte) (uint64, error) {
	return l.AppendBatch([][]byte{payload})
}

// AppendBatch appends the records in order, with one write to each
// dataset, and returns the number of the first.
func (l *Log) AppendBatch(payloads [][]byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	l.buf = l.buf[:0]
	for _, p := range payloads {
		if len(p) > l.max {
			return 0, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(p), l.max)
		}
		l.buf = appendFrame(l.buf, p)
	}
	first := l.next
	if len(payloads) == 0 {
		return first, nil
	}
	pos, err := l.records.Append(l.buf)
	if err == nil && pos != l.end {
		err = fmt.Errorf("records appended at %d, want %d: another writer?", pos, l.end)
	}
	if err != nil {
		// The frames may be partly written; the next OpenLog cuts them.
		l.err = fmt.Errorf("segmentlog: append failed; reopen the log to recover: %w", err)
		return 0, l.err
	}
	now := time.Now().UnixNano()
	entries := make([]byte, 0, len(payloads)*entryLen)
	for _, p := range payloads {
		entries = appendEntry(entries, entry{pos: pos, time: now})
		pos += headerLen + int64(len(p))
	}
	if _, err := l.index.WriteAt(entries, int64(first)*entryLen); err != nil {
		l.err = fmt.Errorf("segmentlog: index write failed; reopen the log to recover: %w", err)
		return 0, l.err
	}
	l.next += uint64(len(payloads))
	l.end = pos
	return first, nil
}

// Sync makes every record appended before it durable: the records first,
// then the index, so that after a crash the index never points past the
// records, and recovery indexes what the index lacks.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sync()
}

func (l *Log) sync() error {
	if err := l.records.Sync(); err != nil {
		return err
	}
	return l.index.Sync()
}

// First returns the number of the oldest record still in the log.
func (l *Log) First() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// Next returns the number the next record will get.
func (l *Log) Next() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// Bytes returns the bytes of records the log keeps, whole segments counted
// from the first one on.
func (l *Log) Bytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end - l.records.Start()
}

// Segments returns the number of segment files the log keeps.
func (l *Log) Segments() int { return l.records.Stats().Chunks }

// bounds returns First and Next.
func (l *Log) bounds() (first, next uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first, l.next
}

// Read returns record seq. The returned Data is the caller's. A record that
// retention deletes, before or during the read, is an error matching
// ErrNotFound.
func (l *Log) Read(seq uint64) (Record, error) {
	first, next := l.bounds()
	if seq < first || seq >= next {
		return Record{}, fmt.Errorf("record %d: %w (the log holds [%d, %d))", seq, ErrNotFound, first, next)
	}
	e, err := l.entry(seq)
	if err != nil {
		return Record{}, l.deleted(seq, err)
	}
	r := Record{Seq: seq, Pos: e.pos, Time: time.Unix(0, e.time)}
	if _, err := l.readFrame(e.pos, l.records.Size(), &r.Data); err != nil {
		return Record{}, l.deleted(seq, fmt.Errorf("record %d: %w", seq, err))
	}
	return r, nil
}

// deleted returns err, an error of reading record seq, as an error matching
// ErrNotFound if retention has deleted the record since the read checked
// First: the read then finds the record's bytes gone (chunkmap's
// ErrOutOfRange), and a record no longer in the log is no such record
// however a read learns it. Retention moves First only after it has
// deleted the segments, under l.mu, which bounds waits for.
func (l *Log) deleted(seq uint64, err error) error {
	if !errors.Is(err, chunkmap.ErrOutOfRange) {
		return err
	}
	if first, next := l.bounds(); seq < first {
		return fmt.Errorf("record %d: %w (retention deleted it during the read; the log holds [%d, %d))", seq, ErrNotFound, first, next)
	}
	return err
}

// readFrame reads the frame at pos into *payload and returns its length; a
// frame that fails its checks is an error matching ErrCorrupt.
func (l *Log) readFrame(pos, end int64, payload *[]byte) (int64, error) {
	length, reason, err := l.frameAt(pos, end, payload)
	if err != nil {
		return 0, err
	}
	if reason != "" {
		return 0, fmt.Errorf("%w at position %d: %s", ErrCorrupt, pos, reason)
	}
	return length, nil
}

// Records iterates over the records from number from to the end of the log
// as it is when the iteration starts. It reads frames one after the other,
// and their index entries (for each record's Time) 256 at a time. A
// record's Data is valid until the next iteration step; copy it to keep
// it. An error ends the iteration; retention that deletes the record the
// iteration has reached ends it with an error matching ErrNotFound.
func (l *Log) Records(from uint64) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		l.mu.Lock()
		first, next, end := l.first, l.next, l.end
		l.mu.Unlock()
		if from < first || from > next {
			yield(Record{}, fmt.Errorf("record %d: %w (the log holds [%d, %d))", from, ErrNotFound, first, next))
			return
		}
		if from == next {
			return
		}
		const step = 256 // index entries a ReadAt
		var (
			ents [step * entryLen]byte
			at   = from // the record of ents[0:]
			have uint64 // entries in ents
			pos  int64
			buf  []byte
		)
		for seq := from; seq < next; seq++ {
			if seq-at >= have {
				at, have = seq, min(next-seq, step)
				if _, err := l.index.ReadAt(ents[:have*entryLen], int64(seq)*entryLen); err != nil {
					yield(Record{}, l.deleted(seq, fmt.Errorf("index entries %d to %d: %w", seq, seq+have-1, err)))
					return
				}
			}
			e := ents[(seq-at)*entryLen:]
			if seq == from {
				pos = int64(binary.LittleEndian.Uint64(e))
			}
			length, err := l.readFrame(pos, end, &buf)
			if err != nil {
				yield(Record{}, l.deleted(seq, fmt.Errorf("record %d: %w", seq, err)))
				return
			}
			t := time.Unix(0, int64(binary.LittleEndian.Uint64(e[8:])))
			if !yield(Record{Seq: seq, Pos: pos, Time: t, Data: buf}, nil) {
				return
			}
			pos += length
		}
	}
}

// RetainBytes deletes the oldest segments whose records all lie before the
// newest max bytes of the log. It returns how many records were deleted,
// also with an error that came after their segments were (the index's
// entries for them could not be deleted: First has moved past them all
// the same).
// The segment that holds the head of the newest record stays while part
// of that record lies in a later one, as it does for RetainAge.
func (l *Log) RetainBytes(max int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := l.end - max
	// The first record that ends after cut, the one whose tail lies in the
	// newest max bytes, stays: record k ends where record k+1 begins (the
	// last one at l.end). The first record that begins at or after cut
	// would be too late: the segments holding the one before it, which
	// may be many for a record longer than a segment, would go.
	seq, err := l.search(min(l.first+1, l.next), l.next, func(e entry) bool { return e.pos > cut })
	if err != nil {
		return 0, err
	}
	if seq > l.first && (seq < l.next || l.end > cut) {
		seq-- // record seq-1 ends at the entry found, or at l.end, after cut
	}
	return l.dropBefore(seq)
}

// RetainAge deletes the oldest segments whose records were all appended
// more than maxAge before now. It returns how many records were deleted,
// as RetainBytes does.
// Append times come from the wall clock; a clock set back makes retention
// keep records longer, never shorter.
func (l *Log) RetainAge(maxAge time.Duration, now time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := now.Add(-maxAge).UnixNano()
	seq, err := l.firstSince(l.first, l.next, cut)
	if err != nil {
		return 0, err
	}
	return l.dropBefore(seq)
}

// firstSince returns the first record number in [lo, hi) appended at or
// after cut (Unix nanoseconds), or hi if none was. It walks the index, a
// piece at a time, where search would halve it: times rise along the index
// only while the wall clock does, and after a clock set back a record
// has an earlier time than those before it, on which a binary search
// could land and then delete the newer records before it.
func (l *Log) firstSince(lo, hi uint64, cut int64) (uint64, error) {
	const step = 256 // entries a ReadAt
	var b [step * entryLen]byte
	for lo < hi {
		k := min(hi-lo, step)
		p := b[:k*entryLen]
		if _, err := l.index.ReadAt(p, int64(lo)*entryLen); err != nil {
			return 0, fmt.Errorf("index entries %d to %d: %w", lo, lo+k-1, err)
		}
		for i := range k {
			if int64(binary.LittleEndian.Uint64(p[i*entryLen+8:])) >= cut {
				return lo + i, nil
			}
		}
		lo += k
	}
	return hi, nil
}

// dropBefore deletes the segments wholly below record seq, and the index
// chunks below the first record left. The log is synced first, so that
// after a crash the index still has an entry for the first record left.
func (l *Log) dropBefore(seq uint64) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	pos := l.end
	if seq < l.next {
		e, err := l.entry(seq)
		if err != nil {
			return 0, err
		}
		pos = e.pos
	} else if cs := l.records.ChunkSize(); l.next > l.first && pos%cs != 0 {
		// Every record would go, but the segment that holds the end of
		// the log stays. If the last record begins below it, the bytes
		// left there are its tail, and with no index entry left recovery
		// could not tell where records begin (it would refuse the log as
		// corrupt): keep the last record then.
		last, err := l.entry(l.next - 1)
		if err != nil {
			return 0, err
		}
		if last.pos < pos/cs*cs {
			pos = last.pos
		}
	}
	if pos < l.records.Start()+l.records.ChunkSize() {
		return 0, nil // no whole segment below
	}
	if err := l.sync(); err != nil {
		return 0, err
	}
	if err := l.records.DropBefore(pos); err != nil {
		return 0, err
	}
	start := l.records.Start()
	first, err := l.search(l.first, l.next, func(e entry) bool { return e.pos >= start })
	if err != nil {
		return 0, err
	}
	// The records below first are gone with their segments, whatever
	// becomes of their index entries: First moves past them now, and an
	// index that keeps entries below it (its drop failed) is cut by the
	// next retention or ignored by recovery.
	dropped := int(first - l.first)
	l.first = first
	if err := l.index.DropBefore(int64(first) * entryLen); err != nil {
		return dropped, fmt.Errorf("index: %w", err)
	}
	return dropped, nil
}

// Close syncs the log and closes it.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.close()
}

func (l *Log) close() error {
	return errors.Join(l.records.Close(), l.index.Close())
}
