package main

// This file reads a dataset directory directly, file by file, without
// chunkmap.Open: the manifest's records and state page, and the chunk files
// as far as they are readable. verify, salvage, and info and cat on a
// damaged dataset (one that Open refuses with ErrCorrupt) see the dataset
// through it; chunkread.go reads the bytes.
//
// Everything here opens files read-only, through vfs.OS (which never
// follows a symlink and never blocks on a FIFO), and never maps them: a
// mapped chunk that is shorter than the chunk size would raise SIGBUS, and
// an I/O error through a mapping arrives as a fault, not as an error that
// names the file and the offset. Nothing here creates, changes or removes a
// file in the directory,
// and there is no cleanup of any kind: that is what makes it safe to point
// at a damaged dataset that is the only copy.
//
// The manifest format is the one manifest.go documents (format version 2,
// a 4096-byte file with two 64-byte records and a state page, and the
// 44-byte version 1); it is decoded here again because the library keeps
// its decoder unexported, and because a damaged manifest needs more than
// the library's yes or no: each record's own verdict, and the state page
// even when both records are gone.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/units"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// The manifest layout (manifest.go).
const (
	manifestMagic = "CHUNKMAP"
	manifestV1Len = 44
	manifestV2Len = 4096
	recordLen     = 64
	recordStride  = 512
	stateOff      = 2048
	stateMagic    = "CMSTATE2"
	stateLen      = 88 // magic, boot, epoch, start, size, clean (with its padding)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is one manifest record as read, valid or not.
type record struct {
	ok        bool
	err       error // why it is not valid
	seq       uint64
	chunkSize int64
	first     int64
	size      int64
}

// statePage is the manifest's state page as read.
type statePage struct {
	magic bool   // holds stateMagic: a writer set it up
	blank bool   // its fields are all zero: no writer set it up
	boot  string // the boot ID of that writer
	live  bool   // that writer ran during the current boot
	clean bool   // and closed the dataset after a successful Sync
	epoch uint64
	start int64
	size  int64
}

// manifestView is what the manifest file says, record by record.
type manifestView struct {
	present bool
	err     error // it could not be opened or read
	length  int64 // the file's size
	version int   // 1 or 2; 0 when the file is neither
	recs    []record
	best    int // index in recs of the valid record that counts; -1 if none
	page    *statePage
}

// readManifestView reads the manifest of dir. bootID is the current boot's
// (vfs.FS.BootID), which tells a state page of this boot from an older one.
func readManifestView(dir, bootID string) manifestView {
	mv := manifestView{best: -1}
	path := filepath.Join(dir, chunkmap.ManifestName)
	f, err := vfs.OS.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return mv
	}
	mv.present = true
	if err != nil {
		mv.err = err
		return mv
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		mv.err = err
		return mv
	}
	b := make([]byte, manifestV2Len)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		mv.err = fmt.Errorf("read %s: %w", path, err)
		return mv
	}
	mv.decode(b[:n], fi.Size(), bootID)
	return mv
}

// decode parses the manifest file b, the first bytes of a file of length
// bytes. It is lenient where the library is
// strict: a version 2 file that is too short still yields the records and
// the state page that fit in it, because each one is checked on its own.
func (mv *manifestView) decode(b []byte, length int64, bootID string) {
	mv.length = length
	if length == manifestV1Len && len(b) == manifestV1Len && string(b[:8]) == manifestMagic && binary.LittleEndian.Uint32(b[8:]) == 1 {
		mv.version = 1
		r := record{}
		if got, want := binary.LittleEndian.Uint32(b[40:]), crc32.Checksum(b[:40], castagnoli); got != want {
			r.err = fmt.Errorf("checksum %#08x, want %#08x", got, want)
		} else {
			r = decodeFields(b)
		}
		mv.recs = []record{r}
		if r.ok {
			mv.best = 0
		}
		return
	}
	mv.version = 2
	for i := range 2 {
		at := i * recordStride
		if len(b) < at+recordLen {
			mv.recs = append(mv.recs, record{err: fmt.Errorf("cut off: the file has %d bytes", length)})
			continue
		}
		r := decodeRecord(b[at : at+recordLen])
		if r.ok && int(r.seq%2) != i {
			r = record{err: fmt.Errorf("record %d at offset %d", r.seq, at)}
		}
		mv.recs = append(mv.recs, r)
		if r.ok && (mv.best < 0 || r.seq > mv.recs[mv.best].seq) {
			mv.best = i
		}
	}
	if len(b) >= stateOff+stateLen {
		mv.page = decodePage(b[stateOff:stateOff+stateLen], bootID)
	}
}

// decodeRecord checks and parses one version 2 record.
func decodeRecord(r []byte) record {
	if string(r[:8]) != manifestMagic {
		return record{err: fmt.Errorf("bad magic %q", r[:8])}
	}
	if v := binary.LittleEndian.Uint32(r[8:]); v != 2 {
		return record{err: fmt.Errorf("version %d", v)}
	}
	if got, want := binary.LittleEndian.Uint32(r[60:]), crc32.Checksum(r[:60], castagnoli); got != want {
		return record{err: fmt.Errorf("checksum %#08x, want %#08x", got, want)}
	}
	rec := decodeFields(r)
	rec.seq = binary.LittleEndian.Uint64(r[40:])
	return rec
}

// decodeFields parses and checks the fields both versions share, as
// manifest.check does.
func decodeFields(b []byte) record {
	if flags := binary.LittleEndian.Uint32(b[12:]); flags != 0 {
		return record{err: fmt.Errorf("unknown flags %#x", flags)}
	}
	r := record{
		chunkSize: int64(binary.LittleEndian.Uint64(b[16:])),
		first:     int64(binary.LittleEndian.Uint64(b[24:])),
		size:      int64(binary.LittleEndian.Uint64(b[32:])),
	}
	if !validChunkSize(r.chunkSize) {
		return record{err: fmt.Errorf("chunk size %d is not a power of two from %d to %d", r.chunkSize, int64(chunkmap.MinChunkSize), int64(chunkmap.MaxChunkSize))}
	}
	if r.first < 0 || r.first > math.MaxInt64/r.chunkSize {
		return record{err: fmt.Errorf("first chunk %d out of range", r.first)}
	}
	if r.size < r.first*r.chunkSize {
		return record{err: fmt.Errorf("size %d out of range for first chunk %d", r.size, r.first)}
	}
	r.ok = true
	return r
}

// decodePage parses the state page p. Its fields are stored with atomic
// operations, so in the machine's own byte order, at the offsets of
// chunkmap's statePage struct.
func decodePage(p []byte, bootID string) *statePage {
	var cur [48]byte
	copy(cur[:], bootID)
	ps := &statePage{
		magic: string(p[:8]) == stateMagic,
		boot:  string(bytes.TrimRight(p[8:56], "\x00")),
		epoch: binary.NativeEndian.Uint64(p[56:]),
		start: int64(binary.NativeEndian.Uint64(p[64:])),
		size:  int64(binary.NativeEndian.Uint64(p[72:])),
		clean: binary.NativeEndian.Uint32(p[80:]) == 1,
		blank: !slices.ContainsFunc(p[:84], func(b byte) bool { return b != 0 }),
	}
	ps.live = ps.magic && bootID != "" && bytes.Equal(p[8:56], cur[:])
	return ps
}

