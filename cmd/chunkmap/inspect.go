package main

// This file holds the subcommands that look at a dataset without changing
// it: info and verify.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// dirScan is what a dataset directory holds, by kind of file.
type dirScan struct {
	manifest bool
	// manifestLinked says that the manifest is a regular file with more
	// than one name (hard links, as cp -al makes), which a read-write
	// Open refuses: another directory's writer may share its records and
	// state page. (Not known on Windows.)
	manifestLinked bool
	chunks         map[int64]chunkEntry // files with a chunk name, by index
	temps          []string             // leftovers of interrupted writes
	// badTemps are entries under a temporary name that are not regular
	// files: not leftovers of chunkmap, and a read-write Open refuses the
	// dataset while they are there.
	badTemps  map[string]fs.FileMode
	unknown   []string // everything chunkmap ignores
	files     int      // regular files of any kind
	allocated int64    // bytes the files take on disk
	apparent  int64    // sum of the file sizes
}

// lockFileName is the lock file chunkmap keeps in a dataset directory on
// Windows, where a directory itself cannot be locked.
const lockFileName = "LOCK"

// chunkEntry is what a scan keeps of a file with a chunk name: its size and
// mode, 16 bytes where its fs.FileInfo takes a few hundred, so that a
// dataset of a million chunks is scanned in tens of megabytes.
type chunkEntry struct {
	size int64
	mode fs.FileMode
	// key identifies the file where linked: it has other names (hard
	// links), perhaps another chunk's.
	key    vfs.FileID
	linked bool
}

// Size returns the file's size, as fs.FileInfo.Size does.
func (e chunkEntry) Size() int64 { return e.size }

// Mode returns the file's mode, as fs.FileInfo.Mode does.
func (e chunkEntry) Mode() fs.FileMode { return e.mode }

// scanBatch is how many directory entries scanDir reads at a time: a
// directory of a million chunk files is never held listed whole.
const scanBatch = 4096

// scanDir lists dir and sorts its entries into kinds.
func scanDir(dir string) (*dirScan, error) {
	d, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	s := &dirScan{chunks: make(map[int64]chunkEntry)}
	for {
		entries, err := d.ReadDir(scanBatch)
		if err := s.add(entries); err != nil {
			return nil, err
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(s.temps)
	slices.Sort(s.unknown)
	return s, nil
}

// scanEntries sorts a directory's entries into kinds.
func scanEntries(entries []fs.DirEntry) (*dirScan, error) {
	s := &dirScan{chunks: make(map[int64]chunkEntry)}
	if err := s.add(entries); err != nil {
		return nil, err
	}
	return s, nil
}

// add sorts entries, a part of a directory's listing, into s.
func (s *dirScan) add(entries []fs.DirEntry) error {
	for _, e := range entries {
		name := e.Name()
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			// Removed since the listing: a live writer's Truncate or
			// DropBefore (the tools open the dataset read-only, beside
			// it), or a temporary file renamed into place.
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			s.files++
			s.allocated += allocated(fi)
			s.apparent += fi.Size()
		}
		switch idx, isChunk := chunk.ParseName(name); {
		case name == chunkmap.ManifestName:
			s.manifest = true
			_, s.manifestLinked = vfs.Linked(fi)
			s.manifestLinked = s.manifestLinked && fi.Mode().IsRegular()
		case isChunk:
			key, linked := vfs.Linked(fi)
			s.chunks[idx] = chunkEntry{size: fi.Size(), mode: fi.Mode(), key: key, linked: linked}
		case (chunk.IsTemp(name) || name == chunkmap.ManifestName+".tmp") && !fi.Mode().IsRegular():
			if s.badTemps == nil {
				s.badTemps = make(map[string]fs.FileMode)
			}
			s.badTemps[name] = fi.Mode()
		case chunk.IsTemp(name) || name == chunkmap.ManifestName+".tmp":
			s.temps = append(s.temps, name)
		case name == lockFileName:
		default:
			s.unknown = append(s.unknown, name)
		}
	}
	return nil
}

// shownName returns name, a file's name in a directory the operator may
// not trust, as a report line may hold it: as it is where every character
// is printable, quoted otherwise. Printed raw, a newline in it ended the
// line and began what looked like one of the report's own ("  problem:
// ..."), and an escape sequence reached the terminal.
func shownName(name string) string {
	if utf8.ValidString(name) && !strings.ContainsFunc(name, func(r rune) bool { return !strconv.IsPrint(r) }) {
		return name
	}
	return strconv.Quote(name)
}

// badTempNames returns the names of badTemps, in order.
func (s *dirScan) badTempNames() []string { return slices.Sorted(maps.Keys(s.badTemps)) }

// badTempProblem says what is wrong with badTemps entry name, as info and
// verify report it.
func (s *dirScan) badTempProblem(name string) string {
	return fmt.Sprintf("%s is not a regular file (mode %v): a read-write Open refuses the dataset while it is there", name, s.badTemps[name])
}

// indices returns the chunk indices found, in order.
func (s *dirScan) indices() []int64 {
	idx := make([]int64, 0, len(s.chunks))
	for i := range s.chunks {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

// openReadOnly opens the dataset in dir for reading. A read-only Manager
// takes no lock, so it works while a writer has the dataset open.
func openReadOnly(dir string) (*chunkmap.Manager, error) {
	// datasetDir leaves a symlink it cannot follow (dangling, or a loop)
	// as it is, and Open refuses every symlink as a corrupt dataset; the
	// tool follows symlinks, so what is wrong is that the path does not
	// resolve, as verify, trim and salvage say.
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, err
		}
	}
	return chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 2})
}

