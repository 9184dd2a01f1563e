//go:build linux

package chunkmap_test

// A failing world: many goroutines call everything at once on one Manager
// and a ReadOnly follower of the same directory while the system fails
// underneath them: a small tmpfs fills and empties, another "program"
// truncates, removes, extends and replaces chunk files (with FIFOs,
// symlinks, directories, hard links) and garbles the manifest, descriptors
// run out (in a child process), and the writer and the follower are each
// closed at a random moment. Each owner goroutine keeps a model of its own
// region (chunks the tamperer never touches) and checks every read against
// it. Checked: every error matches a sentinel and names its operation (and
// offset, where the call has one); right after Close only held chunks stay
// mapped; once every call has returned, nothing of the dataset stays
// mapped or open; every acknowledged byte is in the chunk files after
// Close; every acknowledged Append reads back at once through the writer
// and the follower, and after reopening; the lock is released whatever
// Close returned; and, once space is freed, every kind of write works again.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

const (
	fwC       = chunkmap.MinChunkSize
	fwOwners  = 8
	fwRegion  = 16 << 10
	fwOwnBase = 4*fwC + 8<<10                 // owned area: chunks 4..7, never tampered, never cut
	fwOwnEnd  = fwOwnBase + fwOwners*fwRegion // < fwFloor
	fwFloor   = 8 * fwC                       // Truncate never goes below
	fwDropMax = 4                             // DropBefore never goes past chunk 4
	fwPrefill = 10                            // chunks written before the storm
)

type fwCfg struct {
	fullDisk, tamper bool
	manifest         bool // the tamperer cuts and garbles the manifest too
	appends          bool // appenders whose records are checked, no Truncate
	fdExtra          int  // >0: run with RLIMIT_NOFILE this many above what is open (child)
}

type fwWorld struct {
	t      *testing.T
	cfg    fwCfg
	seed   uint64
	dir    string
	mnt    string
	m, ro  *chunkmap.Manager
	va, rv *accessor.ViewAccessor
	stop   atomic.Bool
	closed atomic.Bool // the writer's Close has begun
	rclose atomic.Bool
	errs   bxErrs
	counts sync.Map // op -> *atomic.Int64 of errors seen, for the log
	recMu  sync.Mutex
	recs   []fwRecord
}

func (w *fwWorld) count(what string, err error) {
	k := what + ": ok"
	if err != nil {
		k = what + ": " + fwSentinelName(err)
	}
	k = strings.ReplaceAll(strings.ReplaceAll(k, " ", "_"), "_:", ":")
	v, _ := w.counts.LoadOrStore(k, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func fwSentinelName(err error) string {
	if err == io.EOF {
		return "EOF"
	}
	for _, s := range bxSentinels {
		if errors.Is(err, s) {
			return strings.TrimPrefix(s.Error(), "chunkmap: ")
		}
	}
	return "NONE"
}

// check records a contract violation if err matches no sentinel, or does
// not start with prefix, or (off >= 0) does not name "at offset off".
func (w *fwWorld) check(what, prefix string, off int64, err error) {
	w.count(prefix, err)
	if err == nil || err == io.EOF {
		return
	}
	w.errs.check(what, err)
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		w.errs.add("%s: error does not start with %q: %q", what, prefix, msg)
	}
	if off >= 0 && !strings.Contains(msg, " at offset "+strconv.FormatInt(off, 10)) {
		w.errs.add("%s: error does not name offset %d: %q", what, off, msg)
	}
	if errors.Is(err, chunkmap.ErrClosed) && !w.closed.Load() && !w.rclose.Load() {
		w.errs.add("%s: ErrClosed before any Close: %v", what, err)
	}
}

// checkNames records a violation if err (but for ErrClosed from a call
// that may have begun after Close) names none of offs as "at offset".
func (w *fwWorld) checkNames(what string, err error, offs ...int64) {
	if err == nil || err == io.EOF || errors.Is(err, chunkmap.ErrClosed) {
		return
	}
	for _, off := range offs {
		if strings.Contains(err.Error(), " at offset "+strconv.FormatInt(off, 10)) {
			return
		}
	}
	w.errs.add("%s: error names none of the offsets %v: %q", what, offs, err)
}

// fwOwner is one goroutine's model of its own region: known[i] says
// byte i must read back as want[i].
type fwOwner struct {
	w     *fwWorld
	id    int
	rng   *rand.Rand
	base  int64
	want  []byte
	known []bool
}

func (o *fwOwner) set(a int64, p []byte) {
	copy(o.want[a-o.base:], p)
	for i := range p {
		o.known[a-o.base+int64(i)] = true
	}
}

func (o *fwOwner) forget(a, n int64) {
	for i := a - o.base; i < a-o.base+n; i++ {
		o.known[i] = false
	}
}

func (o *fwOwner) compare(what string, a int64, got []byte) {
	for i, b := range got {
		j := a - o.base + int64(i)
		if o.known[j] && o.want[j] != b {
			o.w.errs.add("%s: byte at %d reads %#x, want %#x (written and acknowledged)", what, a+int64(i), b, o.want[j])
			return
		}
	}
}

func (o *fwOwner) span(align int64) (int64, int64) {
	n := 1 + o.rng.Int64N(fwRegion/2)
	a := o.base + o.rng.Int64N(fwRegion-n+1)
	if align > 1 {
		a = o.base + o.rng.Int64N(fwRegion/align)*align
		n = align * (1 + o.rng.Int64N(min(64, (o.base+fwRegion-a)/align)))
	}
	return a, n
}

func (o *fwOwner) data(n int64) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(o.rng.Uint32())
	}
	return p
}

