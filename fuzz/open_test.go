package fuzz

// This file holds FuzzOpen: a small valid dataset, corrupted as the fuzzer's
// bytes say, opened, and held to either a clean error and an untouched
// directory or a consistent dataset.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// Corruptions; each is its code (the byte modulo numCorruptions) followed
// by its arguments.
const (
	cTruncateManifest = iota
	cExtendManifest
	cGarbleManifest // xor a byte of a record, the state page or anywhere
	cSetField       // change a record's field and fix its checksum
	cResizeChunk
	cDeleteChunk
	cAddFile
	cDeleteManifest
	cManifestDir
	cGarbleChunk // change a byte of a chunk, which is data, not structure
	cSetPage     // change a field of the state page
	cManifestV1  // rewrite the manifest as a version 1 file of its record
	numCorruptions
)

// Extra files for cAddFile.
const (
	fUnknown       = iota // a name Open does not know
	fUpperHex             // a chunk name in upper case: not a chunk name
	fNegativeIndex        // a chunk name whose index does not fit int64
	fChunkTemp            // <16hex>.chunk.tmp
	fManifestTemp         // MANIFEST.tmp, left by a crash creating or upgrading the manifest
	fBelowFirst           // a chunk below the first, left by DropBefore
	fAfterLast            // one more chunk past the last, whole, empty or short
	fAfterGap             // a chunk past the last with a gap before it
	fChunkDir             // a directory named like a chunk
	fTempDir              // a non-empty directory named like a temporary file
	fChunkSymlink         // a symbolic link named like a chunk
	numFiles
)

// template is a dataset built with the library, held in memory so that each
// run can copy it.
type template struct {
	name  string
	files map[string][]byte
}

// buildTemplates makes the datasets FuzzOpen starts from, and returns them
// with the boot ID their writer recorded in the state page (the current
// boot's). Bytes past Size in the last chunk may be left non-zero: they
// must never be read as data. The crashed templates are copies of the
// directory taken while the writer had it open, after writes it did not
// sync: what a crash of its process leaves, with a state page newer than
// the record.
func buildTemplates(tb testing.TB) ([]template, [bootLen]byte) {
	tb.Helper()
	pattern := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*13 + i>>16 + 1)
		}
		return p
	}
	builds := []struct {
		name    string
		crashed bool // copied while open, not closed
		build   func(m *chunkmap.Manager) error
	}{
		{"truncated", false, func(m *chunkmap.Manager) error {
			if _, err := m.WriteAt(pattern(4*chunkSize), 0); err != nil {
				return err
			}
			return m.Truncate(3*chunkSize + chunkSize/2)
		}},
		{"dropped", false, func(m *chunkmap.Manager) error {
			if _, err := m.WriteAt(pattern(6*chunkSize), 0); err != nil {
				return err
			}
			if err := m.DropBefore(2*chunkSize + 100); err != nil {
				return err
			}
			if err := m.Truncate(5*chunkSize + chunkSize/4); err != nil {
				return err
			}
			return m.Grow(chunkSize) // a spare chunk, which Open removes
		}},
		{"empty", false, func(m *chunkmap.Manager) error { return nil }},
		{"boundary", false, func(m *chunkmap.Manager) error {
			_, err := m.WriteAt(pattern(2*chunkSize), 0)
			return err
		}},
		// Record: [0, 3 chunks); state page: [0, 4.5 chunks).
		{"crashed", true, func(m *chunkmap.Manager) error {
			if _, err := m.WriteAt(pattern(3*chunkSize), 0); err != nil {
				return err
			}
			if err := m.Sync(); err != nil {
				return err
			}
			_, err := m.WriteAt(pattern(chunkSize), 3*chunkSize+chunkSize/2)
			return err
		}},
		// Record: [2 chunks, 4 chunks - 3); state page: [2 chunks, 6
		// chunks - 3), and a spare chunk 6.
		{"crashed-dropped", true, func(m *chunkmap.Manager) error {
			if _, err := m.WriteAt(pattern(5*chunkSize), 0); err != nil {
				return err
			}
			if err := m.Sync(); err != nil {
				return err
			}
			if err := m.DropBefore(2*chunkSize + 5); err != nil {
				return err
			}
			if err := m.Truncate(4*chunkSize - 3); err != nil {
				return err
			}
			if _, err := m.Append(pattern(2 * chunkSize)); err != nil {
				return err
			}
			return m.Grow(chunkSize)
		}},
	}
	read := func(dir string) map[string][]byte {
		entries, err := os.ReadDir(dir)
		if err != nil {
			tb.Fatal(err)
		}
		files := map[string][]byte{}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				tb.Fatal(err)
			}
			files[e.Name()] = data
		}
		return files
	}
	var ts []template
	for _, b := range builds {
		dir := filepath.Join(tb.TempDir(), b.name)
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkSize})
		if err != nil {
			tb.Fatal(err)
		}
		if err := b.build(m); err != nil {
			tb.Fatalf("template %s: %v", b.name, err)
		}
		var files map[string][]byte
		if b.crashed {
			files = read(dir)
		}
		if err := m.Close(); err != nil {
			tb.Fatal(err)
		}
		if !b.crashed {
			files = read(dir)
		}
		ts = append(ts, template{name: b.name, files: files})
	}

	// Every template's state page names the boot its writer ran in: this
	// one, as the system tells it where the test knows how to ask.
	var boot [bootLen]byte
	for i, t := range ts {
		mf, ok := decodeManifest(t.files[chunkmap.ManifestName])
		if !ok || mf.version != 2 || !mf.page.magic {
			tb.Fatalf("template %s: the library wrote a manifest that is not a version 2 file with a state page", t.name)
		}
		if i > 0 && mf.page.boot != boot {
			tb.Fatalf("template %s: state page boot ID %q, template %s's %q", t.name, mf.page.boot, ts[0].name, boot)
		}
		boot = mf.page.boot
	}
	if sys, known := systemBootID(); known && sys != boot {
		tb.Fatalf("the state page records boot ID %q, the system's is %q", boot, sys)
	}
	return ts, boot
}