// chunkRange describes n chunks from index first, e.g.
// "0000000000000000.chunk … 000000000000000f.chunk".
func chunkRange(first, n int64) string {
	switch n {
	case 0:
		return "none"
	case 1:
		return chunk.Name(first)
	}
	return chunk.Name(first) + " … " + chunk.Name(first+n-1)
}

func runInfo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("info")
	var cs sizeValue
	fs.Var(&cs, "chunk", "for a damaged dataset whose manifest has no valid record: the chunk `size` to assume (default: inferred from the chunk files)")
	pos, code, ok := parse(fs, args, 1,
		`Info prints the dataset's chunk size, its chunks, Start, Size and the
bytes its directory takes on disk. It opens the dataset read-only, so it
works while a writer has it open.

On a damaged dataset (one that Open refuses as corrupt) it prints what the
files say instead: the manifest's records and state page, the chunk files
present, and the damage, one line per fault; it warns on standard error and
exits with status 3. So it does, after describing the dataset as usual, when
only a read-write Open refuses it (something other than a regular file under
a temporary name, a manifest with more than one name), or when its state page says less than its manifest's
record (another program wrote over it): the Start and Size shown are then
the page's, which a read-only Open follows. 'chunkmap verify DIR' gives advice for each fault, and
'chunkmap salvage DIR OUT' copies what is readable.`, stdout, stderr)
	if !ok {
		return code
	}
	if code, ok := checkChunkSet(cs, "info", stderr); !ok {
		return code
	}
	dir := datasetDir(pos[0])
	m, err := openReadOnly(dir)
	if errors.Is(err, chunkmap.ErrCorrupt) {
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return infoDamaged(dir, cs.n, err, stdout, stderr)
		}
	}
	if errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist) {
		// verify may read no more than Open could, and of a directory
		// with no dataset it has nothing more to say.
		return fail(stderr, "info", err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "chunkmap info: %v\n(run 'chunkmap verify %s' for a full report)\n", err, cmdArg(dir))
		return exitFail
	}
	cs0, start, size, chunks := m.ChunkSize(), m.Start(), m.Size(), int64(m.Stats().Chunks)
	if err := m.Close(); err != nil {
		return fail(stderr, "info", err)
	}
	if err := chunkAgrees(cs, cs0); err != nil {
		return fail(stderr, "info", err)
	}
	scan, err := scanDir(dir)
	if err != nil {
		return fail(stderr, "info", err)
	}
	fmt.Fprintf(stdout, "dataset     %s\n", dir)
	fmt.Fprintf(stdout, "chunk size  %d (%s)\n", cs0, formatBytes(cs0))
	fmt.Fprintf(stdout, "chunks      %d (%s)\n", chunks, chunkRange(start/cs0, chunks))
	fmt.Fprintf(stdout, "start       %d (%s)\n", start, formatBytes(start))
	fmt.Fprintf(stdout, "size        %d (%s)\n", size, formatBytes(size))
	printDisk(stdout, dir, scan)
	if what := unfinishedSalvage(dir); what != "" {
		fmt.Fprintf(stdout, "damage      %s\n", what)
		fmt.Fprintf(stderr, "chunkmap info: warning: %s holds a partial salvage; remove it and salvage again\n", dir)
		return exitDamaged
	}
	// Open read-only follows a state page that another program wrote
	// over to say less than the manifest's record: the start and size
	// above are the page's, not the dataset's.
	if what, _, _, err := behindPage(dir); err != nil {
		return fail(stderr, "info", err)
	} else if what != "" {
		fmt.Fprintf(stdout, "damage      %s\n", what)
		fmt.Fprintf(stderr, "chunkmap info: warning: %s: the start and size shown are its state page's, not its manifest record's\n", dir)
		return exitDamaged
	}
	// Where the newest record may be the damaged one, or the state page
	// is, the chunk files past the valid record's Size may hold data.
	if what, err := pastDamagedRecord(dir, func() (*dirScan, error) { return scan, nil }, cs0, size); err != nil {
		return fail(stderr, "info", err)
	} else if what != "" {
		fmt.Fprintf(stdout, "damage      %s\n", what)
		fmt.Fprintf(stderr, "chunkmap info: warning: %s: the size shown is the valid record's, and the dataset may hold more (see the damage line)\n", dir)
		return exitDamaged
	}
	// A read-only Open ignores temporary names, but a read-write Open
	// refuses a dataset while one of them is no regular file: the
	// dataset's bytes are intact, yet no writer can open it.
	if len(scan.badTemps) > 0 {
		names := scan.badTempNames()
		for _, name := range names {
			fmt.Fprintf(stdout, "damage      %s\n", scan.badTempProblem(name))
		}
		fmt.Fprintf(stderr, "chunkmap info: warning: %s cannot be opened for writing while %s is there; run 'chunkmap verify %s' for advice\n",
			dir, strings.Join(names, ", "), cmdArg(dir))
		return exitDamaged
	}
	// So does a read-write Open, a manifest with more than one name; but
	// for one of version 1, which the Open that upgrades it replaces.
	if scan.manifestLinked && readManifestView(dir, "").version != 1 {
		fmt.Fprintf(stdout, "damage      %s has more than one name (hard links): another directory's writer may share its records and state page\n", chunkmap.ManifestName)
		fmt.Fprintf(stderr, "chunkmap info: warning: %s cannot be opened for writing while its %s has more than one name; run 'chunkmap verify %s' for advice\n",
			dir, chunkmap.ManifestName, cmdArg(dir))
		return exitDamaged
	}
	return exitOK
}

