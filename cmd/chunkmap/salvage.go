package main

// This file holds the salvage subcommand: copy every readable byte of a
// damaged dataset into a new dataset or a flat file, with zeros where bytes
// are lost, and say exactly which bytes those are.
//
// salvage never changes DIR: it reads the manifest and the chunk files
// directly, read-only (survey.go), and never calls chunkmap.Open on DIR, not
// even read-only, so no cleanup, upgrade or lock can touch it. OUT must be
// new (or an empty directory), and must not lie inside DIR. OUT names
// nothing partial after a kill or a power loss: the copy is made under a
// temporary name beside it and renamed once whole and durable, or, where
// no rename can replace OUT, marked partial inside it (datasetSink).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/stop"
	"github.com/chunkmap/chunkmap/internal/units"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

const salvageHelp = `Salvage copies every readable byte of the dataset in DIR, damaged or not,
into a new dataset OUT (created with the same chunk size, Start and Size, so
every byte keeps its offset), or with -flat into a new flat file OUT holding
the bytes [Start, Size) (file offset 0 is dataset offset Start). What cannot
be read (missing chunk files, chunk files cut short, files that are not
regular, read errors) becomes zeros in OUT, and every such range is listed
with its chunk file and the reason.

The chunk size comes from the manifest when one of its records is valid;
otherwise from -chunk; otherwise it is inferred from the chunk files (the
size most of them have, when it is a valid chunk size and none is larger).
A manifest whose valid record names a chunk size that no chunk file has,
while they agree on another, or an extent that holds no chunk file while
some lie below it, is another dataset's: it counts as having no valid
record. Start and Size come from the manifest as Open would take them (the
state page a writer of this boot left, else the newest valid record; the
record, too, where the page says less than it, which no writer leaves
beside an intact other record), else
from the state page alone, else from the chunk files present (Size is then
the end of the last one). Where the manifest's other record is damaged (not
merely never written), it may have recorded more than the valid one, and
where its state page is damaged (written over by another program), it may
have held the larger Size of a writer that died after its last Sync; so
Size runs on (past a record, not past a state page of this boot) to the
end of the last chunk file present, and what is
missing past the valid record's Size is listed as not copied, not as lost;
and where every chunk from the valid record's Start up to the first chunk
file present is missing, a DropBefore that the damaged record recorded
most likely deleted them, and the new dataset starts at that file.
The output says which source it used. An extent that OUT cannot hold (a
stray chunk file far from the rest stretches one taken from the chunk
files) is refused before anything is copied, and OUT is left as it was.

OUT is sparse where the copy holds zeros. On Linux, on ext4, XFS, btrfs
and tmpfs, salvage reads no holes of DIR's chunk files (lseek's SEEK_DATA
tells where they are): a sparse dataset of 1 GiB chunks is copied in the
time its data takes.

DIR is only read: salvage opens every file read-only and never opens DIR as
a dataset, so nothing in it is cleaned up or rewritten. OUT must not exist
(or be an empty directory) and must not lie inside DIR. There are no data
checksums: salvage cannot tell bytes overwritten inside a chunk file from
good ones; it recovers what the files hold.

Exit status: 0 when every byte was copied, 3 when some were lost (zeros in
their place; the ranges are listed), when two chunk names are one file
(hard links), when Size came from the chunk files (the copy may then run
past the true Size), or when DIR is a partial salvage, 1 when salvage
could not run, OUT could not be written, or a writer that has the dataset
open cut it while salvage read it (run salvage again once it has closed
the dataset), 2 for a usage error. A salvage that fails, or that Ctrl-C,
SIGTERM or SIGHUP stop, removes what it wrote into OUT. A progress line
goes to standard error when it is a terminal.

A dataset OUT is built in a temporary directory beside it,
.OUT.salvage-N.tmp, and renamed to OUT only once it is whole and synced
(chunk files, manifest, directory), after which OUT's parent is synced: a
salvage killed by SIGKILL, a crash or a power loss leaves OUT missing, or
the empty directory it was, and the temporary directory beside it, which
nothing reads (no later salvage, verify or info of OUT): remove it with
rm -r. An empty directory given as OUT is replaced so, keeping its mode,
owner and group (not its ACLs or extended attributes); run as root into
another user's directory, salvage gives the dataset's files its owner and
group too. Where it cannot be
replaced (a mount point, a parent this user may not write, another user's
directory when salvage does not run as root, "."), salvage copies into OUT
itself, with a file SALVAGE-INCOMPLETE in it until the copy is whole and
synced: a salvage killed then leaves it, and verify reports it, info warns,
salvage refuses such an OUT and warns of such a DIR (status 3); remove
OUT's contents and salvage again. A
flat OUT is written under a temporary name beside it, OUT.salvage-N.tmp
(what a kill leaves), and given OUT's name once whole and synced.`

