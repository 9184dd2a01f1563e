package main

import (
	"bytes"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	var buf bytes.Buffer
	var m *meter // not a terminal: shows nothing, and a nil meter is fine
	if m = newMeter(&buf, "x", 100); m != nil {
		t.Fatalf("newMeter on a buffer = %v, want nil", m)
	}
	m.add(10)
	m.lose(10)
	m.finish()

	m = &meter{w: &buf, label: "salvage", total: 4 << 20, every: meterEvery, began: time.Now(), shown: time.Now()}
	m.add(1 << 20)
	if buf.Len() != 0 {
		t.Errorf("meter drew %q before half a second passed", buf.String())
	}
	m.shown = m.shown.Add(-time.Second)
	m.lose(1 << 10)
	m.add(1 << 20)
	if got, want := buf.String(), "\r\033[Ksalvage:  50% (2 MiB of 4 MiB), 1 KiB lost"; got != want {
		t.Errorf("meter drew %q, want %q", got, want)
	}
	buf.Reset()
	m.finish()
	if got := buf.String(); got != "\r\033[K" {
		t.Errorf("finish drew %q, want the line erased", got)
	}
}

func TestMeter_Wait(t *testing.T) {
	var m *meter // not a terminal: f runs, nothing is drawn
	errF := errors.New("f failed")
	if err := m.wait(func() error { return errF }); err != errF {
		t.Errorf("nil meter: wait returned %v, want f's error", err)
	}

	// f returns once the ticker drew a second time, whenever that is on a
	// loaded host, rather than after a sleep the ticker must fit into.
	buf := &drawLog{second: make(chan struct{})}
	m = &meter{w: buf, label: "chunkmap sync", began: time.Now()} // draws on every tick
	err := m.wait(func() error {
		if n := buf.draws(); n != 1 {
			t.Errorf("wait drew %d times before f ran, want once, at once", n)
		}
		select {
		case <-buf.second:
		case <-time.After(time.Minute):
			t.Error("wait drew no second time in a minute of f")
		}
		return errF
	})
	if err != errF {
		t.Errorf("wait returned %v, want f's error", err)
	}
	if got := buf.String(); !regexp.MustCompile(`^(\r\033\[Kchunkmap sync: [0-9]+\.[0-9]s){2,}$`).MatchString(got) {
		t.Errorf("wait drew %q, want the time taken, at once and then on ticks", got)
	}
	buf.Reset()
	m.finish()
	m.finish()
	if got := buf.String(); got != "\r\033[K" {
		t.Errorf("finish twice drew %q, want the line erased once", got)
	}
}

// drawLog is a meter's output that counts its draws (one write each) and
// closes second at the second; the meter's goroutine writes to it.
type drawLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int
	second chan struct{}
}

func (d *drawLog) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n++; d.n == 2 {
		close(d.second)
	}
	return d.buf.Write(p)
}

func (d *drawLog) draws() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

func (d *drawLog) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String()
}

func (d *drawLog) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.buf.Reset()
}