// fits reports whether the page's Start and Size can belong to a dataset of
// chunk size cs (what Open checks before it trusts them).
func (ps *statePage) fits(cs int64) bool {
	return ps.magic && ps.start >= 0 && ps.start%cs == 0 && ps.size >= ps.start
}

// recordName names record i of a manifest of the given version.
func recordName(version, i int) string {
	if version == 1 {
		return "the record"
	}
	return "record " + string(rune('A'+i))
}

// validChunkSize reports whether n can be a chunk size.
func validChunkSize(n int64) bool {
	return n >= chunkmap.MinChunkSize && n <= chunkmap.MaxChunkSize && n&(n-1) == 0
}

// finding is one fault a survey found: one problem in verify's report.
type finding struct {
	what     string
	advice   string
	from, to int64 // bytes of [Start, Size) it makes unreadable; from == to if none
	// key is the fault as surveys of a dataset that a writer changes
	// meanwhile compare it (keepLasting): what, but for a fault whose
	// text names Start, Size or a record, which the writer moves (a
	// chunk's bytes lost, say), the file and what is wrong with it.
	key string
}

// survey is a dataset directory as its files describe it.
type survey struct {
	dir  string
	scan *dirScan
	mv   manifestView

	// cs is the chunk size, and csFrom where it came from; cs is 0, and
	// csErr says why, when it cannot be known. extentErr says why the
	// extent (start and size) cannot be known where the chunk size is.
	// Either leaves the chunk files unchecked (known).
	cs        int64
	csFrom    string
	csErr     error
	extentErr error

	// disowned is the chunk size the chunk files have where the manifest
	// has a valid record but is not theirs (see disown and disownExtent),
	// and 0 otherwise.
	disowned int64

	// [start, size) is the dataset, and extentFrom where that came from;
	// first and end are the chunks it needs. Valid only when cs is known.
	start, size int64
	extentFrom  string
	first, end  int64
	// fromFiles is set where the chunk files present gave Size, as the
	// end of the last one (chooseExtent, or widen): a stray chunk file
	// far from the rest then stretches the extent.
	fromFiles bool
	// fromPage is set where a live state page gave Start and Size.
	fromPage bool

	faults []finding // one per fault: the manifest first, then chunks by index
	notes  []string
	// linked counts the faults that are two chunk names of one file: no
	// byte of theirs is unreadable, but one of the two chunks holds the
	// other's, and nothing tells which. pairs holds their chunks' indices.
	linked int
	pairs  [][2]int64

	// wide is salvage's: where the manifest's other record is damaged,
	// the dataset runs to the end of the last chunk file (see widen), and
	// widened is the Size it ran on from; 0 if it did not.
	wide    bool
	widened int64
	// narrowed is set where salvage moved Start up to the first chunk
	// file present (see droppedBelow), from narrowedFrom.
	narrowed     bool
	narrowedFrom int64
	// shortened is set where salvage cut Size down to the end of the
	// last chunk file present (see truncatedPast), from shortenedFrom.
	shortened     bool
	shortenedFrom int64
}

// surveyDir reads dir. chunkSize, if not 0, is the chunk size to use when
// the manifest has no valid record (salvage's -chunk); a valid record wins,
// unless the chunk files disown it (see disown).
// The error is for a directory that cannot be listed; everything else is a
// fault or a note in the survey.
func surveyDir(dir string, chunkSize int64) (*survey, error) {
	return surveyWith(&survey{dir: dir}, chunkSize)
}

// surveyWide is surveyDir for salvage: it takes the widest extent the files
// allow (see widen).
func surveyWide(dir string, chunkSize int64) (*survey, error) {
	return surveyWith(&survey{dir: dir, wide: true}, chunkSize)
}

// surveyWith fills in s, whose dir and wide are set, as surveyDir says. A
// writer that has the dataset open may cut it while the survey looks (a
// Truncate or DropBefore deletes chunk files after it moves the state
// page's epoch), which would pass for chunk files missing: a survey that
// found faults is taken again while the manifest changed under it, up to
// surveyTries times (also where no writer had it open as the survey began:
// one may open it and cut it meanwhile). If it changed during every one,
// only the faults found by every survey are kept: a writer's cut makes a
// fault only in the survey it falls in, since the next reads the moved
// page first, while damage stays. A note says so.
func surveyWith(s *survey, chunkSize int64) (*survey, error) {
	seen := make(map[string]int) // fault key → surveys that found it
	for tries := 1; ; tries++ {
		t := &survey{dir: s.dir, wide: s.wide}
		if _, err := surveyOnce(t, chunkSize); err != nil {
			return nil, err
		}
		if len(t.faults) == 0 {
			*s = *t
			return s, nil
		}
		// Whatever the page said as the survey began: a writer may have
		// opened the dataset since (a new epoch) and cut it.
		boot, err := vfs.OS.BootID()
		if err != nil {
			return nil, fmt.Errorf("read the boot ID: %w", err)
		}
		now := readManifestView(s.dir, boot)
		if !t.mv.changedIn(now) {
			*s = *t
			return s, nil
		}
		counted := make(map[string]bool, len(t.faults))
		for _, f := range t.faults {
			if !counted[f.key] { // once a survey, though a key repeats
				counted[f.key] = true
				seen[f.key]++
			}
		}
		if tries == surveyTries {
			*s = *t
			s.keepLasting(seen)
			return s, nil
		}
	}
}

// keepLasting keeps the faults of s that every one of surveyTries surveys
// found, as seen counts them, and notes why the others were dropped.
func (s *survey) keepLasting(seen map[string]int) {
	kept := s.faults[:0:0]
	for _, f := range s.faults {
		if seen[f.key] == surveyTries {
			kept = append(kept, f)
		}
	}
	passing := 0
	for _, n := range seen {
		if n < surveyTries {
			passing++
		}
	}
	s.faults = kept
	switch {
	case passing == 0:
		s.note("a writer changed the dataset during each of %d surveys (its state page moved), and every one found the faults above: damage, or changes the writer keeps making; run again once it is idle to be sure", surveyTries)
	case len(kept) == 0:
		s.note("a writer changed the dataset during each of %d surveys (its state page moved); %s that some of them found and others did not were its changes, not damage", surveyTries, units.Count(passing, "fault"))
	default:
		s.note("a writer changed the dataset during each of %d surveys (its state page moved); every one found the faults above, and %s that only some found were its changes, not damage", surveyTries, units.Count(passing, "more fault"))
	}
}

// surveyTries is how many times surveyWith surveys a dataset whose writer
// changes it meanwhile.
const surveyTries = 10