// FuzzOpen corrupts a copy of a small dataset as its input says and opens
// it. Open must not panic; it must fail with the error the documented rules
// predict and leave the directory exactly as it was, or succeed exactly when
// they say the dataset is consistent, with a Manager that reads back the
// chunk files and changes nothing but what a read-write Open cleans up:
// leftovers of a crash, chunk files past Size, the state page, and a
// version 1 manifest. The input is a template byte, an options byte (see
// openSeeds) and corruptions: a code (see cTruncateManifest...) and its
// argument bytes.
func FuzzOpen(f *testing.F) {
	templates, boot := buildTemplates(f)
	for _, s := range openSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		runOpen(t, templates, boot, in)
	})
}

// openRun is one execution of FuzzOpen.
type openRun struct {
	t     *testing.T
	dir   string
	boot  [bootLen]byte
	trace []string
}

func (r *openRun) logf(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf(format, args...))
}

func (r *openRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s\ncorruptions:\n\t%s", fmt.Sprintf(format, args...), strings.Join(r.trace, "\n\t"))
}

func (r *openRun) must(err error) {
	r.t.Helper()
	if err != nil {
		r.fatalf("setting up: %v", err)
	}
}

// try applies a corruption step; one that cannot be applied (a name taken
// by an earlier step) is simply skipped.
func (r *openRun) try(err error) {
	if err != nil {
		r.logf("  skipped: %v", err)
	}
}

func runOpen(t *testing.T, templates []template, boot [bootLen]byte, in []byte) {
	d := &decoder{b: in}
	tpl := templates[int(d.byte())%len(templates)]
	r := &openRun{t: t, dir: filepath.Join(t.TempDir(), "ds"), boot: boot}
	r.logf("template %s", tpl.name)
	r.must(os.Mkdir(r.dir, 0o755))
	for name, data := range tpl.files {
		r.must(os.WriteFile(filepath.Join(r.dir, name), data, 0o644))
	}
	ob := d.byte()
	opts := &chunkmap.Options{
		ReadOnly:  ob&1 != 0,
		ChunkSize: [4]int64{0, chunkSize, 2 * chunkSize, chunkSize}[ob>>1&3],
		MaxMapped: 1 + int(ob>>3)%3,
	}
	gap := int64(ob>>5) * 4099 // for the write past Size after a successful Open
	for i := 0; d.more() && i < 8; i++ {
		r.corrupt(d)
	}

	before := snapshot(r.t, r.dir)
	want := predictOpen(r.dir, opts, boot)
	r.logf("Open(%+v): predicted %s", *opts, want)
	m, err := chunkmap.Open(r.dir, opts)
	if err != nil {
		if diff := before.diff(snapshot(r.t, r.dir)); diff != "" {
			r.fatalf("failed Open (%v) changed the directory: %s", err, diff)
		}
		if got := errClass(err); got != want.class {
			r.fatalf("Open: %v (%s), want %s", err, got, want.class)
		}
		return
	}
	defer m.Close()
	if want.class != "nil" {
		r.fatalf("Open succeeded, want %s", want.class)
	}
	r.checkOpened(m, opts, want, before, gap)
}

// manifestBytes returns the manifest file's bytes, or nil if it cannot be
// read (missing, a directory).
func (r *openRun) manifestBytes() []byte {
	b, err := os.ReadFile(filepath.Join(r.dir, chunkmap.ManifestName))
	if err != nil {
		return nil
	}
	return b
}

// writeManifest replaces the manifest file's bytes.
func (r *openRun) writeManifest(b []byte) {
	r.try(os.WriteFile(filepath.Join(r.dir, chunkmap.ManifestName), b, 0o644))
}

