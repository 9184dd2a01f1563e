package chunkmap_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// probeSnapshot describes every file under dir: name, mode, size, mtime
// and a hash of the contents, so that any change shows.
func probeSnapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d %d", path, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// probeBadOptions are options each of which Open must refuse with
// ErrInvalidOptions, with the field the message must name.
var probeBadOptions = []struct {
	field string
	o     chunkmap.Options
}{
	{"ChunkSize", chunkmap.Options{ChunkSize: -1}},
	{"ChunkSize", chunkmap.Options{ChunkSize: -chunkmap.MinChunkSize}},
	{"ChunkSize", chunkmap.Options{ChunkSize: math.MinInt64}},
	{"ChunkSize", chunkmap.Options{ChunkSize: 1}},
	{"ChunkSize", chunkmap.Options{ChunkSize: 4096}},
	{"ChunkSize", chunkmap.Options{ChunkSize: chunkmap.MinChunkSize / 2}},
	{"ChunkSize", chunkmap.Options{ChunkSize: chunkmap.MinChunkSize - 1}},
	{"ChunkSize", chunkmap.Options{ChunkSize: chunkmap.MinChunkSize + 1}},
	{"ChunkSize", chunkmap.Options{ChunkSize: 3 * chunkmap.MinChunkSize}},
	{"ChunkSize", chunkmap.Options{ChunkSize: chunkmap.MaxChunkSize - chunkmap.MinChunkSize}},
	{"ChunkSize", chunkmap.Options{ChunkSize: chunkmap.MaxChunkSize + 1}},
	{"ChunkSize", chunkmap.Options{ChunkSize: 2 * chunkmap.MaxChunkSize}},
	{"ChunkSize", chunkmap.Options{ChunkSize: 1 << 62}},
	{"ChunkSize", chunkmap.Options{ChunkSize: math.MaxInt64}},
	{"MaxMapped", chunkmap.Options{MaxMapped: -1}},
	{"MaxMapped", chunkmap.Options{MaxMapped: math.MinInt}},
	{"ArenaSize", chunkmap.Options{ArenaSize: -1}},
	{"ArenaSize", chunkmap.Options{ArenaSize: math.MinInt64}},
	{"Advice", chunkmap.Options{Advice: -1}},
	{"Advice", chunkmap.Options{Advice: chunkmap.AdviceDontNeed + 1}},
	{"Advice", chunkmap.Options{Advice: math.MaxInt}},
	{"FileMode", chunkmap.Options{FileMode: os.ModeDir | 0o644}},
	{"FileMode", chunkmap.Options{FileMode: os.ModeSetuid | 0o644}},
	{"FileMode", chunkmap.Options{FileMode: os.ModeSticky | 0o644}},
	{"FileMode", chunkmap.Options{FileMode: os.ModeSymlink}},
	{"FileMode", chunkmap.Options{FileMode: os.ModeAppend | 0o600}},
	{"FileMode", chunkmap.Options{FileMode: 0o4755}},
	{"FileMode", chunkmap.Options{FileMode: 0o1000}},
	{"Scratch", chunkmap.Options{Scratch: true, ReadOnly: true}},
}

// TestProbeOptions_RefusedCreatesNothing proves that each out-of-range
// option is refused with ErrInvalidOptions naming the field and the
// operation, that a refused Open creates no directory, changes no existing
// dataset (byte for byte, mtimes included), leaves the caller's Options as
// they were, and does not keep the dataset locked.
func TestProbeOptions_RefusedCreatesNothing(t *testing.T) {
	watchdog.Start(t, 60*time.Second)
	root := t.TempDir()
	existing := filepath.Join(root, "existing")
	m, err := chunkmap.Open(existing, &chunkmap.Options{ChunkSize: probeCS})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(bytes.Repeat([]byte{3}, 2*probeCS+5), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	snap := probeSnapshot(t, existing)
	for i, c := range probeBadOptions {
		for _, where := range []string{"missing", "existing", "missing-ro", "existing-ro", "existing-einx"} {
			o := c.o
			switch where {
			case "missing-ro", "existing-ro":
				o.ReadOnly = true
			case "existing-einx":
				o.ErrorIfNotExists = true
			}
			dir := existing
			if strings.HasPrefix(where, "missing") {
				dir = filepath.Join(root, fmt.Sprintf("missing%d-%s", i, where))
			}
			orig := o
			m, err := chunkmap.Open(dir, &o)
			what := fmt.Sprintf("%s: Open(%+v)", where, orig)
			if err == nil {
				m.Close()
				t.Errorf("%s succeeded, want ErrInvalidOptions naming %s", what, c.field)
				continue
			}
			if !errors.Is(err, chunkmap.ErrInvalidOptions) {
				t.Errorf("%s = %v, want ErrInvalidOptions", what, err)
				continue
			}
			if !strings.Contains(err.Error(), c.field) || !strings.HasPrefix(err.Error(), "open "+dir) {
				t.Errorf("%s: error %q does not name the operation and the field %s", what, err, c.field)
			}
			if o != orig {
				t.Errorf("%s: Open changed the caller's Options to %+v", what, o)
			}
			if dir != existing {
				if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s refused, but the directory exists now (%v)", what, err)
				}
			}
		}
	}
	if now := probeSnapshot(t, existing); now != snap {
		t.Fatalf("refused Opens changed the dataset:\nbefore\n%s\nafter\n%s", snap, now)
	}
	m, err = chunkmap.Open(existing, nil)
	if err != nil {
		t.Fatalf("Open after the refused ones: %v", err)
	}
	m.Close()
}

