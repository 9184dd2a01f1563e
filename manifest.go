package chunkmap

// This file reads and writes the manifest: the one small file that says what
// the chunk files of a dataset add up to, and that also carries the state
// page through which a writer's Size and Start outlive its process and reach
// readers in other processes.
//
// The manifest file is 4096 bytes (format version 2):
//
//	   0  record A   64 bytes
//	 512  record B   64 bytes
//	2048  state page 1088 bytes (statePage)
//
// A record is what a Sync made durable, little endian:
//
//	 0  magic     "CHUNKMAP"
//	 8  version   uint32 (2)
//	12  flags     uint32 (0; reserved)
//	16  chunkSize uint64
//	24  first     uint64  index of the first chunk; Start = first*chunkSize
//	32  size      uint64  logical size
//	40  seq       uint64  sequence number; record seq lives at (seq%2)*512
//	48  reserved  12 bytes of zeros
//	60  crc       uint32  CRC-32C of bytes 0..59
//
// A Sync writes the next record over the older of the two with one pwrite
// and one fsync, so a torn write (a power loss during it) damages only the
// record being written, and Open falls back to the other; no temporary file
// and no rename are needed, and no block is allocated, so a Sync (and a
// Truncate or DropBefore) works on a full disk. The two records sit in
// different 512-byte sectors, the unit a disk writes atomically. They share
// one 4 KiB block with the state page, so the kernel's writeback of the
// state page rewrites them too, with the bytes they already hold; on a disk
// whose atomic unit is 4 KiB a torn write leaves the block old or new, and
// either holds one valid record. A device that garbles a whole block it was
// writing when the power failed would lose both; keeping each record in a
// block of its own would guard against that at 8 KiB more per dataset.
//
// The state page is not a durable record: it is mapped shared by the writer
// and by every reader, and holds the current Start and Size, updated with
// plain atomic stores by every call that changes them. A process crash
// leaves it in the page cache, so the next Open takes Size and Start from
// it, and the writes that returned before the crash (also in the page cache)
// are kept; a power loss (told apart by the boot ID the state page records,
// see vfs.FS.BootID) falls back to the last record.
//
// Format version 1 was a 44-byte file holding one record (without seq),
// replaced with a temporary file and a rename. It is still read; a
// read-write Open rewrites it as version 2, crash-safely, before it changes
// anything else.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"unsafe"

	mmap "github.com/edsrzf/mmap-go"

	"github.com/chunkmap/chunkmap/internal/vfs"
)

const (
	// ManifestName is the name of the manifest file in a dataset directory.
	ManifestName = "MANIFEST"
	// manifestTemp is where a new manifest file is written before the
	// rename that publishes it (creation and the version 1 upgrade only).
	manifestTemp = ManifestName + ".tmp"

	manifestMagic = "CHUNKMAP"
	manifestV1    = 1
	manifestV1Len = 44
	manifestV2    = 2
	manifestLen   = 4096 // version 2
	recordLen     = 64
	recordStride  = 512
	stateOff      = 2048

	stateMagic = "CMSTATE2"
)

// stateMagicBytes is stateMagic as the state page holds it, for a compare
// in one load on a reader's hot path (hotRead1).
var stateMagicBytes = [8]byte([]byte(stateMagic))

