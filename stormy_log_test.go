package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// stormyLog is an append-only log of self-checking records: appenders
// publish each record once Append returned, a retention goroutine drops the
// chunks below older records, and readers check records through the writer
// and a ReadOnly follower.
type stormyLog struct {
	e       *stormyEnv
	seed    uint64
	m, ro   *chunkmap.Manager
	va, rva *accessor.ViewAccessor
	opts    chunkmap.Options
	ropts   chunkmap.Options
	fl, rfl stormyFlight
	mu      sync.Mutex
	recs    []stormyRec // in the order appends returned
	end     time.Time
	drops   atomic.Int64
	checked atomic.Int64
}

func (l *stormyLog) running() bool { return !l.e.failing() && time.Now().Before(l.end) }

func (l *stormyLog) publish(r stormyRec) {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
}

func (l *stormyLog) pickRec(rng interface{ IntN(int) int }, newest bool) (stormyRec, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) == 0 {
		return stormyRec{}, false
	}
	if newest {
		return l.recs[len(l.recs)-1], true
	}
	return l.recs[rng.IntN(len(l.recs))], true
}

func (l *stormyLog) appender(id int) {
	rng := stormyRNG(l.seed, uint64(10+id))
	for seq := 0; l.running(); seq++ {
		n := 1 + rng.IntN(5000)
		if rng.IntN(8) == 0 {
			n = int(stormyC) + rng.IntN(int(stormyC)) // longer than a chunk
		}
		rec := stormyRecord(rng, id, seq, n)
		size := l.m.Size()
		k := stormySpan(size, size+int64(len(rec)))
		l.fl.begin(k)
		off, err := l.m.Append(rec)
		l.fl.end(k)
		what := fmt.Sprintf("appender %d: Append of %d bytes", id, len(rec))
		if !l.e.check(what, "append ", err) {
			continue
		}
		if sz := l.m.Size(); sz < off+int64(len(rec)) {
			l.e.failf("%s at %d returned, but Size is %d", what, off, sz)
		}
		// It reads back at once, from the writer and from the follower,
		// unless retention already dropped it.
		got := make([]byte, len(rec))
		for _, m := range []*chunkmap.Manager{l.m, l.ro} {
			_, err := m.ReadAt(got, off)
			if err == nil && bytes.Equal(got, rec) {
				continue
			}
			if err != nil && errors.Is(err, chunkmap.ErrOutOfRange) && l.m.Start() > off {
				continue
			}
			l.e.failf("%s at %d: read back (follower %v): %v (intact %v)", what, off, m.ReadOnly(), err, err == nil && bytes.Equal(got, rec))
		}
		l.publish(stormyRec{off, rec})
	}
}

// retention drops the chunks below a record from the older half of the log.
func (l *stormyLog) retention() {
	rng := stormyRNG(l.seed, 20)
	for l.running() {
		time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Microsecond)
		l.mu.Lock()
		var target int64 = -1
		if n := len(l.recs); n > 8 {
			target = l.recs[rng.IntN(n/2)].off
		}
		l.mu.Unlock()
		if target < 0 {
			continue
		}
		before := l.m.Start()
		l.fl.begin(1)
		err := l.m.DropBefore(target)
		l.fl.end(1)
		if l.e.check(fmt.Sprintf("DropBefore(%d)", target), "drop ", err) {
			want := max(before, target/stormyC*stormyC)
			if s := l.m.Start(); s != want {
				l.e.failf("DropBefore(%d) from Start %d: Start is %d, want %d", target, before, s, want)
			}
			if s := l.ro.Start(); s < want {
				l.e.failf("DropBefore(%d) returned: the follower's Start is %d, want at least %d", target, s, want)
			}
			l.drops.Add(1)
		}
	}
}

