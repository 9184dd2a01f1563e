package chunkmap

// This file reads and writes the manifest: the one small file that says what
// the chunk files of a dataset add up to.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

const (
	// ManifestName is the name of the manifest file in a dataset directory.
	ManifestName = "MANIFEST"
	// manifestTemp is where a new manifest is written before the rename
	// that replaces the old one.
	manifestTemp = ManifestName + ".tmp"

	manifestMagic   = "CHUNKMAP"
	manifestVersion = 1
	manifestLen     = 44
)

// manifest is the persistent description of a dataset.
//
// On disk it is 44 bytes, little endian:
//
//	 0  magic     "CHUNKMAP"
//	 8  version   uint32 (1)
//	12  flags     uint32 (0; reserved)
//	16  chunkSize uint64
//	24  first     uint64  index of the first chunk; Start = first*chunkSize
//	32  size      uint64  logical size
//	40  crc       uint32  CRC-32C of bytes 0..39
type manifest struct {
	chunkSize int64
	first     int64
	size      int64
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (mf manifest) encode() []byte {
	b := make([]byte, manifestLen)
	copy(b, manifestMagic)
	binary.LittleEndian.PutUint32(b[8:], manifestVersion)
	binary.LittleEndian.PutUint64(b[16:], uint64(mf.chunkSize))
	binary.LittleEndian.PutUint64(b[24:], uint64(mf.first))
	binary.LittleEndian.PutUint64(b[32:], uint64(mf.size))
	binary.LittleEndian.PutUint32(b[40:], crc32.Checksum(b[:40], castagnoli))
	return b
}

// decodeManifest parses b, read from path, and checks it is self-consistent.
func decodeManifest(path string, b []byte) (manifest, error) {
	bad := func(format string, args ...any) (manifest, error) {
		return manifest{}, fmt.Errorf("%w: manifest %s: %s", ErrCorrupt, path, fmt.Sprintf(format, args...))
	}
	if len(b) < 12 {
		return bad("%d bytes, want %d", len(b), manifestLen)
	}
	if string(b[:8]) != manifestMagic {
		return bad("bad magic %q", b[:8])
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != manifestVersion {
		return bad("unknown format version %d (this build reads version %d)", v, manifestVersion)
	}
	if len(b) != manifestLen {
		return bad("%d bytes, want %d", len(b), manifestLen)
	}
	if got, want := binary.LittleEndian.Uint32(b[40:]), crc32.Checksum(b[:40], castagnoli); got != want {
		return bad("checksum %#08x, want %#08x", got, want)
	}
	if flags := binary.LittleEndian.Uint32(b[12:]); flags != 0 {
		return bad("unknown flags %#x", flags)
	}
	mf := manifest{
		chunkSize: int64(binary.LittleEndian.Uint64(b[16:])),
		first:     int64(binary.LittleEndian.Uint64(b[24:])),
		size:      int64(binary.LittleEndian.Uint64(b[32:])),
	}
	if err := validChunkSize(mf.chunkSize); err != nil {
		return bad("chunk size %d: %v", mf.chunkSize, errors.Unwrap(err))
	}
	shift := log2(mf.chunkSize)
	if mf.first < 0 || mf.first > maxOffset>>shift {
		return bad("first chunk %d out of range", mf.first)
	}
	if mf.size < mf.first<<shift || mf.size > maxOffset {
		return bad("size %d out of range for first chunk %d (start %d)", mf.size, mf.first, mf.first<<shift)
	}
	return mf, nil
}

// chunksFor returns how many chunks of 1<<shift bytes cover [0, size):
// (size+ChunkSize-1)>>shift would overflow for a size near math.MaxInt64,
// which a manifest may hold.
func chunksFor(size int64, shift uint) int64 {
	n := size >> shift
	if size&(1<<shift-1) != 0 {
		n++
	}
	return n
}

// readManifest reads the manifest of dir. A missing manifest is reported
// with an error wrapping fs.ErrNotExist.
func readManifest(dir string) (manifest, error) {
	path := filepath.Join(dir, ManifestName)
	b, err := readSmallFile(path, manifestLen+1)
	if err != nil {
		return manifest{}, err
	}
	return decodeManifest(path, b)
}

// readSmallFile reads at most limit bytes of path, so that a huge file put
// in the manifest's place is not read whole.
func readSmallFile(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, limit)
	n := 0
	for n < limit {
		k, err := f.Read(b[n:])
		n += k
		if err != nil {
			break
		}
	}
	return b[:n], nil
}

// writeManifest replaces the manifest of dir crash-safely: after a crash the
// directory holds either the old manifest or the new one, never a mix.
func writeManifest(dir string, mf manifest, perm os.FileMode) error {
	tmp := filepath.Join(dir, manifestTemp)
	final := filepath.Join(dir, ManifestName)
	wrap := func(err error) error { return &fs.PathError{Op: "write manifest", Path: final, Err: err} }
	// 1. Write the new contents under a temporary name.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return wrap(err)
	}
	if _, err := f.Write(mf.encode()); err != nil {
		return wrap(errors.Join(err, f.Close(), os.Remove(tmp)))
	}
	// 2. Make them durable before the name can refer to them.
	if err := f.Sync(); err != nil {
		return wrap(errors.Join(err, f.Close(), os.Remove(tmp)))
	}
	if err := f.Close(); err != nil {
		return wrap(errors.Join(err, os.Remove(tmp)))
	}
	// 3. Replace the old manifest atomically.
	if err := os.Rename(tmp, final); err != nil {
		return wrap(errors.Join(err, os.Remove(tmp)))
	}
	// 4. Make the rename durable.
	if err := chunk.SyncDir(dir); err != nil {
		return wrap(err)
	}
	return nil
}