// manifest is the persistent description of a dataset.
type manifest struct {
	chunkSize int64
	first     int64
	size      int64
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeRecord returns mf as record number seq.
func encodeRecord(mf manifest, seq uint64) []byte {
	b := make([]byte, recordLen)
	copy(b, manifestMagic)
	binary.LittleEndian.PutUint32(b[8:], manifestV2)
	binary.LittleEndian.PutUint64(b[16:], uint64(mf.chunkSize))
	binary.LittleEndian.PutUint64(b[24:], uint64(mf.first))
	binary.LittleEndian.PutUint64(b[32:], uint64(mf.size))
	binary.LittleEndian.PutUint64(b[40:], seq)
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

// recordOff is where record number seq is written.
func recordOff(seq uint64) int64 { return int64(seq%2) * recordStride }

// firstSeq is the number of a new manifest's newer record (see
// createManifest).
const firstSeq = 1

// manifestState is what a manifest file says.
type manifestState struct {
	mf      manifest
	seq     uint64 // of the record mf came from; 0 for version 1
	version int
	// otherBad says that version 2's other record is damaged, so that
	// mf may not be the newest record: the damaged one may have been
	// written after it (a new manifest holds its first record in both
	// places, so a record of zeros is damage too).
	otherBad bool
}

// decodeManifest parses the manifest file b, read from path: for version 2
// the valid record with the higher sequence number.
func decodeManifest(path string, b []byte) (manifestState, error) {
	bad := func(format string, args ...any) (manifestState, error) {
		return manifestState{}, fmt.Errorf("%w: manifest %s: %s", ErrCorrupt, path, fmt.Sprintf(format, args...))
	}
	if len(b) == manifestLen {
		return decodeV2(path, b)
	}
	if len(b) < 12 {
		return bad("%d bytes, want %d", len(b), manifestLen)
	}
	if string(b[:8]) != manifestMagic {
		return bad("bad magic %q", b[:8])
	}
	switch v := binary.LittleEndian.Uint32(b[8:]); v {
	case manifestV1:
		if len(b) != manifestV1Len {
			return bad("%d bytes, want %d for format version 1", len(b), manifestV1Len)
		}
		if got, want := binary.LittleEndian.Uint32(b[40:]), crc32.Checksum(b[:40], castagnoli); got != want {
			return bad("checksum %#08x, want %#08x", got, want)
		}
		mf, err := decodeFields(b)
		if err != nil {
			return bad("%v", err)
		}
		return manifestState{mf: mf, version: manifestV1}, nil
	case manifestV2:
		return bad("%d bytes, want %d", len(b), manifestLen)
	default:
		return bad("unknown format version %d (this build reads versions 1 and 2)", v)
	}
}

// decodeV2 parses the version 2 manifest file b, read from path.
func decodeV2(path string, b []byte) (manifestState, error) {
	var (
		best manifestState
		errs [2]error
		ok   bool
	)
	for i := range 2 {
		r := b[i*recordStride : i*recordStride+recordLen]
		mf, seq, err := decodeRecord(r)
		if err == nil && recordOff(seq) != int64(i*recordStride) {
			err = fmt.Errorf("record %d at offset %d", seq, i*recordStride)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		if !ok || seq > best.seq {
			best, ok = manifestState{mf: mf, seq: seq, version: manifestV2}, true
		}
	}
	if !ok {
		return manifestState{}, fmt.Errorf("%w: manifest %s: both records are damaged (record A: %v; record B: %v)",
			ErrCorrupt, path, errs[0], errs[1])
	}
	best.otherBad = errs[0] != nil || errs[1] != nil
	return best, nil
}

// decodeRecord checks and parses one version 2 record.
func decodeRecord(r []byte) (manifest, uint64, error) {
	if string(r[:8]) != manifestMagic {
		return manifest{}, 0, fmt.Errorf("bad magic %q", r[:8])
	}
	if v := binary.LittleEndian.Uint32(r[8:]); v != manifestV2 {
		return manifest{}, 0, fmt.Errorf("version %d", v)
	}
	if got, want := binary.LittleEndian.Uint32(r[60:]), crc32.Checksum(r[:60], castagnoli); got != want {
		return manifest{}, 0, fmt.Errorf("checksum %#08x, want %#08x", got, want)
	}
	mf, err := decodeFields(r)
	if err != nil {
		return manifest{}, 0, err
	}
	return mf, binary.LittleEndian.Uint64(r[40:]), nil
}

// decodeFields parses and checks the fields common to both versions.
func decodeFields(b []byte) (manifest, error) {
	if flags := binary.LittleEndian.Uint32(b[12:]); flags != 0 {
		return manifest{}, fmt.Errorf("unknown flags %#x", flags)
	}
	mf := manifest{
		chunkSize: int64(binary.LittleEndian.Uint64(b[16:])),
		first:     int64(binary.LittleEndian.Uint64(b[24:])),
		size:      int64(binary.LittleEndian.Uint64(b[32:])),
	}
	return mf, mf.check()
}

// check reports whether mf describes a possible dataset.
func (mf manifest) check() error {
	if !formatChunkSize(mf.chunkSize) {
		return fmt.Errorf("chunk size %d is not a power of two from %d to %d", mf.chunkSize, int64(MinChunkSize), int64(MaxChunkSize))
	}
	shift := log2(mf.chunkSize)
	if mf.first < 0 || mf.first > maxOffset>>shift {
		return fmt.Errorf("first chunk %d out of range", mf.first)
	}
	if mf.size < mf.first<<shift || mf.size > maxOffset {
		return fmt.Errorf("size %d out of range for first chunk %d (start %d)", mf.size, mf.first, mf.first<<shift)
	}
	return nil
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

// chunkOffset returns the offset of chunk idx's first byte, idx<<shift,
// capped at maxOffset: the end of the top chunk (idx == chunksFor(maxOffset,
// shift)) is 2^63, which idx<<shift turns into math.MinInt64. No byte at or
// past maxOffset is ever below Size, so the cap changes no answer about the
// bytes a dataset holds.
func chunkOffset(idx int64, shift uint) int64 {
	if idx > maxOffset>>shift {
		return maxOffset
	}
	return idx << shift
}

// readManifest reads the manifest of dir. A missing manifest is reported
// with an error wrapping fs.ErrNotExist; anything under its name that is not
// a regular file, with ErrCorrupt (and without blocking on it).
func readManifest(fsys vfs.FS, dir string) (manifestState, error) {
	f, ms, err := openReadManifest(fsys, dir, os.O_RDONLY)
	if f != nil {
		f.Close()
	}
	return ms, err
}

// openReadManifest opens the manifest of dir with flag and reads it as
// readManifest does. It returns the file open (nil if it could not be
// opened; the caller closes it) with the result of reading it, so that Open
// reads and maps the manifest through one open.
func openReadManifest(fsys vfs.FS, dir string, flag int) (vfs.File, manifestState, error) {
	path := filepath.Join(dir, ManifestName)
	f, err := openManifest(fsys, path, flag)
	if err != nil {
		return nil, manifestState{}, err
	}
	b := make([]byte, manifestLen+1)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return f, manifestState{}, fmt.Errorf("read manifest %s: %w", path, unpath(path, err))
	}
	if n > manifestLen {
		// Too long for any version: say how long, not how much was read.
		if fi, err := f.Stat(); err == nil {
			return f, manifestState{}, fmt.Errorf("%w: manifest %s: %d bytes, want %d", ErrCorrupt, path, fi.Size(), manifestLen)
		}
	}
	ms, err := decodeManifest(path, b[:n])
	return f, ms, err
}

// openManifest opens the manifest file at path through fsys, refusing what
// is not a regular file as corrupt.
func openManifest(fsys vfs.FS, path string, flag int) (vfs.File, error) {
	f, err := fsys.OpenFile(path, flag, 0)
	if errors.Is(err, vfs.ErrNotRegular) {
		return nil, fmt.Errorf("%w: manifest %s: %w", ErrCorrupt, path, unpath(path, err))
	}
	return f, err
}

// createManifest writes a new version 2 manifest file for dir holding mf as
// its first record, crash-safely: under a temporary name, fsync'd, renamed
// over ManifestName, and the directory fsync'd. After a crash the directory
// holds the old manifest (or none) or the new one, never a part of one.
//
// It replaces a version 1 manifest the same way; old describes that file
// (nil for a new dataset, whose manifest takes perm). The new file keeps
// old's permission bits (and the owner's write bit), owner and group, so
// that the upgrade changes no one's access to the dataset, and fails,
// leaving old in place, where the system refuses them (a user other than
// root upgrading another user's dataset).
//
// The file holds mf twice, as records 0 and 1, so that both places hold a
// record from the start: record 0 is at the start of the file, where
// version 1 kept its only record, and a build that reads version 1 alone
// finds the magic and the version number there and says the format is too
// new for it, instead of taking a file with no magic at its start for
// garbage. Record 1 is the newer, and the first Sync writes record 2 over
// record 0, as it wrote it over the zeros there before.
//
// An upgraded manifest's state page is set up as a writer of boot left it
// when it died: whatever the Open that upgrades it does next, a later Open
// of this boot takes the dataset for one whose writer crashed, and its
// first Sync fsyncs every chunk. Version 1 does not say whether v0.1.0's
// writer died with stores in the page cache that no Sync covered; only the
// upgrading Open knows that it did not look, and it may be killed, or
// fail, before it has set up the page itself.
func createManifest(fsys vfs.FS, dir string, mf manifest, perm os.FileMode, old fs.FileInfo, boot [48]byte) error {
	tmp := filepath.Join(dir, manifestTemp)
	final := filepath.Join(dir, ManifestName)
	wrap := func(err error) error { return fmt.Errorf("write manifest %s: %w", final, err) }
	b := make([]byte, manifestLen)
	for seq := range uint64(firstSeq + 1) {
		copy(b[recordOff(seq):], encodeRecord(mf, seq))
	}
	if old != nil && boot != ([48]byte{}) {
		// In b, heap memory: setup cannot fault, so its ok is true.
		page := &sharedPage{p: (*statePage)(unsafe.Pointer(&b[stateOff]))}
		page.setup(boot, mf.first*mf.chunkSize, mf.size)
	}
	if old != nil {
		// Version 1 replaced its manifest and never wrote it in place,
		// so its owner may have none of the write access that every
		// writer of version 2 needs: an upgrade that kept a mode of
		// 0o444 would leave the dataset one that no read-write Open of
		// its owner's may open, this one included.
		perm = old.Mode().Perm() | 0o200
	}
	// A stale temporary file (from a crash here) is replaced.
	if err := fsys.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return wrap(err)
	}
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return wrap(err)
	}
	if old != nil {
		// The owner first (chown(2) may clear mode bits), then the
		// mode as it was, which the umask may have narrowed at the
		// open.
		err := keepOwner(f.OS(), old, perm)
		if err == nil {
			err = f.OS().Chmod(perm)
		}
		if err != nil {
			return wrap(errors.Join(err, f.Close(), fsys.Remove(tmp)))
		}
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return wrap(errors.Join(err, f.Close(), fsys.Remove(tmp)))
	}
	// Durable before the name can refer to it.
	if err := f.Sync(); err != nil {
		return wrap(errors.Join(err, f.Close(), fsys.Remove(tmp)))
	}
	if err := f.Close(); err != nil {
		return wrap(errors.Join(err, fsys.Remove(tmp)))
	}
	if err := fsys.Rename(tmp, final); err != nil {
		if le, ok := err.(*os.LinkError); ok { // it names final too
			err = fmt.Errorf("rename %s: %w", le.Old, le.Err)
		}
		return wrap(errors.Join(err, fsys.Remove(tmp)))
	}
	if err := fsys.SyncDir(dir); err != nil {
		return wrap(err)
	}
	return nil
}

// statePage is the shared, mapped part of the manifest file (see the top of
// this file). Its fields are read and written with atomic operations only,
// by the writer and by readers in any process.
type statePage struct {
	magic [8]byte  // stateMagic once the writer set it up
	boot  [48]byte // the writer's boot ID, NUL-padded
	// epoch advances whenever the writer deletes chunk files (Truncate,
	// DropBefore) and when a writer opens: a reader that sees it move lets
	// go of the chunk files it has open that may not be the dataset's any
	// more (keptBelowLocked).
	epoch atomic.Uint64
	start atomic.Int64
	size  atomic.Int64
	// clean is 1 while no writer has the dataset open and the last one
	// closed it after a successful Sync: nothing in the page cache is
	// newer than the last record.
	clean atomic.Uint32
	_     uint32
	_     [4]uint64
	// cuts counts the writer's cuts of Size (a Truncate below it, and the
	// state a writer sets up or restores), and lows tells the lowest Size
	// that the cuts from any given number on left: a reader whose read the
	// epoch moved under tells from it whether the bytes it read were cut
	// (see followedRead), and one that reconciles its open chunk files
	// which of them may be gone (keptBelowLocked). A cut is counted and
	// recorded before the epoch moves; lows.done counts it once its chunk
	// files are gone.
	cuts atomic.Uint64
	lows cutLows
}

// cutLows is the state page's record of the Sizes that cuts left, kept so
// that a reader can ask "what is the lowest Size any cut from number c0 on
// left?" however many cuts there were since: a stack of the cuts that left
// a Size lower than every cut after them, oldest (and lowest) first. A new
// cut takes the place of those above it that left as much or more, and
// the answer for c0 is the Size of the first entry numbered c0 or later.
// When the stack is full its oldest entry moves to older, and from says
// from which number on the stack alone answers, exactly. Below from, older
// answers, with a bound where it merged entries (see cutsOlder).
//
// The numbers count from where a writer set the page up or wrote it whole
// again (restartCuts), which may be below numbers a reader holds from
// before (the page of a manifest another program truncated and grew again
// is zeros): so that a reader cannot take them for the same, the writer
// draws a new id then, never 0, and a reader's question names the id its
// numbers are of. The writer changes the record inside seq, which is odd
// meanwhile; a reader copies it between two equal even loads of seq.
type cutLows struct {
	seq  atomic.Uint64
	id   atomic.Uint64 // of this numbering of cuts; 0 on a page not set up
	from atomic.Uint64 // cuts numbered below from may be missing from the stack
	// done is the number of cuts whose chunk files are gone: a reader
	// need not look for the deletions of those again (keptBelowLocked).
	done  atomic.Uint64
	n     atomic.Uint64 // entries in use
	at    [cutLowsCap]atomic.Uint64
	size  [cutLowsCap]atomic.Int64
	older cutsOlder
}

// cutsOlder holds the entries that moved out of a full cutLows stack: the
// stack's continuation below it, oldest first, each lower than those
// after it. When it is full too, the two neighbours whose Sizes lie
// closest become one, which keeps the later number and the lower Size: the
// answer for a c0 between their numbers is then the lower Size, below the
// true one, a bound a reader may use to keep bytes below it but not as the
// place of a cut (see lowestCut). Each entry's upto says up to which c0
// its answer is exact: its own number until it merges, and the number up
// to which the older of the pair was exact after. A writer of an older
// version kept no older entries, and left id as it was: a reader uses
// them only where id is the stack's. (Those writers' pages are read as
// before, by readers of any version: the stack and from keep their
// meaning.)
type cutsOlder struct {
	id   atomic.Uint64 // the numbering of cuts that the entries are of
	from atomic.Uint64 // the numbering's first cut: none below it count
	n    atomic.Uint64 // entries in use
	at   [cutsOlderCap]atomic.Uint64
	size [cutsOlderCap]atomic.Int64
	upto [cutsOlderCap]atomic.Uint64
}

// cutLowsCap is how many entries the stack of cutLows holds: a question
// reaching back over no more cuts than that is answered from the stack
// alone, exactly.
const cutLowsCap = 32

// cutsOlderCap is how many entries cutsOlder holds: half as many again as
// the stack, which keeps the state page at 1088 bytes, with room to spare
// in the manifest's 4096.
const cutsOlderCap = 16

// Compile-time checks: the state page fits its place, and its atomic fields
// are 8-byte aligned at any mapping address (which is page aligned).
var (
	_ [manifestLen - stateOff - unsafe.Sizeof(statePage{})]struct{}
	_ [unsafe.Offsetof(statePage{}.epoch) % 8]struct{}
)

// bootOf returns id as the state page stores it.
func bootOf(id string) (b [48]byte) {
	copy(b[:], id)
	return b
}

// manifestFile is an open version 2 manifest file and its mapped state
// page.
type manifestFile struct {
	f    vfs.File
	mm   mmap.MMap
	st   *statePage
	info fs.FileInfo // the file's identity when it was opened
	// writable says f is open for writing and the page mapped so.
	writable bool
}

// openManifestFile opens and maps the version 2 manifest of dir, writable
// or not.
func openManifestFile(fsys vfs.FS, dir string, writable bool) (*manifestFile, error) {
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR
	}
	f, err := openManifest(fsys, filepath.Join(dir, ManifestName), flag)
	if err != nil {
		return nil, err
	}
	return mapManifestFile(f, writable)
}

