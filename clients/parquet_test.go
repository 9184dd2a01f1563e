package clients

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/parquet-go/parquet-go"
)

type pqRec struct {
	ID      int64    `parquet:"id"`
	Name    string   `parquet:"name,zstd"`
	Payload []byte   `parquet:"payload"`
	Score   float64  `parquet:"score,snappy"`
	Opt     *int32   `parquet:"opt,optional"`
	Tags    []string `parquet:"tags,list"`
}

func pqRows(n int, seed uint64) []pqRec {
	rng := rand.New(rand.NewPCG(seed, 99))
	rows := make([]pqRec, n)
	for i := range rows {
		p := make([]byte, 50+rng.IntN(900))
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		r := pqRec{
			ID:      int64(i)*7 + rng.Int64N(7),
			Name:    fmt.Sprintf("name-%d-%x", i%97, rng.Uint32()),
			Payload: p,
			Score:   rng.NormFloat64(),
		}
		if i%3 != 0 {
			x := int32(rng.Uint32())
			r.Opt = &x
		}
		for range rng.IntN(4) {
			r.Tags = append(r.Tags, fmt.Sprintf("t%d", rng.IntN(20)))
		}
		rows[i] = r
	}
	return rows
}

var pqWriterOpts = []parquet.WriterOption{
	parquet.PageBufferSize(150 << 10), // pages of more than two 64 KiB chunks
	parquet.MaxRowsPerRowGroup(2500),
	parquet.WriteBufferSize(40 << 10), // writes that do not line up with chunks
}

func writeParquet(t testing.TB, w io.Writer, rows []pqRec) {
	t.Helper()
	pw := parquet.NewGenericWriter[pqRec](w, pqWriterOpts...)
	// Several Write calls, of uneven sizes.
	for i := 0; i < len(rows); {
		k := min(len(rows)-i, 1+(i*31)%1700)
		if n, err := pw.Write(rows[i : i+k]); err != nil || n != k {
			t.Fatalf("parquet write: n=%d err=%v", n, err)
		}
		i += k
	}
	if err := pw.Close(); err != nil {
		t.Fatalf("parquet close: %v", err)
	}
}

// readParquet reads every row of the parquet file in r (size bytes), by
// row group and through a whole-file reader, and compares them with want.
func readParquet(t testing.TB, r io.ReaderAt, size int64, want []pqRec, opts ...parquet.FileOption) {
	t.Helper()
	f, err := parquet.OpenFile(r, size, opts...)
	if err != nil {
		t.Fatalf("parquet.OpenFile: %v", err)
	}
	if f.NumRows() != int64(len(want)) {
		t.Fatalf("NumRows %d, want %d", f.NumRows(), len(want))
	}
	if len(f.RowGroups()) < 3 {
		t.Fatalf("only %d row groups", len(f.RowGroups()))
	}
	got := make([]pqRec, 0, len(want))
	for _, rg := range f.RowGroups() {
		rr := parquet.NewGenericRowGroupReader[pqRec](rg)
		buf := make([]pqRec, 333)
		for {
			n, err := rr.Read(buf)
			got = append(got, buf[:n]...)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read row group: %v", err)
			}
		}
		rr.Close()
	}
	compareRows(t, got, want)

	// And the whole file through one reader, in one go.
	all := parquet.NewGenericReader[pqRec](f)
	got = make([]pqRec, len(want))
	n := 0
	for n < len(got) {
		k, err := all.Read(got[n:])
		n += k
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	all.Close()
	compareRows(t, got[:n], want)
}

func compareRows(t testing.TB, got, want []pqRec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if len(g.Tags) == 0 && len(w.Tags) == 0 {
			g.Tags, w.Tags = nil, nil
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("row %d differs:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestParquet(t *testing.T) {
	rows := pqRows(9000, 1)
	var ref bytes.Buffer
	writeParquet(t, &ref, rows)
	t.Logf("parquet file: %d bytes (%d chunks of %d)", ref.Len(), (ref.Len()+chunkmap.MinChunkSize-1)/chunkmap.MinChunkSize, chunkmap.MinChunkSize)

	for _, how := range []string{"append", "writeat", "writeat-start"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			opts := &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 3}
			var start int64
			if how == "writeat-start" {
				// A dataset that begins at chunk 5: the file lives at
				// offsets [Start, Size).
				start = 5 * chunkmap.MinChunkSize
				opts.Start = start
			}
			m, err := chunkmap.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			switch how {
			case "append":
				writeParquet(t, &AppendWriter{M: m}, rows)
			default:
				writeParquet(t, io.NewOffsetWriter(m, start), rows)
			}
			size := m.Size() - start
			if size != int64(ref.Len()) {
				t.Fatalf("dataset holds %d bytes, parquet wrote %d", size, ref.Len())
			}
			section := func(m *chunkmap.Manager) io.ReaderAt {
				if start == 0 {
					return m
				}
				return io.NewSectionReader(m, start, m.Size()-start)
			}
			// Byte for byte what the same writer wrote to memory.
			got := make([]byte, size)
			if _, err := section(m).ReadAt(got, 0); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if !bytes.Equal(got, ref.Bytes()) {
				t.Fatalf("dataset bytes differ from the parquet file written to memory")
			}
			readParquet(t, section(m), size, rows)
			readParquet(t, section(m), size, rows, parquet.FileReadMode(parquet.ReadModeAsync), parquet.ReadBufferSize(100<<10))

			// A ReadOnly Manager following the open writer.
			ro, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2})
			if err != nil {
				t.Fatal(err)
			}
			if ro.Size() != m.Size() || ro.Start() != start {
				t.Fatalf("reader: Start %d Size %d, writer Start %d Size %d", ro.Start(), ro.Size(), start, m.Size())
			}
			readParquet(t, section(ro), size, rows)
			if err := ro.Close(); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}

			// Reopen, with a different mapping budget and no admission.
			m, err = chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 1, NoAdmission: true, ErrorIfNotExists: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Size()-m.Start() != size || m.Start() != start {
				t.Fatalf("reopened: Start %d Size %d", m.Start(), m.Size())
			}
			readParquet(t, section(m), size, rows)
		})
	}
}
