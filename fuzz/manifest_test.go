package fuzz

// This file holds the manifest file's format as manifest.go's top comment
// documents it, written down again independently of the library: FuzzOpen
// builds and damages manifests by hand and judges them with it, and FuzzOps
// reads the state page of a copied dataset.

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"runtime"
	"slices"

	"github.com/chunkmap/chunkmap"
)

// The manifest file, format version 2: 4096 bytes holding two records and
// the shared state page.
const (
	mfLen     = 4096
	recLen    = 64
	recStride = 512 // record seq lives at (seq%2)*recStride
	pageOff   = 2048
	pageLen   = 1088
)

// A record, little endian (also the layout of a version 1 file, up to its
// checksum).
const (
	rVersion   = 8
	rFlags     = 12
	rChunkSize = 16
	rFirst     = 24
	rSize      = 32
	rSeq       = 40 // version 2
	rCRC       = 60 // version 2: CRC-32C of bytes 0..59
)

// Format version 1: one 44-byte record without seq, CRC-32C of the first 40
// bytes in the last 4.
const (
	v1Len = 44
	v1CRC = 40
)

// The state page, from pageOff, in the machine's byte order (its fields are
// accessed atomically in place).
const (
	pMagic  = 0 // "CMSTATE2"
	pBoot   = 8 // the writer's boot ID, NUL-padded
	bootLen = 48
	pEpoch  = 56
	pStart  = 64
	pSize   = 72
	pClean  = 80 // uint32
)

const (
	mfMagic   = "CHUNKMAP"
	pageMagic = "CMSTATE2"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is a manifest record's meaning.
type record struct {
	chunkSize, first, size int64
	seq                    uint64
}

func (r record) start() int64 { return r.first * r.chunkSize }

// statePage is what a manifest's state page holds.
type statePage struct {
	magic       bool
	blank       bool // the bytes from the magic to clean are all zero
	boot        [bootLen]byte
	epoch       uint64
	start, size int64
	clean       uint32
}

// manifestFile is a manifest file as Open must read it.
type manifestFile struct {
	version int    // 1 or 2
	rec     record // version 1's record, or version 2's valid one with the higher seq
	page    statePage
	// otherBad: version 2's other record is not valid, so that rec may
	// not be the newest one.
	otherBad bool
}

// decodeManifest judges a manifest file's bytes: a version 2 file is
// exactly mfLen bytes with at least one valid record, a version 1 file
// exactly v1Len bytes with a valid record.
func decodeManifest(b []byte) (manifestFile, bool) {
	if len(b) == mfLen {
		var (
			mf    manifestFile
			ok    bool
			valid int
		)
		for i := range 2 {
			r, good := decodeRecord(b[i*recStride:i*recStride+recLen], 2)
			if !good || int(r.seq%2) != i {
				continue
			}
			valid++
			if !ok || r.seq > mf.rec.seq {
				mf.rec, ok = r, true
			}
		}
		mf.otherBad = valid < 2
		mf.version = 2
		mf.page = readPage(b)
		return mf, ok
	}
	if len(b) != v1Len {
		return manifestFile{}, false
	}
	r, ok := decodeRecord(b, 1)
	return manifestFile{version: 1, rec: r}, ok
}

// decodeRecord checks and parses a record of the given format version: its
// magic, version and checksum, no flags, a valid chunk size, and a first
// chunk and size that an int64 dataset can have.
func decodeRecord(b []byte, version uint32) (record, bool) {
	crcAt := rCRC
	if version == 1 {
		crcAt = v1CRC
	}
	if string(b[:8]) != mfMagic || binary.LittleEndian.Uint32(b[rVersion:]) != version ||
		binary.LittleEndian.Uint32(b[crcAt:]) != crc32.Checksum(b[:crcAt], castagnoli) ||
		binary.LittleEndian.Uint32(b[rFlags:]) != 0 {
		return record{}, false
	}
	cs := binary.LittleEndian.Uint64(b[rChunkSize:])
	first := binary.LittleEndian.Uint64(b[rFirst:])
	size := binary.LittleEndian.Uint64(b[rSize:])
	if !validChunkSize(cs) || first > math.MaxInt64/cs || size > math.MaxInt64 || size < first*cs {
		return record{}, false
	}
	r := record{chunkSize: int64(cs), first: int64(first), size: int64(size)}
	if version == 2 {
		r.seq = binary.LittleEndian.Uint64(b[rSeq:])
	}
	return r, true
}

func validChunkSize(cs uint64) bool {
	return cs >= chunkmap.MinChunkSize && cs <= chunkmap.MaxChunkSize && cs&(cs-1) == 0
}

// fixChecksum recomputes the checksum of the record at b (version 1 or 2).
func fixChecksum(b []byte, version int) {
	if version == 1 {
		binary.LittleEndian.PutUint32(b[v1CRC:], crc32.Checksum(b[:v1CRC], castagnoli))
		return
	}
	binary.LittleEndian.PutUint32(b[rCRC:], crc32.Checksum(b[:rCRC], castagnoli))
}

// encodeV1 returns a version 1 manifest file holding r.
func encodeV1(r record) []byte {
	b := make([]byte, v1Len)
	copy(b, mfMagic)
	binary.LittleEndian.PutUint32(b[rVersion:], 1)
	binary.LittleEndian.PutUint64(b[rChunkSize:], uint64(r.chunkSize))
	binary.LittleEndian.PutUint64(b[rFirst:], uint64(r.first))
	binary.LittleEndian.PutUint64(b[rSize:], uint64(r.size))
	fixChecksum(b, 1)
	return b
}

// readPage returns the state page of the version 2 manifest file b.
func readPage(b []byte) statePage {
	p := b[pageOff : pageOff+pageLen]
	var sp statePage
	sp.magic = string(p[pMagic:pMagic+8]) == pageMagic
	sp.blank = !slices.ContainsFunc(p[:pClean+4], func(c byte) bool { return c != 0 })
	copy(sp.boot[:], p[pBoot:])
	sp.epoch = binary.NativeEndian.Uint64(p[pEpoch:])
	sp.start = int64(binary.NativeEndian.Uint64(p[pStart:]))
	sp.size = int64(binary.NativeEndian.Uint64(p[pSize:]))
	sp.clean = binary.NativeEndian.Uint32(p[pClean:])
	return sp
}

// live reports whether a writer of the boot with ID boot set the page up:
// Open then takes Start and Size from it instead of the record.
func (p statePage) live(boot [bootLen]byte) bool {
	return p.magic && boot != [bootLen]byte{} && p.boot == boot
}

// damaged reports whether another program wrote over the page: it holds
// something but not the magic, which every writer stores with the rest and
// no power loss tears from it (its fields lie in one sector).
func (p statePage) damaged() bool { return !p.magic && !p.blank }

// otherBoot is a boot ID that is not the current boot's, for a power loss.
var otherBoot = func() (b [bootLen]byte) {
	copy(b[:], "00000000-0000-4000-8000-00000000b007")
	return b
}()

// systemBootID returns the boot ID as the operating system tells it, where
// the test knows how to ask (Linux), NUL-padded; zeros elsewhere.
func systemBootID() (b [bootLen]byte, known bool) {
	if runtime.GOOS != "linux" {
		return b, false
	}
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil || len(id) < 36 {
		return b, true // no boot ID: no state page is ever live
	}
	copy(b[:], id[:36])
	return b, true
}