// changedIn reports whether the manifest now says something other than mv
// did: another record, or a state page with another epoch, Start or Size.
func (mv *manifestView) changedIn(now manifestView) bool {
	if mv.best != now.best {
		return true
	}
	if mv.best >= 0 {
		r, q := mv.recs[mv.best], now.recs[now.best]
		if r.seq != q.seq || r.first != q.first || r.size != q.size || r.chunkSize != q.chunkSize {
			return true
		}
	}
	a, b := mv.page, now.page
	if (a == nil) != (b == nil) {
		return true
	}
	return a != nil && (a.epoch != b.epoch || a.start != b.start || a.size != b.size)
}

// cutIn reports whether now, the manifest read again later, shows that a
// writer cut the dataset (Truncate below Size, DropBefore) or set up the
// state page anew (another writer's Open) since mv was read: the page's
// epoch, Start or boot moved. Only such a change deletes or replaces chunk
// files, or bytes below the Size mv gave; within one epoch a writer only
// raises Size.
func (mv *manifestView) cutIn(now manifestView) bool {
	a, b := mv.page, now.page
	if b == nil || !b.magic {
		return false
	}
	return a == nil || !a.magic || a.epoch != b.epoch || a.start != b.start || a.boot != b.boot
}

// surveyMidway, if not nil, runs in each survey after it reads the
// manifest and before it lists the directory: where a writer's cut falls
// in the tests that need one there.
var surveyMidway func()

// surveyOnce is one survey of s.dir (see surveyWith).
func surveyOnce(s *survey, chunkSize int64) (*survey, error) {
	dir := s.dir
	// The manifest first, as Open does: a writer creates chunks before it
	// records a Size that needs them.
	boot, err := vfs.OS.BootID()
	if err != nil {
		return nil, fmt.Errorf("read the boot ID: %w", err)
	}
	s.mv = readManifestView(dir, boot)
	if errors.Is(s.mv.err, fs.ErrPermission) {
		// Not damage: a manifest this user may not read (another
		// user's) is whole all the same, and what the files alone
		// suggest (a chunk size, a Size to the last chunk's end) is
		// no substitute for it.
		return nil, s.mv.err
	}
	if surveyMidway != nil {
		surveyMidway()
	}
	scan, err := scanDir(dir)
	if err != nil {
		return nil, err
	}
	s.scan = scan
	s.manifestFaults()
	switch {
	case scan.manifestLinked && s.mv.present && s.mv.version == 1:
		// Version 1 was replaced, never written in place: the upgrade
		// to version 2 writes a new file under the name, and the other
		// name keeps the old one.
		s.note("%s has more than one name (hard links, as cp -al makes); the read-write Open that rewrites it as version 2 gives this directory a file of its own", chunkmap.ManifestName)
	case scan.manifestLinked:
		// A fault of its own: the records may be whole, and the chunk
		// files the manifest's, and a read-write Open still refuses it.
		s.fault(0, 0, "check that its Start and Size are this dataset's (the next read-write Open deletes the chunk files past Size), then give the directory a manifest of its own: copy it under another name in the directory, and rename the copy over "+chunkmap.ManifestName,
			"%s has more than one name (hard links, as cp -al makes), so another directory's writer may share its records and state page: a read-write Open refuses the dataset, and a reader may follow that other writer", chunkmap.ManifestName)
	}
	s.disown()
	s.tempFaults()
	if !s.chooseChunkSize(chunkSize) {
		if len(scan.chunks) > 0 {
			s.note("the chunk files cannot be checked: %v", s.csErr)
		}
		return s, nil
	}
	faults, notes := len(s.faults), len(s.notes)
	err = s.chooseExtent()
	if err == nil && s.disownExtent() {
		s.faults, s.notes = s.faults[:faults], s.notes[:notes]
		s.addDisowned()
		err = s.chooseExtent()
	}
	if err != nil {
		s.extentErr = err
		s.note("the chunk files cannot be checked: %v", err)
		return s, nil
	}
	s.chunkFaults()
	return s, nil
}

// known reports whether the chunk size and the extent are known, so that
// the chunk files could be checked and read.
func (s *survey) known() bool { return s.cs != 0 && s.extentErr == nil }

// unknown says why the chunk size or the extent is not known (!known).
func (s *survey) unknown() error {
	if s.cs == 0 {
		return s.csErr
	}
	return s.extentErr
}

func (s *survey) fault(from, to int64, advice, format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	s.faults = append(s.faults, finding{what: what, advice: advice, from: from, to: to, key: what})
}

// keyedFault is fault for a fault whose text names Start, Size or a
// manifest record, keyed by key (see finding.key).
func (s *survey) keyedFault(key string, from, to int64, advice, format string, args ...any) {
	s.fault(from, to, advice, format, args...)
	s.faults[len(s.faults)-1].key = key
}

func (s *survey) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// salvageAdvice is the advice for every fault that salvage copes with:
// what, then the salvage command line, with flags if not "".
func (s *survey) salvageAdvice(what, flags string) string {
	if flags != "" {
		flags += " "
	}
	return fmt.Sprintf("%s; run 'chunkmap salvage %s%s OUT' to copy every readable byte into a new dataset, zeros where bytes are lost", what, flags, cmdArg(s.dir))
}

// manifestFaults adds at most one fault for the manifest, and notes.
func (s *survey) manifestFaults() {
	mv := &s.mv
	name := chunkmap.ManifestName
	hasChunks := len(s.scan.chunks) > 0
	switch {
	case !mv.present && !hasChunks:
		s.fault(0, 0, "check the path: a dataset directory holds a "+name+" and chunk files", "%s is missing: %s holds no dataset", name, s.dir)
		return
	case !mv.present:
		s.fault(0, 0, s.salvageAdvice("the chunk files may be intact", ""), "%s is missing (%d chunk files are present)", name, len(s.scan.chunks))
		return
	case mv.err != nil:
		s.fault(0, 0, s.salvageAdvice("the chunk files may be intact", ""), "%s cannot be read: %v", name, mv.err)
		return
	}
	var damaged []string // "record A: bad magic …"
	for i, r := range mv.recs {
		if !r.ok {
			damaged = append(damaged, fmt.Sprintf("%s: %v", recordName(mv.version, i), r.err))
		}
	}
	shortV2 := mv.version == 2 && mv.length != manifestV2Len
	switch {
	case mv.best < 0:
		what := fmt.Sprintf("%s: both records are damaged (%s)", name, strings.Join(damaged, "; "))
		switch {
		case mv.version == 1:
			what = fmt.Sprintf("%s: its record is damaged (%s)", name, damaged[0])
		case mv.length < recordLen:
			what = fmt.Sprintf("%s has %d bytes, want %d: too short to hold a record", name, mv.length, manifestV2Len)
		case shortV2:
			what = fmt.Sprintf("%s has %d bytes, want %d, and no valid record (%s)", name, mv.length, manifestV2Len, strings.Join(damaged, "; "))
		}
		s.fault(0, 0, s.salvageAdvice("the chunk files may be intact", "[-chunk SIZE]"), "%s", what)
	case shortV2:
		s.fault(0, 0, s.salvageAdvice(fmt.Sprintf("%s (%s) is valid", recordName(2, mv.best), mv.recordSummary(mv.best)), ""),
			"%s has %d bytes, want %d: Open refuses it", name, mv.length, manifestV2Len)
	case len(damaged) > 0:
		// A power loss during a Sync tears the record being written; Open
		// uses the other one, and the next Sync overwrites the torn one.
		// (A new manifest holds its record in both places, records 0
		// and 1, so a record of zeros is damage: it may have been the
		// newer. Builds before left record 0 zeros until the first Sync,
		// which such a dataset, never synced, shows as damage too: the
		// note says so, and salvage widens over its chunk files.)
		other := 1 - mv.best
		if p := mv.page; p != nil && p.live && p.fits(mv.recs[mv.best].chunkSize) {
			s.note("%s: %s is damaged (%v); as Open does, the state page a writer of this boot left is followed (start %d, size %d) rather than %s (%s), and the next Sync of a read-write Manager that opens the dataset rewrites the damaged record",
				name, recordName(2, other), mv.recs[other].err, p.start, p.size, recordName(2, mv.best), mv.recordSummary(mv.best))
		} else {
			s.note("%s: %s is damaged (%v); %s (%s) is used, and the next Sync of a read-write Manager that opens the dataset rewrites the damaged one",
				name, recordName(2, other), mv.recs[other].err, recordName(2, mv.best), mv.recordSummary(mv.best))
		}
	}
	if mv.version == 1 {
		s.note("%s has format version 1; the next read-write Open rewrites it as version 2", name)
	}
}