func runSalvage(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("salvage")
	var cs sizeValue
	fs.Var(&cs, "chunk", "chunk `size` to assume when the manifest has no valid record (default: inferred from the chunk files)")
	flat := fs.Bool("flat", false, "write a flat file of the bytes [Start, Size) instead of a dataset")
	pos, code, ok := parse(fs, args, 2, salvageHelp, stdout, stderr)
	if !ok {
		return code
	}
	if code, ok := checkChunkSet(cs, "salvage", stderr); !ok {
		return code
	}
	// Ctrl-C, SIGTERM or SIGHUP stop the copy, and OUT is removed: left
	// to the defaults, they ended the process at once, and a dataset
	// OUT, grown to the whole extent before the copy, read like a whole
	// salvage. The Stopper watches the stop signals alone, not the
	// output nor SIGPIPE, which a write to a pipe with no reader raises
	// (chunkmap salvage DIR OUT | true): a closed standard output is no
	// reason to throw away a copy, which is what salvage makes.
	// A failed standard output is reported while SIGPIPE is still held
	// (see outputChecked).
	s := stop.Signals()
	defer s.Release()
	code = salvage(salvageConfig{ctx: s.Context(), dir: datasetDir(pos[0]), out: pos[1], chunkSize: cs.n, flat: *flat}, stdout, stderr)
	return outputChecked("chunkmap salvage", stdout, stderr, code)
}

// salvageConfig is one salvage.
type salvageConfig struct {
	// ctx stops the copy when it is done (a stop signal); nil means
	// it runs to the end.
	ctx       context.Context
	dir, out  string
	chunkSize int64 // -chunk; 0 if not given
	flat      bool
	// open opens a chunk file of dir; nil means openChunkFile. Tests set
	// it to inject read errors.
	open func(path string) (chunkFile, error)
	// syncDir fsyncs a directory; nil means vfs.OS.SyncDir. Tests set it
	// to see which directories are synced, and when.
	syncDir func(dir string) error
}

