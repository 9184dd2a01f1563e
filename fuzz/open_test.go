package fuzz

// This file holds FuzzOpen: a small valid dataset, corrupted as the fuzzer's
// bytes say, opened, and held to either a clean error and an untouched
// directory or a consistent dataset.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
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

// The manifest's layout, as manifest.go documents it: 44 bytes, little
// endian, CRC-32C of the first 40 in the last 4.
const (
	mfLen       = 44
	mfVersion   = 8
	mfFlags     = 12
	mfChunkSize = 16
	mfFirst     = 24
	mfSize      = 32
	mfCRC       = 40
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Corruptions; each is its code (the byte modulo numCorruptions) followed
// by its arguments.
const (
	cTruncateManifest = iota
	cExtendManifest
	cGarbleManifest
	cSetField // change a manifest field and fix the checksum
	cResizeChunk
	cDeleteChunk
	cAddFile
	cDeleteManifest
	cManifestDir
	cGarbleChunk // change a byte of a chunk, which is data, not structure
	numCorruptions
)

// Extra files for cAddFile.
const (
	fUnknown       = iota // a name Open does not know
	fUpperHex             // a chunk name in upper case: not a chunk name
	fNegativeIndex        // a chunk name whose index does not fit int64
	fChunkTemp            // <16hex>.chunk.tmp, left by a crash in Create
	fManifestTemp         // MANIFEST.tmp, left by a crash in writeManifest
	fBelowFirst           // a chunk below the first, left by DropBefore
	fAfterLast            // one more chunk past the last
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

// buildTemplates makes the datasets FuzzOpen starts from. Bytes past Size in
// the last chunk are left non-zero on purpose: they must never be read as
// data.
func buildTemplates(tb testing.TB) []template {
	tb.Helper()
	pattern := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*13 + i>>16 + 1)
		}
		return p
	}
	builds := []struct {
		name  string
		build func(m *chunkmap.Manager) error
	}{
		{"truncated", func(m *chunkmap.Manager) error {
			if _, err := m.WriteAt(pattern(4*chunkSize), 0); err != nil {
				return err
			}
			return m.Truncate(3*chunkSize + chunkSize/2)
		}},
		{"dropped", func(m *chunkmap.Manager) error {
			if _, err := m.WriteAt(pattern(6*chunkSize), 0); err != nil {
				return err
			}
			if err := m.DropBefore(2*chunkSize + 100); err != nil {
				return err
			}
			if err := m.Truncate(5*chunkSize + chunkSize/4); err != nil {
				return err
			}
			return m.Grow(chunkSize)
		}},
		{"empty", func(m *chunkmap.Manager) error { return nil }},
		{"boundary", func(m *chunkmap.Manager) error {
			_, err := m.WriteAt(pattern(2*chunkSize), 0)
			return err
		}},
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
		if err := m.Close(); err != nil {
			tb.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			tb.Fatal(err)
		}
		t := template{name: b.name, files: map[string][]byte{}}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				tb.Fatal(err)
			}
			t.files[e.Name()] = data
		}
		ts = append(ts, t)
	}
	return ts
}

// FuzzOpen corrupts a copy of a small dataset as its input says and opens
// it. Open must not panic; it must fail with the error the documented rules
// predict and leave the directory exactly as it was, or succeed exactly when
// they say the dataset is consistent, with a Manager that reads back the
// chunk files and changes nothing but leftovers of a crash. The input is a
// template byte, an options byte (see openSeeds) and corruptions: a code
// (see cTruncateManifest...) and its argument bytes.
func FuzzOpen(f *testing.F) {
	templates := buildTemplates(f)
	for _, s := range openSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		runOpen(t, templates, in)
	})
}