func (o *fwOwner) mgr() (*chunkmap.Manager, bool) {
	if o.rng.IntN(4) == 0 {
		return o.w.ro, true
	}
	return o.w.m, false
}

func (o *fwOwner) step() {
	w := o.w
	switch o.rng.IntN(11) {
	case 0: // WriteAt
		a, n := o.span(1)
		p := o.data(n)
		k, err := w.m.WriteAt(p, a)
		w.check(fmt.Sprintf("owner %d WriteAt(%d, %d)", o.id, n, a), "write ", a, err)
		if err == nil {
			o.set(a, p)
		} else {
			o.set(a, p[:k])
			o.forget(a+int64(k), n-int64(k))
		}
	case 1: // ReadAt, writer or follower
		a, n := o.span(1)
		m, ro := o.mgr()
		p := make([]byte, n)
		k, err := m.ReadAt(p, a)
		w.check(fmt.Sprintf("owner %d ReadAt(%d, %d) follower %v", o.id, n, a, ro), "read ", a, err)
		o.compare(fmt.Sprintf("owner %d ReadAt(%d, %d) follower %v", o.id, n, a, ro), a, p[:k])
	case 2: // PinWritable
		a, n := o.span(1)
		p := o.data(n)
		pn, err := w.m.PinWritable(a, int(n))
		w.check(fmt.Sprintf("owner %d PinWritable(%d, %d)", o.id, a, n), "pin ", a, err)
		if err == nil {
			if len(pn.Bytes()) != int(n) {
				w.errs.add("PinWritable(%d, %d): %d bytes", a, n, len(pn.Bytes()))
			}
			copy(pn.Bytes(), p)
			pn.Release()
			o.set(a, p)
		}
	case 3: // Pin, writer or follower
		a, n := o.span(1)
		m, ro := o.mgr()
		pn, err := m.Pin(a, int(n))
		w.check(fmt.Sprintf("owner %d Pin(%d, %d) follower %v", o.id, a, n, ro), "pin ", a, err)
		if err == nil {
			o.compare(fmt.Sprintf("owner %d Pin(%d, %d) follower %v", o.id, a, n, ro), a, pn.Bytes())
			pn.Release()
		}
	case 4: // Batch: write some, read some, hold
		a, n := o.span(1)
		p := o.data(n)
		b, bn := o.span(1)
		var wrote bool
		var got []byte
		err := w.m.Batch(func(bt *chunkmap.Batch) error {
			if o.rng.IntN(2) == 0 {
				if err := bt.Hold(o.base, fwRegion); err != nil {
					return err
				}
			}
			wb, err := bt.WritableBytes(a, int(n))
			if err != nil {
				return err
			}
			o.forget(a, n) // in doubt until the batch returns nil
			copy(wb, p)
			wrote = true
			rb, err := bt.Bytes(b, int(bn))
			if err != nil {
				return err
			}
			got = bytes.Clone(rb)
			return nil
		})
		w.check(fmt.Sprintf("owner %d Batch", o.id), "batch", -1, err)
		if err == nil {
			o.set(a, p)
			// got was read after p was stored
			o.compare(fmt.Sprintf("owner %d Batch Bytes(%d, %d)", o.id, b, bn), b, got)
		} else if wrote {
			o.forget(a, n)
		}
	case 5: // Scatter then Gather
		k := 1 + o.rng.IntN(40)
		offs := make([]int64, k)
		seen := map[int64]bool{}
		for i := range offs {
			for {
				x := o.base + o.rng.Int64N(fwRegion/8)*8
				if !seen[x] {
					seen[x] = true
					offs[i] = x
					break
				}
			}
		}
		src := o.data(int64(8 * k))
		err := w.m.Scatter(src, offs, 8)
		w.check(fmt.Sprintf("owner %d Scatter", o.id), "scatter ", -1, err)
		for i, x := range offs {
			if err == nil {
				o.set(x, src[8*i:8*i+8])
			} else {
				o.forget(x, 8)
			}
		}
		m, ro := o.mgr()
		dst := make([]byte, 8*k)
		err = m.Gather(dst, offs, 8)
		w.check(fmt.Sprintf("owner %d Gather follower %v", o.id, ro), "gather ", -1, err)
		if err == nil {
			for i, x := range offs {
				o.compare(fmt.Sprintf("owner %d Gather follower %v", o.id, ro), x, dst[8*i:8*i+8])
			}
		}
	case 6: // atomics
		x := o.base + o.rng.Int64N(fwRegion/8)*8
		var cur uint64
		have := true
		for i := int64(0); i < 8; i++ {
			have = have && o.known[x-o.base+i]
		}
		if have {
			cur = binary.LittleEndian.Uint64(o.want[x-o.base:])
		}
		put := func(v uint64) { o.set(x, binary.LittleEndian.AppendUint64(nil, v)) }
		what := fmt.Sprintf("owner %d atomic at %d", o.id, x)
		switch o.rng.IntN(4) {
		case 0:
			v := o.rng.Uint64()
			err := w.m.StoreUint64(x, v)
			w.check(what, "atomic store ", x, err)
			if err == nil {
				put(v)
			} else {
				o.forget(x, 8)
			}
		case 1:
			d := o.rng.Uint64()
			v, err := w.m.AddUint64(x, d)
			w.check(what, "atomic add ", x, err)
			if err == nil {
				if have && v != cur+d {
					w.errs.add("%s: AddUint64 returned %#x, want %#x", what, v, cur+d)
				}
				put(v)
			} else {
				o.forget(x, 8)
			}
		case 2:
			if !have {
				return
			}
			v := o.rng.Uint64()
			ok, err := w.m.CompareAndSwapUint64(x, cur, v)
			w.check(what, "atomic compare-and-swap ", x, err)
			if err == nil {
				if !ok {
					w.errs.add("%s: CompareAndSwap of the value last written failed", what)
				}
				put(v)
			} else {
				o.forget(x, 8)
			}
		case 3:
			m, ro := o.mgr()
			v, err := m.LoadUint64(x)
			w.check(what+fmt.Sprint(" follower ", ro), "atomic load ", x, err)
			if err == nil && have && v != cur {
				w.errs.add("%s: LoadUint64 (follower %v) = %#x, want %#x", what, ro, v, cur)
			}
		}
	case 7: // accessor bulk write and read
		a, n := o.span(8)
		src := make([]uint64, n/8)
		for i := range src {
			src[i] = o.rng.Uint64()
		}
		err := w.va.WriteUint64s(a, src)
		w.check(fmt.Sprintf("owner %d WriteUint64s", o.id), "write ", a, err)
		if err == nil {
			for i, v := range src {
				put := binary.LittleEndian.AppendUint64(nil, v)
				o.set(a+int64(8*i), put)
			}
		} else {
			o.forget(a, n)
		}
		dst := make([]uint64, n/8)
		va, ro := w.va, false
		if o.rng.IntN(3) == 0 {
			va, ro = w.rv, true
		}
		err = va.ReadUint64s(a, dst)
		w.check(fmt.Sprintf("owner %d ReadUint64s follower %v", o.id, ro), "read ", a, err)
		if err == nil {
			for i, v := range dst {
				o.compare(fmt.Sprintf("owner %d ReadUint64s follower %v", o.id, ro), a+int64(8*i), binary.LittleEndian.AppendUint64(nil, v))
			}
		}
	case 8: // scans
		a, n := o.span(8)
		va, ro := w.va, false
		if o.rng.IntN(3) == 0 {
			va, ro = w.rv, true
		}
		s := va.Scan()
		what := fmt.Sprintf("owner %d scan follower %v", o.id, ro)
		if o.rng.IntN(2) == 0 {
			for off, v := range s.Uint64s(a, int(n/8)) {
				o.compare(what, off, binary.LittleEndian.AppendUint64(nil, v))
			}
			w.check(what, "scan uint64s", -1, s.Err())
		} else {
			for off, b := range s.Blocks(a, n) {
				o.compare(what, off, b)
			}
			w.check(what, "scan blocks", -1, s.Err())
		}
	case 9: // the whole region through the follower, then Refresh
		p := make([]byte, fwRegion)
		k, err := w.ro.ReadAt(p, o.base)
		w.check(fmt.Sprintf("owner %d follower ReadAt", o.id), "read ", o.base, err)
		o.compare(fmt.Sprintf("owner %d follower ReadAt", o.id), o.base, p[:k])
		if o.rng.IntN(4) == 0 {
			w.check("follower Refresh", "refresh ", -1, w.ro.Refresh())
		}
	case 10: // the whole region through the writer
		p := make([]byte, fwRegion)
		k, err := w.m.ReadAt(p, o.base)
		w.check(fmt.Sprintf("owner %d ReadAt whole", o.id), "read ", o.base, err)
		o.compare(fmt.Sprintf("owner %d ReadAt whole", o.id), o.base, p[:k])
	}
}