// TestProbeOptions_FileModeNamesBits proves that a refused FileMode's
// message names the mode in octal: os.FileMode's String shows no bit of
// 0o7000, so "-rwxr-xr-x" alone does not say what is wrong with 0o4755.
func TestProbeOptions_FileModeNamesBits(t *testing.T) {
	for _, mode := range []os.FileMode{0o4755, 0o1000, 0o2644, os.ModeDir | 0o644, os.ModeSetuid | 0o600} {
		dir := filepath.Join(t.TempDir(), "ds")
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: probeCS, FileMode: mode})
		if err == nil {
			m.Close()
			t.Errorf("Open with FileMode %#o succeeded, want ErrInvalidOptions", uint32(mode))
			continue
		}
		if want := fmt.Sprintf("%#o", uint32(mode)); !errors.Is(err, chunkmap.ErrInvalidOptions) || !strings.Contains(err.Error(), want) {
			t.Errorf("Open with FileMode %#o = %v, want ErrInvalidOptions naming %s", uint32(mode), err, want)
		}
	}
}

// TestProbeOptions_ChunkSizeMismatch proves that a valid ChunkSize that
// differs from an existing dataset's is refused with ErrInvalidOptions
// naming ChunkSize, writer or reader, and changes nothing; a matching one
// and 0 open it.
func TestProbeOptions_ChunkSizeMismatch(t *testing.T) {
	watchdog.Start(t, 30*time.Second)
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 2 * probeCS})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("x"), 5*probeCS); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	snap := probeSnapshot(t, dir)
	for _, cs := range []int64{probeCS, 4 * probeCS, chunkmap.MaxChunkSize, chunkmap.DefaultChunkSize} {
		for _, ro := range []bool{false, true} {
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, ReadOnly: ro})
			if err == nil {
				m.Close()
			}
			what := fmt.Sprintf("Open(ChunkSize %d, ReadOnly %v) of a dataset of %d", cs, ro, 2*probeCS)
			probeWantErr(t, err, chunkmap.ErrInvalidOptions, "open", what)
			if err != nil && !strings.Contains(err.Error(), "ChunkSize") {
				t.Errorf("%s: %q does not name ChunkSize", what, err)
			}
		}
	}
	if now := probeSnapshot(t, dir); now != snap {
		t.Fatalf("refused Opens changed the dataset:\n%s\n%s", snap, now)
	}
	for _, cs := range []int64{0, 2 * probeCS} {
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
		if err != nil {
			t.Fatalf("ChunkSize %d: %v", cs, err)
		}
		if m.ChunkSize() != 2*probeCS || m.Size() != 5*probeCS+1 {
			t.Fatalf("ChunkSize %d: opened with chunk %d, size %d", cs, m.ChunkSize(), m.Size())
		}
		m.Close()
	}
}