// disown checks the manifest's valid record against the chunk files: where
// none has the record's chunk size and they agree on another (as
// inferChunkSize reads them), the manifest is not the one they were written
// with (another dataset's MANIFEST copied over this one's, say), and its
// record and state page describe another dataset. Taken as they are, they
// had every chunk file reported as cut short or as too long, and salvage
// put each chunk's bytes at the wrong offsets or left all but the first
// chunk behind, reporting nothing lost. The survey then treats the
// manifest as one with no valid record, and reports it as one fault. It
// takes two chunk files that agree: a single one of another size is
// taken for what another program cut short or grew, as it is in a dataset
// of one chunk, whose record is its own.
func (s *survey) disown() {
	mv := &s.mv
	if mv.best < 0 {
		return
	}
	cs := mv.recs[mv.best].chunkSize
	own, _, err := inferChunkSize(s.scan)
	if err != nil || own == cs {
		return
	}
	n, agree := 0, 0
	for _, e := range s.scan.chunks {
		if !e.Mode().IsRegular() {
			continue
		}
		if e.Size() == cs {
			return
		}
		n++
		if e.Size() == own {
			agree++
		}
	}
	if agree < 2 {
		return
	}
	s.disowned = own
	s.keyedFault("manifest of another chunk size", 0, 0, s.salvageAdvice(fmt.Sprintf("the chunk files may be intact, and salvage takes them at their own size, %d", own), ""),
		"%s: its %s (%s) does not fit the chunk files: none has %d bytes, and %d of the %d have %d: the manifest is not the one they were written with (another dataset's, copied over it?), and Open refuses the dataset",
		chunkmap.ManifestName, recordName(mv.version, mv.best), mv.recordSummary(mv.best), cs, agree, n, own)
}

// disownExtent reports whether the extent chooseExtent took from the
// manifest, whose chunk size the chunk files agree with, needs chunks and
// holds no chunk file at all, while chunk files lie below it: chunkmap
// never leaves that (a DropBefore records its Start before it deletes the
// chunk files below, and deletes none above), so the manifest is another
// dataset's here too, one of the same chunk size and a later Start. Taken
// as it is, salvage copied zeros for its extent and left every chunk file
// behind. Chunk files past the extent do not count: a Grow leaves spare
// ones there, and a dataset whose chunk files another program deleted all
// of, but for those, is one with its chunk files missing. Nor do files
// below it that are not a whole chunk: those are junk under a chunk's
// name, not a chunk another dataset wrote.
func (s *survey) disownExtent() bool {
	if s.mv.best < 0 || s.disowned != 0 || s.first >= s.end {
		return false
	}
	below := false
	for i, e := range s.scan.chunks {
		if i >= s.first && i < s.end {
			return false
		}
		below = below || (i < s.first && e.Mode().IsRegular() && e.Size() == s.cs)
	}
	return below
}

// addDisowned records the fault disownExtent found and makes the survey
// treat the manifest as one with no valid record.
func (s *survey) addDisowned() {
	s.disowned = s.cs
	idx := s.scan.indices()
	s.keyedFault("manifest of other chunks", 0, 0, s.salvageAdvice("the chunk files may be intact, and salvage takes Start and Size from them", ""),
		"%s: it gives start %d and size %d (from %s), which need %s, and none of them is present, but %s: the manifest is not the one they were written with (another dataset's, copied over it?), and Open refuses the dataset",
		chunkmap.ManifestName, s.start, s.size, s.extentFrom, chunkRange(s.first, s.end-s.first), fmt.Sprintf("%d chunk files lie below them (%s)", len(idx), chunkRange(idx[0], idx[len(idx)-1]-idx[0]+1)))
}

// pageBehind reports whether the state page, one a writer of this boot
// set up, says less than the newest valid record: a Size that needs fewer
// chunks, or a Start past the record's first chunk. No writer leaves that
// (see chooseExtent): another program wrote over the page. A read-write
// Open follows the record, a read-only one the page. Where the other
// record is damaged, the valid one may be the older, and a page behind it
// follows the damaged one (a DropBefore or Truncate that deleted chunk
// files since): both Opens follow the page, and so does the survey.
func (mv *manifestView) pageBehind() bool {
	if mv.best < 0 || mv.page == nil || !mv.page.live || mv.otherDamaged() {
		return false
	}
	r := mv.recs[mv.best]
	cs, p := r.chunkSize, mv.page
	return p.fits(cs) && (p.start > r.first*cs || chunksFor(p.size, cs) < chunksFor(r.size, cs))
}

// otherDamaged reports whether the manifest has a valid record and its
// other record is damaged, so that the valid one may not be the newest.
func (mv *manifestView) otherDamaged() bool {
	return mv.version == 2 && mv.best >= 0 && !mv.recs[1-mv.best].ok
}

// pageDamaged reports whether the manifest has a valid record and its
// state page holds something but not the magic, as chunkmap's Open judges
// it: every writer stores the magic with the page's other fields, so
// another program (or the device) wrote over the page, which may have
// held a Size past the record's, of writes a crash of the process keeps.
// A read-write Open refuses such a dataset while chunk files lie past the
// record's Size.
func (mv *manifestView) pageDamaged() bool {
	return mv.version == 2 && mv.best >= 0 && mv.page != nil && !mv.page.magic && !mv.page.blank
}

// sizeInDoubt reports whether Size may lie past the valid record's, which
// Start and Size come from: its other record is damaged, or its state page.
func (mv *manifestView) sizeInDoubt() bool { return mv.otherDamaged() || mv.pageDamaged() }