// chaos is one of the goroutines that work outside the owned area.
func (w *fwWorld) chaos(id int) {
	rng := stormyRNG(w.seed, uint64(100+id))
	anywhere := func() (int64, int64) {
		m := w.m
		if rng.IntN(3) == 0 {
			m = w.ro
		}
		s, z := m.Start(), m.Size()
		if z <= s {
			return s, 1
		}
		a := s + rng.Int64N(z-s)
		return a, 1 + rng.Int64N(min(z-a, 3*fwC/2))
	}
	for !w.stop.Load() {
		op := rng.IntN(16)
		if w.cfg.appends && (op <= 2 || op == 4 || op == 8 || op == 10) {
			continue // only the appenders write past the owned area
		}
		switch op {
		case 0, 1:
			n := 1 + rng.IntN(int(fwC/4))
			if rng.IntN(4) == 0 {
				n = 64<<10 + rng.IntN(int(2*fwC))
			}
			_, err := w.m.Append(make([]byte, n))
			w.check("Append", "append ", -1, err)
		case 2:
			n := 1 + rng.Int64N(2*fwC)
			off := w.m.Size() + rng.Int64N(fwC)
			_, err := w.m.WriteAt(make([]byte, n), off)
			w.check(fmt.Sprintf("WriteAt past size (%d, %d)", n, off), "write ", off, err)
		case 3:
			err := w.m.Grow(rng.Int64N(2 * fwC))
			w.check("Grow", "grow ", -1, err)
		case 4:
			if rng.IntN(3) == 0 {
				size := fwFloor + rng.Int64N(4*fwC)
				err := w.m.Truncate(size)
				w.check(fmt.Sprintf("Truncate(%d)", size), "truncate ", size, err)
			}
		case 5:
			if rng.IntN(4) == 0 {
				off := rng.Int64N(fwDropMax*fwC + 1)
				err := w.m.DropBefore(off)
				w.check(fmt.Sprintf("DropBefore(%d)", off), "drop ", off, err)
			}
		case 6:
			w.check("Sync", "sync ", -1, w.m.Sync())
		case 7:
			a, n := anywhere()
			m, ro := w.m, false
			if rng.IntN(2) == 0 {
				m, ro = w.ro, true
			}
			_, err := m.ReadAt(make([]byte, n), a)
			w.check(fmt.Sprintf("ReadAt(%d, %d) follower %v", n, a, ro), "read ", a, err)
		case 8:
			a, n := anywhere()
			if a >= fwOwnBase-fwC && a < fwOwnEnd+fwC {
				continue // zeros there would break the owners' model
			}
			if a+n > fwOwnBase && a < fwOwnEnd {
				n = fwOwnBase - a
			}
			_, err := w.m.WriteAt(bytes.Repeat([]byte{0x5a}, int(n)), a)
			w.check(fmt.Sprintf("WriteAt(%d, %d)", n, a), "write ", a, err)
		case 9:
			a, n := anywhere()
			m, ro := w.m, false
			if rng.IntN(2) == 0 {
				m, ro = w.ro, true
			}
			err := m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.Bytes(a, int(n))
				if err != nil {
					return err
				}
				var sum byte
				for _, x := range p {
					sum += x
				}
				_ = sum
				return nil
			})
			w.check(fmt.Sprintf("Batch Bytes(%d, %d) follower %v", a, n, ro), "batch", -1, err)
			w.checkNames(fmt.Sprintf("Batch Bytes(%d, %d) follower %v", a, n, ro), err, a)
		case 10:
			a, _ := anywhere()
			a &^= 7
			m, ro := w.m, false
			if rng.IntN(2) == 0 {
				m, ro = w.ro, true
			}
			_, err := m.LoadUint64(a)
			w.check(fmt.Sprintf("LoadUint64(%d) follower %v", a, ro), "atomic load ", a, err)
			if !ro && (a < fwOwnBase-8 || a >= fwOwnEnd) && (a < fwOwnBase-fwC || a >= fwOwnEnd+fwC) {
				_, err := m.AddUint64(a, 0)
				w.check(fmt.Sprintf("AddUint64(%d, 0)", a), "atomic add ", a, err)
			}
		case 11:
			a, n := anywhere()
			offs := []int64{a, a + n/2, a + n - 1}
			m, ro := w.m, false
			if rng.IntN(2) == 0 {
				m, ro = w.ro, true
			}
			err := m.Gather(make([]byte, 3), offs, 1)
			w.check(fmt.Sprintf("Gather %v follower %v", offs, ro), "gather ", -1, err)
			w.checkNames(fmt.Sprintf("Gather %v follower %v", offs, ro), err, offs...)
		case 12:
			a, n := anywhere()
			va, ro := w.va, false
			if rng.IntN(2) == 0 {
				va, ro = w.rv, true
			}
			s := va.Scan()
			for range s.Blocks(a, n) {
			}
			w.check(fmt.Sprintf("scan blocks (%d, %d) follower %v", a, n, ro), "scan blocks", -1, s.Err())
			for range s.Uint64s(a, int(n/8)) {
			}
			w.check(fmt.Sprintf("scan (%d, %d) follower %v", a, n, ro), "scan", -1, s.Err())
		case 13:
			w.check("follower Refresh", "refresh ", -1, w.ro.Refresh())
		case 14:
			for _, m := range []*chunkmap.Manager{w.m, w.ro} {
				st := m.Stats()
				if st.Mapped < 0 || st.Pinned < 0 || st.Unmaps > st.Maps || st.Evictions > st.Unmaps {
					w.errs.add("Stats: %+v", st)
				}
			}
		case 15:
			a, n := anywhere()
			err := w.m.Advise(a, n, chunkmap.AdviceWillNeed)
			w.check(fmt.Sprintf("Advise(%d, %d)", a, n), "advise ", a, err)
		}
	}
}

