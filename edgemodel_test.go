package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
)

// edgePin is a pin the model holds across other calls. Its bytes are the
// dataset's until a Truncate, DropBefore or Close makes it stale.
type edgePin struct {
	p     *chunkmap.Pinned
	off   int64
	write bool
	stale bool
	of    *chunkmap.Manager
}

// edgeCheckStats checks the bound Stats promises: Mapped stays within
// MaxMapped plus Pinned, and within MaxMapped when the caller holds nothing
// of m (pinned false).
func edgeCheckStats(t *testing.T, what string, m *chunkmap.Manager, maxMapped int, pinned bool) {
	t.Helper()
	s := m.Stats()
	if s.Mapped > maxMapped+s.Pinned {
		t.Fatalf("%s: Stats %+v: Mapped over MaxMapped %d + Pinned", what, s, maxMapped)
	}
	if !pinned && (s.Pinned != 0 || s.Mapped > maxMapped) {
		t.Fatalf("%s: Stats %+v with nothing held: over MaxMapped %d", what, s, maxMapped)
	}
}

// TestEdgeModel runs random sequences of calls against a dataset created
// with Options.Start at 0, a few chunks in, at 1 TiB or in the top chunks of
// the int64 range, compared byte for byte with a model of the file it
// claims to be: pins held across every other call (writable ones written
// through while they are the dataset's; Truncate, DropBefore and Close make
// them stale), batches, ReadOnly followers opened (also while no writer has
// the dataset open), refreshed and closed at random, reopens with other
// options (ChunkSize 0, and the creation's Start, which the dataset's own
// overrides), tiny arenas, MaxMapped 1, scratch datasets, and the Stats
// bound after every step. EDGEMODEL_TIME sets how long it runs (a
// time.ParseDuration string).
func TestEdgeModel(t *testing.T) {
	seed := testSeed(t, "EDGEMODEL_SEED")
	budget := stormFor(1500 * time.Millisecond)
	if testing.Short() {
		budget = 500 * time.Millisecond
	}
	if s := os.Getenv("EDGEMODEL_TIME"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("EDGEMODEL_TIME=%q: %v", s, err)
		}
		budget = d
	}
	deadline := time.Now().Add(budget)
	for round := 0; time.Now().Before(deadline); round++ {
		rs := seed + uint64(round)
		t.Run(fmt.Sprint("seed", rs), func(t *testing.T) { edgeModelRound(t, rs, round%4 == 3) })
		if t.Failed() {
			return
		}
	}
}