// salvage runs cfg and returns the exit status.
func salvage(cfg salvageConfig, stdout, stderr io.Writer) int {
	if fi, err := os.Stat(cfg.dir); err != nil {
		return fail(stderr, "salvage", err)
	} else if !fi.IsDir() {
		return fail(stderr, "salvage", fmt.Errorf("%s is not a directory", cfg.dir))
	}
	if err := checkOut(cfg.dir, cfg.out, cfg.flat); err != nil {
		return fail(stderr, "salvage", err)
	}
	s, err := surveyWide(cfg.dir, cfg.chunkSize)
	if err != nil {
		return fail(stderr, "salvage", err)
	}
	if !s.mv.present && len(s.scan.chunks) == 0 {
		return fail(stderr, "salvage", fmt.Errorf("%s holds no dataset: no %s and no chunk files", cfg.dir, chunkmap.ManifestName))
	}
	if !s.known() {
		return fail(stderr, "salvage", s.unknown())
	}

	r := newChunkReader(s)
	if cfg.open != nil {
		r.open = cfg.open
	}
	if err := r.checkAccess(s.start, s.size); err != nil {
		return fail(stderr, "salvage", fmt.Errorf("%w (nothing was copied: salvage copies what damage spared, and a file this user may not read is not damaged)", err))
	}

	var dst sink
	sync := cfg.syncDir
	if sync == nil {
		sync = vfs.OS.SyncDir
	}
	if cfg.flat {
		dst, err = createFlat(cfg.out, s.start, sync)
	} else {
		dst, err = createDataset(cfg.out, s.cs, s.start, sync)
	}
	if err != nil {
		return fail(stderr, "salvage", err)
	}
	// The whole extent is set up before anything is copied, so that one
	// OUT cannot hold (a stray chunk file far from the rest stretched it
	// past the free space or the file size limit) fails here, with
	// nothing copied and OUT as it was, not partway.
	if err := dst.reserve(s.size); err != nil {
		// A stray chunk file can stretch only an extent the chunk
		// files gave: one from the manifest is the dataset's own.
		advice := fmt.Sprintf("make room for it where %s goes, or salvage into another file system", cfg.out)
		if s.fromFiles {
			advice = fmt.Sprintf("if a chunk file far from the rest stretched the extent, move it out of a copy of %s, or restore the manifest, and salvage the copy", cfg.dir)
		}
		return fail(stderr, "salvage", fmt.Errorf("the extent [%d, %d) (%s) is too large to copy into %s: %w; nothing was copied (%s)",
			s.start, s.size, formatBytes(s.size-s.start), cfg.out, errors.Join(err, dst.discard()), advice))
	}
	// The header comes once OUT is made and holds the extent: a salvage
	// that could not begin prints its error alone, not the start of a
	// copy that never was.
	kind := "a new dataset"
	if cfg.flat {
		kind = "a flat file"
	}
	fmt.Fprintf(stdout, "salvage %s into %s (%s)\n", cfg.dir, cfg.out, kind)
	fmt.Fprintf(stdout, "  chunk size %d (%s), from %s\n", s.cs, formatBytes(s.cs), s.csFrom)
	fmt.Fprintf(stdout, "  start      %d, size %d (%s of data), from %s\n", s.start, s.size, formatBytes(s.size-s.start), s.extentFrom)
	for _, f := range s.faults {
		if f.from == f.to { // the losses are listed from the copy itself
			fmt.Fprintf(stdout, "  damage: %s\n", f.what)
		}
	}
	// DIR may itself be a salvage killed in place: its zeros where that
	// copy had not reached read like data, and OUT, unmarked, would pass
	// verify. Say so, and exit as for lost bytes.
	partial := unfinishedSalvage(cfg.dir)
	if partial != "" {
		fmt.Fprintf(stdout, "  damage: %s\n", partial)
	}
	var (
		lost, unsure    []lostRange
		copied, lostLen int64
	)
	zeros := make([]byte, len(r.buf))
	m := newMeter(stderr, "salvage", s.size-s.start)
	ctx := cfg.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	r.hole = func(int64, n int64) error {
		// OUT is sparse where nothing is written: a hole is copied.
		copied += n
		return stopErr(ctx)
	}
	err = r.read(s.start, s.size, func(off int64, p []byte) error {
		if err := stopErr(ctx); err != nil {
			return err
		}
		copied += int64(len(p))
		// OUT reads as zeros where nothing is written: leave it sparse.
		if bytes.Equal(p, zeros[:len(p)]) {
			return nil
		}
		return dst.write(p, off)
	}, func(l lostRange) {
		if w := s.widened; w > 0 && l.to > w {
			// Past the valid record's Size the bytes were perhaps never
			// the dataset's: what is missing there is noted, not lost.
			if l.from < w {
				head := l
				head.to = w
				lost = append(lost, head)
				lostLen += w - l.from
				l.from = w
			}
			unsure = append(unsure, l)
			return
		}
		lost = append(lost, l)
		lostLen += l.to - l.from
	}, m)
	m.finish()
	// A writer that has the dataset open may cut it while salvage reads:
	// the chunk files it deletes then look missing, and those it makes
	// anew hold its later bytes. That is no damage, and the copy is no
	// copy of one moment, yet it would read like a whole one (verify
	// passes it), and it would keep the salvage run again from OUT: it
	// is checked for before OUT gets the copy, and such a copy removed.
	var cut bool
	if err == nil {
		cut, err = cutMeanwhile(s, cfg)
	}
	if err == nil {
		err = dst.finish(s.size)
	} else {
		err = errors.Join(err, dst.discard())
	}
	if err != nil {
		if dst.whole() {
			return fail(stderr, "salvage", fmt.Errorf("%w (%s holds the whole copy, but a power loss may take it)", err, cfg.out))
		}
		if cut {
			fmt.Fprintf(stdout, "salvage %s: a writer changed the dataset meanwhile; the copy was removed\n", cfg.dir)
		}
		// The copy was written under a temporary name, or into OUT
		// itself where that could not be renamed: it is removed again.
		return fail(stderr, "salvage", fmt.Errorf("%w (%s was not written)", err, cfg.out))
	}

	if s.narrowed {
		fmt.Fprintf(stdout, "  not copied [%d, %d) (%s), below the first chunk file present: no chunk file holds it; most likely a DropBefore that the damaged %s recorded dropped it, and if not, it is lost\n",
			s.narrowedFrom, s.start, formatBytes(s.start-s.narrowedFrom), recordName(s.mv.version, 1-s.mv.best))
	}
	if s.shortened {
		fmt.Fprintf(stdout, "  not copied [%d, %d) (%s), past the last chunk file present: no chunk file holds it; most likely a Truncate that the damaged %s recorded cut it, and if not, it is lost\n",
			s.size, s.shortenedFrom, formatBytes(s.shortenedFrom-s.size), recordName(s.mv.version, 1-s.mv.best))
	}
	for _, l := range lost {
		fmt.Fprintf(stdout, "  lost [%d, %d) (%s): %s\n", l.from, l.to, formatBytes(l.to-l.from), l.describe())
	}
	for _, l := range unsure {
		fmt.Fprintf(stdout, "  not copied [%d, %d) (%s), past the valid record's size %d: %s\n", l.from, l.to, formatBytes(l.to-l.from), s.widened, l.describe())
	}
	for _, n := range s.notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	switch {
	case lostLen == 0 && partial == "" && s.linked == 0 && (s.fromFiles || s.shortened):
		// Every byte was read, but Size is a guess (the end of the
		// last chunk file): a status of success would let a script
		// take the copy for an exact one.
		fmt.Fprintf(stdout, "salvage %s: copied all %d bytes into %s; none unreadable, but Size came from the chunk files (see above): the copy may run past the dataset's true Size\n",
			cfg.dir, copied, cfg.out)
		fmt.Fprintf(stderr, "chunkmap salvage: the Size of %s is not known for certain (see above): %s runs to the end of the last chunk file, and may hold bytes past the true Size (zeros, or writes no Sync acknowledged)\n",
			cfg.dir, cfg.out)
	case lostLen == 0 && partial == "" && s.linked == 0 && s.narrowed:
		fmt.Fprintf(stdout, "salvage %s: copied all %d bytes the chunk files present hold into %s; the ranges without one were not copied (see above)\n",
			cfg.dir, copied, cfg.out)
		return exitOK
	case lostLen == 0 && partial == "" && s.linked == 0:
		fmt.Fprintf(stdout, "salvage %s: copied all %d bytes into %s; nothing lost\n", cfg.dir, copied, cfg.out)
		return exitOK
	case lostLen == 0 && partial == "":
		// Every byte was read, but not every chunk's own: a status of
		// success would let a script take the copy for a whole one.
		fmt.Fprintf(stdout, "salvage %s: copied all %d bytes into %s; none unreadable, but %s of chunk names are one file each (listed above): one chunk of each pair holds the other's bytes\n",
			cfg.dir, copied, cfg.out, units.Count(s.linked, "pair"))
		fmt.Fprintf(stderr, "chunkmap salvage: %s of chunk files of %s are one file each (hard links): %s holds the file's bytes in both chunks of each pair, and one of the two is not that chunk's own\n",
			units.Count(s.linked, "pair"), cfg.dir, cfg.out)
	case lostLen == 0:
		fmt.Fprintf(stdout, "salvage %s: copied all %d bytes into %s; none unreadable, but %s is a partial salvage\n", cfg.dir, copied, cfg.out, cfg.dir)
	default:
		fmt.Fprintf(stdout, "salvage %s: copied %d bytes into %s; %d bytes lost in %d range(s), zeros in their place\n",
			cfg.dir, copied, cfg.out, lostLen, len(lost))
		fmt.Fprintf(stderr, "chunkmap salvage: %d bytes of %s could not be read (%d range(s), listed above); %s has zeros there\n",
			lostLen, cfg.dir, len(lost), cfg.out)
	}
	if partial != "" {
		fmt.Fprintf(stderr, "chunkmap salvage: %s holds a salvage that did not finish (%s): %s may hold zeros where that salvage had not reached; salvage the dataset it copied again if it is still there\n",
			cfg.dir, salvageMarker, cfg.out)
	}
	return exitDamaged
}