// fwRecord is an acknowledged Append.
type fwRecord struct {
	off  int64
	data []byte
}

// appender appends records of its own and reads each back at once,
// through the writer and the follower, which sees an Append the moment it
// returns.
func (w *fwWorld) appender(id int) {
	rng := stormyRNG(w.seed, uint64(200+id))
	for seq := 0; !w.stop.Load(); seq++ {
		n := 1 + rng.IntN(int(fwC/3))
		if rng.IntN(5) == 0 {
			n = 64<<10 + rng.IntN(int(fwC))
		}
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32() | 1)
		}
		off, err := w.m.Append(p)
		w.check(fmt.Sprintf("appender %d Append(%d)", id, n), "append ", -1, err)
		if err != nil {
			continue
		}
		w.recMu.Lock()
		w.recs = append(w.recs, fwRecord{off, p})
		w.recMu.Unlock()
		for _, m := range []*chunkmap.Manager{w.m, w.ro} {
			got := make([]byte, n)
			k, err := m.ReadAt(got, off)
			w.check(fmt.Sprintf("appender %d ReadAt(%d, %d) of its record (read-only %v)", id, n, off, m.ReadOnly()), "read ", off, err)
			if !bytes.Equal(got[:k], p[:k]) {
				w.errs.add("appender %d: record of %d bytes at %d (Append returned nil) reads back wrong through read-only %v (%d bytes read, %v)", id, n, off, m.ReadOnly(), k, err)
			}
			if err == io.EOF {
				w.errs.add("appender %d: record of %d bytes at %d (Append returned nil): read-only %v ReadAt returns io.EOF after %d bytes", id, n, off, m.ReadOnly(), k)
			}
		}
	}
}