// openRun is one execution of FuzzOpen.
type openRun struct {
	t     *testing.T
	dir   string
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

func runOpen(t *testing.T, templates []template, in []byte) {
	d := &decoder{b: in}
	tpl := templates[int(d.byte())%len(templates)]
	r := &openRun{t: t, dir: filepath.Join(t.TempDir(), "ds")}
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
	want := predictOpen(r.dir, opts)
	r.logf("Open(%+v): predicted %s", *opts, want.class)
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
		n := int64(d.byte() % (mfLen + 4))
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
		pos, x := int64(d.byte()%mfLen), d.byte()|1
		r.logf("xor MANIFEST byte %d with %#x", pos, x)
		if b, err := os.ReadFile(mfPath); err == nil && pos < int64(len(b)) {
			b[pos] ^= x
			r.try(os.WriteFile(mfPath, b, 0o644))
		}

	case cSetField:
		r.setField(mfPath, d.byte(), d.byte(), d.byte())

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
	}
}

// setField stores a value into a manifest field and recomputes the
// checksum, so that Open has to judge the value itself.
func (r *openRun) setField(mfPath string, fb, vb, db byte) {
	r.t.Helper()
	b, err := os.ReadFile(mfPath)
	if err != nil || len(b) < mfLen {
		return
	}
	fields := [5]struct {
		name string
		pos  int
		wide bool
	}{
		{"version", mfVersion, false},
		{"flags", mfFlags, false},
		{"chunk size", mfChunkSize, true},
		{"first", mfFirst, true},
		{"size", mfSize, true},
	}
	fd := fields[int(fb)%len(fields)]
	var cur uint64
	if fd.wide {
		cur = binary.LittleEndian.Uint64(b[fd.pos:])
	} else {
		cur = uint64(binary.LittleEndian.Uint32(b[fd.pos:]))
	}
	var v uint64
	switch vb % 4 {
	case 0: // a small step from the current value
		v = cur + uint64(int64(int8(db)))
	case 1: // a step of whole chunks
		v = cur + uint64(int64(int8(db)))*chunkSize
	case 2: // a power of two
		v = 1 << (db % 64)
	default: // a value at an edge
		v = [8]uint64{0, 1, math.MaxInt64, 1 << 63, math.MaxUint64, chunkSize, math.MaxInt64 / chunkSize, math.MaxInt64 &^ (chunkSize - 1)}[db%8]
	}
	r.logf("set MANIFEST %s from %d to %d, checksum fixed", fd.name, cur, v)
	if fd.wide {
		binary.LittleEndian.PutUint64(b[fd.pos:], v)
	} else {
		binary.LittleEndian.PutUint32(b[fd.pos:], uint32(v))
	}
	binary.LittleEndian.PutUint32(b[mfCRC:], crc32.Checksum(b[:mfCRC], castagnoli))
	r.try(os.WriteFile(mfPath, b, 0o644))
}

// addFile adds a file (or directory, or link) of the given kind.
func (r *openRun) addFile(kb, ab byte, first, last int64) {
	r.t.Helper()
	path := func(name string) string { return filepath.Join(r.dir, name) }
	full := make([]byte, chunkSize)
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
		r.logf("add chunk %d", idx)
		r.try(os.WriteFile(path(chunkName(idx)), full, 0o644))
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
	chunks    int64 // chunk files from first on
}