// corrupt decodes and applies one corruption.
func (r *openRun) corrupt(d *decoder) {
	r.t.Helper()
	mfPath := filepath.Join(r.dir, chunkmap.ManifestName)
	chunks := r.chunkIndices()
	pick := func() (int64, bool) {
		b := d.byte()
		if len(chunks) == 0 {
			return 0, false
		}
		return chunks[int(b)%len(chunks)], true
	}
	first, last := int64(0), int64(-1)
	if len(chunks) > 0 {
		first, last = chunks[0], chunks[len(chunks)-1]
	}
	switch c := d.byte() % numCorruptions; c {
	case cTruncateManifest:
		// Lengths around the fields and formats: short of the version,
		// version 1's, a record, the state page, one byte short of
		// version 2's.
		n := [16]int64{0, 4, 11, 12, 40, 43, v1Len, v1Len + 1, recLen, recStride + recLen - 1,
			pageOff, pageOff + pStart, pageOff + pageLen - 1, mfLen - 1, mfLen, mfLen + 1}[d.byte()%16]
		r.logf("truncate MANIFEST to %d bytes", n)
		if err := os.Truncate(mfPath, n); err != nil {
			r.logf("  %v", err)
		}

	case cExtendManifest:
		n, v := 1+int(d.byte()%8), d.byte()
		r.logf("append %d bytes %#x to MANIFEST", n, v)
		if f, err := os.OpenFile(mfPath, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			f.Write(bytes.Repeat([]byte{v}, n))
			f.Close()
		}

	case cGarbleManifest:
		rb, pb, x := d.byte(), d.byte(), d.byte()|1
		b := r.manifestBytes()
		if len(b) == 0 {
			return
		}
		var pos int
		switch rb % 4 {
		case 0: // record A
			pos = int(pb % recLen)
		case 1: // record B
			pos = recStride + int(pb%recLen)
		case 2: // the state page
			pos = pageOff + int(pb)%pageLen
		default: // anywhere, the padding included
			pos = int(pb)<<4 | int(rb>>2&15)
		}
		if len(b) != mfLen {
			pos %= len(b)
		}
		if pos >= len(b) {
			return
		}
		r.logf("xor MANIFEST byte %d with %#x", pos, x)
		b[pos] ^= x
		r.writeManifest(b)

	case cSetField:
		r.setField(d.byte(), d.byte(), d.byte(), d.byte())

	case cResizeChunk:
		idx, ok := pick()
		size := [6]int64{0, chunkSize - 1, chunkSize + 1, chunkSize / 2, 2 * chunkSize, 4096}[d.byte()%6]
		if !ok {
			return
		}
		r.logf("resize chunk %d to %d bytes", idx, size)
		r.try(os.Truncate(filepath.Join(r.dir, chunkName(idx)), size))

	case cDeleteChunk:
		idx, ok := pick()
		if !ok {
			return
		}
		r.logf("delete chunk %d", idx)
		r.try(os.Remove(filepath.Join(r.dir, chunkName(idx))))

	case cAddFile:
		r.addFile(d.byte(), d.byte(), first, last)

	case cDeleteManifest:
		r.logf("delete MANIFEST")
		os.Remove(mfPath)

	case cManifestDir:
		r.logf("replace MANIFEST with a directory")
		os.Remove(mfPath)
		r.try(os.Mkdir(mfPath, 0o755))

	case cGarbleChunk:
		idx, ok := pick()
		pos, v := int64(d.byte())<<8, d.byte()
		if !ok {
			return
		}
		r.logf("set byte %d of chunk %d to %#x", pos, idx, v)
		if f, err := os.OpenFile(filepath.Join(r.dir, chunkName(idx)), os.O_WRONLY, 0); err == nil {
			f.WriteAt([]byte{v}, pos)
			f.Close()
		}

	case cSetPage:
		r.setPage(d.byte(), d.byte(), d.byte())

	case cManifestV1:
		// What the library wrote before format version 2: the record,
		// and no state page.
		mf, ok := decodeManifest(r.manifestBytes())
		if !ok {
			return
		}
		r.logf("rewrite MANIFEST as version 1 of its record %+v", mf.rec)
		r.writeManifest(encodeV1(mf.rec))
	}
}

// value decodes a new value for a field holding cur: a small step, a step
// of whole chunks, a power of two, or a value at an edge. alt is another
// value that makes sense for the field (the record's for a state page
// field, say).
func value(cur, alt uint64, vb, db byte) uint64 {
	switch vb % 5 {
	case 0:
		return cur + uint64(int64(int8(db)))
	case 1:
		return cur + uint64(int64(int8(db)))*chunkSize
	case 2:
		return 1 << (db % 64)
	case 3:
		return alt + uint64(int64(int8(db)))
	}
	return [8]uint64{0, 1, math.MaxInt64, 1 << 63, math.MaxUint64, chunkSize, math.MaxInt64 / chunkSize, math.MaxInt64 &^ (chunkSize - 1)}[db%8]
}

// setField stores a value into a field of a record and recomputes its
// checksum, so that Open has to judge the value itself. sb picks the
// record of a version 2 file: the one Open uses, the other, A or B.
func (r *openRun) setField(sb, fb, vb, db byte) {
	r.t.Helper()
	b := r.manifestBytes()
	version, off := 1, 0
	switch {
	case len(b) == mfLen:
		version = 2
		mf, ok := decodeManifest(b)
		newest := 0
		if ok && mf.rec.seq%2 == 1 {
			newest = recStride
		}
		off = [4]int{newest, recStride - newest, 0, recStride}[sb%4]
	case len(b) != v1Len:
		return
	}
	rec := b[off:]
	fields := [6]struct {
		name string
		pos  int
		wide bool
	}{
		{"version", rVersion, false},
		{"flags", rFlags, false},
		{"chunk size", rChunkSize, true},
		{"first", rFirst, true},
		{"size", rSize, true},
		{"seq", rSeq, true},
	}
	fd := fields[int(fb)%len(fields)]
	if fd.name == "seq" && version == 1 {
		return // a version 1 record has none
	}
	var cur, alt uint64
	if fd.wide {
		cur = binary.LittleEndian.Uint64(rec[fd.pos:])
	} else {
		cur = uint64(binary.LittleEndian.Uint32(rec[fd.pos:]))
	}
	alt = cur
	if fd.wide && version == 2 {
		alt = binary.LittleEndian.Uint64(b[recStride-off+fd.pos:]) // the other record's
	}
	v := value(cur, alt, vb, db)
	r.logf("set MANIFEST (version %d) record at %d: %s from %d to %d, checksum fixed", version, off, fd.name, cur, v)
	if fd.wide {
		binary.LittleEndian.PutUint64(rec[fd.pos:], v)
	} else {
		binary.LittleEndian.PutUint32(rec[fd.pos:], uint32(v))
	}
	fixChecksum(rec, version)
	r.writeManifest(b)
}

