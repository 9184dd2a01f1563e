package fuzz

// FuzzOpsX: FuzzOps's operations on datasets made with the options the
// other targets never set: Options.Start (a dataset that begins past chunk
// 0, so chunk indexes and arena places are offset), Scratch (no manifest,
// unnamed chunk files, no reopen), Options.Advice, plus Manager.Advise of
// any advice (DontNeed included) and follower Refresh between operations.

import (
	"os"
	"testing"

	"github.com/chunkmap/chunkmap"
)

var xStarts = [4]int64{0, 2 * chunkSize, 5 * chunkSize, 9 * chunkSize}

func FuzzOpsX(f *testing.F) {
	for _, s := range opsSeeds() {
		for _, x := range []byte{0x01, 0x04, 0x06, 0x0b, 0x1d, 0x3e} {
			f.Add(append([]byte{s[0], x}, s[1:]...))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		runOpsX(t, in)
	})
}

func runOpsX(t *testing.T, in []byte) {
	d := &decoder{b: in}
	h := d.byte()
	x := d.byte()
	start := xStarts[x&3]
	scratch := x&4 != 0
	advice := [4]chunkmap.Advice{chunkmap.AdviceNormal, chunkmap.AdviceSequential, chunkmap.AdviceRandom, chunkmap.AdviceDontNeed}[x>>3&3]
	r := newOpsRun(t, 1+int(h&0x7f)%3)
	r.open(&chunkmap.Options{ChunkSize: chunkSize, MaxMapped: r.maxMapped, NoAdmission: h&0x80 == 0,
		ArenaSize: arenaSizes[h>>5&3], Start: start, Scratch: scratch, Advice: advice}, start)
	r.checkState()
	for ops := 0; d.more() && ops < maxOps; ops++ {
		r.gen++
		op := d.byte() % (numOps + 2)
		switch {
		case op == numOps:
			r.advise(d)
		case op == numOps+1:
			if r.follower != nil {
				r.logf("follower Refresh")
				if err := r.follower.Refresh(); err != nil {
					r.fatalf("follower Refresh: %v", err)
				}
			}
		case scratch && op == opReopen:
			d.byte()
		case scratch && op == opMisc:
			switch sub := d.byte() % numMisc; sub {
			case miscOverflow, miscReadHuge, miscPinHuge:
				r.misc(sub, d)
			}
		default:
			r.stepOp(op, d)
		}
		r.checkState()
	}
	if !scratch {
		r.finish()
		return
	}
	r.logf("finish (scratch)")
	if !r.mod.closed {
		r.compareAll()
		for _, p := range r.pins {
			p.p.Release()
		}
		r.pins = nil
		r.close()
	}
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		r.fatalf("%v", err)
	}
	for _, e := range ents {
		r.fatalf("scratch dataset left %s", e.Name())
	}
}

// advise runs Manager.Advise on a range and checks its error class; the
// bytes it must not change are compared by every later read.
func (r *opsRun) advise(d *decoder) {
	b := d.byte()
	a := chunkmap.Advice(b % 6) // 5 is not an Advice
	off := r.off(d)
	n := int64(length(d))
	if b&0x80 != 0 {
		n = -n
	}
	r.logf("Advise(%d, %d, %v)", off, n, a)
	err := r.m.Advise(off, n, a)
	mod := r.mod
	var want error
	switch {
	case mod.closed:
		want = chunkmap.ErrClosed
	case a > chunkmap.AdviceDontNeed || n < 0 || off < 0:
		want = chunkmap.ErrOutOfRange
	default:
		want = mod.Pin(off, int(n), false)
	}
	r.checkErr("Advise", err, want)
}