// cutMeanwhile reports whether a writer cut the dataset of survey s, or
// dropped chunks or reopened it, since s read its manifest: salvage calls
// it once the copy has read DIR. Where it was cut, the error says so and
// what to do; salvage then keeps no copy.
func cutMeanwhile(s *survey, cfg salvageConfig) (bool, error) {
	boot, err := vfs.OS.BootID()
	if err != nil {
		return false, fmt.Errorf("cannot tell whether a writer changed %s while salvage read it: read the boot ID: %w", cfg.dir, err)
	}
	if !s.mv.cutIn(readManifestView(cfg.dir, boot)) {
		return false, nil
	}
	return true, fmt.Errorf("a writer changed %s while salvage read it (it cut the dataset, dropped chunks or reopened it): the copy could mix bytes from before and after the change, and what it could not read could be the writer's changes, not damage; run salvage again once the writer has closed the dataset", cfg.dir)
}

// checkOut refuses an OUT that exists (other than an empty directory, for
// a dataset), that lies inside DIR, where creating it would change DIR, or
// that ends in a separator, for a flat file.
func checkOut(dir, out string, flat bool) error {
	if flat && trimSeparators(out) != out {
		// The kernel takes "new/" for a directory: the copy, made
		// beside it, could not take its name (ENOTDIR) once whole.
		return fmt.Errorf("%s ends in a separator, which names a directory: salvage -flat writes a file", out)
	}
	realDir, err := resolve(dir)
	if err != nil {
		return err
	}
	realOut, err := resolve(out)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(realDir, realOut); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("OUT %s lies inside DIR %s: salvage never writes into DIR", out, dir)
	}
	// The same directory may also be reached by another path that no
	// symlink explains (a bind mount): compare each existing directory
	// on OUT's path with DIR itself.
	if dfi, err := os.Stat(realDir); err == nil {
		for p := realOut; ; p = filepath.Dir(p) {
			if fi, err := os.Stat(p); err == nil && os.SameFile(fi, dfi) {
				return fmt.Errorf("OUT %s lies inside DIR %s (as %s, another path to it): salvage never writes into DIR", out, dir, p)
			}
			if p == filepath.Dir(p) {
				break
			}
		}
	}
	fi, err := os.Lstat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case flat:
		return fmt.Errorf("%s already exists: salvage -flat writes only a new file", out)
	case fi.Mode()&fs.ModeSymlink != 0:
		// Not followed: whoever may write its directory may point it
		// elsewhere between the check and the copy.
		return fmt.Errorf("%s already exists, as a symlink: salvage writes only into a new or empty directory, and follows no symlink there (give the path it points to)", out)
	case !fi.IsDir():
		return fmt.Errorf("%s already exists and is not a directory: salvage writes only into a new or empty directory", out)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == salvageMarker {
			return fmt.Errorf("%s holds a salvage that did not finish (%s is there): remove it and salvage again", out, salvageMarker)
		}
	}
	for _, e := range entries {
		if e.Name() == chunkmap.ManifestName {
			return fmt.Errorf("%s already holds a dataset: salvage writes only into a new or empty directory", out)
		}
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s already holds %d file(s): salvage writes only into a new or empty directory", out, len(entries))
	}
	return nil
}

