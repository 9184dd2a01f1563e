package chunkmap

import (
	"bytes"
	"io"
	"testing"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir, &Options{ChunkSize: 64 << 10, MaxMapped: 2})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if _, err := m.WriteAt(data, 100); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if _, err := m.ReadAt(got, 100); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("mismatch")
	}
	if _, err := m.ReadAt(got, 200); err != io.EOF {
		t.Fatal(err)
	}
	t.Logf("%+v", m.Stats())
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size() != int64(len(data))+100 {
		t.Fatal(m.Size())
	}
	if _, err := m.ReadAt(got, 100); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("mismatch after reopen")
	}
	t.Logf("%+v", m.Stats())
	m.Close()
}