// mapManifestFile maps the state page of f, an open version 2 manifest,
// writable or not (as f was opened), and returns the manifestFile that owns
// f from then on. On error it closes f.
func mapManifestFile(f vfs.File, writable bool) (*manifestFile, error) {
	path := f.Name()
	prot := mmap.RDONLY
	if writable {
		prot = mmap.RDWR
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open manifest %s: %w", path, unpath(path, err)), f.Close())
	}
	if fi.Size() != manifestLen {
		return nil, errors.Join(fmt.Errorf("%w: manifest %s: %d bytes, want %d", ErrCorrupt, path, fi.Size(), manifestLen), f.Close())
	}
	mm, err := mmap.MapRegion(f.OS(), manifestLen, prot, 0, 0)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("map manifest %s: %w", path, err), f.Close())
	}
	return &manifestFile{f: f, mm: mm, st: (*statePage)(unsafe.Pointer(&mm[stateOff])), info: fi, writable: writable}, nil
}

// writeRecord writes mf as record seq and fsyncs the file. A failed write
// leaves the other record intact (and the one written possibly torn); a
// failed fsync leaves the record's durability unknown.
func (mfl *manifestFile) writeRecord(mf manifest, seq uint64) (fsyncErr, err error) {
	path := mfl.f.Name()
	if _, err := mfl.f.WriteAt(encodeRecord(mf, seq), recordOff(seq)); err != nil {
		return nil, fmt.Errorf("write manifest %s: %w", path, unpath(path, err))
	}
	if err := mfl.syncFile(); err != nil {
		return err, nil
	}
	return nil, nil
}

