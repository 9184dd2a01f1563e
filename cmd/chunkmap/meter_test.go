package main

import (
	"bytes"
	"errors"
	"strings"
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

	var buf bytes.Buffer
	m = &meter{w: &buf, label: "chunkmap sync", began: time.Now()} // draws on every tick
	if err := m.wait(func() error { time.Sleep(200 * time.Millisecond); return errF }); err != errF {
		t.Errorf("wait returned %v, want f's error", err)
	}
	got := buf.String()
	if !strings.HasPrefix(got, "\r\033[Kchunkmap sync: 0.0s") || strings.Count(got, "\r\033[Kchunkmap sync: ") < 2 {
		t.Errorf("wait drew %q, want the time taken, at once and then on ticks", got)
	}
	buf.Reset()
	m.finish()
	m.finish()
	if got := buf.String(); got != "\r\033[K" {
		t.Errorf("finish twice drew %q, want the line erased once", got)
	}
}