// printDisk prints the lines of info about the directory's files.
func printDisk(w io.Writer, dir string, scan *dirScan) {
	fmt.Fprintf(w, "on disk     %d (%s) in %d files\n", scan.allocated, formatBytes(scan.allocated), scan.files)
	if extra := len(scan.temps) + len(scan.badTemps) + len(scan.unknown); extra > 0 {
		fmt.Fprintf(w, "other files %d (run 'chunkmap verify %s' to list them)\n", extra, cmdArg(dir))
	}
}

// infoDamaged is info for a dataset that Open refused with openErr: what
// its files say, read directly.
func infoDamaged(dir string, chunkSize int64, openErr error, stdout, stderr io.Writer) int {
	s, err := surveyDir(dir, chunkSize)
	if err != nil {
		return fail(stderr, "info", err)
	}
	if s.cs == 0 && s.mv.best >= 0 {
		// -chunk disagrees with the manifest: the chunk files cannot be
		// checked, so the damage could not be listed.
		return fail(stderr, "info", fmt.Errorf("%v\n(%s is damaged: %v)", s.csErr, dir, openErr))
	}
	fmt.Fprintf(stderr, "chunkmap info: warning: %s is damaged (%s); this is what its files say\n", dir, s.damage(openErr))
	fmt.Fprintf(stdout, "dataset     %s\n", dir)
	fmt.Fprintf(stdout, "damaged     %d problem(s): run 'chunkmap verify %s' for advice, 'chunkmap salvage %s OUT' to copy what is readable\n",
		len(s.faults), cmdArg(dir), cmdArg(dir))
	mv := &s.mv
	switch {
	case !mv.present:
		fmt.Fprintf(stdout, "manifest    missing\n")
	case mv.err != nil:
		fmt.Fprintf(stdout, "manifest    unreadable: %v\n", mv.err)
	default:
		fmt.Fprintf(stdout, "manifest    format version %d, %d bytes\n", mv.version, mv.length)
		for i, r := range mv.recs {
			label := recordName(mv.version, i)
			switch {
			case !r.ok:
				fmt.Fprintf(stdout, "  %-9s damaged: %v\n", label, r.err)
			case i == mv.best:
				fmt.Fprintf(stdout, "  %-9s %s (the newest valid record)\n", label, mv.recordSummary(i))
			default:
				fmt.Fprintf(stdout, "  %-9s %s\n", label, mv.recordSummary(i))
			}
		}
		if p := mv.page; p != nil && p.magic {
			fmt.Fprintf(stdout, "  state page start %d, size %d, epoch %d, boot %q (this boot: %v), clean %v\n",
				p.start, p.size, p.epoch, p.boot, p.live, p.clean)
		} else if p != nil {
			fmt.Fprintf(stdout, "  state page never set up by a writer\n")
		}
	}
	switch {
	case s.cs == 0:
		fmt.Fprintf(stdout, "chunk size  unknown: %v\n", s.csErr)
	case s.extentErr != nil:
		fmt.Fprintf(stdout, "chunk size  %d (%s), from %s\n", s.cs, formatBytes(s.cs), s.csFrom)
		fmt.Fprintf(stdout, "extent      %v\n", s.extentErr)
	default:
		fmt.Fprintf(stdout, "chunk size  %d (%s), from %s\n", s.cs, formatBytes(s.cs), s.csFrom)
		fmt.Fprintf(stdout, "start       %d (%s), from %s\n", s.start, formatBytes(s.start), s.extentFrom)
		fmt.Fprintf(stdout, "size        %d (%s)\n", s.size, formatBytes(s.size))
		fmt.Fprintf(stdout, "needs       %d chunks (%s)\n", s.end-s.first, chunkRange(s.first, s.end-s.first))
	}
	fmt.Fprintf(stdout, "present     %d chunk files (%s)\n", len(s.scan.chunks), s.present(8))
	for _, f := range s.faults {
		fmt.Fprintf(stdout, "damage      %s\n", f.what)
	}
	if s.known() {
		lost := s.lostBytes()
		fmt.Fprintf(stdout, "lost        %d (%s) of %d bytes\n", lost, formatBytes(lost), s.size-s.start)
	}
	if what := unfinishedSalvage(dir); what != "" {
		fmt.Fprintf(stdout, "damage      %s\n", what)
	}
	for _, n := range s.notes {
		fmt.Fprintf(stdout, "note        %s\n", n)
	}
	printDisk(stdout, dir, s.scan)
	return exitDamaged
}