// setPage changes a field of the state page, which carries no checksum:
// its magic, the boot ID (another boot's is what a power loss leaves), the
// epoch, Start, Size or the clean flag.
func (r *openRun) setPage(fb, vb, db byte) {
	r.t.Helper()
	b := r.manifestBytes()
	if len(b) != mfLen {
		return
	}
	p := b[pageOff : pageOff+pageLen]
	mf, _ := decodeManifest(b)
	switch fb % 6 {
	case 0:
		m := [4]string{pageMagic, "CMSTATE1", "\x00\x00\x00\x00\x00\x00\x00\x00", "cmstate2"}[vb%4]
		r.logf("set the state page's magic to %q", m)
		copy(p[pMagic:], m)
	case 1:
		boot := [4][bootLen]byte{r.boot, otherBoot, {}, r.boot}[vb%4]
		if vb%4 == 3 {
			boot[db%bootLen] ^= 1 | db // a boot ID off by one byte
		}
		r.logf("set the state page's boot ID to %q", boot)
		copy(p[pBoot:], boot[:])
	case 2:
		v := value(binary.NativeEndian.Uint64(p[pEpoch:]), 0, vb, db)
		r.logf("set the state page's epoch to %d", v)
		binary.NativeEndian.PutUint64(p[pEpoch:], v)
	case 3:
		cur := binary.NativeEndian.Uint64(p[pStart:])
		v := value(cur, uint64(mf.rec.start()), vb, db)
		r.logf("set the state page's start from %d to %d", int64(cur), int64(v))
		binary.NativeEndian.PutUint64(p[pStart:], v)
	case 4:
		cur := binary.NativeEndian.Uint64(p[pSize:])
		v := value(cur, uint64(mf.rec.size), vb, db)
		r.logf("set the state page's size from %d to %d", int64(cur), int64(v))
		binary.NativeEndian.PutUint64(p[pSize:], v)
	default:
		v := uint32(vb % 3)
		r.logf("set the state page's clean flag to %d", v)
		binary.NativeEndian.PutUint32(p[pClean:], v)
	}
	r.writeManifest(b)
}

// addFile adds a file (or directory, or link) of the given kind.
func (r *openRun) addFile(kb, ab byte, first, last int64) {
	r.t.Helper()
	path := func(name string) string { return filepath.Join(r.dir, name) }
	full := make([]byte, chunkSize)
	for i := range full {
		full[i] = byte(i>>8) | 1 // not zeros: must never be read as data
	}
	switch k := kb % numFiles; k {
	case fUnknown:
		r.logf("add notes.txt")
		r.try(os.WriteFile(path("notes.txt"), []byte("not a chunk"), 0o644))
	case fUpperHex:
		r.logf("add an upper-case chunk name")
		r.try(os.WriteFile(path(strings.ToUpper(chunkName(int64(ab)+10))), full, 0o644))
	case fNegativeIndex:
		r.logf("add ffff...ff.chunk")
		r.try(os.WriteFile(path("ffffffffffffff"+fmt.Sprintf("%02x", ab|0x80)+".chunk"), full, 0o644))
	case fChunkTemp:
		idx := last + 1 - int64(ab%4)
		r.logf("add the temporary file of chunk %d", idx)
		if idx >= 0 {
			r.try(os.WriteFile(path(chunkName(idx)+".tmp"), full[:int(ab)<<6], 0o644))
		}
	case fManifestTemp:
		r.logf("add MANIFEST.tmp")
		r.try(os.WriteFile(path(chunkmap.ManifestName+".tmp"), []byte{ab, ab}, 0o644))
	case fBelowFirst:
		idx := first - 1 - int64(ab%2)
		if idx < 0 {
			return
		}
		size := int64(chunkSize)
		if ab&0x80 != 0 {
			size = int64(ab)
		}
		r.logf("add chunk %d of %d bytes below the first", idx, size)
		r.try(os.WriteFile(path(chunkName(idx)), full[:size], 0o644))
	case fAfterLast, fAfterGap:
		idx := last + 1
		if k == fAfterGap {
			idx += 1 + int64(ab%3)
		}
		size := [4]int{chunkSize, 0, chunkSize / 2, chunkSize - 1}[ab>>2&3]
		r.logf("add chunk %d of %d bytes", idx, size)
		r.try(os.WriteFile(path(chunkName(idx)), full[:size], 0o644))
	case fChunkDir:
		idx := [4]int64{first - 1, last + 1, first, last}[ab%4]
		if idx < 0 {
			return
		}
		r.logf("add a directory named like chunk %d", idx)
		os.Remove(path(chunkName(idx)))
		r.try(os.Mkdir(path(chunkName(idx)), 0o755))
		if ab&4 != 0 {
			r.try(os.WriteFile(filepath.Join(path(chunkName(idx)), "x"), nil, 0o644))
		}
	case fTempDir:
		name := chunkmap.ManifestName + ".tmp"
		if ab&1 != 0 {
			name = chunkName(last+1) + ".tmp"
		}
		r.logf("add a non-empty directory %s", name)
		os.Remove(path(name))
		r.try(os.Mkdir(path(name), 0o755))
		r.try(os.WriteFile(filepath.Join(path(name), "x"), nil, 0o644))
	case fChunkSymlink:
		idx := [3]int64{last + 1, first, first - 1}[ab%3]
		if idx < 0 || last < 0 {
			return
		}
		r.logf("add a symbolic link named like chunk %d to chunk %d", idx, last)
		os.Remove(path(chunkName(idx)))
		r.try(os.Symlink(chunkName(last), path(chunkName(idx))))
	}
}

// chunkName is the documented chunk file name: the index as 16 lower-case
// hex digits, then ".chunk".
func chunkName(idx int64) string { return fmt.Sprintf("%016x.chunk", idx) }

// parseChunkName is chunkName's inverse; names of negative indices are not
// chunk names.
func parseChunkName(name string) (int64, bool) {
	hex, ok := strings.CutSuffix(name, ".chunk")
	if !ok || len(hex) != 16 || strings.ToLower(hex) != hex {
		return 0, false
	}
	var u uint64
	if _, err := fmt.Sscanf(hex, "%016x", &u); err != nil || int64(u) < 0 {
		return 0, false
	}
	return int64(u), fmt.Sprintf("%016x", u) == hex
}

// isTempName reports whether Open is to remove name, if it is a regular file:
// a temporary chunk or manifest file.
func isTempName(name string) bool {
	if name == chunkmap.ManifestName+".tmp" {
		return true
	}
	base, ok := strings.CutSuffix(name, ".tmp")
	if !ok {
		return false
	}
	_, ok = parseChunkName(base)
	return ok
}