// tamper is another program: it cuts, removes and replaces chunk files
// outside the owned area.
func (w *fwWorld) tamper() {
	rng := stormyRNG(w.seed, 7)
	for !w.stop.Load() {
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		idx := rng.Int64N(16)
		if idx >= 4 && idx < 8 {
			continue
		}
		path := filepath.Join(w.dir, fmt.Sprintf("%016x.chunk", idx))
		oi := rng.Int64N(12)
		if oi >= 4 {
			oi += 4 // never a name of the owned area: a link would let the writes through it
		}
		other := filepath.Join(w.dir, fmt.Sprintf("%016x.chunk", oi))
		if w.cfg.manifest && rng.IntN(20) == 0 {
			mf := filepath.Join(w.dir, chunkmap.ManifestName)
			switch rng.IntN(3) {
			case 0:
				os.Truncate(mf, rng.Int64N(4096))
			case 1:
				if f, err := os.OpenFile(mf, os.O_WRONLY, 0); err == nil {
					f.WriteAt(bytes.Repeat([]byte{0xee}, 64), rng.Int64N(4096))
					f.Close()
				}
			case 2:
				os.Truncate(mf, 4096) // back to its size, zeros where cut
			}
			continue
		}
		switch rng.IntN(8) {
		case 3:
			os.Remove(path)
			syscall.Mkfifo(path, 0o644)
		case 4:
			os.Remove(path)
			os.Symlink(other, path)
		case 5:
			os.Remove(path)
			os.Mkdir(path, 0o755)
			if rng.IntN(2) == 0 {
				time.Sleep(time.Millisecond)
				os.Remove(path)
			}
		case 6:
			os.Truncate(path, fwC+rng.Int64N(fwC))
		case 7:
			os.Remove(path)
			os.Link(other, path)
		case 0:
			os.Truncate(path, rng.Int64N(fwC))
		case 1:
			os.Remove(path)
		case 2:
			tmp := path + ".evil"
			if err := os.WriteFile(tmp, bytes.Repeat([]byte{0xee}, int(fwC)), 0o644); err == nil {
				if os.Rename(tmp, path) != nil {
					os.Remove(tmp)
				}
			} else {
				os.Remove(tmp)
			}
		}
	}
}