func edgeModelRound(t *testing.T, seed uint64, scratch bool) {
	const cs = clxChunk
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	dir := filepath.Join(t.TempDir(), "ds")
	var base int64
	switch rng.IntN(4) {
	case 0:
	case 1:
		base = rng.Int64N(8) * cs
	case 2:
		base = (1 << 40) + rng.Int64N(8)*cs
	default:
		base = (1<<63-1)&^(cs-1) - 64*cs // near the top of the int64 range
	}
	maxMapped := 1
	opts := func() *chunkmap.Options {
		maxMapped = 1 + rng.IntN(3)
		return &chunkmap.Options{
			ChunkSize:   int64(rng.IntN(2)) * cs, // the dataset's own on reopen
			MaxMapped:   maxMapped,
			NoAdmission: rng.IntN(2) == 0,
			ArenaSize:   int64(rng.IntN(3)) * int64(1+rng.IntN(4)) * cs,
			Advice:      chunkmap.Advice(rng.IntN(5)),
			Start:       base,
			Scratch:     scratch,
		}
	}
	o := opts()
	o.ChunkSize = cs
	m := clxOpen(t, dir, o)
	defer func() { m.Close() }()
	f := &clxModel{base: base, start: base}
	if m.Start() != base || m.Size() != base {
		t.Fatalf("new dataset: Start, Size = %d, %d; want %d", m.Start(), m.Size(), base)
	}
	type follower struct {
		m         *chunkmap.Manager
		maxMapped int
	}
	var fols []follower
	defer func() {
		for _, fo := range fols {
			fo.m.Close()
		}
	}()
	var pins []*edgePin
	defer func() {
		for _, p := range pins {
			p.p.Release()
		}
	}()
	stalePins := func(of *chunkmap.Manager) {
		for _, p := range pins {
			if of == nil || p.of == of {
				p.stale = true
			}
		}
	}
	const span = 12 * cs
	randOff := func() int64 {
		switch rng.IntN(6) {
		case 0:
			return f.start + rng.Int64N(max(1, f.size()-f.start+1))
		case 1: // near a chunk boundary
			return base + rng.Int64N(span/cs)*cs + rng.Int64N(9) - 4
		case 2:
			return f.size() + rng.Int64N(3) - 1
		case 3:
			return f.start + rng.Int64N(3) - 1
		default:
			return base + rng.Int64N(span)
		}
	}
	randLen := func() int {
		switch rng.IntN(5) {
		case 0:
			return rng.IntN(9)
		case 1:
			return cs - 4 + rng.IntN(9)
		case 2:
			return rng.IntN(3 * cs)
		default:
			return rng.IntN(3000)
		}
	}
	randBytes := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32()) | 1
		}
		return p
	}
	readers := func() []*chunkmap.Manager {
		r := []*chunkmap.Manager{m}
		for _, fo := range fols {
			r = append(r, fo.m)
		}
		return r
	}
	for step := 0; step < 150; step++ {
		what := fmt.Sprintf("step %d", step)
		switch op := rng.IntN(100); {
		case op < 20: // WriteAt
			off, n := randOff(), randLen()
			if off < base || off+int64(n) > base+span {
				continue
			}
			p := randBytes(n)
			clxStepWrite(t, what+fmt.Sprintf(" WriteAt(%d bytes, %d)", n, off), m, f, p, off)
		case op < 28: // Append
			n := randLen()
			if f.size()+int64(n) > base+span {
				continue
			}
			p := randBytes(n)
			clxStepAppend(t, what+fmt.Sprintf(" Append(%d bytes)", n), m, f, p)
		case op < 45: // ReadAt, by the writer and every follower
			off, n := randOff(), randLen()
			for i, r := range readers() {
				clxCheckRead(t, fmt.Sprintf("%s (reader %d)", what, i), r, f, off, n)
			}
		case op < 53: // Truncate
			var n int64
			switch rng.IntN(3) {
			case 0:
				n = max(f.start, f.size()-rng.Int64N(100))
			case 1:
				n = base + rng.Int64N(span)
			default:
				n = f.start + rng.Int64N(max(1, f.size()-f.start+1))
			}
			if clxStepTruncate(t, what+fmt.Sprintf(" Truncate(%d)", n), m, f, n) {
				stalePins(nil)
			}
		case op < 57: // DropBefore
			n := f.start + rng.Int64N(max(1, f.size()-f.start+cs))
			if clxStepDrop(t, what+fmt.Sprintf(" DropBefore(%d)", n), m, f, n, cs) {
				stalePins(nil)
			}
		case op < 60:
			if err := m.Sync(); err != nil {
				t.Fatalf("%s Sync: %v", what, err)
			}
		case op < 67 && scratch:
			continue
		case op < 63: // Close and reopen, pins still held
			if err := m.Close(); err != nil {
				t.Fatalf("%s Close: %v", what, err)
			}
			stalePins(m)
			if rng.IntN(2) == 0 && len(fols) < 3 {
				// A follower opened while no writer has the dataset
				// open, which then follows the next writer.
				mm := 1 + rng.IntN(2)
				fm := clxOpen(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: mm})
				fols = append(fols, follower{fm, mm})
			}
			for i, fo := range fols {
				clxCheckRead(t, fmt.Sprintf("%s (follower %d, writer closed)", what, i), fo.m, f, f.start, int(f.size()-f.start)+1)
			}
			m = clxOpen(t, dir, opts())
			what += " (reopened)"
			if m.Start() != f.start || m.Size() != f.size() {
				t.Fatalf("%s: Start, Size = %d, %d; want %d, %d", what, m.Start(), m.Size(), f.start, f.size())
			}
		case op < 67: // a follower opens, closes or refreshes
			switch {
			case len(fols) > 0 && rng.IntN(3) == 0:
				i := rng.IntN(len(fols))
				if err := fols[i].m.Close(); err != nil {
					t.Fatalf("%s follower Close: %v", what, err)
				}
				stalePins(fols[i].m)
				fols = append(fols[:i], fols[i+1:]...)
			case len(fols) > 0 && rng.IntN(2) == 0:
				if err := fols[rng.IntN(len(fols))].m.Refresh(); err != nil {
					t.Fatalf("%s Refresh: %v", what, err)
				}
			case len(fols) < 3:
				mm := 1 + rng.IntN(2)
				fm := clxOpen(t, dir, &chunkmap.Options{ReadOnly: true, MaxMapped: mm,
					ArenaSize: int64(rng.IntN(2)) * 2 * cs, NoAdmission: rng.IntN(2) == 0})
				fols = append(fols, follower{fm, mm})
			}
		case op < 75: // pin a range, and hold it
			rs := readers()
			r := rs[rng.IntN(len(rs))]
			off, n := randOff(), randLen()
			write := r == m && rng.IntN(2) == 0
			what += fmt.Sprintf(" Pin(%d, %d) write %v", off, n, write)
			var p *chunkmap.Pinned
			var err error
			if write {
				p, err = r.PinWritable(off, n)
			} else {
				p, err = r.Pin(off, n)
			}
			if off < f.start || off+int64(n) > f.size() || off == f.size() {
				if d := clxErr(err, chunkmap.ErrOutOfRange, "pin", fmt.Sprintf("offset %d", off)); d != "" {
					t.Fatalf("%s: %s", what, d)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if !bytes.Equal(p.Bytes(), f.bytes(off, int64(n))) {
				t.Fatalf("%s: pinned bytes differ from the model", what)
			}
			pins = append(pins, &edgePin{p: p, off: off, write: write, of: r})
		case op < 80: // use or release a held pin
			if len(pins) == 0 {
				continue
			}
			i := rng.IntN(len(pins))
			p := pins[i]
			b := p.p.Bytes()
			switch {
			case p.stale || rng.IntN(3) == 0:
				p.p.Release()
				p.p.Release() // twice does nothing
				pins = append(pins[:i], pins[i+1:]...)
			case p.write && len(b) > 0:
				j := rng.IntN(len(b))
				b[j] = byte(rng.Uint32()) | 4
				f.bytes(p.off, int64(len(b)))[j] = b[j]
				clxCheckRead(t, what+" after a store through a pin", m, f, p.off+int64(j), 1)
			default:
				if !bytes.Equal(b, f.bytes(p.off, int64(len(b)))) {
					t.Fatalf("%s: bytes of the pin at %d (%d bytes) differ from the model", what, p.off, len(b))
				}
			}
		case op < 86: // a batch reads and writes
			off, n := randOff(), randLen()
			inside := off >= f.start && off+int64(n) <= f.size() && off < f.size()
			what += fmt.Sprintf(" Batch(%d, %d)", off, n)
			err := m.Batch(func(b *chunkmap.Batch) error {
				if rng.IntN(2) == 0 {
					if err := b.HoldWritable(off, int64(n)); err != nil {
						return err
					}
				}
				w, err := b.WritableBytes(off, n)
				if err != nil {
					return err
				}
				if !bytes.Equal(w, f.bytes(off, int64(n))) {
					return fmt.Errorf("batch bytes differ from the model")
				}
				if n > 0 {
					w[0] ^= 0x5a
					w[n-1] ^= 0x3c
					g := f.bytes(off, int64(n))
					g[0] ^= 0x5a
					g[n-1] ^= 0x3c
				}
				return nil
			})
			if !inside {
				if err == nil || !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Fatalf("%s: %v, want ErrOutOfRange", what, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case op < 90: // Grow changes nothing visible
			n := rng.Int64N(3 * cs)
			if f.size()+n > base+span {
				continue
			}
			if err := m.Grow(n); err != nil {
				t.Fatalf("%s Grow(%d): %v", what, n, err)
			}
		default: // every byte, by every reader
			for i, r := range readers() {
				if r.Start() != f.start || r.Size() != f.size() {
					t.Fatalf("%s: reader %d: Start, Size = %d, %d; want %d, %d", what, i, r.Start(), r.Size(), f.start, f.size())
				}
				clxCheckRead(t, fmt.Sprintf("%s (reader %d, all)", what, i), r, f, f.start, int(f.size()-f.start)+1)
			}
		}
		if m.Size() != f.size() || m.Start() != f.start {
			t.Fatalf("%s: Start, Size = %d, %d; want %d, %d", what, m.Start(), m.Size(), f.start, f.size())
		}
		holders := map[*chunkmap.Manager]bool{}
		for _, p := range pins {
			holders[p.of] = true
		}
		edgeCheckStats(t, what, m, maxMapped, holders[m])
		for i, fo := range fols {
			edgeCheckStats(t, fmt.Sprintf("%s (follower %d)", what, i), fo.m, fo.maxMapped, holders[fo.m])
		}
	}
	for _, p := range pins {
		p.p.Release()
	}
	pins = nil
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for i, fo := range fols {
		if err := fo.m.Refresh(); err != nil {
			t.Fatalf("follower %d Refresh after the writer closed: %v", i, err)
		}
		clxCheckRead(t, fmt.Sprintf("end (follower %d)", i), fo.m, f, f.start, int(f.size()-f.start)+1)
	}
	if scratch {
		return
	}
	m = clxOpen(t, dir, &chunkmap.Options{ReadOnly: true})
	clxCheckRead(t, "reopened read-only", m, f, f.start, int(f.size()-f.start)+1)
}
