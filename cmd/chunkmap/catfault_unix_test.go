//go:build unix

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestRun_Cat_FaultKeepsBytesBefore checks that cat whose read fails
// partway (a chunk file another program truncated after cat opened the
// dataset) writes every byte it read before the failing one, as a read of
// a file ends at its error: it returned at once, and the bytes still in
// its output buffer (up to 64 KiB raw, the dump's last lines with -hex)
// were never written, so the output ended short of where the error said.
// (Windows does not let another program truncate a file cat has open.)
func TestRun_Cat_FaultKeepsBytesBefore(t *testing.T) {
	for _, hex := range []bool{false, true} {
		t.Run(map[bool]string{false: "raw", true: "hex"}[hex], func(t *testing.T) {
			const size = 48 * testChunk // three 1 MiB blocks of cat's
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: testChunk, MaxMapped: 2})
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, size)
			for i := range want {
				want[i] = pattern(int64(i))
			}
			if _, err := m.WriteAt(want, 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			const bad = 33 // the second chunk of cat's third block
			args := []string{"cat", dir}
			if hex {
				args = append(args, "-hex", "-all")
			}
			pr, pw := io.Pipe()
			var stderr bytes.Buffer
			done := make(chan int, 1)
			go func() {
				code := run(args, pw, &stderr)
				pw.Close()
				done <- code
			}()
			// cat is now in the write of its first block, which the pipe
			// holds until it is read: the chunk file is cut after cat
			// opened the dataset, before it reads that far.
			first := make([]byte, 1)
			if _, err := io.ReadFull(pr, first); err != nil {
				t.Fatalf("cat wrote nothing: %v", err)
			}
			if err := os.Truncate(filepath.Join(dir, chunk.Name(bad)), 0); err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(pr)
			if err != nil {
				t.Fatal(err)
			}
			var code int
			select {
			case code = <-done:
			case <-time.After(time.Minute):
				t.Fatal("cat did not return")
			}
			got := append(first, rest...)
			if code != exitFail || !strings.Contains(stderr.String(), chunk.Name(bad)) {
				t.Fatalf("exit status %d, want %d, and stderr naming %s:\n%s", code, exitFail, chunk.Name(bad), stderr.String())
			}
			if want := fmt.Sprintf("the output ends at offset %d", bad*testChunk); !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
			}
			if hex {
				// The last line dumped is the one before the chunk.
				last := int64(bad*testChunk - 16)
				if wantLine := hexLine(last, want[last:last+16]); !strings.Contains(string(got), wantLine) {
					t.Errorf("the dump does not hold the last line before the fault, %q; it ends:\n%s", wantLine, got[max(0, len(got)-300):])
				}
				return
			}
			if len(got) != bad*testChunk || !bytes.Equal(got, want[:len(got)]) {
				t.Errorf("cat wrote %d bytes (equal to the dataset's: %v), want the %d before %s", len(got), bytes.Equal(got, want[:min(len(got), len(want))]), bad*testChunk, chunk.Name(bad))
			}
		})
	}
}

// hexLine is the line of cat -hex for the 16 bytes b at offset off.
func hexLine(off int64, b []byte) string {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	d := &hexDumper{w: w, off: off, all: true}
	d.Write(b)
	w.Flush()
	return strings.TrimSuffix(buf.String(), "\n")
}