// doubtCause says why Size may lie past the record's (sizeInDoubt), and
// so what the chunk files past it may hold (them is "it" or "them"), for
// the messages about those files.
func (mv *manifestView) doubtCause(them string) string {
	if mv.otherDamaged() {
		return recordName(mv.version, 1-mv.best) + " of the manifest is damaged: it may have been the newer record, and recorded data in " + them
	}
	return "the manifest's state page is damaged (not blank, without the mark a writer sets up: another program wrote over it): it may have held the Size of a writer that died after its last Sync, whose writes " + map[string]string{"it": "it", "them": "they"}[them] + " may hold"
}

// pageBehindWhat says what pageBehind found, for info and cat: the
// page's extent, the record's, and what to run.
func (mv *manifestView) pageBehindWhat(dir string) string {
	r := mv.recs[mv.best]
	return fmt.Sprintf("%s: its state page holds start %d and size %d, less than its %s (start %d, size %d), which no writer leaves: another program wrote over it, and a read-only Open (info, cat, a reader) follows the page and does not see the rest; run 'chunkmap verify %s' for advice",
		chunkmap.ManifestName, mv.page.start, mv.page.size, recordName(mv.version, mv.best), r.first*r.chunkSize, r.size, cmdArg(dir))
}

// behindPage returns what pageBehindWhat says of the manifest of dir, or ""
// where its state page is not behind its record. One read of the manifest
// beside a writer that changes it may find its new page beside its old
// record (a Truncate lowers the record, then the page), so a page behind
// counts only where a second read finds the manifest unchanged.
// The record's Start and Size come with it.
func behindPage(dir string) (what string, start, size int64, err error) {
	boot, err := vfs.OS.BootID()
	if err != nil {
		return "", 0, 0, fmt.Errorf("read the boot ID: %w", err)
	}
	mv := readManifestView(dir, boot)
	if !mv.pageBehind() || mv.changedIn(readManifestView(dir, boot)) {
		return "", 0, 0, nil
	}
	r := mv.recs[mv.best]
	return mv.pageBehindWhat(dir), r.first * r.chunkSize, r.size, nil
}

// pastDamagedRecord says, for info and cat, what the survey reports as a
// problem where the manifest's other record (or its state page) is
// damaged and no state page of this boot gives Start and Size: chunk files
// of dir past size (the Size of the valid record, in chunks of cs bytes),
// which the damaged record (or page) may have covered, and which the next
// read-write Open deletes (or refuses to). It returns "" where
// there are none. It lists dir (scan) only where a record is damaged: cat,
// which calls it for a range that reaches Size, would otherwise list a
// directory of 300,000 chunk files, and lstat each, to print 16 bytes.
func pastDamagedRecord(dir string, scan func() (*dirScan, error), cs, size int64) (string, error) {
	boot, err := vfs.OS.BootID()
	if err != nil {
		return "", fmt.Errorf("read the boot ID: %w", err)
	}
	mv := readManifestView(dir, boot)
	if !mv.sizeInDoubt() || mv.page != nil && mv.page.live && mv.page.fits(cs) {
		return "", nil
	}
	sc, err := scan()
	if err != nil {
		return "", err
	}
	var past []int64
	for _, i := range sc.indices() {
		if i >= chunksFor(size, cs) {
			past = append(past, i)
		}
	}
	if len(past) == 0 {
		return "", nil
	}
	what, them := pastDamagedWhat(past, mv.doubtCause)
	return fmt.Sprintf("%s; %s; run 'chunkmap verify %s' for advice", what, pastFate(&mv, them), cmdArg(dir)), nil
}

// pastDamagedWhat says that the chunk files past lie past Size while
// cause (doubtCause) puts Size in doubt, and returns the pronoun for the
// files ("it" or "them").
func pastDamagedWhat(past []int64, cause func(them string) string) (what, them string) {
	files, them := chunk.Name(past[0])+" lies", "it"
	if len(past) > 1 {
		files, them = fmt.Sprintf("%d chunk files lie (%s … %s)", len(past), chunk.Name(past[0]), chunk.Name(past[len(past)-1])), "them"
	}
	return fmt.Sprintf("%s past Size, and %s", files, cause(them)), them
}

// pastFate says what a read-write Open does with the chunk files past
// Size where Size is in doubt (them is "it" or "them"): it deletes them
// where a record is damaged, which a power loss may have torn, and
// refuses the dataset where only the state page is, which none tears.
func pastFate(mv *manifestView, them string) string {
	if mv.otherDamaged() {
		return "the next read-write Open deletes " + them
	}
	return "a read-write Open refuses the dataset while " + map[string]string{"it": "it lies", "them": "they lie"}[them] + " there"
}

// recordSummary describes record i, e.g. "seq 3: chunk size 65536, first
// chunk 0, size 1000".
func (mv *manifestView) recordSummary(i int) string {
	r := mv.recs[i]
	if mv.version == 1 {
		return fmt.Sprintf("chunk size %d, first chunk %d, size %d", r.chunkSize, r.first, r.size)
	}
	return fmt.Sprintf("seq %d: chunk size %d, first chunk %d, size %d", r.seq, r.chunkSize, r.first, r.size)
}

// chooseChunkSize sets cs from the manifest, flag or the chunk files, and
// reports whether it is known.
func (s *survey) chooseChunkSize(flag int64) bool {
	if s.mv.best >= 0 && s.disowned == 0 {
		s.cs = s.mv.recs[s.mv.best].chunkSize
		s.csFrom = "the manifest, " + recordName(s.mv.version, s.mv.best)
		if flag != 0 && flag != s.cs {
			s.cs, s.csErr = 0, fmt.Errorf("-chunk %d disagrees with the chunk size %d of the manifest's valid %s; leave -chunk out",
				flag, s.mv.recs[s.mv.best].chunkSize, recordName(s.mv.version, s.mv.best))
			return false
		}
		return true
	}
	if flag != 0 {
		s.cs, s.csFrom = flag, "-chunk"
		// -chunk is for chunk files that do not tell their size; where
		// they agree on another one, it is likely a slip, which puts
		// every chunk at the wrong offset: say so, and go on as told.
		if cs, _, err := inferChunkSize(s.scan); err == nil && cs != flag {
			s.note("-chunk %d disagrees with the chunk files, which say %d (a chunk file is as long as a chunk): with -chunk %d the files are read as chunks of the wrong size at the wrong offsets, and bytes are reported as lost; check -chunk, or leave it out",
				flag, cs, flag)
		}
		return true
	}
	s.cs, s.csFrom, s.csErr = inferChunkSize(s.scan)
	return s.cs != 0
}