// sink is where salvage writes.
type sink interface {
	// write writes p at dataset offset off.
	write(p []byte, off int64) error
	// reserve sets the end to dataset offset size before anything is
	// written: it fails where OUT cannot hold the extent.
	reserve(size int64) error
	// finish sets the end to dataset offset size, syncs and closes;
	// where that fails, it removes what the sink created, unless OUT
	// holds the whole copy by then (see whole).
	finish(size int64) error
	// discard closes and removes what the sink created, leaving OUT as
	// it was before salvage, after a failure: a partial copy left under
	// OUT's name would read like a whole one (zeros where nothing was
	// copied yet), and a second salvage would refuse it.
	discard() error
	// whole reports whether OUT names the whole, synced copy, which an
	// error of finish then leaves (a directory's fsync failed).
	whole() bool
}

// salvageMarker is the file that stands in a dataset salvage is still
// copying into, from before its first chunk file until the copy is whole
// and synced: a salvage killed or cut by a power loss leaves it, and
// verify, info and the next salvage say that the directory holds a partial
// copy, which would otherwise open with the whole Size, zeros where
// nothing was copied yet, like a whole one. chunkmap ignores files it does
// not know, so the library opens the dataset all the same.
const salvageMarker = "SALVAGE-INCOMPLETE"

// datasetSink is a new dataset. It is built in a temporary directory
// beside OUT (.OUT.salvage-N.tmp) that takes OUT's name only once the copy
// is whole and durable, as a flat copy is. Where the rename cannot give it
// OUT's name (OUT is an empty directory that is a mount point, or that
// this user may write but not replace), it is built in OUT itself, and
// salvageMarker marks it partial until it is whole.
type datasetSink struct {
	m     *chunkmap.Manager
	start int64
	// out is OUT as the kernel resolves it (see outPath), name as the
	// user gave it, for messages.
	out, name string
	// dir is where the dataset is built: a temporary directory beside
	// out, or out itself (inPlace).
	dir     string
	inPlace bool
	// owner is the empty directory OUT was, whose owner, group and mode
	// the built directory takes just before it replaces OUT; nil where
	// OUT is new or the copy is made in place.
	owner fs.FileInfo
	// outWas is the empty directory OUT was, nil where OUT is new: the
	// dataset's files take its owner and group (see giveFilesOwner).
	outWas  fs.FileInfo
	syncDir func(dir string) error
	// parents are the directories above out that salvage made, innermost
	// first: a salvage that fails leaves out's path as it found it.
	parents []string
	// published is set once out names the whole, synced copy: an error
	// after that (a directory's fsync) leaves it there.
	published bool
}

// createDataset creates a dataset for out (which checkOut found new or
// an empty directory) with chunk size cs and Start start, a multiple of cs
// (the Start of a dataset always is), so that the salvaged bytes keep
// their offsets. The dataset is made in a temporary directory beside out,
// or in out where that cannot take its name (see datasetSink).
func createDataset(name string, cs, start int64, syncDir func(string) error) (_ *datasetSink, err error) {
	out, err := outPath(name)
	if err != nil {
		return nil, err
	}
	fi, lerr := os.Lstat(out)
	exists := lerr == nil
	d := &datasetSink{start: start, out: out, name: name, syncDir: syncDir}
	d.dir, d.parents, err = buildDir(out, name, fi, exists, syncDir)
	if err != nil {
		return nil, err
	}
	d.inPlace = d.dir == out
	if exists && !d.inPlace {
		d.owner = fi
	}
	if exists {
		d.outWas = fi
	}
	// Where this fails, what it made goes: the whole temporary directory,
	// but in OUT only the marker, and only if this salvage made it, for a
	// dataset there is no copy of salvage's yet, and may be another
	// program's, made since checkOut, as may a marker (another salvage's
	// into OUT, which says its copy is partial until it finishes).
	madeMarker := false
	defer func() {
		if err == nil {
			return
		}
		if !d.inPlace {
			err = errors.Join(err, d.remove())
		} else if !madeMarker {
			return
		} else if rerr := os.Remove(filepath.Join(d.dir, salvageMarker)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}()
	// 1. The marker, durable before any chunk file: whatever a kill or
	//    a power loss leaves from here on is marked partial, in out too.
	f, err := os.OpenFile(filepath.Join(d.dir, salvageMarker), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Not ours, nor made by salvage before checkOut looked.
			return nil, fmt.Errorf("%s was created by another program while salvage began", filepath.Join(d.dir, salvageMarker))
		}
		return nil, d.asOut(err)
	}
	madeMarker = true
	if err = f.Close(); err == nil {
		err = syncErr(d.dir, d.syncDir(d.dir))
	}
	if err != nil {
		return nil, d.asOut(err)
	}
	// 2. The dataset, copied into by write; finish does the rest.
	d.m, err = chunkmap.Open(d.dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, Start: start})
	if err != nil {
		return nil, err
	}
	if d.m.Size() != start || d.m.Start() != start {
		return nil, errors.Join(fmt.Errorf("%s already holds a dataset (created since it was checked)", name), d.m.Close())
	}
	return d, nil
}