// chunkIndices returns the indices of the chunk names in the directory.
func (r *openRun) chunkIndices() []int64 {
	entries, _ := os.ReadDir(r.dir)
	var idx []int64
	for _, e := range entries {
		if i, ok := parseChunkName(e.Name()); ok {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	return idx
}

// prediction is what Open should do with a directory.
type prediction struct {
	class     string // errClass of the error, "nil" for success
	chunkSize int64
	first     int64
	size      int64
	chunks    int64        // chunk files [first, first+chunks) cover Size: Stats().Chunks
	mf        manifestFile // the manifest read; version 0 for a new dataset
	fromPage  bool         // Start and Size come from the state page
	// repair: a read-write Open writes record seq+1 (repairRecord) in
	// the damaged record's place.
	repair bool
}

// repairRecord is the record a read-write Open writes where it follows a
// state page behind the one valid record (prediction.repair): the valid
// record clamped to the page's extent, numbered one past it.
func (p prediction) repairRecord() record {
	r := p.mf.rec
	r.first = max(r.first, p.first)
	r.size = max(min(r.size, p.size), r.first*r.chunkSize)
	r.seq++
	return r
}

func (p prediction) String() string {
	if p.class != "nil" {
		return p.class
	}
	return fmt.Sprintf("success: chunk size %d, chunks [%d, %d), size %d, manifest version %d, from the state page %v",
		p.chunkSize, p.first, p.first+p.chunks, p.size, p.mf.version, p.fromPage)
}

// predictOpen judges the directory by the documented rules, independently
// of the library's code; boot is the current boot's ID.
func predictOpen(dir string, opts *chunkmap.Options, boot [bootLen]byte) prediction {
	corrupt := prediction{class: "ErrCorrupt"}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return prediction{class: "unreadable directory"}
	}
	var chunks []int64
	haveManifest := false
	for _, e := range entries {
		if e.Name() == chunkmap.ManifestName {
			haveManifest = true
		}
		if isTempName(e.Name()) && !e.Type().IsRegular() && !opts.ReadOnly {
			// It blocks a name the writer needs, and is not ours to
			// remove.
			return corrupt
		}
		if i, ok := parseChunkName(e.Name()); ok {
			chunks = append(chunks, i)
		}
	}
	slices.Sort(chunks)
	if !haveManifest {
		switch {
		case len(chunks) > 0:
			return corrupt
		case opts.ReadOnly:
			return prediction{class: "ErrReadOnly"}
		}
		cs := opts.ChunkSize
		if cs == 0 {
			cs = chunkmap.DefaultChunkSize
		}
		if !fitsAddressSpace(cs, opts.MaxMapped) {
			return prediction{class: "ErrInvalidOptions"}
		}
		return prediction{class: "nil", chunkSize: cs}
	}
	fi, err := os.Lstat(filepath.Join(dir, chunkmap.ManifestName))
	if err != nil || !fi.Mode().IsRegular() {
		return corrupt
	}
	b, err := os.ReadFile(filepath.Join(dir, chunkmap.ManifestName))
	if err != nil {
		return corrupt
	}
	mf, ok := decodeManifest(b)
	if !ok {
		return corrupt
	}
	p := prediction{class: "nil", chunkSize: mf.rec.chunkSize, first: mf.rec.first, size: mf.rec.size, mf: mf}
	if opts.ChunkSize != 0 && opts.ChunkSize != p.chunkSize || !fitsAddressSpace(p.chunkSize, opts.MaxMapped) {
		return prediction{class: "ErrInvalidOptions"}
	}
	// A writer of this boot left Start and Size in the state page, crash or
	// not; it must describe a dataset of the record's chunk size.
	if mf.version == 2 && mf.page.live(boot) {
		start, size := mf.page.start, mf.page.size
		if start < 0 || start%p.chunkSize != 0 || size < start {
			return corrupt
		}
		// No writer leaves a page that needs fewer chunks than the
		// newest record, or starts at a later chunk (it changes the
		// record first): a writer follows the record instead of such a
		// page, which another program wrote over. A reader follows the
		// page, and so does a writer where the other record is damaged
		// (the valid one may be the older).
		first := start / p.chunkSize
		pageBehind := first > p.first || ceilDiv(size, p.chunkSize) < ceilDiv(p.size, p.chunkSize)
		if opts.ReadOnly || !pageBehind || mf.otherBad {
			p.first, p.size, p.fromPage = first, size, true
			// A writer that follows a page behind the valid record
			// writes a record within the page's extent first, in
			// the damaged one's place.
			p.repair = !opts.ReadOnly && pageBehind
		}
	}
	// Chunk files [first, end) must exist, each a regular file of
	// ChunkSize bytes; whatever is below or past them does not matter.
	end := p.size / p.chunkSize
	if p.size%p.chunkSize != 0 {
		end++
	}
	for _, i := range chunks {
		if i < p.first || i >= end {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, chunkName(i)))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != p.chunkSize {
			return corrupt
		}
		p.chunks++
	}
	if p.chunks != end-p.first {
		return corrupt // a chunk file missing
	}
	// A page another program wrote over may have held the Size of a
	// writer that died after its last Sync: a writer refuses to delete
	// the regular chunk files past the record's Size, which may hold its
	// writes.
	if !opts.ReadOnly && mf.version == 2 && mf.page.damaged() {
		for _, i := range chunks {
			if fi, err := os.Lstat(filepath.Join(dir, chunkName(i))); i >= end && err == nil && fi.Mode().IsRegular() {
				return corrupt
			}
		}
	}
	return p
}

// ceilDiv returns a/b rounded up, for a >= 0 and b > 0, without
// overflowing for a near math.MaxInt64.
func ceilDiv(a, b int64) int64 {
	if a%b != 0 {
		return a/b + 1
	}
	return a / b
}

// fitsAddressSpace reports whether MaxMapped chunks fit the address space:
// on 32-bit platforms Open refuses more than 1 GiB of them with
// ErrInvalidOptions.
func fitsAddressSpace(chunkSize int64, maxMapped int) bool {
	return bits.UintSize == 64 || chunkSize*int64(maxMapped) <= 1<<30
}