// inferChunkSize infers the chunk size from the chunk files' sizes: the size
// most of them have, if it is a valid chunk size and no chunk file is
// larger (a damaged chunk is shorter, never longer).
func inferChunkSize(scan *dirScan) (int64, string, error) {
	count := make(map[int64]int)
	var largest int64
	n := 0
	for _, fi := range scan.chunks {
		if fi.Mode().IsRegular() {
			count[fi.Size()]++
			largest = max(largest, fi.Size())
			n++
		}
	}
	if n == 0 {
		return 0, "", errors.New("the chunk size is unknown: the manifest has no valid record and there are no chunk files to infer it from; pass -chunk SIZE")
	}
	sizes := make([]int64, 0, len(count))
	for sz := range count {
		sizes = append(sizes, sz)
	}
	// Most common first; a tie goes to the larger size.
	slices.SortFunc(sizes, func(a, b int64) int {
		if count[a] != count[b] {
			return count[b] - count[a]
		}
		return int(min(max(b-a, -1), 1))
	})
	if best := sizes[0]; validChunkSize(best) && best == largest {
		return best, fmt.Sprintf("the sizes of the chunk files (%d of %d have this size)", count[best], n), nil
	}
	var desc []string
	for i, sz := range sizes {
		if i == 4 {
			desc = append(desc, fmt.Sprintf("%d other sizes", len(sizes)-i))
			break
		}
		desc = append(desc, fmt.Sprintf("%d with %d bytes", count[sz], sz))
	}
	return 0, "", fmt.Errorf("the chunk size is unknown: the manifest has no valid record, and the chunk files do not tell it (%s; a chunk size is a power of two from %d to %d, and no chunk is larger); pass -chunk SIZE",
		strings.Join(desc, ", "), int64(chunkmap.MinChunkSize), int64(chunkmap.MaxChunkSize))
}

// chooseExtent sets Start and Size: what Open would take when the manifest
// has a valid record (the state page if a writer of this boot left it, the
// record otherwise), the state page if only it is left, and otherwise the
// chunk files present.
func (s *survey) chooseExtent() error {
	mv, cs := &s.mv, s.cs
	// A disowned manifest's record and state page are another dataset's.
	rec := mv.best >= 0 && s.disowned == 0
	page := mv.page
	pageFits := s.disowned == 0 && page != nil && page.fits(cs)
	pageDesc := func() string {
		var how []string
		if page.live {
			how = append(how, "written during this boot")
		} else {
			how = append(how, "written before the machine last restarted")
		}
		if page.clean {
			how = append(how, "closed cleanly")
		} else {
			how = append(how, "not closed cleanly")
		}
		return strings.Join(how, ", ")
	}
	// A live page behind the newest record, one that needs fewer chunks or
	// starts at a later one, is what no writer leaves: a Truncate lowers
	// the record before the page, a DropBefore raises it first. A
	// read-write Open takes it for a page another program wrote over and
	// follows the record, keeping the chunk files the record needs;
	// followed here, salvage left them behind and verify called them
	// spare.
	behind := rec && pageFits && mv.pageBehind()
	switch {
	case rec && page != nil && page.live && pageFits && !behind:
		s.start, s.size, s.fromPage = page.start, page.size, true
		s.extentFrom = "the manifest's state page (" + pageDesc() + ")"
	case rec:
		r := mv.recs[mv.best]
		s.start, s.size = r.first*cs, r.size
		s.extentFrom = "the manifest, " + recordName(mv.version, mv.best)
		if behind {
			s.keyedFault("state page behind the record", 0, 0, "nothing is lost: a read-write Open follows the record and writes the state page anew; until one does, readers follow the page and do not see the rest",
				"%s: its state page (%s) holds start %d and size %d, less than its %s (%s), which no writer leaves: another program wrote over it",
				chunkmap.ManifestName, pageDesc(), page.start, page.size, recordName(mv.version, mv.best), mv.recordSummary(mv.best))
		} else if page != nil && page.live {
			s.keyedFault("state page of another chunk size", 0, 0, s.salvageAdvice(fmt.Sprintf("the manifest's %s (%s) is intact", recordName(mv.version, mv.best), mv.recordSummary(mv.best)), ""),
				"%s: its state page holds start %d and size %d, which cannot belong to a dataset of chunk size %d: Open refuses it",
				chunkmap.ManifestName, page.start, page.size, cs)
		} else if pageFits && (page.start != s.start || page.size != s.size) {
			s.note("the manifest's state page says start %d, size %d (%s); as Open does, the last record is used, start %d, size %d",
				page.start, page.size, pageDesc(), s.start, s.size)
		} else if mv.pageDamaged() {
			s.note("the manifest's state page is damaged (not blank, without the mark a writer sets up: another program wrote over it); as Open does, the last record is used, and a read-write Open writes the page anew")
		}
		if s.wide {
			s.widen()
			if g := s.droppedBelow(); g >= 0 {
				was := s.start
				s.start, s.narrowed, s.narrowedFrom = g*s.cs, true, was
				s.extentFrom += fmt.Sprintf(", and its start moved from %d to the first chunk file present, %s: %s is damaged, and a DropBefore it recorded would have deleted the chunks before it",
					was, chunk.Name(g), recordName(mv.version, 1-mv.best))
			}
			if h := s.truncatedPast(); h >= 0 {
				was := s.size
				s.size, s.shortened, s.shortenedFrom = h*s.cs, true, was
				s.extentFrom += fmt.Sprintf(", and its size cut from %d to the end of the last chunk file present, %s: %s is damaged, and a Truncate it recorded would have deleted the chunks after it",
					was, chunk.Name(h-1), recordName(mv.version, 1-mv.best))
			}
		}
	case pageFits:
		s.start, s.size = page.start, page.size
		s.extentFrom = "the manifest's state page (" + pageDesc() + "; both records are damaged)"
		if !page.live && !page.clean {
			s.note("the state page was written before the machine last restarted and not closed cleanly: writes after the last Sync may be missing or partial")
		}
	default:
		idx := s.scan.indices()
		if len(idx) == 0 {
			return errors.New("the extent is unknown (Start and Size): the manifest has no valid record or state page, and there are no chunk files")
		}
		last := idx[len(idx)-1]
		if last > math.MaxInt64/cs {
			return fmt.Errorf("the extent is unknown (Start and Size): the manifest is damaged, and chunk file %s is too far out for chunk size %d (move it out of a copy of %s, or restore the manifest, and salvage the copy)", chunk.Name(last), cs, cmdArg(s.dir))
		}
		// The last chunk a dataset can have ends at 2^63, one past the
		// largest Size: its last byte cannot be written, so the end of
		// the files is Size less that byte.
		end := int64(math.MaxInt64)
		if last < math.MaxInt64/cs {
			end = (last + 1) * cs
		}
		s.start, s.size, s.fromFiles = idx[0]*cs, end, true
		s.extentFrom = fmt.Sprintf("the chunk files present (%s; Size is the end of the last one: the true Size may be smaller, and bytes past it may be zeros or what a Truncate cut off)",
			chunkRange(idx[0], last-idx[0]+1))
	}
	s.first = s.start / cs
	s.end = chunksFor(s.size, cs)
	return nil
}