// TestProbeOptions_MissingDataset proves that ReadOnly and
// ErrorIfNotExists, alone and together, fail with fs.ErrNotExist on a
// missing directory and on an empty one, create nothing, and put nothing
// in the empty directory.
func TestProbeOptions_MissingDataset(t *testing.T) {
	for _, o := range []chunkmap.Options{
		{ReadOnly: true},
		{ErrorIfNotExists: true},
		{ReadOnly: true, ErrorIfNotExists: true},
		{ReadOnly: true, ErrorIfNotExists: true, ChunkSize: probeCS},
	} {
		root := t.TempDir()
		missing := filepath.Join(root, "missing")
		empty := filepath.Join(root, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{missing, empty} {
			m, err := chunkmap.Open(dir, &o)
			if err == nil {
				m.Close()
			}
			probeWantErr(t, err, fs.ErrNotExist, "open", fmt.Sprintf("Open(%s, %+v)", filepath.Base(dir), o))
			if o.ReadOnly && err != nil && !errors.Is(err, chunkmap.ErrReadOnly) {
				t.Errorf("Open(%s, %+v) = %v, want it to match ErrReadOnly too", filepath.Base(dir), o, err)
			}
		}
		if _, err := os.Lstat(missing); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%+v: missing directory created", o)
		}
		if names := probeListDir(t, empty); len(names) != 0 {
			t.Errorf("%+v: refused Open left %v in the empty directory", o, names)
		}
	}
}

// TestProbeOptions_ValidExtremes proves that the edges of every valid range
// open and work: MinChunkSize and MaxChunkSize; MaxMapped 1 and
// math.MaxInt; ArenaSize 1 byte, just off a chunk multiple, and
// math.MaxInt64; each Advice; FileMode 0o600 (files get it, the directory
// gets 0o700). Each writes across chunk boundaries and reads back.
func TestProbeOptions_ValidExtremes(t *testing.T) {
	watchdog.Start(t, 60*time.Second)
	// The largest chunk and mapped window that fit the address space: on
	// 32-bit platforms ChunkSize and ChunkSize × MaxMapped are at most
	// 1 GiB (see the README's Limits).
	maxChunk, maxMapped := int64(chunkmap.MaxChunkSize), math.MaxInt
	if strconv.IntSize == 32 {
		maxChunk, maxMapped = 1<<30, 1<<30/probeCS
	}
	cases := []chunkmap.Options{
		{ChunkSize: chunkmap.MinChunkSize},
		{ChunkSize: maxChunk},
		{ChunkSize: probeCS, MaxMapped: 1},
		{ChunkSize: probeCS, MaxMapped: maxMapped},
		{ChunkSize: probeCS, MaxMapped: maxMapped / 4},
		{ChunkSize: probeCS, MaxMapped: maxMapped/4 + 1},
		{ChunkSize: probeCS, ArenaSize: 1},
		{ChunkSize: probeCS, ArenaSize: probeCS - 1},
		{ChunkSize: probeCS, ArenaSize: probeCS + 1},
		{ChunkSize: probeCS, ArenaSize: 3*probeCS + 1},
		{ChunkSize: probeCS, ArenaSize: math.MaxInt64},
		{ChunkSize: maxChunk, ArenaSize: math.MaxInt64},
		{ChunkSize: probeCS, ArenaSize: 1, MaxMapped: 1},
		{ChunkSize: probeCS, Advice: chunkmap.AdviceRandom},
		{ChunkSize: probeCS, Advice: chunkmap.AdviceSequential},
		{ChunkSize: probeCS, Advice: chunkmap.AdviceWillNeed},
		{ChunkSize: probeCS, Advice: chunkmap.AdviceDontNeed},
		{ChunkSize: probeCS, FileMode: 0o600},
		{ChunkSize: probeCS, FileMode: os.ModePerm},
	}
	for _, o := range cases {
		for _, scratch := range []bool{false, true} {
			o := o
			o.Scratch = scratch
			name := fmt.Sprintf("%+v", o)
			dir := filepath.Join(t.TempDir(), "ds")
			m, err := chunkmap.Open(dir, &o)
			if err != nil {
				t.Errorf("Open(%s): %v", name, err)
				continue
			}
			cs := m.ChunkSize()
			// Bytes straddling two boundaries, and a pin across them.
			p := bytes.Repeat([]byte("0123456789abcdef"), 8)
			offs := []int64{cs - 5, 2*cs - 60, 3 * cs}
			if cs > probeCS {
				// Allocation goes in prefixes of a chunk: keep 2 GiB
				// chunks to their first bytes, within the disk budget.
				offs = []int64{0, 200, 1000}
			}
			for _, off := range offs {
				if _, err := m.WriteAt(p, off); err != nil {
					t.Fatalf("%s: WriteAt(%d): %v", name, off, err)
				}
			}
			for _, off := range offs {
				got := make([]byte, len(p))
				if _, err := m.ReadAt(got, off); err != nil || !bytes.Equal(got, p) {
					t.Fatalf("%s: ReadAt(%d) = %q, %v", name, off, got, err)
				}
				pin, err := m.Pin(off, len(p))
				if err != nil {
					t.Fatalf("%s: Pin(%d): %v", name, off, err)
				}
				if !bytes.Equal(pin.Bytes(), p) {
					t.Fatalf("%s: Pin(%d) = %q", name, off, pin.Bytes())
				}
				pin.Release()
			}
			if err := m.Close(); err != nil {
				t.Fatalf("%s: Close: %v", name, err)
			}
			if scratch {
				if names := probeListDir(t, dir); len(names) != 0 {
					t.Errorf("%s: left %v", name, names)
				}
				continue
			}
			if o.FileMode != 0 {
				for _, n := range probeListDir(t, dir) {
					fi, err := os.Stat(filepath.Join(dir, n))
					if err != nil {
						t.Fatal(err)
					}
					if fi.Mode().Perm()&^o.FileMode != 0 {
						t.Errorf("%s: %s has mode %v, beyond %v", name, n, fi.Mode(), o.FileMode)
					}
				}
			}
			// Reopen with zero options: the dataset's own chunk size.
			m, err = chunkmap.Open(dir, nil)
			if err != nil {
				t.Fatalf("%s: reopen: %v", name, err)
			}
			if m.ChunkSize() != cs || m.Size() != offs[2]+int64(len(p)) {
				t.Errorf("%s: reopen: chunk %d, size %d", name, m.ChunkSize(), m.Size())
			}
			m.Close()
		}
	}
}

