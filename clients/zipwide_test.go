package clients

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestZipWriteAtParallelRead writes a zip through io.NewOffsetWriter (the
// Manager's WriteAt) with entries straddling 64 KiB chunks, under default
// admission and NoAdmission with one or two chunks mapped, patches stored
// entries in place with small WriteAts after a Sync, and reads every entry
// back on many goroutines at once through io.NewSectionReader, checking
// each CRC, before and after a reopen.
func TestZipWriteAtParallelRead(t *testing.T) {
	for _, o := range []chunkmap.Options{
		{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 1},
		{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 2, NoAdmission: true},
		{ChunkSize: chunkmap.MinChunkSize},
	} {
		t.Run(fmt.Sprintf("mapped%d_noadm%v", o.MaxMapped, o.NoAdmission), func(t *testing.T) {
			dir := t.TempDir()
			m := openCM(t, dir, o)
			rng := rand.New(rand.NewPCG(9, uint64(o.MaxMapped)))
			var datas [][]byte
			zw := zip.NewWriter(io.NewOffsetWriter(m, 0))
			for i := range 30 {
				n := rng.IntN(150 << 10)
				p := make([]byte, n)
				for j := range p {
					p[j] = byte(rng.Uint32())
				}
				datas = append(datas, p)
				method := zip.Store
				if i%2 == 1 {
					method = zip.Deflate
				}
				w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprint("e", i), Method: method})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			check := func(m *chunkmap.Manager) {
				t.Helper()
				zr, err := zip.NewReader(io.NewSectionReader(m, 0, m.Size()), m.Size())
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				errc := make(chan error, len(zr.File)*3)
				for range 3 {
					for i, f := range zr.File {
						wg.Add(1)
						go func() {
							defer wg.Done()
							rc, err := f.Open()
							if err != nil {
								errc <- err
								return
							}
							got, err := io.ReadAll(rc)
							rc.Close()
							if err != nil {
								errc <- fmt.Errorf("%s: %w", f.Name, err)
							} else if !bytes.Equal(got, datas[i]) {
								errc <- fmt.Errorf("%s differs", f.Name)
							}
						}()
					}
				}
				wg.Wait()
				close(errc)
				for err := range errc {
					t.Fatal(err)
				}
			}
			check(m)
			// Patch stored entries in place, as a tool that updates an
			// archive's data and CRC would: a few bytes of data, then
			// the CRC in the local header and the central directory.
			zr, err := zip.NewReader(m, m.Size())
			if err != nil {
				t.Fatal(err)
			}
			for round := range 3 {
				for i, f := range zr.File {
					if f.Method != zip.Store || len(datas[i]) < 16 {
						continue
					}
					doff, err := f.DataOffset()
					if err != nil {
						t.Fatal(err)
					}
					at := rng.IntN(len(datas[i]) - 8)
					for j := range 8 {
						datas[i][at+j] = byte(round + j + i)
					}
					if _, err := m.WriteAt(datas[i][at:at+8], doff+int64(at)); err != nil {
						t.Fatal(err)
					}
					sum := crc32.ChecksumIEEE(datas[i])
					var b [4]byte
					b[0], b[1], b[2], b[3] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
					// The local header's CRC is at offset 14; with a data
					// descriptor (the writer streams), it is in the
					// descriptor after the data, and in the central
					// directory: zip.Reader checks the central one and
					// the descriptor's.
					if _, err := m.WriteAt(b[:], doff+int64(len(datas[i]))+4); err != nil {
						t.Fatal(err)
					}
					f.CRC32 = sum
				}
				// Rewrite the central directory's CRCs: find each
				// entry's record by its name.
				cd := make([]byte, m.Size())
				if _, err := m.ReadAt(cd, 0); err != nil {
					t.Fatal(err)
				}
				for _, f := range zr.File {
					if f.Method != zip.Store {
						continue
					}
					// Walk the central directory's headers to the
					// entry's: its CRC-32 is at offset 16.
					for p := bytes.Index(cd, []byte{'P', 'K', 1, 2}); p >= 0; {
						nl := int(cd[p+28]) | int(cd[p+29])<<8
						el := int(cd[p+30]) | int(cd[p+31])<<8
						cl := int(cd[p+32]) | int(cd[p+33])<<8
						if string(cd[p+46:p+46+nl]) == f.Name {
							var b [4]byte
							b[0], b[1], b[2], b[3] = byte(f.CRC32), byte(f.CRC32>>8), byte(f.CRC32>>16), byte(f.CRC32>>24)
							if _, err := m.WriteAt(b[:], int64(p+16)); err != nil {
								t.Fatal(err)
							}
							break
						}
						q := p + 46 + nl + el + cl
						if q+4 > len(cd) || !bytes.Equal(cd[q:q+4], []byte{'P', 'K', 1, 2}) {
							break
						}
						p = q
					}
				}
				if round%2 == 0 {
					if err := m.Sync(); err != nil {
						t.Fatal(err)
					}
				}
				check(m)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			m = openCM(t, dir, chunkmap.Options{MaxMapped: 1})
			defer m.Close()
			check(m)
		})
	}
}