const verifyHelp = `Verify checks that DIR holds a consistent dataset: a manifest with a valid
record, and chunk files with canonical names and the chunk size, following
each other without a gap and covering Size. It reads the manifest and the
chunk files directly, read-only; only if they show no fault does it open
the dataset too (read-only), as a last check. It changes nothing. It
reports one problem per fault (a missing chunk, a chunk cut short, a
damaged manifest), each with the bytes it loses and advice, and exits with
status 1 if there is one. Files left by an interrupted write,
which the next read-write Open cleans up, and files chunkmap does not know
are listed as notes.

With -read it also reads every byte of [Start, Size) from the chunk files,
to find I/O errors (with a progress line on standard error when it is a
terminal), but for the holes of sparse chunk files, which have no blocks
that could fail: on Linux, on ext4, XFS, btrfs and tmpfs, lseek's
SEEK_DATA tells where they are, and they are passed over and counted.

What verify cannot detect: there are no data checksums. Bytes overwritten
or zeroed inside a chunk file of the right size pass verify and verify -read
alike; only checksums the application keeps in its own data can find them.`

// problem is one fault in verify's report.
type problem struct {
	what, advice string
}

func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("verify")
	readAll := fs.Bool("read", false, "also read every byte in [Start, Size), to find I/O errors (not overwritten bytes: there are no data checksums)")
	var cs sizeValue
	fs.Var(&cs, "chunk", "when the manifest has no valid record: the chunk `size` to check the chunk files against (default: inferred from them)")
	pos, code, ok := parse(fs, args, 1, verifyHelp, stdout, stderr)
	if !ok {
		return code
	}
	if code, ok := checkChunkSet(cs, "verify", stderr); !ok {
		return code
	}
	dir := datasetDir(pos[0])
	fi, err := os.Stat(dir)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	if !fi.IsDir() {
		return fail(stderr, "verify", fmt.Errorf("%s is not a directory", dir))
	}
	s, err := surveyDir(dir, cs.n)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	if s.cs == 0 && s.mv.best >= 0 {
		return fail(stderr, "verify", s.csErr) // -chunk disagrees with the manifest
	}
	var problems []problem
	if what := unfinishedSalvage(dir); what != "" {
		problems = append(problems, problem{what, "remove the directory (empty it, if it is a mount point), and salvage the damaged dataset again"})
	}
	for _, f := range s.faults {
		problems = append(problems, problem{f.what, f.advice})
	}
	notes := s.notes
	if s.known() && (s.mv.best < 0 || s.disowned != 0) {
		why := "the manifest has no valid record"
		if s.disowned != 0 {
			why = "the manifest is not these chunk files'"
		}
		notes = append(notes, fmt.Sprintf("%s: the chunk files were checked against chunk size %d, from %s, and Start %d and Size %d, from %s",
			why, s.cs, s.csFrom, s.start, s.size, s.extentFrom))
	}
	for _, name := range s.scan.temps {
		notes = append(notes, fmt.Sprintf("%s is a temporary file left by an interrupted write; the next read-write Open deletes it", name))
	}
	// A note each for the first files chunkmap ignores, then a count: a
	// directory of thousands of stray files would bury the problems.
	const strayNotes = 20
	var strays int
	for _, name := range s.scan.unknown {
		if name == salvageMarker {
			continue // a problem, above
		}
		if strays++; strays > strayNotes {
			continue
		}
		shown := shownName(name)
		if hex, ok := strings.CutSuffix(name, chunk.Ext); ok && chunk.IndexDigits(hex) {
			notes = append(notes, fmt.Sprintf("%s names a chunk index past the largest chunkmap uses (%#x); chunkmap ignores it", shown, int64(math.MaxInt64)))
		} else if idx, canon := chunk.ParseName(strings.ToLower(name)); ok && canon {
			// Upper-case hex, say: the chunk it would be may be one
			// reported missing above.
			notes = append(notes, fmt.Sprintf("%s is not a canonical chunk name (16 lower-case hex digits); chunkmap ignores it (if it holds chunk %d, rename it %s)", shown, idx, chunk.Name(idx)))
		} else if ok {
			notes = append(notes, fmt.Sprintf("%s is not a canonical chunk name (16 lower-case hex digits); chunkmap ignores it", shown))
		} else {
			notes = append(notes, fmt.Sprintf("%s is not part of the dataset; chunkmap ignores it", shown))
		}
	}
	if strays > strayNotes {
		notes = append(notes, fmt.Sprintf("and %d more files that are not part of the dataset; chunkmap ignores them", strays-strayNotes))
	}

	var unread, holes int64
	if *readAll && s.known() {
		var err error
		if unread, holes, err = verifyRead(s, stderr, &problems); err != nil {
			return fail(stderr, "verify", err)
		}
	}
	if len(problems) == 0 && s.known() {
		// A last check with the library itself, for anything the survey
		// does not model. Nothing above found a fault, so a failure here
		// is the one problem.
		m, err := openReadOnly(dir)
		if err == nil {
			err = m.Close()
		}
		if err != nil {
			problems = append(problems, problem{fmt.Sprintf("open: %v", err), s.salvageAdvice("the files look consistent, but Open refuses them", "")})
		}
	}

	if len(problems) == 0 {
		n := s.end - s.first
		fmt.Fprintf(stdout, "verify %s: OK\n", dir)
		fmt.Fprintf(stdout, "  %d chunks of %s (%s), start %d, size %d\n",
			n, formatBytes(s.cs), chunkRange(s.first, n), s.start, s.size)
		switch {
		case *readAll && holes == 0:
			fmt.Fprintf(stdout, "  read %d bytes without error (this finds I/O errors, not overwritten bytes: there are no data checksums)\n", s.size-s.start)
		case *readAll:
			fmt.Fprintf(stdout, "  read %d bytes without error, and passed over %d in holes, which have no blocks to fail (this finds I/O errors, not overwritten bytes: there are no data checksums)\n",
				s.size-s.start-holes, holes)
		}
	} else {
		fmt.Fprintf(stdout, "verify %s: FAILED, %d problem(s)\n", dir, len(problems))
		for _, p := range problems {
			fmt.Fprintf(stdout, "  problem: %s\n", p.what)
			if p.advice != "" {
				fmt.Fprintf(stdout, "    advice: %s\n", p.advice)
			}
		}
		switch {
		case *readAll && s.known() && holes == 0:
			fmt.Fprintf(stdout, "  read %d of the %d bytes of [Start, Size); %d could not be read (see the problems)\n", s.size-s.start-unread, s.size-s.start, unread)
		case *readAll && s.known():
			fmt.Fprintf(stdout, "  read %d of the %d bytes of [Start, Size) and passed over %d in holes; %d could not be read (see the problems)\n",
				s.size-s.start-unread-holes, s.size-s.start, holes, unread)
		}
	}
	for _, n := range notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "chunkmap verify: %s is not a consistent dataset (%d problem(s))\n", dir, len(problems))
		return exitFail
	}
	return exitOK
}