// outPath returns the path of the directory the kernel names by out, the
// one checkOut examined, in a form whose parent directory and last name
// are those of that directory. filepath.Clean is no such form: it drops
// "L/.." as text, where the kernel steps out of L's target, and a trailing
// slash, which makes the kernel follow a symlink that out names. A last
// name "." or ".." is kept as it is: no rename can replace it.
func outPath(out string) (string, error) {
	trimmed := trimSeparators(out)
	if len(trimmed) == len(filepath.VolumeName(trimmed)) {
		return out, nil // a root
	}
	base := filepath.Base(trimmed)
	if base == "." && len(trimmed) > 1 {
		if _, err := os.Lstat(trimmed); errors.Is(err, fs.ErrNotExist) {
			// "new/." is new, to be made as MkdirAll would.
			return outPath(trimSeparators(trimmed[:len(trimmed)-1]))
		}
	}
	if base == "." || base == ".." {
		return trimmed, nil
	}
	if len(trimmed) != len(out) {
		// A trailing slash: the kernel follows a symlink out names.
		return resolve(trimmed)
	}
	// The parent as written, not as filepath.Dir cleans it.
	parent, err := resolve(dirOf(out))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, base), nil
}

// trimSeparators returns path without the separators it ends in.
func trimSeparators(path string) string {
	for len(path) > 0 && os.IsPathSeparator(path[len(path)-1]) {
		path = path[:len(path)-1]
	}
	return path
}

// buildDir returns the directory to build the dataset for out in: a new
// temporary directory beside out, or out itself, an empty directory that
// a temporary one cannot replace; and the directories above out it made
// (see makeParents), which are removed again if salvage fails.
func buildDir(out, name string, fi fs.FileInfo, exists bool, syncDir func(string) error) (string, []string, error) {
	if b := filepath.Base(out); b == "." || b == ".." || b == string(filepath.Separator) {
		// No directory entry of this name can be replaced (rename(2):
		// EINVAL, EBUSY): checkOut found it an empty directory.
		return out, nil, nil
	}
	if !exists {
		// chunkmap.Open, which made OUT before, made its missing
		// parents too: so does salvage, durably.
		made, err := makeParents(filepath.Dir(out), syncDir)
		if err != nil {
			return "", nil, err
		}
		tmp, err := tempDir(out, nil)
		if err != nil {
			removeMade(made)
		}
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			// The temporary name is salvage's own: say what the user
			// asked for.
			return "", nil, &fs.PathError{Op: "create", Path: name, Err: pe.Err}
		}
		return tmp, made, err
	}
	// Try the rename with an empty directory first: one that replaces
	// OUT now, with its mode and owner, leaves OUT as empty as it was,
	// and shows that the whole copy will replace it too. One that
	// fails (OUT a mount point: EBUSY or EXDEV; a parent this user may
	// not write, or a sticky one and another user's OUT: EACCES, EPERM;
	// Windows, whose rename replaces no directory) leaves the copy to
	// be made in OUT itself.
	probe, err := tempDir(out, fi)
	if err != nil {
		return out, nil, nil
	}
	if err := renameDir(probe, out); err != nil {
		os.Remove(probe)
		return out, nil, nil
	}
	// The copy's directory is salvage's own until it is whole: given
	// OUT's owner now, it would let that user, who may not be the one
	// running salvage (root salvaging into a user's directory), change
	// what salvage writes and syncs, or, in a sticky parent, move it and
	// put something else under its name for the rename. finish gives it
	// OUT's owner and mode just before the rename.
	tmp, err := tempDir(out, nil)
	if err != nil {
		return out, nil, nil
	}
	return tmp, nil, nil
}

// makeParents makes dir and its missing parents, and fsyncs the directory
// that names each one it made, outermost first: a new directory's entry is
// durable only once its parent is fsync'd, and the copy renamed into dir
// would be lost with it. It returns the directories it made, innermost
// first; where it fails, it removes them again.
func makeParents(dir string, syncDir func(string) error) ([]string, error) {
	var made []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		made = append(made, d)
	}
	if len(made) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		removeMade(made)
		return nil, err
	}
	for _, d := range slices.Backward(made) {
		if err := syncDir(filepath.Dir(d)); err != nil {
			removeMade(made)
			return nil, err
		}
	}
	return made, nil
}

// removeMade removes the directories makeParents made, innermost first,
// after a salvage failed. It stops at the first it cannot remove: one that
// another program put something in since is no longer salvage's alone, and
// neither are those above it. Their removal needs no fsync: a power loss
// that brings them back leaves empty directories, as they were made.
func removeMade(made []string) {
	for _, d := range made {
		if os.Remove(d) != nil {
			return
		}
	}
}

// tempDir makes a new empty directory beside out, under a name no user
// asks for (a dot, out's name or its start, tempBase, .salvage-N.tmp),
// with the mode, owner and group of the directory fi describes, or with a
// new directory's where fi is nil. A directory that cannot have them is
// removed again.
func tempDir(out string, fi fs.FileInfo) (string, error) {
	for {
		tmp := filepath.Join(filepath.Dir(out), fmt.Sprintf(".%s.salvage-%d.tmp", tempBase(out), rand.Uint32()))
		err := os.Mkdir(tmp, 0o755) // chunkmap.Open's mode for a directory it makes
		if errors.Is(err, fs.ErrExist) {
			continue // left by a salvage that was killed: another name
		}
		if err != nil || fi == nil {
			return tmp, err
		}
		if err := giveOwnerMode(tmp, fi); err != nil {
			return "", errors.Join(err, os.Remove(tmp))
		}
		return tmp, nil
	}
}