// widen takes Size, chosen from the manifest's valid record, to the end of
// the last chunk file present when the other record is damaged: that one
// may have been the newer (a Sync cut short by a power loss, or a file cut
// or garbled since), and the chunk files past the valid record's Size may
// hold what it recorded. So it does when the state page is damaged, which
// may have held the Size of a writer that died after its last Sync. In a
// salvage, copying bytes past the true Size (zeros, or writes no Sync
// acknowledged) is the lesser harm than leaving data behind.
func (s *survey) widen() {
	mv := &s.mv
	if !mv.sizeInDoubt() {
		return
	}
	idx := s.scan.indices()
	if len(idx) == 0 {
		return
	}
	last := idx[len(idx)-1]
	if last >= math.MaxInt64/s.cs || (last+1)*s.cs <= s.size {
		return
	}
	was := s.size
	s.size, s.widened, s.fromFiles = (last+1)*s.cs, was, true
	why := recordName(mv.version, 1-mv.best) + " is damaged, and may have recorded more"
	if !mv.otherDamaged() {
		why = "the state page is damaged, and may have held a larger Size"
	}
	s.extentFrom += fmt.Sprintf(", widened from size %d to the end of the last chunk file, %s: %s (bytes past %d may be zeros, or writes no Sync acknowledged)",
		was, chunk.Name(last), why, was)
}

// droppedBelow returns the first chunk file present in the extent of the
// manifest's valid record where its other record is damaged and every chunk
// from the record's Start up to that file is missing; -1 otherwise. A
// DropBefore that the damaged record recorded deletes those chunks after
// its record is fsync'd, so a power loss during it leaves them all: the
// damaged record is then no torn one, and the missing chunks were most
// likely dropped, not lost.
func (s *survey) droppedBelow() int64 {
	first, end, ok := s.damagedRecordExtent()
	if !ok {
		return -1
	}
	for _, i := range s.scan.indices() {
		switch {
		case i < first:
			continue
		case i == first || i >= end:
			return -1
		}
		return i
	}
	return -1
}

// truncatedPast is droppedBelow for a Truncate: where the other record is
// damaged and every chunk of the valid record's extent from one past the
// last chunk file present on is missing (no chunk file lies past them), it
// returns the first of them; -1 otherwise.
func (s *survey) truncatedPast() int64 {
	first, end, ok := s.damagedRecordExtent()
	idx := s.scan.indices()
	if !ok || len(idx) == 0 {
		return -1
	}
	if last := idx[len(idx)-1]; last >= first && last+1 < end {
		return last + 1
	}
	return -1
}

// damagedRecordExtent returns the chunks [first, end) that the manifest's
// valid record needs, and whether its other record is damaged with Start
// and Size taken from the valid one (not from a state page of this boot).
func (s *survey) damagedRecordExtent() (first, end int64, ok bool) {
	if !s.mv.otherDamaged() || s.fromPage || s.disowned != 0 {
		return 0, 0, false
	}
	r := s.mv.recs[s.mv.best]
	return r.first, chunksFor(r.size, s.cs), true
}

// chunksFor returns how many chunks of cs bytes cover [0, size), without
// overflowing for a size near math.MaxInt64.
func chunksFor(size, cs int64) int64 {
	n := size / cs
	if size%cs != 0 {
		n++
	}
	return n
}

// lostIn returns the bytes of chunks [a, b) that lie in [start, size).
func (s *survey) lostIn(a, b int64) (from, to int64) {
	from, to = max(s.start, a*s.cs), s.size
	if b < s.end {
		to = b * s.cs
	}
	return from, max(from, to)
}