// removedBy reports whether a read-write Open that predicted want removes
// the top-level entry name: a regular file that is a temporary file, or a
// chunk file outside [first, first+chunks).
func removedBy(want prediction, name string, e dirEntry) bool {
	if !e.mode.IsRegular() {
		return false
	}
	if isTempName(name) {
		return true
	}
	i, ok := parseChunkName(name)
	return ok && (i < want.first || i >= want.first+want.chunks)
}

// checkOpened checks a Manager that Open returned against the prediction
// and the directory as it was before Open.
func (r *openRun) checkOpened(m *chunkmap.Manager, opts *chunkmap.Options, want prediction, before dirSnapshot, gap int64) {
	r.t.Helper()
	if got := m.ChunkSize(); got != want.chunkSize {
		r.fatalf("ChunkSize() = %d, want %d", got, want.chunkSize)
	}
	start := want.first * want.chunkSize
	if st := m.Stats(); int64(st.Chunks) != want.chunks || st.Mapped != 0 {
		r.fatalf("Stats() = %+v, want %d chunks and nothing mapped", st, want.chunks)
	}
	if got := m.Start(); got != start {
		r.fatalf("Start() = %d, want %d", got, start)
	}
	if got := m.Size(); got != want.size {
		r.fatalf("Size() = %d, want %d", got, want.size)
	}

	// Every byte of [Start, Size) reads back as it is in its chunk file.
	r.checkData(m, start, want.size, before)

	// A read-only Open changes nothing; a read-write Open removes only
	// temporary files and chunk files outside the ones Size needs, and
	// sets up the state page.
	after := snapshot(r.t, r.dir)
	expected := dirSnapshot{}
	for name, e := range before {
		top, _, _ := strings.Cut(name, "/")
		if !opts.ReadOnly && (name == chunkmap.ManifestName || removedBy(want, top, before[top])) {
			continue
		}
		expected[name] = e
	}
	if !opts.ReadOnly {
		expected[chunkmap.ManifestName] = after[chunkmap.ManifestName]
		r.checkManifest(after[chunkmap.ManifestName].data, before, want)
	}
	if diff := expected.diff(after); diff != "" {
		r.fatalf("successful Open (read-only %v) changed the directory beyond its cleanup: %s", opts.ReadOnly, diff)
	}
	if opts.ReadOnly || want.chunkSize > 2*chunkSize {
		return
	}

	// Writing past Size zero-fills the gap, whatever the chunk held there,
	// creating the chunks it needs, unless something that is not a chunk
	// file (and is left alone) holds a chunk's name.
	end := want.size + gap
	blocked := ""
	for idx := start/want.chunkSize + want.chunks; idx <= end/want.chunkSize; idx++ {
		if _, ok := after[chunkName(idx)]; ok {
			blocked = chunkName(idx)
		}
	}
	if _, err := m.WriteAt([]byte{0xab}, end); blocked != "" {
		if err == nil {
			r.fatalf("WriteAt(1 byte, %d) succeeded, but %s is not a chunk file", end, blocked)
		}
		if got := m.Size(); got != want.size {
			r.fatalf("failed WriteAt(1 byte, %d) (%v) changed Size from %d to %d", end, err, want.size, got)
		}
		if err := m.Close(); err != nil {
			r.fatalf("Close: %v", err)
		}
		if diff := after.diffIgnoring(snapshot(r.t, r.dir), chunkmap.ManifestName); diff != "" {
			r.fatalf("failed WriteAt(1 byte, %d) (%v) changed the directory: %s", end, err, diff)
		}
		return
	} else if err != nil {
		r.fatalf("WriteAt(1 byte, %d): %v", end, err)
	}
	got := make([]byte, gap+1)
	if _, err := m.ReadAt(got, want.size); err != nil {
		r.fatalf("ReadAt(%d bytes, %d): %v", gap+1, want.size, err)
	}
	if i := slices.IndexFunc(got[:gap], func(b byte) bool { return b != 0 }); i >= 0 || got[gap] != 0xab {
		r.fatalf("after WriteAt(1 byte, %d) the bytes from the old Size %d read %x", end, want.size, got)
	}
	if err := m.Close(); err != nil {
		r.fatalf("Close: %v", err)
	}

	// What Close left opens again with every byte: the chunk files that
	// Size needs, and no other.
	r.logf("reopen read-only after WriteAt(1 byte, %d) and Close", end)
	m2, err := chunkmap.Open(r.dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1})
	if err != nil {
		r.fatalf("reopen: %v", err)
	}
	defer m2.Close()
	need := end/want.chunkSize + 1 - want.first
	if m2.Start() != start || m2.Size() != end+1 || m2.Stats().Chunks != int(need) {
		r.fatalf("reopened: Start() %d, Size() %d, Stats() %+v, want %d, %d and %d chunks",
			m2.Start(), m2.Size(), m2.Stats(), start, end+1, need)
	}
	r.checkData(m2, start, want.size, before)
	got = make([]byte, gap+1)
	if _, err := m2.ReadAt(got, want.size); err != nil {
		r.fatalf("reopened: ReadAt(%d bytes, %d): %v", gap+1, want.size, err)
	}
	if i := slices.IndexFunc(got[:gap], func(b byte) bool { return b != 0 }); i >= 0 || got[gap] != 0xab {
		r.fatalf("reopened: the bytes from the old Size %d read %x", want.size, got)
	}
	for name, e := range snapshot(r.t, r.dir) {
		if i, ok := parseChunkName(name); ok && e.mode.IsRegular() && (i < want.first || i >= want.first+need || e.size != want.chunkSize) {
			r.fatalf("after Close: chunk file %s of %d bytes, want chunk files [%d, %d) of %d", name, e.size, want.first, want.first+need, want.chunkSize)
		}
	}
	if err := m2.Close(); err != nil {
		r.fatalf("Close: %v", err)
	}
}

