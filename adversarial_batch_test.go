package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// advBatchOpts are small chunks, one mapped, and an arena of two slots, so
// that a batch over a few chunks holds more than MaxMapped and needs
// private views where its chunks share a slot.
var advBatchOpts = chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 1, ArenaSize: 2 * chunkmap.MinChunkSize, NoAdmission: true}

// advFill opens a dataset in dir with advBatchOpts and writes n bytes of a
// pattern.
func advFill(t *testing.T, dir string, n int) (*chunkmap.Manager, []byte) {
	t.Helper()
	o := advBatchOpts
	m := advOpen(t, dir, &o)
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i>>16)
	}
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	return m, data
}

// advAddrPanic is a panic value that happens to have an Addr method, as a
// runtime fault's value does.
type advAddrPanic struct{}

func (advAddrPanic) Addr() uintptr { return 0xdead }

// TestAdversarial_BatchCallbacks runs Batch functions that panic, close the
// Manager, nest batches, hand the Batch to another goroutine, let it escape,
// and pin bytes that outlive it. It proves that a panic (whatever its value)
// goes on and releases every hold, that Close inside a batch returns ErrBusy
// and closes the Manager, after which the Batch and every call return
// ErrClosed while the bytes handed out before stay readable, that an escaped
// or zero Batch returns ErrClosed instead of crashing, and that the stores
// of every batch that returned nil are in the dataset after reopen.
func TestAdversarial_BatchCallbacks(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	const size = 5*cs + 123
	type result struct {
		err       error
		recovered any
	}
	// run calls m.Batch(fn), recovering a panic.
	run := func(m *chunkmap.Manager, fn func(*chunkmap.Batch) error) (r result) {
		defer func() { r.recovered = recover() }()
		r.err = m.Batch(fn)
		return r
	}
	// touch reads [off, off+n) through b (crossing chunks and slots).
	touch := func(b *chunkmap.Batch, off int64, n int) error {
		p, err := b.Bytes(off, n)
		if err != nil {
			return err
		}
		if len(p) != n {
			return fmt.Errorf("Bytes(%d, %d) returned %d bytes", off, n, len(p))
		}
		return nil
	}
	sentinel := errors.New("mine")

	cases := []struct {
		name string
		// fn is the batch function; it may use m and the data.
		fn func(t *testing.T, m *chunkmap.Manager, data []byte) func(*chunkmap.Batch) error
		// check judges Batch's outcome.
		check func(t *testing.T, r result)
		// closed says the function closes the Manager.
		closed bool
	}{
		{
			name: "panic-string",
			fn: func(t *testing.T, m *chunkmap.Manager, data []byte) func(*chunkmap.Batch) error {
				return func(b *chunkmap.Batch) error {
					for off := int64(0); off < 4*cs; off += cs {
						if err := touch(b, off+cs/2, cs); err != nil {
							return err
						}
					}
					panic("boom")
				}
			},
			check: func(t *testing.T, r result) {
				if r.recovered != "boom" {
					t.Errorf("recovered %v, err %v; want the panic \"boom\" to go on", r.recovered, r.err)
				}
			},
		},
		{
			name: "panic-error-value",
			fn: func(t *testing.T, m *chunkmap.Manager, data []byte) func(*chunkmap.Batch) error {
				return func(b *chunkmap.Batch) error {
					if _, err := b.WritableBytes(cs-8, 16); err != nil {
						return err
					}
					panic(sentinel)
				}
			},
			check: func(t *testing.T, r result) {
				if r.recovered != sentinel {
					t.Errorf("recovered %v, err %v; want the panic to go on", r.recovered, r.err)
				}
			},
		},
		{
			name: "panic-nil-deref",
			fn: func(t *testing.T, m *chunkmap.Manager, data []byte) func(*chunkmap.Batch) error {
				return func(b *chunkmap.Batch) error {
					if err := touch(b, 0, 2*cs); err != nil {
						return err
					}
					var p *[1 << 10]int
					return fmt.Errorf("%d", p[3]) // a nil dereference in user code
				}
			},
			check: func(t *testing.T, r result) {
				if r.recovered == nil {
					t.Errorf("a nil dereference in the batch function was swallowed: Batch returned %v", r.err)
				}
			},
		},
		{
			name: "error-passed-on",
			fn: func(t *testing.T, m *chunkmap.Manager, data []byte) func(*chunkmap.Batch) error {
				return func(b *chunkmap.Batch) error {
					if err := touch(b, cs-1, 3*cs); err != nil {
						return err
					}
					return sentinel
				}
			},
			check: func(t *testing.T, r result) {
				if r.err != sentinel || r.recovered != nil {
					t.Errorf("Batch returned %v (recovered %v), want the function's own error as it is", r.err, r.recovered)
				}
			},
		},
		{
			name: "nested",
			fn: func(t *testing.T, m *chunkmap.Manager, data []byte) func(*chunkmap.Batch) error {
				var nest func(depth int) func(*chunkmap.Batch) error
				nest = func(depth int) func(*chunkmap.Batch) error {
					return func(b *chunkmap.Batch) error {
						off := int64(depth%5) * cs
						p, err := b.Bytes(off, cs)
						if err != nil {
							return err
						}
						if depth < 8 {
							if err := m.Batch(nest(depth + 1)); err != nil {
								return err
							}
						}
						// Still this batch's bytes, after the inner ones ended.
						if !bytes.Equal(p, data[off:off+cs]) {
							return fmt.Errorf("depth %d: bytes changed after the inner batch ended", depth)
						}
						return nil
					}
				}
				return nest(0)
			},
			check: func(t *testing.T, r result) {
				if r.err != nil || r.recovered != nil {
					t.Errorf("nested batches: %v (recovered %v)", r.err, r.recovered)
				}
			},
		},
		{
			name: "other-goroutine",
			fn: func(t *testing.T, m *chunkmap.Manager, data []byte) func(*chunkmap.Batch) error {
				return func(b *chunkmap.Batch) error {
					errc := make(chan error)
					go func() {
						p, err := b.WritableBytes(2*cs-4, 8)
						if err == nil {
							copy(p, "handoff!")
						}
						errc <- err
					}()
					return <-errc
				}
			},
			check: func(t *testing.T, r result) {
				if r.err != nil || r.recovered != nil {
					t.Errorf("batch used from another goroutine while its function waits: %v (recovered %v)", r.err, r.recovered)
				}
			},
		},
		{
			name:   "close-inside",
			closed: true,
			fn: func(t *testing.T, m *chunkmap.Manager, data []byte) func(*chunkmap.Batch) error {
				return func(b *chunkmap.Batch) error {
					w, err := b.WritableBytes(3*cs-4, 8)
					if err != nil {
						return err
					}
					copy(w, "durable!")
					p, err := b.Bytes(cs, 2*cs)
					if err != nil {
						return err
					}
					if err := m.Close(); !errors.Is(err, chunkmap.ErrBusy) {
						return fmt.Errorf("Close inside a batch returned %v, want ErrBusy", err)
					}
					// The bytes handed out before stay readable.
					if !bytes.Equal(p, data[cs:3*cs-4]) && !bytes.Equal(p[:2*cs-4], data[cs:3*cs-4]) {
						return errors.New("bytes handed out before Close changed")
					}
					for _, call := range []func() error{
						func() error { _, err := b.Bytes(cs, 8); return err },             // cached chunk
						func() error { _, err := b.WritableBytes(3*cs-4, 8); return err }, // cached, writable
						func() error { _, err := b.Bytes(4*cs, 8); return err },           // new chunk
						func() error { _, err := m.ReadAt(make([]byte, 8), 0); return err },
						func() error { return m.Batch(func(*chunkmap.Batch) error { return nil }) },
						func() error { return m.Close() },
					} {
						if err := call(); !errors.Is(err, chunkmap.ErrClosed) {
							return fmt.Errorf("after Close inside the batch: got %v, want ErrClosed", err)
						}
					}
					return nil
				}
			},
			check: func(t *testing.T, r result) {
				if r.err != nil || r.recovered != nil {
					t.Errorf("%v (recovered %v)", r.err, r.recovered)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			m, data := advFill(t, dir, size)
			var r result
			advWithin(t, 10*time.Second, c.name, func() { r = run(m, c.fn(t, m, data)) })
			c.check(t, r)
			if !c.closed {
				if st := m.Stats(); st.Pinned != 0 || st.Mapped > advBatchOpts.MaxMapped {
					t.Errorf("after the batch: Stats %+v, want nothing pinned and at most %d mapped", st, advBatchOpts.MaxMapped)
				}
				if err := m.Close(); err != nil {
					t.Errorf("Close after the batch: %v (want nil: no batch is open)", err)
				}
			}
			m2 := advOpen(t, dir, nil)
			defer m2.Close()
			got := make([]byte, size)
			if _, err := m2.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			want := append([]byte(nil), data...)
			switch c.name {
			case "other-goroutine":
				copy(want[2*cs-4:], "handoff!")
			case "close-inside":
				copy(want[3*cs-4:], "durable!")
			}
			if !bytes.Equal(got, want) {
				i := 0
				for got[i] == want[i] {
					i++
				}
				t.Errorf("after reopen, byte %d is %#x, want %#x", i, got[i], want[i])
			}
		})
	}
}

// TestAdversarial_BatchEscapes uses Batches outside their function: one that
// escaped (from the goroutine that ran it and from another), with offsets
// its cache held, a zero Batch, an accessor Batch that escaped, and a
// Pinned taken inside a batch and used after it. It proves that each
// escaped or zero Batch returns ErrClosed naming the operation and never
// crashes or hands out bytes, and that a pin outlives the batch that took
// it, even past Close.
func TestAdversarial_BatchEscapes(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	m, data := advFill(t, t.TempDir(), 3*cs)
	var escaped *chunkmap.Batch
	var pin *chunkmap.Pinned
	err := m.Batch(func(b *chunkmap.Batch) error {
		escaped = b
		if _, err := b.WritableBytes(0, 16); err != nil {
			return err
		}
		if _, err := b.Bytes(cs-8, 16); err != nil {
			return err
		}
		var err error
		pin, err = m.Pin(cs-8, cs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var escapedAcc *accessor.Batch
	if err := accessor.New(m, nil).Batch(func(b *accessor.Batch) error {
		escapedAcc = b
		_, err := b.ReadUint64(cs - 4)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var zero chunkmap.Batch
	calls := []struct {
		name string
		call func() ([]byte, error)
	}{
		{"escaped/Bytes/cached", func() ([]byte, error) { return escaped.Bytes(0, 8) }},
		{"escaped/Writable/cached", func() ([]byte, error) { return escaped.WritableBytes(0, 8) }},
		{"escaped/Bytes/straddle", func() ([]byte, error) { return escaped.Bytes(cs-8, 16) }},
		{"escaped/Bytes/new", func() ([]byte, error) { return escaped.Bytes(2*cs, 8) }},
		{"escaped/Bytes/neg", func() ([]byte, error) { return escaped.Bytes(-1, -1) }},
		{"zero/Bytes", func() ([]byte, error) { return zero.Bytes(0, 8) }},
		{"zero/Writable", func() ([]byte, error) { return zero.WritableBytes(0, 8) }},
		{"escapedAccessor/Read", func() ([]byte, error) { _, err := escapedAcc.ReadUint64(cs - 4); return nil, err }},
		{"escapedAccessor/Write", func() ([]byte, error) { return nil, escapedAcc.WriteUint32(0, 1) }},
	}
	check := func(where string) {
		for _, c := range calls {
			var p []byte
			var err error
			advWithin(t, 5*time.Second, c.name, func() { p, err = c.call() })
			if !errors.Is(err, chunkmap.ErrClosed) || p != nil {
				t.Errorf("%s %s: got %d bytes, %v; want no bytes and ErrClosed", where, c.name, len(p), err)
			}
			if msg := advErrCheck(err, "batch"); msg != "" {
				t.Errorf("%s %s: %s", where, c.name, msg)
			}
		}
	}
	check("same goroutine:")
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("escaped batch from another goroutine panicked: %v", r)
			}
		}()
		check("other goroutine:")
	}()
	<-done
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	check("after Close:")
	if !bytes.Equal(pin.Bytes(), data[cs-8:2*cs-8]) {
		t.Error("a pin taken in a batch does not hold its bytes after the batch and Close")
	}
	pin.Release()
	pin.Release()
	if pin.Bytes() != nil {
		t.Error("Bytes after Release is not nil")
	}
}

// TestAdversarial_BatchPanicWithAddrGoesOn panics in a Batch function with
// a value of the program's own type that happens to have an Addr() uintptr
// method, like the runtime's fault errors. The doc says a panic in fn goes
// on after the batch releases its holds; a broken implementation that tells
// faults from other panics by that method alone swallows the panic and
// returns ErrFault "outside the chunks the batch holds".
func TestAdversarial_BatchPanicWithAddrGoesOn(t *testing.T) {
	m, _ := advFill(t, t.TempDir(), 100)
	defer m.Close()
	var recovered any
	var err error
	func() {
		defer func() { recovered = recover() }()
		err = m.Batch(func(b *chunkmap.Batch) error {
			if _, err := b.Bytes(0, 10); err != nil {
				return err
			}
			panic(advAddrPanic{})
		})
	}()
	if _, ok := recovered.(advAddrPanic); !ok {
		t.Fatalf("the function's panic(%T{}) did not go on: recovered %v, Batch returned %v", advAddrPanic{}, recovered, err)
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("after the panic, Stats.Pinned = %d", st.Pinned)
	}
}

// advFakeFault is a panic value of the program's own type that looks like
// the runtime's fault errors in every way a method set can: a runtime.Error
// with an Addr method, whose address the test chooses.
type advFakeFault struct{ addr uintptr }

func (f advFakeFault) Addr() uintptr { return f.addr }
func (advFakeFault) Error() string   { return "fake fault" }
func (advFakeFault) RuntimeError()   {}

// TestAdversarial_BatchPanicLikeFaultGoesOn panics in a Batch function, and
// in the loop body of a block scan (which runs inside a Batch), with a
// value of the program's own type that is a runtime.Error with an Addr
// method naming a byte the batch handed out: in the arena, and in a
// private view. The doc says a panic in fn goes on; only a fault the
// runtime raised is the batch's ErrFault. Telling them apart by the
// method set alone swallowed the panic, Batch returning ErrFault, and
// turned the scan's into a panic of the scan's own error.
func TestAdversarial_BatchPanicLikeFaultGoesOn(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	cases := []struct {
		name string
		run  func(m *chunkmap.Manager) error
	}{
		{"batch in arena", func(m *chunkmap.Manager) error {
			return m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.Bytes(10, 100)
				if err != nil {
					return err
				}
				panic(advFakeFault{uintptr(unsafe.Pointer(&p[5]))})
			})
		}},
		{"batch in view", func(m *chunkmap.Manager) error {
			// Chunks 1 and 2 share slot 1 of 2 (advBatchOpts): a view.
			return m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.WritableBytes(2*cs-10, 20)
				if err != nil {
					return err
				}
				panic(advFakeFault{uintptr(unsafe.Pointer(&p[15]))})
			})
		}},
		{"block scan", func(m *chunkmap.Manager) error {
			s := accessor.New(m, binary.LittleEndian).Scan()
			for _, p := range s.Blocks(0, cs) {
				panic(advFakeFault{uintptr(unsafe.Pointer(&p[5]))})
			}
			return s.Err()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, data := advFill(t, t.TempDir(), 3*cs)
			defer m.Close()
			var recovered any
			var err error
			func() {
				defer func() { recovered = recover() }()
				err = tc.run(m)
			}()
			if _, ok := recovered.(advFakeFault); !ok {
				t.Fatalf("the function's panic(%T{...}) did not go on: recovered %v (%T), returned %v", advFakeFault{}, recovered, recovered, err)
			}
			if st := m.Stats(); st.Pinned != 0 {
				t.Errorf("after the panic, Stats.Pinned = %d", st.Pinned)
			}
			got := make([]byte, len(data))
			if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
				t.Errorf("after the panic, ReadAt = %v, bytes equal %v", err, bytes.Equal(got, data))
			}
		})
	}
}