// chunkFaults adds a fault for each run of missing chunks and each chunk
// file of the wrong size or type in [first, end), and notes for chunk files
// outside it. Runs are found between the chunks present, so a Size that
// needs an absurd number of chunks costs nothing.
func (s *survey) chunkFaults() {
	var below, past []int64
	var links map[vfs.FileID]int64 // chunks in range with other names
	next := s.first
	dropped, truncated := s.droppedBelow(), s.truncatedPast()
	// shrunk reports chunks [a, b) that a DropBefore (first) or a
	// Truncate (last) that the damaged record recorded most likely
	// deleted: a problem, as a read-write Open refuses the dataset, but
	// no loss.
	shrunk := func(a, b int64, which, call, salvage string) {
		n, chunks, them := fmt.Sprintf("%d chunks are missing", b-a), "chunks", "them"
		if b == a+1 {
			n, chunks, them = "a chunk is missing", "chunk", "it"
		}
		what := fmt.Sprintf("%s (%s), the %s %s %s needs, and %s is damaged: a %s it recorded most likely deleted %s",
			n, chunkRange(a, b-a), which, chunks, recordName(s.mv.version, s.mv.best), recordName(s.mv.version, 1-s.mv.best), call, them)
		if s.mv.length != manifestV2Len {
			// Open refuses the manifest itself, a fault of its own.
			s.note("%s; %s", what, salvage)
			return
		}
		s.fault(0, 0, "nothing is lost if so: "+salvage,
			"%s, but a read-write Open, which follows the valid record, refuses the dataset", what)
	}
	missing := func(a, b int64) {
		switch {
		case a == s.first && b == dropped:
			shrunk(a, b, "first", "DropBefore", fmt.Sprintf("'chunkmap salvage %s OUT' starts the new dataset at %s, Start %d", cmdArg(s.dir), chunk.Name(b), b*s.cs))
			return
		case a == truncated && b == s.end:
			shrunk(a, b, "last", "Truncate", fmt.Sprintf("'chunkmap salvage %s OUT' ends the new dataset with %s, Size %d", cmdArg(s.dir), chunk.Name(a-1), a*s.cs))
			return
		}
		from, to := s.lostIn(a, b)
		advice := s.salvageAdvice("restore it from a backup if there is one", "")
		if s.fromFiles && b-a > 1 {
			// Size is the end of the last chunk file, the manifest
			// being damaged: a stray chunk file far from the rest makes
			// the run, and a salvage of that extent may not fit (it
			// says so, copying nothing).
			advice = fmt.Sprintf("if a chunk file far from the rest made this run (Size is the end of the last chunk file, the manifest being damaged), move it out of a copy of %s and salvage the copy; otherwise %s", cmdArg(s.dir), advice)
		}
		// A run's first chunk keys it: its end moves only where chunk
		// files come or go, which is no lasting fault.
		key := "missing from " + chunk.Name(a)
		if b == a+1 {
			s.keyedFault(key, from, to, advice, "%s is missing: bytes [%d, %d) are lost", chunk.Name(a), from, to)
		} else {
			s.keyedFault(key, from, to, advice, "%d chunks are missing, %s: bytes [%d, %d) are lost", b-a, chunkRange(a, b-a), from, to)
		}
	}
	for _, i := range s.scan.indices() {
		switch {
		case i < s.first:
			below = append(below, i)
			continue
		case i >= s.end:
			past = append(past, i)
			continue
		case i > next:
			missing(next, i)
		}
		next = i + 1
		if from, to, what, ok := s.chunkFault(i, s.scan.chunks[i]); !ok {
			advice := s.salvageAdvice("restore it from a backup if there is one", "")
			if from == to {
				advice = s.salvageAdvice("no data is lost, but Open refuses the dataset", "")
			}
			fi := s.scan.chunks[i]
			s.keyedFault(fmt.Sprintf("%s of %d bytes, mode %v", chunk.Name(i), fi.size, fi.Mode()), from, to, advice, "%s", what)
		} else if fi := s.scan.chunks[i]; fi.linked {
			// Two chunk names of one file (hard links): Open refuses
			// it, and one of the two chunks' bytes is gone, overwritten
			// by the other's, which nothing here can tell apart.
			if other, dup := links[fi.key]; dup {
				s.linked++
				s.pairs = append(s.pairs, [2]int64{other, i})
				s.fault(0, 0, s.salvageAdvice("one of the two chunks' own bytes are gone (restore them from a backup if there is one), and salvage copies the file into both", ""),
					"%s and %s are one file (hard links to it): both chunks read the same bytes, so one of them holds the other's, and Open refuses the dataset", chunk.Name(other), chunk.Name(i))
			} else {
				if links == nil {
					links = make(map[vfs.FileID]int64)
				}
				links[fi.key] = i
			}
		}
	}
	if next < s.end {
		missing(next, s.end)
	}
	// Outside [first, end) a chunk name holds no data. Open deletes
	// regular files there; anything else it leaves alone, and growing or
	// dropping over it fails: that is a fault, though nothing is lost.
	regular := func(idx []int64, where string) []int64 {
		var keep []int64
		for _, i := range idx {
			if fi := s.scan.chunks[i]; !fi.Mode().IsRegular() {
				s.fault(0, 0, "remove it: nothing of the dataset is lost, and chunkmap never deletes what it did not write",
					"%s lies %s but is not a regular file (mode %v): a read-write Open leaves it, and a Truncate or Append that needs the name fails", chunk.Name(i), where, fi.Mode())
				continue
			}
			keep = append(keep, i)
		}
		return keep
	}
	below, past = regular(below, "below Start"), regular(past, "past Size")
	for _, i := range below {
		s.note("%s lies below Start (left by an interrupted DropBefore); the next read-write Open deletes it", chunk.Name(i))
	}
	switch {
	case len(past) == 0:
	case s.mv.sizeInDoubt() && !s.fromPage && !s.fromFiles:
		// Size came from the one valid record, and the damaged one may
		// have been newer: torn by a power loss during a Sync (then these
		// files hold writes no Sync acknowledged), or damaged since by
		// another program or the device (then they hold data it
		// recorded). Nothing tells which, and the next read-write Open
		// deletes them.
		what, them := pastDamagedWhat(past, s.mv.doubtCause)
		if !s.mv.otherDamaged() {
			// No power loss leaves a damaged page: the files hold
			// writes that returned, unless a writer died within the
			// instant it set the page up (see pageDamaged).
			s.fault(0, 0, fmt.Sprintf("run 'chunkmap salvage %s OUT', which copies %s too; to open the dataset as of its last Sync instead, remove %s", cmdArg(s.dir), them, them), "%s; %s", what, pastFate(&s.mv, them))
			break
		}
		if s.mv.length != manifestV2Len {
			// Open refuses the manifest itself, a fault of its own,
			// whose advice is salvage.
			s.note("%s, which 'chunkmap salvage %s OUT' copies too", what, cmdArg(s.dir))
			break
		}
		s.fault(0, 0, fmt.Sprintf("before any read-write Open, which deletes %s, run 'chunkmap salvage %s OUT', which copies %s too; if a power loss or crash cut the last Sync short, %s only writes no Sync acknowledged, and a read-write Open may go ahead",
			them, cmdArg(s.dir), them, map[string]string{"it": "the file holds", "them": "the files hold"}[them]), "%s", what)
	case len(past) == 1:
		s.note("%s lies past Size: it holds no data of the dataset, and the next read-write Open deletes it", chunk.Name(past[0]))
	default:
		s.note("%d chunk files lie past Size (%s … %s): they hold no data of the dataset, and the next read-write Open deletes them",
			len(past), chunk.Name(past[0]), chunk.Name(past[len(past)-1]))
	}
}

// tempFaults adds a fault for each entry under a temporary name that is
// not a regular file: a read-write Open refuses the dataset while it is
// there.
func (s *survey) tempFaults() {
	for _, name := range s.scan.badTempNames() {
		s.fault(0, 0, "remove it: nothing of the dataset is lost, and chunkmap never deletes what it did not write",
			"%s", s.scan.badTempProblem(name))
	}
}

// chunkFault checks the file of chunk i, described by fi (from lstat), and
// returns what is wrong and the bytes of [Start, Size) it loses.
func (s *survey) chunkFault(i int64, fi chunkEntry) (from, to int64, what string, ok bool) {
	name := chunk.Name(i)
	switch {
	case !fi.Mode().IsRegular():
		from, to = s.lostIn(i, i+1)
		return from, to, fmt.Sprintf("%s is not a regular file (mode %v): bytes [%d, %d) are lost", name, fi.Mode(), from, to), false
	case fi.Size() < s.cs:
		from, to = s.lostIn(i, i+1)
		from = min(max(from, i*s.cs+fi.Size()), to)
		what = fmt.Sprintf("%s has %d bytes, want %d (the chunk size), mode %v", name, fi.Size(), s.cs, fi.Mode())
		if from < to {
			return from, to, fmt.Sprintf("%s: bytes [%d, %d) are lost", what, from, to), false
		}
		return from, from, what + ": no byte of [Start, Size) is lost", false
	case fi.Size() > s.cs:
		return 0, 0, fmt.Sprintf("%s has %d bytes, want %d (the chunk size), mode %v: the bytes past %d are not part of the dataset",
			name, fi.Size(), s.cs, fi.Mode(), s.cs), false
	}
	return 0, 0, "", true
}

// lostBytes returns how many bytes the faults make unreadable.
func (s *survey) lostBytes() int64 {
	var n int64
	for _, f := range s.faults {
		n += f.to - f.from
	}
	return n
}

// present describes the chunk files present as runs of indices, at most
// limit runs.
func (s *survey) present(limit int) string {
	idx := s.scan.indices()
	if len(idx) == 0 {
		return "none"
	}
	var runs []string
	for k := 0; k < len(idx); {
		j := k
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if len(runs) == limit {
			runs = append(runs, "…")
			break
		}
		runs = append(runs, chunkRange(idx[k], idx[j]-idx[k]+1))
		k = j + 1
	}
	return strings.Join(runs, ", ")
}

// damage says in a few words why the dataset is damaged, for a warning: the
// first fault and how many others, or openErr (the library's verdict) when
// the survey found none.
func (s *survey) damage(openErr error) string {
	switch len(s.faults) {
	case 0:
		return openErr.Error()
	case 1:
		return s.faults[0].what
	}
	return fmt.Sprintf("%s, and %d more problem(s)", s.faults[0].what, len(s.faults)-1)
}