// predictOpen judges the directory by the documented rules, independently
// of the library's code.
func predictOpen(dir string, opts *chunkmap.Options) prediction {
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
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != mfLen {
		return corrupt
	}
	b, err := os.ReadFile(filepath.Join(dir, chunkmap.ManifestName))
	if err != nil || len(b) != mfLen || string(b[:8]) != "CHUNKMAP" ||
		binary.LittleEndian.Uint32(b[mfVersion:]) != 1 ||
		binary.LittleEndian.Uint32(b[mfFlags:]) != 0 ||
		binary.LittleEndian.Uint32(b[mfCRC:]) != crc32.Checksum(b[:mfCRC], castagnoli) {
		return corrupt
	}
	cs := binary.LittleEndian.Uint64(b[mfChunkSize:])
	first := binary.LittleEndian.Uint64(b[mfFirst:])
	size := binary.LittleEndian.Uint64(b[mfSize:])
	if cs < chunkmap.MinChunkSize || cs > chunkmap.MaxChunkSize || cs&(cs-1) != 0 ||
		first > math.MaxInt64/cs || size > math.MaxInt64 || size < first*cs {
		return corrupt
	}
	p := prediction{class: "nil", chunkSize: int64(cs), first: int64(first), size: int64(size)}
	if opts.ChunkSize != 0 && opts.ChunkSize != p.chunkSize || !fitsAddressSpace(p.chunkSize, opts.MaxMapped) {
		return prediction{class: "ErrInvalidOptions"}
	}
	for _, i := range chunks {
		if i < p.first {
			continue // left by a DropBefore; not part of the dataset
		}
		if i != p.first+p.chunks {
			return corrupt // a gap
		}
		fi, err := os.Lstat(filepath.Join(dir, chunkName(i)))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != p.chunkSize {
			return corrupt
		}
		p.chunks++
	}
	if (p.first+p.chunks)*p.chunkSize < p.size {
		return corrupt // chunks missing at the end
	}
	return p
}

// fitsAddressSpace reports whether MaxMapped chunks fit the address space:
// on 32-bit platforms Open refuses more than 1 GiB of them with
// ErrInvalidOptions.
func fitsAddressSpace(chunkSize int64, maxMapped int) bool {
	return bits.UintSize == 64 || chunkSize*int64(maxMapped) <= 1<<30
}

// checkOpened checks a Manager that Open returned against the prediction
// and the directory as it was before Open.
func (r *openRun) checkOpened(m *chunkmap.Manager, opts *chunkmap.Options, want prediction, before dirSnapshot, gap int64) {
	r.t.Helper()
	if got := m.ChunkSize(); got != want.chunkSize {
		r.fatalf("ChunkSize() = %d, want %d", got, want.chunkSize)
	}
	start := want.first * want.chunkSize
	if got := m.Start(); got != start {
		r.fatalf("Start() = %d, want %d", got, start)
	}
	if got := m.Size(); got != want.size {
		r.fatalf("Size() = %d, want %d", got, want.size)
	}
	if st := m.Stats(); int64(st.Chunks) != want.chunks || st.Mapped != 0 {
		r.fatalf("Stats() = %+v, want %d chunks and nothing mapped", st, want.chunks)
	}

	// Every byte of [Start, Size) reads back as it is in its chunk file.
	if n := want.size - start; n > 0 {
		got := make([]byte, n)
		if k, err := m.ReadAt(got, start); k != int(n) || err != nil {
			r.fatalf("ReadAt(%d bytes, %d) = %d, %v", n, start, k, err)
		}
		for off := start; off < want.size; off += want.chunkSize {
			idx := off / want.chunkSize
			file := before[chunkName(idx)].data
			end := min(want.size-off, want.chunkSize)
			if i := firstDiff(got[off-start:off-start+end], file[:end]); i >= 0 {
				r.fatalf("byte at offset %d reads %#x, chunk file %d holds %#x", off+int64(i), got[off-start+int64(i)], idx, file[i])
			}
		}
	}

	// A read-only Open changes nothing; a read-write Open removes only
	// temporary files and chunks below the first.
	after := snapshot(r.t, r.dir)
	expected := dirSnapshot{}
	for name, e := range before {
		top, _, _ := strings.Cut(name, "/")
		if !opts.ReadOnly && before.hasNewDataset(want) {
			// A new dataset: Open wrote the manifest.
			if name == chunkmap.ManifestName {
				continue
			}
		}
		if !opts.ReadOnly && before[top].mode.IsRegular() && (isTempName(top) || isStale(top, want.first)) {
			continue
		}
		expected[name] = e
	}
	if !opts.ReadOnly && before.hasNewDataset(want) {
		expected[chunkmap.ManifestName] = after[chunkmap.ManifestName]
	}
	if diff := expected.diff(after); diff != "" {
		r.fatalf("successful Open (read-only %v) changed the directory beyond its cleanup: %s", opts.ReadOnly, diff)
	}

	// Writing past Size zero-fills the gap, whatever the chunk held there.
	if !opts.ReadOnly && want.chunkSize == chunkSize {
		end := want.size + gap
		if _, err := m.WriteAt([]byte{0xab}, end); err != nil {
			r.fatalf("WriteAt(1 byte, %d): %v", end, err)
		}
		got := make([]byte, gap+1)
		if _, err := m.ReadAt(got, want.size); err != nil {
			r.fatalf("ReadAt(%d bytes, %d): %v", gap+1, want.size, err)
		}
		if i := slices.IndexFunc(got[:gap], func(b byte) bool { return b != 0 }); i >= 0 || got[gap] != 0xab {
			r.fatalf("after WriteAt(1 byte, %d) the bytes from the old Size %d read %x", end, want.size, got)
		}
	}
	if err := m.Close(); err != nil {
		r.fatalf("Close: %v", err)
	}
}