// verifyRead reads every byte of [Start, Size) that the chunk files hold,
// but for their holes (see chunkReader.hole), and adds a problem for each
// chunk file that cannot be opened or read (the faults the survey found
// from the files' sizes and types are already problems). It returns the bytes that could not be read, or the error of
// a chunk file this user may not open, which is no problem of the
// dataset's. It also returns the bytes it passed over in holes, which
// have no blocks to read.
func verifyRead(s *survey, stderr io.Writer, problems *[]problem) (unread, holes int64, err error) {
	r := newChunkReader(s)
	m := newMeter(stderr, "verify -read", s.size-s.start)
	var (
		order   []int64
		byChunk = make(map[int64][]lostRange)
	)
	// data is a no-op: the read itself is the check. A hole has no blocks
	// that could fail to read: it is passed over.
	r.hole = func(_, n int64) error {
		holes += n
		return nil
	}
	err = r.read(s.start, s.size, func(int64, []byte) error { return nil }, func(l lostRange) {
		unread += l.to - l.from
		if l.kind != lossOpen && l.kind != lossRead {
			return
		}
		if _, ok := byChunk[l.first]; !ok {
			order = append(order, l.first)
		}
		byChunk[l.first] = append(byChunk[l.first], l)
	}, m)
	m.finish()
	if err != nil {
		return 0, 0, err
	}
	for _, i := range order {
		ls := byChunk[i]
		var n int64
		var ranges []string
		for k, l := range ls {
			n += l.to - l.from
			if k < 8 {
				ranges = append(ranges, fmt.Sprintf("[%d, %d)", l.from, l.to))
			} else if k == 8 {
				ranges = append(ranges, fmt.Sprintf("and %d more", len(ls)-k))
			}
		}
		*problems = append(*problems, problem{
			fmt.Sprintf("%s %s: %d bytes are lost, %s", chunk.Name(i), ls[0].why, n, strings.Join(ranges, ", ")),
			s.salvageAdvice("restore it from a backup if there is one, or check the device", ""),
		})
	}
	return unread, holes, nil
}