// TestProbeOptions_StartRefusedCreatesNothing proves that an Open refused
// for a Start that is not a multiple of the chunk size creates no
// directory, as the other refused options do (ErrInvalidOptions: nothing
// was done), for a given ChunkSize and the default one, and for a Scratch
// dataset (and, on 32-bit platforms, for a ChunkSize × MaxMapped that does
// not fit).
func TestProbeOptions_StartRefusedCreatesNothing(t *testing.T) {
	root := t.TempDir()
	bad := []chunkmap.Options{
		{ChunkSize: chunkmap.MinChunkSize, Start: 1},
		{ChunkSize: chunkmap.MinChunkSize, Start: chunkmap.MinChunkSize + 4096},
		{Start: chunkmap.MinChunkSize}, // not a multiple of DefaultChunkSize
		{ChunkSize: chunkmap.MinChunkSize, Start: 1, Scratch: true},
		{Start: chunkmap.MinChunkSize, Scratch: true},
	}
	field := "Start"
	if bits.UintSize == 32 {
		// ChunkSize × MaxMapped past 1 GiB, which only a new dataset's
		// chunk size shows.
		bad = append(bad, chunkmap.Options{ChunkSize: 1 << 30, MaxMapped: 2})
	}
	for i, o := range bad {
		if o.MaxMapped != 0 {
			field = "MaxMapped"
		}
		dir := filepath.Join(root, fmt.Sprintf("missing%d", i), "ds")
		m, err := chunkmap.Open(dir, &o)
		if err == nil {
			m.Close()
			t.Errorf("Open(%+v) succeeded, want ErrInvalidOptions", o)
			continue
		}
		if !errors.Is(err, chunkmap.ErrInvalidOptions) || !strings.Contains(err.Error(), field) {
			t.Errorf("Open(%+v) = %v, want ErrInvalidOptions naming %s", o, err, field)
		}
		if _, err := os.Lstat(filepath.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%+v) refused, but it created %s (%v)", o, filepath.Dir(dir), err)
		}
	}
	// An existing dataset keeps its own Start, whatever Options.Start says.
	dir := filepath.Join(root, "existing")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, Start: 2 * chunkmap.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Even one it would refuse for a new dataset, not being a multiple
	// of the chunk size; but a negative one is refused there too.
	for _, start := range []int64{chunkmap.MinChunkSize, 100} {
		m, err = chunkmap.Open(dir, &chunkmap.Options{Start: start})
		if err != nil {
			t.Fatalf("reopen with Start %d, which the dataset ignores: %v", start, err)
		}
		if got := m.Start(); got != 2*chunkmap.MinChunkSize {
			t.Errorf("reopened with Start %d: Start() = %d, want %d", start, got, 2*chunkmap.MinChunkSize)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := chunkmap.Open(dir, &chunkmap.Options{Start: -chunkmap.MinChunkSize}); !errors.Is(err, chunkmap.ErrInvalidOptions) {
		if err == nil {
			m.Close()
		}
		t.Errorf("reopen with a negative Start: %v, want ErrInvalidOptions", err)
	}
}