// checkData checks that [start, size) reads from m as the chunk files of
// before hold it.
func (r *openRun) checkData(m *chunkmap.Manager, start, size int64, before dirSnapshot) {
	r.t.Helper()
	n := size - start
	if n <= 0 {
		return
	}
	cs := m.ChunkSize()
	got := make([]byte, n)
	if k, err := m.ReadAt(got, start); k != int(n) || err != nil {
		r.fatalf("ReadAt(%d bytes, %d) = %d, %v", n, start, k, err)
	}
	for off := start; off < size; off += cs {
		idx := off / cs
		file := before[chunkName(idx)].data
		end := min(size-off, cs)
		if i := firstDiff(got[off-start:off-start+end], file[:end]); i >= 0 {
			r.fatalf("byte at offset %d reads %#x, chunk file %d holds %#x", off+int64(i), got[off-start+int64(i)], idx, file[i])
		}
	}
}

// checkManifest checks the manifest file b that a read-write Open left: a
// version 2 file whose record is the one read (a version 1 manifest's
// rewritten, the records of a version 2 file untouched), with the state
// page set up by a writer of this boot for the Start and Size opened, not
// clean, its epoch moved.
func (r *openRun) checkManifest(b []byte, before dirSnapshot, want prediction) {
	r.t.Helper()
	got, ok := decodeManifest(b)
	if !ok || got.version != 2 {
		r.fatalf("after a read-write Open, MANIFEST (%d bytes) is not a valid version 2 file", len(b))
	}
	wantRec := record{chunkSize: want.chunkSize}
	var oldEpoch uint64
	switch want.mf.version {
	case 1:
		wantRec = want.mf.rec
	case 2:
		wantRec = want.mf.rec
		old := bytes.Clone(before[chunkmap.ManifestName].data)
		if want.repair {
			// The one record the Open may write, in place of the
			// damaged one.
			wantRec = want.repairRecord()
			at := int(wantRec.seq%2) * recStride
			if got, ok := decodeRecord(b[at:at+recLen], 2); !ok || got != wantRec {
				r.fatalf("after a read-write Open that follows a page behind the valid record, record at %d is %+v (valid %v), want %+v", at, got, ok, wantRec)
			}
			copy(old[at:at+recLen], b[at:at+recLen])
		}
		if !bytes.Equal(b[:pageOff], old[:pageOff]) || !bytes.Equal(b[pageOff+pageLen:], old[pageOff+pageLen:]) {
			r.fatalf("a read-write Open changed MANIFEST outside the state page (and the record it repairs)")
		}
		oldEpoch = want.mf.page.epoch
	}
	if rec := got.rec; rec.chunkSize != wantRec.chunkSize || rec.first != wantRec.first || rec.size != wantRec.size {
		r.fatalf("after a read-write Open, the manifest records %+v, want %+v", rec, wantRec)
	}
	p := got.page
	if !p.magic || p.boot != r.boot ||
		p.start != want.first*want.chunkSize || p.size != want.size || p.clean != 0 || p.epoch == oldEpoch {
		r.fatalf("after a read-write Open, the state page is %+v; want magic, boot %q, start %d, size %d, not clean, epoch moved from %d",
			p, r.boot, want.first*want.chunkSize, want.size, oldEpoch)
	}
}

// dirEntry is what a snapshot records of one file.
type dirEntry struct {
	mode fs.FileMode // type bits only
	size int64
	sum  [sha256.Size]byte
	data []byte // chunk and manifest files only, for the content checks
	link string
}

// dirSnapshot maps slash-separated paths relative to the directory to their
// entries.
type dirSnapshot map[string]dirEntry

