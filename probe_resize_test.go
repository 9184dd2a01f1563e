package chunkmap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

const probeCS = chunkmap.MinChunkSize

// probeModel is a file plus retention: bytes [0, len(data)) with the ones
// below start unreadable.
type probeModel struct {
	data  []byte
	start int64
}

func (md *probeModel) size() int64 { return int64(len(md.data)) }

func (md *probeModel) writeAt(p []byte, off int64) {
	if len(p) == 0 { // a zero-length write changes nothing
		return
	}
	if end := off + int64(len(p)); end > md.size() {
		md.data = append(md.data, make([]byte, end-md.size())...)
	}
	copy(md.data[off:], p)
}

func (md *probeModel) truncate(size int64) {
	if size <= md.size() {
		md.data = md.data[:size:size] // cut the capacity too: regrowth must bring zeros
		return
	}
	md.data = append(md.data, make([]byte, size-md.size())...)
}

// probeCheck compares m with md byte for byte, and checks the reads at
// and past the edges.
func probeCheck(t *testing.T, m *chunkmap.Manager, md *probeModel, step string) {
	t.Helper()
	if m.Size() != md.size() || m.Start() != md.start {
		t.Fatalf("%s: [Start, Size) = [%d, %d), model [%d, %d)", step, m.Start(), m.Size(), md.start, md.size())
	}
	n := md.size() - md.start
	got := make([]byte, n+100)
	k, err := m.ReadAt(got, md.start)
	if int64(k) != n || err != io.EOF {
		t.Fatalf("%s: ReadAt(%d bytes at %d) = %d, %v; want %d, io.EOF", step, len(got), md.start, k, err, n)
	}
	if !bytes.Equal(got[:n], md.data[md.start:]) {
		for i := int64(0); i < n; i++ {
			if got[i] != md.data[md.start+i] {
				t.Fatalf("%s: byte at offset %d = %#x, model %#x (chunk %d, offset in chunk %d)",
					step, md.start+i, got[i], md.data[md.start+i], (md.start+i)/probeCS, (md.start+i)%probeCS)
			}
		}
	}
	if md.start > 0 {
		_, err := m.ReadAt(got[:1], md.start-1)
		probeWantErr(t, err, chunkmap.ErrOutOfRange, "read", step+": read below Start")
	}
	if k, err := m.ReadAt(got[:10], md.size()); k != 0 || err != io.EOF {
		t.Fatalf("%s: ReadAt at Size = %d, %v; want 0, io.EOF", step, k, err)
	}
}

// probeRandomBytes returns n bytes that are never all zero, so a lost write
// shows.
func probeRandomBytes(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	rng.Read(p)
	for i := range p {
		if p[i] == 0 {
			p[i] = 0xA5
		}
	}
	return p
}