// tempBase is out's last element as a temporary name beside out holds it:
// its first 200 bytes at most, so that with the rest of that name (a dot,
// .salvage-N.tmp) it stays within NAME_MAX (255 bytes on the common file
// systems) where out's own fits, cut between characters, so that it stays
// valid UTF-8 where out's is, which some file systems (APFS) require.
func tempBase(out string) string {
	base := filepath.Base(out)
	if len(base) <= 200 {
		return base
	}
	n := 200
	for n > 0 && !utf8.RuneStart(base[n]) {
		n--
	}
	return base[:n]
}

// beside returns the path of name in the directory that holds out, as
// the kernel reads out: its last name replaced, the rest as written.
// filepath.Dir cleans "L/../x" as text to the current directory, where the
// kernel steps out of L's target when L is a symlink.
func beside(out, name string) string {
	t := trimSeparators(out)
	return t[:len(t)-len(filepath.Base(t))] + name
}

// dirOf is the directory that holds out, as the kernel reads out (see
// beside).
func dirOf(out string) string {
	t := trimSeparators(out)
	d := t[:len(t)-len(filepath.Base(t))]
	switch td := trimSeparators(d); {
	case d == "":
		return "."
	case len(td) == len(filepath.VolumeName(td)):
		return d // a root ("/", `C:\`), or a volume's current directory ("C:")
	default:
		return td
	}
}

// unfinishedSalvage returns the problem of a directory that a salvage
// left marked partial (salvageMarker), or "" where it finds no marker.
func unfinishedSalvage(dir string) string {
	if _, err := os.Lstat(filepath.Join(dir, salvageMarker)); err != nil {
		return ""
	}
	return fmt.Sprintf("%s: a salvage into %s did not finish (it was killed, or the system went down): the dataset may hold zeros where the copy had not reached yet", salvageMarker, dir)
}

// asOut replaces the temporary directory's path in err, where it is a
// *fs.PathError's, with out's: the user asked for out.
func (d *datasetSink) asOut(err error) error {
	if pe := (*fs.PathError)(nil); !d.inPlace && errors.As(err, &pe) && strings.HasPrefix(pe.Path, d.dir) {
		return &fs.PathError{Op: pe.Op, Path: d.name, Err: pe.Err}
	}
	return err
}

// reserve grows the new dataset to size: the Manager refuses growth that
// the free space cannot hold before it creates any file.
func (d *datasetSink) reserve(size int64) error {
	if d.m.Size() < size {
		return d.m.Truncate(size)
	}
	return nil
}

func (d *datasetSink) discard() error {
	return errors.Join(d.m.Close(), d.remove())
}

func (d *datasetSink) whole() bool { return d.published }

// remove removes the closed dataset and then the marker, and the
// temporary directory: out is left as it was before salvage, new or an
// empty directory. The marker is made again where finish took it already:
// it keeps chunkmap.Remove, which takes a directory it empties, from
// taking out, and marks what a kill meanwhile leaves partial. It is made
// with O_EXCL, which follows no symlink: the directory may be another
// user's (OUT's owner's, see tempDir), who may have put one under the
// marker's name, and whatever stands there keeps the directory from being
// empty all the same.
func (d *datasetSink) remove() error {
	marker := filepath.Join(d.dir, salvageMarker)
	if f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
		if err := f.Close(); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return err
	}
	err := chunkmap.Remove(d.dir)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil // no dataset was begun
	}
	if err != nil {
		return err
	}
	if err := os.Remove(marker); err != nil {
		return err
	}
	if d.inPlace {
		return nil
	}
	if err := os.Remove(d.dir); err != nil {
		return err
	}
	removeMade(d.parents)
	return nil
}

func (d *datasetSink) write(p []byte, off int64) error {
	_, err := d.m.WriteAt(p, off)
	return err
}

// finish makes the dataset whole and durable, then gives it out's name, in
// this order, each step durable before the next:
//
//  1. Size set, Sync (chunk files and manifest fsync'd), Close, and a
//     read-only Open that finds the dataset it was meant to be (seal);
//  2. where OUT was an existing directory, the dataset's files given its
//     owner and group (giveFilesOwner), each fsync'd;
//  3. the marker removed, the directory given OUT's owner and mode where
//     it replaces an empty OUT, and fsync'd;
//  4. for a temporary directory: renamed to out, and out's parent
//     fsync'd, so that out's entry names the new directory for good.
//
// Where a step before out names the whole copy fails, it removes the
// dataset, as discard does.
func (d *datasetSink) finish(size int64) error {
	err := d.seal(size)
	if err == nil && d.outWas != nil {
		err = giveFilesOwner(d.dir, d.outWas)
	}
	if err == nil {
		err = os.Remove(filepath.Join(d.dir, salvageMarker))
	}
	if err == nil && d.owner != nil {
		err = giveOwnerMode(d.dir, d.owner)
	}
	if err == nil {
		err = syncErr(d.dir, d.syncDir(d.dir))
	}
	if err == nil && !d.inPlace {
		err = renameDir(d.dir, d.out)
	}
	if err != nil {
		return errors.Join(err, d.remove())
	}
	d.published = true
	if d.inPlace {
		return nil
	}
	parent := filepath.Dir(d.out)
	return syncErr(parent, d.syncDir(parent))
}