func snapshot(t *testing.T, dir string) dirSnapshot {
	t.Helper()
	s := dirSnapshot{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := dirEntry{mode: fi.Mode().Type(), size: fi.Size()}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			e.sum = sha256.Sum256(b)
			if strings.HasSuffix(rel, ".chunk") || rel == chunkmap.ManifestName {
				e.data = b
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		s[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", dir, err)
	}
	return s
}

// diff describes how b differs from s, or returns "".
func (s dirSnapshot) diff(b dirSnapshot) string { return s.diffIgnoring(b, "") }

// diffIgnoring is diff, except that the contents of the file ignore may
// differ.
func (s dirSnapshot) diffIgnoring(b dirSnapshot, ignore string) string {
	var d []string
	for name, e := range s {
		f, ok := b[name]
		switch {
		case !ok:
			d = append(d, name+" removed")
		case name == ignore && e.mode == f.mode:
		case e.mode != f.mode || e.size != f.size || e.sum != f.sum || e.link != f.link:
			d = append(d, name+" changed")
		}
	}
	for name := range b {
		if _, ok := s[name]; !ok {
			d = append(d, name+" added")
		}
	}
	slices.Sort(d)
	return strings.Join(d, ", ")
}

// openSeeds are inputs that start the fuzzer on each kind of damage: the
// first byte picks the template, the second the options (bit 0 ReadOnly,
// bits 1-2 ChunkSize 0, 64 KiB, 128 KiB, 64 KiB, bits 3-4 MaxMapped, bits
// 5-7 the gap of the write past Size), then come the corruptions.
func openSeeds() [][]byte {
	const (
		truncated = iota
		dropped
		empty
		boundary
		crashed        // state page newer than the record
		crashedDropped // the same after DropBefore, with a spare chunk
	)
	// powerLoss makes the state page another boot's: Open takes the record.
	powerLoss := []byte{cSetPage, 1, 1, 0}
	seed := func(parts ...any) []byte {
		var b []byte
		for _, p := range parts {
			switch p := p.(type) {
			case int:
				b = append(b, byte(p))
			case []byte:
				b = append(b, p...)
			default:
				panic(fmt.Sprintf("seed part %T", p))
			}
		}
		return b
	}
	return [][]byte{
		// Each template as it is, read-write and read-only.
		seed(truncated, 0x20), seed(dropped, 1), seed(empty, 0), seed(boundary, 0xe2),
		seed(crashed, 0x40), seed(crashed, 1), seed(crashedDropped, 0x60), seed(crashedDropped, 1),
		seed(truncated, 4),
		// A power loss: the record, and chunk files past its Size removed.
		seed(crashed, 0, powerLoss), seed(crashedDropped, 0, powerLoss), seed(crashedDropped, 1, powerLoss),
		seed(crashed, 0, cSetPage, 1, 2, 0), seed(crashed, 0, cSetPage, 1, 3, 7),
		seed(crashed, 0, cGarbleManifest, 2, 3, 0x10),
		seed(crashed, 0, cSetPage, 0, 1, 0), seed(crashed, 1, cSetPage, 0, 2, 0),
		// A live state page that does not fit the chunk files or is not
		// a dataset, and one that goes back to the record.
		seed(crashed, 0, cSetPage, 4, 1, 1), seed(crashedDropped, 0, cSetPage, 3, 0, 1),
		seed(crashedDropped, 0, cSetPage, 4, 4, 0), seed(crashed, 0, cSetPage, 3, 4, 4),
		seed(crashed, 0, cSetPage, 4, 3, 0), seed(crashedDropped, 0, cSetPage, 3, 3, 0),
		seed(crashed, 0, cSetPage, 5, 1, 0, cSetPage, 2, 4, 2),
		// A clean state page of another boot that does not say what the
		// record says.
		seed(truncated, 1, powerLoss, cSetPage, 4, 1, 0xff),
		seed(truncated, 0, powerLoss, cSetPage, 4, 1, 0xff),
		// Damaged records: one falls back to the other, both are corrupt.
		seed(truncated, 0, cGarbleManifest, 0, 5, 0x10), seed(truncated, 0, powerLoss, cGarbleManifest, 1, 40, 0x10),
		seed(truncated, 0, cGarbleManifest, 0, 20, 1, cGarbleManifest, 1, 20, 1),
		seed(truncated, 0, cGarbleManifest, 3, 0x40, 1),
		seed(truncated, 0, powerLoss, cSetField, 1, 5, 0, 2), seed(truncated, 0, powerLoss, cSetField, 1, 5, 0, 3),
		seed(truncated, 0, cSetField, 1, 5, 0, 3),
		seed(truncated, 0, cSetField, 0, 0, 0, 1), seed(truncated, 0, cSetField, 0, 1, 2, 0),
		seed(dropped, 2, powerLoss, cSetField, 0, 3, 0, 0xff),
		seed(dropped, 0x40, powerLoss, cSetField, 0, 3, 0, 1),
		seed(dropped, 0, powerLoss, cSetField, 0, 3, 4, 6),
		seed(truncated, 0xa0, powerLoss, cSetField, 0, 4, 0, 0x10),
		seed(truncated, 0, powerLoss, cSetField, 0, 4, 1, 0xff),
		seed(boundary, 0, cSetField, 0, 2, 2, 17), seed(boundary, 0, cSetField, 0, 2, 4, 2),
		// Version 1 manifests, good and damaged.
		seed(truncated, 0, cManifestV1), seed(crashed, 0, cManifestV1), seed(dropped, 1, cManifestV1),
		seed(crashedDropped, 0, cManifestV1, cAddFile, fManifestTemp, 1),
		seed(boundary, 0, cManifestV1, cGarbleManifest, 0, 20, 1),
		seed(boundary, 0, cManifestV1, cSetField, 0, 0, 0, 1),
		seed(boundary, 0, cManifestV1, cTruncateManifest, 14),
		seed(boundary, 0, cManifestV1, cExtendManifest, 0, 0),
		// Manifests of the wrong length, missing, or not a file.
		seed(truncated, 0, cTruncateManifest, 6), seed(truncated, 0, cTruncateManifest, 0),
		seed(truncated, 0, cTruncateManifest, 13), seed(truncated, 0, cExtendManifest, 1, 0),
		seed(empty, 0, cDeleteManifest), seed(empty, 1, cDeleteManifest), seed(truncated, 0, cDeleteManifest),
		seed(truncated, 0, cManifestDir),
		// Chunk files resized and deleted.
		seed(truncated, 0, cResizeChunk, 1, 1), seed(truncated, 0, cDeleteChunk, 1), seed(truncated, 0, cDeleteChunk, 3),
		seed(crashed, 0, powerLoss, cDeleteChunk, 4, cResizeChunk, 3, 0),
		// Leftovers: temporary files, chunks below the first and past
		// Size (whole, empty, short), and entries that are not files.
		seed(truncated, 0, cAddFile, fChunkTemp, 0x11, cAddFile, fManifestTemp, 1, cAddFile, fUnknown, 0),
		seed(boundary, 0, cAddFile, fAfterLast, 0, cAddFile, fAfterGap, 0),
		seed(boundary, 0, cAddFile, fAfterLast, 4, cAddFile, fAfterGap, 9),
		seed(boundary, 1, cAddFile, fAfterLast, 12),
		seed(dropped, 0, cAddFile, fBelowFirst, 0x85),
		seed(dropped, 0, cAddFile, fChunkDir, 0), seed(dropped, 0, cAddFile, fChunkDir, 1),
		seed(dropped, 0, cAddFile, fChunkDir, 2),
		seed(boundary, 0, cAddFile, fChunkDir, 1), seed(boundary, 0x20, cAddFile, fChunkSymlink, 0),
		seed(dropped, 0, cAddFile, fChunkSymlink, 1), seed(dropped, 0, cAddFile, fChunkSymlink, 2),
		seed(truncated, 0, cAddFile, fTempDir, 0), seed(truncated, 1, cAddFile, fTempDir, 1),
		seed(truncated, 0, cAddFile, fUpperHex, 0, cAddFile, fNegativeIndex, 0, cGarbleChunk, 2, 3, 9),
	}
}