// probeResizeModel runs random Append, WriteAt (also far past the end),
// Truncate, Grow and DropBefore against a file-plus-retention model,
// comparing every byte after each step, and (unless scratch) after Close
// and reopen.
func probeResizeModel(t *testing.T, scratch bool, steps int) {
	watchdog.Start(t, 60*time.Second)
	if raceEnabled {
		// One goroutine calls, where the race detector, which slows the
		// steps about five times, has little to find (the Manager's own
		// goroutines, growth's maker and writer): under it a sixth of them
		// run, and all of them without it.
		steps /= 6
	}
	seed := int64(testSeed(t, "PROBE_SEED"))
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	opts := func() *chunkmap.Options {
		arena := []int64{0, 1, 2 * probeCS, 3*probeCS + 1}[rng.Intn(4)]
		return &chunkmap.Options{ChunkSize: probeCS, MaxMapped: 1 + rng.Intn(3), NoAdmission: rng.Intn(2) == 0,
			Scratch: scratch, ArenaSize: arena, Advice: chunkmap.Advice(rng.Intn(5))}
	}
	m, err := chunkmap.Open(dir, opts())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	md := &probeModel{}
	const limit = 48 * probeCS // keep the dataset small
	// offset picks an interesting offset in [lo, hi]: chunk boundaries and
	// their neighbours more often than chance.
	offset := func(lo, hi int64) int64 {
		if hi <= lo {
			return lo
		}
		switch rng.Intn(4) {
		case 0:
			b := (lo/probeCS + rng.Int63n(hi/probeCS-lo/probeCS+1)) * probeCS
			b += int64(rng.Intn(3) - 1)
			return min(max(b, lo), hi)
		default:
			return lo + rng.Int63n(hi-lo+1)
		}
	}
	type heldPin struct {
		p       *chunkmap.Pinned
		off     int64
		tainted bool // a shrink reached its range: its bytes are no longer the dataset's
	}
	var pins []*heldPin
	releasePins := func() {
		for _, hp := range pins {
			hp.p.Release()
		}
		pins = nil
	}
	defer releasePins()
	taint := func(lo, hi int64) { // a shrink deleted or cut bytes in [lo, hi)
		for _, hp := range pins {
			if hp.off < hi && hp.off+int64(len(hp.p.Bytes())) > lo {
				hp.tainted = true
			}
		}
	}
	var log []string
	for i := 0; i < steps; i++ {
		var step string
		switch op := rng.Intn(110); {
		case op >= 100: // pins held across steps, scatter, atomics
			if md.size()-md.start < 16 {
				break
			}
			switch rng.Intn(4) {
			case 0:
				if len(pins) >= 3 || rng.Intn(3) == 0 {
					k := rng.Intn(len(pins) + 1)
					if k < len(pins) {
						step = "Release"
						pins[k].p.Release()
						pins = append(pins[:k], pins[k+1:]...)
					}
					break
				}
				off := offset(md.start, md.size()-1)
				n := 1 + rng.Int63n(min(md.size()-off, 2*probeCS))
				step = fmt.Sprintf("PinWritable(%d, %d)", off, n)
				p, err := m.PinWritable(off, int(n))
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				b := p.Bytes()
				if !bytes.Equal(b, md.data[off:off+n]) {
					t.Fatalf("%s: pinned bytes differ from the model", step)
				}
				b[0], b[n-1] = 0x5A, 0xC3
				md.data[off], md.data[off+n-1] = 0x5A, 0xC3
				pins = append(pins, &heldPin{p: p, off: off})
			case 1:
				k := 1 + rng.Intn(300)
				offs := make([]int64, k)
				src := probeRandomBytes(rng, 8*k)
				for j := range offs {
					offs[j] = offset(md.start, md.size()-8)
				}
				step = fmt.Sprintf("Scatter(%d values)", k)
				if err := m.Scatter(src, offs, 8); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				for j, o := range offs {
					md.writeAt(src[8*j:8*j+8], o)
				}
				dst := make([]byte, 8*k)
				if err := m.Gather(dst, offs, 8); err != nil {
					t.Fatalf("Gather: %v", err)
				}
				for j, o := range offs {
					if !bytes.Equal(dst[8*j:8*j+8], md.data[o:o+8]) {
						t.Fatalf("Gather value %d at %d = %x, model %x", j, o, dst[8*j:8*j+8], md.data[o:o+8])
					}
				}
			case 2:
				o := (md.start + rng.Int63n(md.size()-md.start-8+1)) &^ 7
				if o < md.start {
					break
				}
				step = fmt.Sprintf("AddUint64(%d)", o)
				v := uint64(0)
				for j := 7; j >= 0; j-- {
					v = v<<8 | uint64(md.data[o+int64(j)])
				}
				got, err := m.AddUint64(o, 0x0101)
				if err != nil || got != v+0x0101 {
					t.Fatalf("%s = %#x, %v; model %#x", step, got, err, v+0x0101)
				}
				v += 0x0101
				for j := 0; j < 8; j++ {
					md.data[o+int64(j)] = byte(v >> (8 * j))
				}
			case 3:
				off := offset(md.start, md.size()-1)
				n := 1 + rng.Int63n(min(md.size()-off, probeCS))
				step = fmt.Sprintf("Batch write (%d, %d)", off, n)
				p := probeRandomBytes(rng, int(n))
				err := m.Batch(func(b *chunkmap.Batch) error {
					w, err := b.WritableBytes(off, int(n))
					if err == nil {
						copy(w, p)
					}
					return err
				})
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				md.writeAt(p, off)
			}
		case op < 20: // Append
			n := rng.Intn(int(2 * probeCS))
			if rng.Intn(4) == 0 {
				n = rng.Intn(64)
			}
			if md.size()+int64(n) > limit {
				n = 0
			}
			p := probeRandomBytes(rng, n)
			step = fmt.Sprintf("Append(%d)", n)
			off, err := m.Append(p)
			if err != nil || off != md.size() {
				t.Fatalf("%s: = %d, %v; want %d, nil", step, off, err, md.size())
			}
			md.writeAt(p, off)
		case op < 45: // WriteAt, sometimes far past the end
			hi := md.size() + 2*probeCS
			if rng.Intn(5) == 0 {
				hi = md.size() + 12*probeCS
			}
			off := offset(max(md.start-probeCS, 0), min(hi, limit))
			n := rng.Intn(int(probeCS + probeCS/2))
			if rng.Intn(3) == 0 {
				n = 1 + rng.Intn(16)
			}
			if off+int64(n) > limit {
				n = int(max(0, limit-off))
			}
			p := probeRandomBytes(rng, n)
			step = fmt.Sprintf("WriteAt(%d bytes at %d)", n, off)
			k, err := m.WriteAt(p, off)
			if off < md.start && n > 0 {
				if k != 0 {
					t.Fatalf("%s below Start %d wrote %d bytes", step, md.start, k)
				}
				probeWantErr(t, err, chunkmap.ErrOutOfRange, "write", step)
				break
			}
			if off < md.start { // zero-length below Start: either is fine
				break
			}
			if k != n || err != nil {
				t.Fatalf("%s = %d, %v", step, k, err)
			}
			md.writeAt(p, off)
		case op < 65: // Truncate, down or up
			size := offset(max(md.start-2, 0), min(md.size()+3*probeCS, limit))
			step = fmt.Sprintf("Truncate(%d)", size)
			err := m.Truncate(size)
			if size < md.start {
				probeWantErr(t, err, chunkmap.ErrOutOfRange, "truncate", step)
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if size < md.size() {
				taint(size, math.MaxInt64)
			}
			md.truncate(size)
		case op < 75: // Grow: no change of Size
			n := rng.Int63n(3 * probeCS)
			if md.size()+n > limit {
				n = 0
			}
			step = fmt.Sprintf("Grow(%d)", n)
			if err := m.Grow(n); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		case op < 85: // DropBefore
			off := offset(0, md.size()+probeCS)
			step = fmt.Sprintf("DropBefore(%d)", off)
			err := m.DropBefore(off)
			if off > md.size() {
				probeWantErr(t, err, chunkmap.ErrOutOfRange, "drop", step)
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			taint(0, off/probeCS*probeCS)
			md.start = max(md.start, off/probeCS*probeCS)
		case op < 92: // zero-length writes change nothing
			off := offset(md.start, md.size()+5*probeCS)
			step = fmt.Sprintf("WriteAt(0 bytes at %d)", off)
			if k, err := m.WriteAt(nil, off); k != 0 || err != nil {
				t.Fatalf("%s = %d, %v", step, k, err)
			}
		default: // Close and reopen
			if scratch {
				step = "Sync"
				if err := m.Sync(); err != nil {
					t.Fatalf("Sync on scratch: %v", err)
				}
				break
			}
			step = "Close+Open"
			if len(pins) > 0 && rng.Intn(2) == 0 {
				releasePins()
			}
			for _, hp := range pins {
				hp.tainted = true // the pins outlive their Manager
			}
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if m, err = chunkmap.Open(dir, opts()); err != nil {
				t.Fatalf("reopen: %v", err)
			}
			if st := m.Stats(); int64(st.Chunks) != (md.size()+probeCS-1)/probeCS-md.start/probeCS {
				t.Fatalf("after reopen: %d chunks, want %d for [%d, %d)", st.Chunks,
					(md.size()+probeCS-1)/probeCS-md.start/probeCS, md.start, md.size())
			}
		}
		log = append(log, step)
		if len(log) > 12 {
			log = log[1:]
		}
		what := fmt.Sprintf("step %d %s (last steps: %s)", i, step, strings.Join(log, ", "))
		probeCheck(t, m, md, what)
		for _, hp := range pins {
			b := hp.p.Bytes()
			if !hp.tainted && !bytes.Equal(b, md.data[hp.off:hp.off+int64(len(b))]) {
				for j := range b {
					if b[j] != md.data[hp.off+int64(j)] {
						t.Fatalf("%s: pin at %d: byte %d = %#x, model %#x", what, hp.off, hp.off+int64(j), b[j], md.data[hp.off+int64(j)])
					}
				}
			}
		}
	}
	releasePins()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if scratch {
		if names := probeListDir(t, dir); len(names) != 0 {
			t.Fatalf("scratch dir holds %v after Close", names)
		}
		return
	}
	m, err = chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	probeCheck(t, m, md, "final read-only reopen")
}

// TestProbeResize_ModelWithReopen proves that random sequences of Append,
// WriteAt (with gaps far past the end), Truncate down and up, Grow and
// DropBefore leave exactly the bytes, Start and Size of a file with
// retention, also across Close and reopen: gaps read as zeros, truncated
// bytes never come back, and offsets below Start are refused.
func TestProbeResize_ModelWithReopen(t *testing.T) {
	probeResizeModel(t, false, 1500)
}

// TestProbeResize_ModelScratch is the model test on a scratch dataset:
// the same semantics with nameless files, and no file left behind.
func TestProbeResize_ModelScratch(t *testing.T) {
	probeResizeModel(t, true, 1500)
}

// TestProbeResize_TruncateInsideChunkThenRegrow proves that bytes cut off
// by a Truncate inside a chunk read as zeros after every way of growing
// again (Truncate up, WriteAt past Size, Append), also when Grow or a
// reopen comes between.
func TestProbeResize_TruncateInsideChunkThenRegrow(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	full := bytes.Repeat([]byte{0xEE}, 3*probeCS)
	for _, regrow := range []string{"truncate", "writeat", "append", "grow+truncate", "reopen+truncate", "reopen+append"} {
		for _, cut := range []int64{1, probeCS - 1, probeCS, probeCS + 1, 2*probeCS + 7} {
			t.Run(fmt.Sprintf("%s/%d", regrow, cut), func(t *testing.T) {
				dir := t.TempDir()
				m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: probeCS})
				if err != nil {
					t.Fatal(err)
				}
				defer func() { m.Close() }()
				if _, err := m.WriteAt(full, 0); err != nil {
					t.Fatal(err)
				}
				if err := m.Truncate(cut); err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(regrow, "reopen") {
					if err := m.Close(); err != nil {
						t.Fatal(err)
					}
					if m, err = chunkmap.Open(dir, nil); err != nil {
						t.Fatal(err)
					}
				}
				end := int64(len(full))
				switch regrow {
				case "truncate", "reopen+truncate":
					err = m.Truncate(end)
				case "writeat":
					_, err = m.WriteAt([]byte{1}, end-1)
				case "append", "reopen+append":
					_, err = m.Append(make([]byte, end-cut))
				case "grow+truncate":
					if err = m.Grow(end); err == nil {
						err = m.Truncate(end)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, end)
				if _, err := m.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				for i := cut; i < end-1; i++ {
					if got[i] != 0 {
						t.Fatalf("byte %d = %#x after Truncate(%d) and regrowth: old bytes came back", i, got[i], cut)
					}
				}
				if !bytes.Equal(got[:cut], full[:cut]) {
					t.Fatalf("bytes below the cut changed")
				}
			})
		}
	}
}

// TestProbeResize_DropBeforeEdges proves DropBefore's arithmetic at the
// edges: at Size on a chunk boundary (every chunk goes, Start == Size),
// inside the last chunk, at or below Start (no-op), past Size and negative
// (ErrOutOfRange), and that Append, WriteAt and Truncate then behave, also
// after reopen.
func TestProbeResize_DropBeforeEdges(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: probeCS})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	if _, err := m.WriteAt(bytes.Repeat([]byte{7}, 4*probeCS), 0); err != nil {
		t.Fatal(err)
	}
	probeWantErr(t, m.DropBefore(4*probeCS+1), chunkmap.ErrOutOfRange, "drop", "DropBefore past Size")
	probeWantErr(t, m.DropBefore(-1), chunkmap.ErrOutOfRange, "drop", "DropBefore(-1)")
	if m.Start() != 0 || m.Size() != 4*probeCS {
		t.Fatalf("refused drops moved [Start, Size) to [%d, %d)", m.Start(), m.Size())
	}
	if err := m.DropBefore(4 * probeCS); err != nil {
		t.Fatal(err)
	}
	if m.Start() != 4*probeCS || m.Size() != 4*probeCS || m.Stats().Chunks != 0 {
		t.Fatalf("DropBefore(Size): [%d, %d), %d chunks; want [%d, %d), 0", m.Start(), m.Size(), m.Stats().Chunks, 4*probeCS, 4*probeCS)
	}
	if err := m.DropBefore(probeCS); err != nil {
		t.Fatalf("DropBefore below Start: %v, want a no-op", err)
	}
	probeWantErr(t, m.Truncate(4*probeCS-1), chunkmap.ErrOutOfRange, "truncate", "Truncate below Start")
	if _, err := m.WriteAt([]byte{1}, 4*probeCS-1); !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Fatalf("WriteAt below Start = %v", err)
	}
	off, err := m.Append([]byte("abc"))
	if err != nil || off != 4*probeCS {
		t.Fatalf("Append after dropping all = %d, %v", off, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m, err = chunkmap.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if m.Start() != 4*probeCS || m.Size() != 4*probeCS+3 {
		t.Fatalf("after reopen [%d, %d)", m.Start(), m.Size())
	}
	// Truncate to Start exactly: every chunk goes; growth then starts anew.
	if err := m.Truncate(m.Start()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte{9}, 6*probeCS); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2*probeCS+1)
	if _, err := m.ReadAt(got, 4*probeCS); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:2*probeCS], make([]byte, 2*probeCS)) || got[2*probeCS] != 9 {
		t.Fatalf("gap after Truncate(Start) does not read as zeros then 9")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var chunks int
	for _, name := range probeListDir(t, dir) {
		if strings.HasSuffix(name, ".chunk") {
			chunks++
		}
	}
	if chunks != 3 {
		t.Fatalf("%d chunk files on disk for [4, 7) chunks, want 3: %v", chunks, probeListDir(t, dir))
	}
	if _, err := os.Stat(filepath.Join(dir, chunkmap.ManifestName)); err != nil {
		t.Fatal(err)
	}
}