// syncErr is err, the error of the fsync of directory dir, naming the
// operation and dir where it does not already.
func syncErr(dir string, err error) error {
	if err != nil && !errors.As(err, new(*fs.PathError)) {
		return &fs.PathError{Op: "sync", Path: dir, Err: err}
	}
	return err
}

// seal sets the dataset's Size, syncs and closes it, and checks that it
// opens as the dataset it was meant to be.
func (d *datasetSink) seal(size int64) error {
	dir := d.m.Dir()
	var err error
	if d.m.Size() < size {
		err = d.m.Truncate(size)
	}
	if err == nil {
		err = d.m.Sync()
	}
	if err = errors.Join(err, d.m.Close()); err != nil {
		return err
	}
	m, err := openReadOnly(dir)
	if err != nil {
		return err
	}
	gotStart, gotSize := m.Start(), m.Size()
	if err := m.Close(); err != nil {
		return err
	}
	if gotStart != d.start || gotSize != size {
		return fmt.Errorf("%s opens with start %d and size %d, want %d and %d", dir, gotStart, gotSize, d.start, size)
	}
	return nil
}

// flatSink is a new flat file holding dataset offset base at file offset 0.
// It is written under a temporary name beside OUT (OUT.salvage-N.tmp) and
// takes OUT's name only once it is whole and fsync'd, after which the
// directory that names it is fsync'd: OUT never names a partial copy that
// a kill or a power loss left (with the full size, zeros where nothing was
// copied yet, it would read like a whole one), and a copy salvage reported
// survives a power loss.
type flatSink struct {
	f   *os.File // the temporary file
	out string
	// published is set once the whole, fsync'd copy has OUT's name: an
	// error after that (the directory's fsync) leaves OUT whole.
	published bool
	base      int64
	syncDir   func(dir string) error
}

// reserve sets the file's size, sparse, to the extent's: it fails where
// the file system's file size limit is lower.
func (fl *flatSink) reserve(size int64) error { return fl.f.Truncate(size - fl.base) }

func (fl *flatSink) whole() bool { return fl.published }

func (fl *flatSink) discard() error {
	return errors.Join(fl.f.Close(), os.Remove(fl.f.Name()))
}

// createFlat creates the temporary file of a flat copy into out (which
// checkOut found new) of the bytes from dataset offset base on.
func createFlat(out string, base int64, syncDir func(string) error) (*flatSink, error) {
	for {
		tmp := beside(out, fmt.Sprintf("%s.salvage-%d.tmp", tempBase(out), rand.Uint32()))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue // left by a salvage that was killed: another name
		}
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			// The temporary name is salvage's own: say what the user
			// asked for.
			return nil, &fs.PathError{Op: "create", Path: out, Err: pe.Err}
		} else if err != nil {
			return nil, err
		}
		return &flatSink{f: f, out: out, base: base, syncDir: syncDir}, nil
	}
}

func (fl *flatSink) write(p []byte, off int64) error {
	_, err := fl.f.WriteAt(p, off-fl.base)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		// os.File names the file but not where (a full disk fails
		// anywhere): the offset goes in once, beside the path.
		return &fs.PathError{Op: pe.Op, Path: pe.Path,
			Err: fmt.Errorf("%d bytes at offset %d (dataset offset %d): %w", len(p), off-fl.base, off, pe.Err)}
	}
	return err
}

// finish fsyncs the whole copy, gives it OUT's name, and fsyncs the
// directory. A hard link takes the name, and fails if another program
// created OUT since checkOut looked, where a rename would replace it; a
// file system without hard links gets the rename.
func (fl *flatSink) finish(size int64) error {
	tmp := fl.f.Name()
	err := fl.f.Truncate(size - fl.base)
	if err == nil {
		err = fl.f.Sync()
	}
	if err = errors.Join(err, fl.f.Close()); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	if err = os.Link(tmp, fl.out); err == nil {
		fl.published = true
		if rerr := os.Remove(tmp); rerr != nil {
			err = fmt.Errorf("%s left beside it: %w", tmp, rerr)
		}
	} else if _, lerr := os.Lstat(fl.out); errors.Is(lerr, fs.ErrNotExist) {
		if err = os.Rename(tmp, fl.out); err != nil {
			return errors.Join(err, os.Remove(tmp))
		}
		fl.published = true
	} else {
		return errors.Join(fmt.Errorf("%s was created by another program while salvage copied", fl.out), os.Remove(tmp))
	}
	return errors.Join(err, fl.syncDir(dirOf(fl.out)))
}