// filler fills the tmpfs and empties it again, over and over.
func (w *fwWorld) filler() {
	rng := stormyRNG(w.seed, 8)
	path := filepath.Join(w.mnt, "filler")
	buf := bytes.Repeat([]byte{0xf1}, 16<<10)
	for !w.stop.Load() {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
			for !w.stop.Load() {
				if _, err := f.Write(buf); err != nil {
					break
				}
			}
			f.Close()
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		if rng.IntN(2) == 0 {
			os.Remove(path)
		} else if fi, err := os.Stat(path); err == nil {
			os.Truncate(path, fi.Size()/2)
		}
		time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
	}
}

func fwRun(t *testing.T, cfg fwCfg, dirBase string) {
	watchdog.Start(t, 60*time.Second)
	seed := stormySeed(t)
	w := &fwWorld{t: t, cfg: cfg, seed: seed}
	w.mnt = dirBase
	w.dir = filepath.Join(dirBase, "ds")
	rng := stormyRNG(seed, 1)
	opts := &chunkmap.Options{ChunkSize: fwC, MaxMapped: 1 + rng.IntN(4)}
	if rng.IntN(2) == 0 {
		opts.ArenaSize = int64(1+rng.IntN(8)) * fwC
	}
	opts.NoAdmission = rng.IntN(2) == 0
	t.Logf("options %+v", *opts)
	m, err := chunkmap.Open(w.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	w.m = m
	p := make([]byte, fwPrefill*fwC)
	for i := range p {
		p[i] = byte(i*7 + i>>16)
	}
	if _, err := m.WriteAt(p, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	ro, err := chunkmap.Open(w.dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1 + rng.IntN(3), ArenaSize: opts.ArenaSize})
	if err != nil {
		t.Fatal(err)
	}
	w.ro = ro
	w.va, w.rv = accessor.New(m, nil), accessor.New(ro, nil)

	owners := make([]*fwOwner, fwOwners)
	for i := range owners {
		o := &fwOwner{w: w, id: i, rng: stormyRNG(seed, uint64(10+i)), base: fwOwnBase + int64(i)*fwRegion,
			want: make([]byte, fwRegion), known: make([]bool, fwRegion)}
		copy(o.want, p[o.base:])
		for j := range o.known {
			o.known[j] = true
		}
		owners[i] = o
	}

	var orig syscall.Rlimit
	if cfg.fdExtra > 0 {
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		lim := orig
		lim.Cur = uint64(bxAllFDs(t) - 1 + cfg.fdExtra)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	restore := func() {
		if cfg.fdExtra > 0 {
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
				t.Fatal(err)
			}
		}
	}

	budget := 400 * time.Millisecond
	if testing.Short() || raceEnabled {
		budget = 120 * time.Millisecond
	}
	closeAt := time.Duration(rng.Int64N(int64(budget) * 3 / 2))
	rcloseAt := time.Duration(rng.Int64N(int64(budget) * 2))
	t.Logf("close at %v, follower close at %v, budget %v", closeAt, rcloseAt, budget)
	var closeErr, rcloseErr error
	var wg sync.WaitGroup
	for _, o := range owners {
		wg.Go(func() {
			for !w.stop.Load() {
				o.step()
			}
		})
	}
	for i := range 6 {
		wg.Go(func() { w.chaos(i) })
	}
	if cfg.tamper {
		wg.Go(w.tamper)
	}
	if cfg.appends {
		for i := range 4 {
			wg.Go(func() { w.appender(i) })
		}
	}
	if cfg.fullDisk {
		wg.Go(w.filler)
	}
	wg.Go(func() {
		time.Sleep(closeAt)
		if closeAt < budget {
			w.closed.Store(true)
			closeErr = m.Close()
			// Only what pins and batches still hold stays mapped.
			if st := m.Stats(); st.Mapped > st.Pinned {
				w.errs.add("right after Close (%v): Stats %+v", closeErr, st)
			}
		}
	})
	wg.Go(func() {
		time.Sleep(rcloseAt)
		w.rclose.Store(true)
		rcloseErr = ro.Close()
		if st := ro.Stats(); st.Mapped > st.Pinned {
			w.errs.add("right after the follower's Close (%v): Stats %+v", rcloseErr, st)
		}
	})
	time.Sleep(budget)
	w.stop.Store(true)
	t0 := time.Now()
	wg.Wait()
	t.Logf("storm ended %v after stop", time.Since(t0))
	restore()
	w.errs.report(t)
	if !w.closed.Load() {
		w.afterStorm(owners)
		w.closed.Store(true)
		closeErr = m.Close()
	}
	t.Logf("Close: %v; follower Close: %v", closeErr, rcloseErr)
	if closeErr != nil {
		w.check("Close", "close ", -1, closeErr)
		if errors.Is(closeErr, chunkmap.ErrClosed) {
			t.Errorf("Close: %v", closeErr)
		}
	}
	if rcloseErr != nil {
		w.check("follower Close", "close ", -1, rcloseErr)
		if !errors.Is(rcloseErr, chunkmap.ErrBusy) {
			t.Errorf("follower Close: %v", rcloseErr)
		}
	}
	var keys []string
	w.counts.Range(func(k, v any) bool {
		keys = append(keys, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("outcomes: %s", strings.Join(keys, " "))

	for _, mm := range []*chunkmap.Manager{m, ro} {
		if st := mm.Stats(); st.Mapped != 0 || st.Pinned != 0 {
			t.Errorf("after Close (read-only %v): Stats %+v", mm.ReadOnly(), st)
		}
		if err := mm.Close(); !errors.Is(err, chunkmap.ErrClosed) {
			t.Errorf("second Close: %v", err)
		}
	}
	// Nothing of the dataset stays mapped or open (the arena's reservation
	// and the manifest page may wait for a collection).
	m, ro, w.m, w.ro, w.va, w.rv = nil, nil, nil, nil, nil, nil
	t0 = time.Now()
	bxWaitGone(t, w.dir, 1<<30)
	t.Logf("gone after %v", time.Since(t0))

	// Every acknowledged byte of the owned area is in the chunk files.
	if cfg.fullDisk {
		os.Remove(filepath.Join(w.mnt, "filler"))
	}
	var files []byte // chunks 4 to 7, whole
	for idx := int64(4); idx < 8; idx++ {
		b, err := os.ReadFile(filepath.Join(w.dir, fmt.Sprintf("%016x.chunk", idx)))
		if err != nil || int64(len(b)) != fwC {
			t.Fatalf("chunk %d after Close: %d bytes, %v", idx, len(b), err)
		}
		files = append(files, b...)
	}
	for _, o := range owners {
		got := files[o.base-4*fwC : o.base-4*fwC+fwRegion]
		o.compare(fmt.Sprintf("owner %d after Close, in the files", o.id), o.base, got)
	}
	w.errs.report(t)

	// Close released the lock, whatever it returned.
	if cfg.tamper {
		m3, err := chunkmap.Open(w.dir, nil)
		if errors.Is(err, chunkmap.ErrLocked) {
			t.Errorf("Open after Close (%v): %v", closeErr, err)
		}
		if err == nil {
			m3.Close()
		}
	}
	// After freeing space, with no tampering, the dataset opens and works.
	if !cfg.tamper {
		m2, err := chunkmap.Open(w.dir, &chunkmap.Options{MaxMapped: 2})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer m2.Close()
		for _, o := range owners {
			got := make([]byte, fwRegion)
			if _, err := m2.ReadAt(got, o.base); err != nil {
				t.Fatalf("reopen ReadAt: %v", err)
			}
			o.compare(fmt.Sprintf("owner %d after reopen", o.id), o.base, got)
		}
		t.Logf("%d acknowledged records", len(w.recs))
		for _, r := range w.recs {
			got := make([]byte, len(r.data))
			if _, err := m2.ReadAt(got, r.off); err != nil || !bytes.Equal(got, r.data) {
				t.Errorf("record of %d bytes at %d (Append returned nil) after reopen: %v, equal %v", len(r.data), r.off, err, bytes.Equal(got, r.data))
			}
		}
		if err := m2.Truncate(fwFloor); err != nil {
			t.Errorf("Truncate after freeing space: %v", err)
		}
		if _, err := m2.Append(make([]byte, 3*fwC)); err != nil {
			t.Errorf("Append after freeing space: %v", err)
		}
		if _, err := m2.WriteAt([]byte("x"), m2.Size()+fwC); err != nil {
			t.Errorf("WriteAt past Size after freeing space: %v", err)
		}
		if err := m2.Sync(); err != nil {
			t.Errorf("Sync after freeing space: %v", err)
		}
		w.errs.report(t)
	}
}

// afterStorm checks, on a writer the storm left open, that once space is
// freed (the filler removed, Truncate) every call works again, and that
// every acknowledged byte of the owned area reads back through the writer
// and the follower.
func (w *fwWorld) afterStorm(owners []*fwOwner) {
	t := w.t
	m := w.m
	if w.cfg.fullDisk {
		os.Remove(filepath.Join(w.mnt, "filler"))
	}
	for _, o := range owners {
		for _, mm := range []*chunkmap.Manager{m, w.ro} {
			if mm == w.ro && w.rclose.Load() {
				continue
			}
			got := make([]byte, fwRegion)
			_, err := mm.ReadAt(got, o.base)
			if err != nil && !(w.cfg.manifest && errors.Is(err, chunkmap.ErrCorrupt)) {
				t.Errorf("after the storm: ReadAt of owner %d's area (read-only %v): %v", o.id, mm.ReadOnly(), err)
			}
			o.compare(fmt.Sprintf("owner %d after the storm (read-only %v)", o.id, mm.ReadOnly()), o.base, got)
		}
		p := o.data(fwRegion)
		if _, err := m.WriteAt(p, o.base); err != nil {
			t.Errorf("after the storm: WriteAt of owner %d's area: %v", o.id, err)
		} else {
			o.set(o.base, p)
		}
	}
	if w.cfg.tamper {
		return // the tail's files may be damaged for good, as ErrFault says
	}
	w.recMu.Lock()
	for _, r := range w.recs {
		got := make([]byte, len(r.data))
		if _, err := m.ReadAt(got, r.off); err != nil || !bytes.Equal(got, r.data) {
			t.Errorf("after the storm: record of %d bytes at %d (Append returned nil): %v, equal %v", len(r.data), r.off, err, bytes.Equal(got, r.data))
		}
	}
	w.recs = nil // the Truncate below cuts them
	w.recMu.Unlock()
	if err := m.Truncate(fwFloor); err != nil {
		t.Errorf("after the storm: Truncate(%d): %v", fwFloor, err)
	}
	if _, err := m.Append(make([]byte, 2*fwC+5)); err != nil {
		t.Errorf("after the storm: Append: %v", err)
	}
	if _, err := m.WriteAt([]byte("abc"), m.Size()+fwC/2); err != nil {
		t.Errorf("after the storm: WriteAt past Size: %v", err)
	}
	if err := m.Grow(fwC); err != nil {
		t.Errorf("after the storm: Grow: %v", err)
	}
	if p, err := m.PinWritable(m.Size()-3, 3); err != nil {
		t.Errorf("after the storm: PinWritable: %v", err)
	} else {
		p.Release()
	}
	if err := m.Sync(); err != nil {
		t.Errorf("after the storm: Sync: %v", err)
	}
}

// TestFailingWorld_Storm runs the storm with each failure of the system,
// and all of them at once.
func TestFailingWorld_Storm(t *testing.T) {
	if os.Getenv(fwChildEnv) != "" {
		t.Skip("in the child")
	}
	for _, tc := range []struct {
		name string
		cfg  fwCfg
	}{
		{"fulldisk+tamper", fwCfg{fullDisk: true, tamper: true}},
		{"manifest", fwCfg{tamper: true, manifest: true}},
		{"appends", fwCfg{appends: true, fullDisk: true}},
		{"fdlimit+fulldisk+tamper", fwCfg{fdExtra: 2, fullDisk: true, tamper: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.fdExtra > 0 {
				fwChild(t, tc.cfg)
				return
			}
			base := t.TempDir()
			if tc.cfg.fullDisk {
				fzNeedRoot(t)
				base = fzMount(t, "size=2m")
			}
			fwRun(t, tc.cfg, base)
		})
	}
}

const fwChildEnv = "CHUNKMAP_FAILINGWORLD_CHILD"

func fwChild(t *testing.T, cfg fwCfg) {
	base := t.TempDir()
	if cfg.fullDisk {
		fzNeedRoot(t)
		base = fzMount(t, "size=2m")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailingWorldChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), fwChildEnv+"="+fmt.Sprintf("%v,%v,%v,%v,%d", cfg.fullDisk, cfg.tamper, cfg.manifest, cfg.appends, cfg.fdExtra), "FW_DIR="+base)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestFailingWorldChild") {
		t.Errorf("child failed: %v\n%s", err, out)
	} else if testing.Verbose() {
		t.Logf("%s", out)
	}
}

// TestFailingWorldChild is the child of TestFailingWorld_Storm's
// descriptor-limit cases.
func TestFailingWorldChild(t *testing.T) {
	env := os.Getenv(fwChildEnv)
	if env == "" {
		t.Skip("run by TestFailingWorld_Storm")
	}
	var cfg fwCfg
	if _, err := fmt.Sscanf(strings.ReplaceAll(env, ",", " "), "%t %t %t %t %d", &cfg.fullDisk, &cfg.tamper, &cfg.manifest, &cfg.appends, &cfg.fdExtra); err != nil {
		t.Fatal(err)
	}
	fwRun(t, cfg, os.Getenv("FW_DIR"))
}