// syncFile fsyncs the manifest, after it writes back the stores made
// through the mapping of its state page where an fsync alone does not
// cover them (flushStatePage): a Sync's fsync of the manifest is also what
// puts on disk the page's Start and Size, which an Open in the same boot
// follows (see syncPageLocked). Either failure is the fsync's: the
// kernel may have dropped the pages.
func (mfl *manifestFile) syncFile() error {
	path := mfl.f.Name()
	if err := flushStatePage(mfl.mm); err != nil {
		return fmt.Errorf("flush the state page of manifest %s: %w", path, err)
	}
	if err := mfl.f.Sync(); err != nil {
		return fmt.Errorf("fsync manifest %s: %w", path, unpath(path, err))
	}
	return nil
}

// stillNamed reports an error unless the manifest file is still the file
// under its name in dir, and whole: one removed or replaced from outside
// makes every record written to it lost to the next Open. It costs one
// Lstat, compared with the identity the file had when it was opened (a
// follower checks at every chunk it opens).
func (mfl *manifestFile) stillNamed(fsys vfs.FS) error {
	path := mfl.f.Name()
	onDisk, err := fsys.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && !os.SameFile(onDisk, mfl.info):
		return fmt.Errorf("%w: manifest %s was removed or replaced by another program", ErrCorrupt, path)
	case err != nil:
		return fmt.Errorf("stat manifest %s: %w", path, unpath(path, err))
	case onDisk.Size() < manifestLen:
		return fmt.Errorf("%w: manifest %s was truncated to %d bytes by another program (not %d)", ErrCorrupt, path, onDisk.Size(), manifestLen)
	case onDisk.Size() > manifestLen:
		return fmt.Errorf("%w: manifest %s was extended to %d bytes by another program (not %d)", ErrCorrupt, path, onDisk.Size(), manifestLen)
	}
	return nil
}

// close unmaps and closes the manifest file. The state page must not be
// used after it.
func (mfl *manifestFile) close() error {
	return errors.Join(mfl.mm.Unmap(), mfl.f.Close())
}