// reader reads published records through every read path of the writer or
// the follower: one that is still above Start reads back intact; one that
// fails does so only because Start passed it.
func (l *stormyLog) reader(id int) {
	rng := stormyRNG(l.seed, uint64(30+id))
	for l.running() {
		r, ok := l.pickRec(rng, false)
		if !ok {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		ro := rng.IntN(2) == 0
		m, v, fl := l.m, l.va, &l.fl
		if ro {
			m, v, fl = l.ro, l.rva, &l.rfl
		}
		n := int64(len(r.b))
		k := stormySpan(r.off, r.off+n)
		fl.begin(k)
		var got []byte
		var err error
		var what, prefix string
		switch rng.IntN(6) {
		case 0:
			what, prefix = "ReadAt", "read "
			got = make([]byte, n)
			_, err = m.ReadAt(got, r.off)
		case 1:
			what, prefix = "Pin", "pin "
			var p *chunkmap.Pinned
			p, err = m.Pin(r.off, int(n))
			if err == nil {
				got = append([]byte(nil), p.Bytes()...)
				p.Release()
			}
		case 2:
			what, prefix = "Batch", "batch"
			err = m.Batch(func(b *chunkmap.Batch) error {
				p, e := b.Bytes(r.off, int(n))
				got = append([]byte(nil), p...)
				return e
			})
		case 3:
			what, prefix = "Gather", "gather "
			offs := make([]int64, 0, 64)
			for x := r.off; x < r.off+n && len(offs) < 64; x += 7 {
				offs = append(offs, x)
			}
			dst := make([]byte, len(offs))
			err = m.Gather(dst, offs, 1)
			if err == nil {
				got = make([]byte, n)
				copy(got, r.b)
				for i, x := range offs {
					got[x-r.off] = dst[i]
				}
			}
		case 4:
			what, prefix = "scan Blocks", "scan "
			s := v.Scan()
			buf := make([]byte, 0, n)
			for _, blk := range s.Blocks(r.off, n) {
				buf = append(buf, blk...)
			}
			err = s.Err()
			if err == nil {
				got = buf
			}
		default:
			what, prefix = "io.SectionReader", "read "
			got, err = io.ReadAll(io.NewSectionReader(v, r.off, n))
		}
		fl.end(k)
		what = fmt.Sprintf("reader %d: %s of the record of %d bytes at %d (follower %v)", id, what, n, r.off, ro)
		if err != nil {
			// Only a drop explains a failure: Start has passed the record.
			al := []error{chunkmap.ErrOutOfRange}
			if ro {
				al = append(al, chunkmap.ErrFault, io.EOF)
			}
			l.e.check(what, prefix, err, al...)
			if s := l.m.Start(); s <= r.off {
				l.e.failf("%s: %v, but Start %d is still at or below the record", what, err, s)
			}
			continue
		}
		if !bytes.Equal(got, r.b) {
			i := 0
			for i < len(got) && got[i] == r.b[i] {
				i++
			}
			l.e.failf("%s: byte %d (offset %d) differs (read %d bytes; Start now %d)", what, i, r.off+int64(i), len(got), l.m.Start())
			continue
		}
		l.checked.Add(1)
	}
}

// pinHolder pins published records, on the writer or the follower, and
// holds each over several drops: the chunks under a pin are never unmapped,
// even by DropBefore (their files may already be deleted), so its bytes
// stay intact until Release.
func (l *stormyLog) pinHolder() {
	rng := stormyRNG(l.seed, 60)
	type held struct {
		p     *chunkmap.Pinned
		r     stormyRec
		ro    bool
		k     int64
		drops int64
	}
	var hs []held
	release := func(h held) {
		fl := &l.fl
		if h.ro {
			fl = &l.rfl
		}
		fl.begin(h.k)
		h.p.Release()
		fl.end(h.k)
	}
	defer func() {
		for _, h := range hs {
			release(h)
		}
	}()
	for l.running() {
		if len(hs) < 3 {
			if r, ok := l.pickRec(rng, false); ok {
				ro := rng.IntN(2) == 0
				m, fl := l.m, &l.fl
				if ro {
					m, fl = l.ro, &l.rfl
				}
				k := stormySpan(r.off, r.off+int64(len(r.b)))
				fl.begin(k)
				p, err := m.Pin(r.off, len(r.b))
				fl.end(k)
				what := fmt.Sprintf("holder: Pin of the record of %d bytes at %d (follower %v)", len(r.b), r.off, ro)
				if err == nil {
					hs = append(hs, held{p, r, ro, k, l.drops.Load()})
				} else {
					al := []error{chunkmap.ErrOutOfRange}
					if ro {
						al = append(al, chunkmap.ErrFault)
					}
					l.e.check(what, "pin ", err, al...)
					if s := l.m.Start(); s <= r.off {
						l.e.failf("%s: %v, but Start %d is at or below the record", what, err, s)
					}
				}
			}
		}
		for i := 0; i < len(hs); i++ {
			h := hs[i]
			if !bytes.Equal(h.p.Bytes(), h.r.b) {
				l.e.failf("holder: pinned record of %d bytes at %d (follower %v) changed while pinned (Start now %d, %d drops since the pin)",
					len(h.r.b), h.r.off, h.ro, l.m.Start(), l.drops.Load()-h.drops)
			}
			if l.drops.Load()-h.drops >= 3 || rng.IntN(50) == 0 {
				release(h)
				hs = append(hs[:i], hs[i+1:]...)
				i--
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// streamer reads from a published record to Size: Size covers whole
// appends only ("a reader never sees a hole"), so that range parses into
// intact records that end exactly at Size.
func (l *stormyLog) streamer(id int) {
	rng := stormyRNG(l.seed, uint64(40+id))
	for l.running() {
		r, ok := l.pickRec(rng, rng.IntN(2) == 0)
		if !ok {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		ro := rng.IntN(2) == 0
		m, fl := l.m, &l.fl
		if ro {
			m, fl = l.ro, &l.rfl
		}
		sz := m.Size()
		if sz-r.off > 4*stormyC {
			continue
		}
		buf := make([]byte, sz-r.off)
		k := stormySpan(r.off, sz)
		fl.begin(k)
		_, err := m.ReadAt(buf, r.off)
		fl.end(k)
		what := fmt.Sprintf("streamer %d: ReadAt from the record at %d to Size %d (follower %v)", id, r.off, sz, ro)
		if err != nil {
			al := []error{chunkmap.ErrOutOfRange}
			if ro {
				al = append(al, chunkmap.ErrFault, io.EOF)
			}
			l.e.check(what, "read ", err, al...)
			if s := l.m.Start(); s <= r.off {
				l.e.failf("%s: %v, but Start %d is at or below the record", what, err, s)
			}
			continue
		}
		for p := 0; p < len(buf); {
			n := stormyParseRecord(buf[p:])
			if n < 0 {
				l.e.failf("%s: no intact record at offset %d: Size covers a hole or a torn record", what, r.off+int64(p))
				break
			}
			p += n
		}
	}
}

// TestStormy_AppendedRecordsSurviveRetention: three goroutines append
// records (some longer than a chunk) while a retention goroutine drops the
// chunks below older ones, readers read published records through the
// writer's and a ReadOnly follower's ReadAt, Pin, Batch, Gather, block
// scans and section readers, streamers parse everything from a record up to
// Size, and others Sync, Grow, Advise and sample Stats. Appends never
// overlap; Size covers whole appends only; a record above Start reads back
// intact; a read fails only once Start has passed its record; DropBefore
// moves Start to the chunk boundary below its offset. After Close the
// dataset reopens with the same Start and Size and every record above Start.
func TestStormy_AppendedRecordsSurviveRetention(t *testing.T) {
	seed := stormySeed(t)
	e := stormyNewEnv(t)
	rng := stormyRNG(seed, 0)
	l := &stormyLog{e: e, seed: seed}
	l.opts = chunkmap.Options{ChunkSize: stormyC, MaxMapped: 1 + rng.IntN(4),
		ArenaSize: []int64{1, 2, 4}[rng.IntN(3)] * stormyC, NoAdmission: rng.IntN(2) == 0}
	l.ropts = chunkmap.Options{ReadOnly: true, MaxMapped: 1 + rng.IntN(4),
		ArenaSize: []int64{1, 2, 4}[rng.IntN(3)] * stormyC, NoAdmission: rng.IntN(2) == 0}
	t.Logf("writer MaxMapped=%d ArenaSize=%d chunks NoAdmission=%v; follower MaxMapped=%d ArenaSize=%d chunks NoAdmission=%v",
		l.opts.MaxMapped, l.opts.ArenaSize/stormyC, l.opts.NoAdmission, l.ropts.MaxMapped, l.ropts.ArenaSize/stormyC, l.ropts.NoAdmission)
	var err error
	if l.m, err = chunkmap.Open(e.dir, &l.opts); err != nil {
		t.Fatal(err)
	}
	defer l.m.Close()
	if l.ro, err = chunkmap.Open(e.dir, &l.ropts); err != nil {
		t.Fatal(err)
	}
	defer l.ro.Close()
	l.va, l.rva = accessor.New(l.m, nil), accessor.New(l.ro, nil)

	for phase := range 2 {
		l.end = time.Now().Add(stormyBudget())
		sg := &stormyGroup{t: t}
		for i := range 3 {
			sg.Go(fmt.Sprintf("appender %d", i), func() { l.appender(i) })
		}
		sg.Go("retention", l.retention)
		for i := range 2 {
			sg.Go(fmt.Sprintf("reader %d", i), func() { l.reader(i) })
		}
		sg.Go("streamer", func() { l.streamer(0) })
		sg.Go("pin holder", l.pinHolder)
		sg.Go("housekeeping", func() {
			rng := stormyRNG(seed, 50)
			ws := &stormySampler{e: e, name: "writer", m: l.m, maxMapped: l.opts.MaxMapped, fl: &l.fl}
			rs := &stormySampler{e: e, name: "follower", m: l.ro, maxMapped: l.ropts.MaxMapped, fl: &l.rfl}
			for l.running() {
				ws.sample()
				rs.sample()
				switch rng.IntN(8) {
				case 0:
					l.fl.begin(64)
					e.check("Sync", "sync ", l.m.Sync())
					l.fl.end(64)
				case 1:
					e.check("Grow", "grow ", l.m.Grow(rng.Int64N(3*stormyC)))
				case 2:
					s, z := l.m.Start(), l.m.Size()
					if z > s {
						a := s + rng.Int64N(z-s)
						err := l.m.Advise(a, 1+rng.Int64N(z-a), chunkmap.Advice(rng.IntN(5)))
						e.check("Advise", "advise ", err, chunkmap.ErrOutOfRange)
					}
				case 3:
					e.check("follower Refresh", "refresh ", l.ro.Refresh(), chunkmap.ErrFault)
				}
				time.Sleep(100 * time.Microsecond)
			}
		})
		sg.Wait(fmt.Sprintf("phase %d", phase))
		if e.failing() {
			return
		}
		l.quiesce(fmt.Sprintf("phase %d", phase))
	}
	start, size := l.m.Start(), l.m.Size()
	stormyWithin(t, "follower Close", func() { e.check("follower Close", "close ", l.ro.Close()) })
	stormyWithin(t, "Close", func() { e.check("Close", "close ", l.m.Close()) })
	m, err := chunkmap.Open(e.dir, &l.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Start() != start || m.Size() != size {
		t.Errorf("reopened: [Start, Size) = [%d, %d), was [%d, %d) at Close", m.Start(), m.Size(), start, size)
	}
	l.m = m
	l.ro = m
	l.quiesce("after reopen")
	t.Logf("%d records, %d drops, %d records read back intact while they raced", len(l.recs), l.drops.Load(), l.checked.Load())
}

// quiesce checks, with every goroutine stopped, every published record:
// above Start intact through the writer and the follower, below it out of
// range; the follower at the writer's Start and Size; the chunk files as
// Stats counts them; and the Stats bounds with nothing held.
func (l *stormyLog) quiesce(when string) {
	e := l.e
	start := l.m.Start()
	for _, m := range []*chunkmap.Manager{l.m, l.ro} {
		if m.Start() != start || m.Size() != l.m.Size() {
			e.failf("%s: [Start, Size) = [%d, %d), writer's [%d, %d)", when, m.Start(), m.Size(), start, l.m.Size())
		}
		for _, r := range l.recs {
			got := make([]byte, len(r.b))
			_, err := m.ReadAt(got, r.off)
			switch {
			case r.off >= start && (err != nil || !bytes.Equal(got, r.b)):
				e.failf("%s: record of %d bytes at %d (Start %d): %v, intact %v", when, len(r.b), r.off, start, err, bytes.Equal(got, r.b))
			case r.off < start && !errors.Is(err, chunkmap.ErrOutOfRange):
				e.failf("%s: record at %d below Start %d: %v, want ErrOutOfRange", when, r.off, start, err)
			}
		}
		st := m.Stats()
		if st.Pinned != 0 {
			e.failf("%s: Stats.Pinned = %d with nothing held: %+v", when, st.Pinned, st)
		}
		maxMapped := l.opts.MaxMapped
		if m.ReadOnly() {
			maxMapped = l.ropts.MaxMapped
		}
		if st.Mapped > maxMapped {
			e.failf("%s: Stats.Mapped = %d > MaxMapped %d with nothing held: %+v", when, st.Mapped, maxMapped, st)
		}
		if !m.ReadOnly() {
			if files := stormyChunkFiles(e.t, e.dir); files != st.Chunks {
				e.failf("%s: Stats.Chunks = %d, the directory holds %d chunk files", when, st.Chunks, files)
			}
		}
	}
}