// isStale reports whether name is a chunk below first, which Open removes
// if it is a regular file.
func isStale(name string, first int64) bool {
	i, ok := parseChunkName(name)
	return ok && i < first
}

// dirEntry is what a snapshot records of one file.
type dirEntry struct {
	mode fs.FileMode // type bits only
	size int64
	sum  [sha256.Size]byte
	data []byte // chunk files only, for the content check
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
			if strings.HasSuffix(rel, ".chunk") {
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

// hasNewDataset reports whether the prediction is a new dataset made in a
// directory without a manifest.
func (s dirSnapshot) hasNewDataset(p prediction) bool {
	_, ok := s[chunkmap.ManifestName]
	return !ok && p.class == "nil"
}

// diff describes how b differs from s, or returns "".
func (s dirSnapshot) diff(b dirSnapshot) string {
	var d []string
	for name, e := range s {
		f, ok := b[name]
		switch {
		case !ok:
			d = append(d, name+" removed")
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
	)
	return [][]byte{
		{truncated, 0x20},
		{dropped, 1},
		{empty, 0},
		{boundary, 0xe2},
		{truncated, 4},
		{truncated, 0, cGarbleManifest, 5, 0x10},
		{dropped, 2, cSetField, 3, 0, 0xff},
		{dropped, 0x40, cSetField, 3, 0, 1},
		{dropped, 0, cSetField, 3, 3, 6},
		{truncated, 0, cResizeChunk, 1, 1},
		{truncated, 0, cDeleteChunk, 1},
		{truncated, 0, cAddFile, fChunkTemp, 0x11, cAddFile, fManifestTemp, 1, cAddFile, fUnknown, 0},
		{empty, 0, cDeleteManifest},
		{empty, 1, cDeleteManifest},
		{truncated, 0, cDeleteManifest},
		{boundary, 0, cAddFile, fAfterLast, 0, cAddFile, fAfterGap, 0},
		{dropped, 0, cAddFile, fChunkDir, 0},
		{dropped, 0, cAddFile, fChunkDir, 1},
		{truncated, 0, cAddFile, fTempDir, 0},
		{truncated, 0xa0, cSetField, 4, 0, 0x10},
		{truncated, 0, cSetField, 4, 1, 0xff},
		{truncated, 0, cTruncateManifest, 20},
		{truncated, 0, cTruncateManifest, 0},
		{truncated, 0, cExtendManifest, 1, 0},
		{dropped, 0, cAddFile, fChunkSymlink, 0},
		{dropped, 0, cAddFile, fBelowFirst, 0x85},
		{truncated, 0, cManifestDir},
		{truncated, 0, cSetField, 0, 0, 1},
		{truncated, 0, cSetField, 1, 2, 0},
		{boundary, 0, cSetField, 2, 2, 17},
		{boundary, 0, cSetField, 2, 3, 2},
		{truncated, 0, cAddFile, fUpperHex, 0, cAddFile, fNegativeIndex, 0, cGarbleChunk, 2, 3, 9},
	}
}
