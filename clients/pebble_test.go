package clients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/cockroachdb/pebble/v2"
)

// Pebble on chunkmap: an LSM store whose write-ahead logs, tables, manifests
// and options files are datasets of 64 KiB chunks, checked key by key
// against a model of what was committed.

// pkvKey is the key of number k.
func pkvKey(k int) []byte { return fmt.Appendf(nil, "key%09d", k) }

// pkvValue is the value of key k at version ver, n bytes: ver in its first
// four, then a ChaCha8 stream seeded by (k, ver, n), so that a value read
// back says what it should be.
func pkvValue(k int, ver uint32, n int) []byte {
	v := make([]byte, n)
	binary.LittleEndian.PutUint32(v, ver)
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[0:], uint64(k))
	binary.LittleEndian.PutUint64(seed[8:], uint64(ver))
	binary.LittleEndian.PutUint64(seed[16:], uint64(n))
	rand.NewChaCha8(seed).Read(v[4:])
	return v
}

// pkvSize is a value size from 10 B to 20 KiB, uniform on a log scale.
func pkvSize(r *rand.Rand) int {
	lo, hi := math.Log(10), math.Log(20<<10)
	return int(math.Exp(lo + r.Float64()*(hi-lo)))
}

// pkvVal is what the model holds of a key: its version and size.
type pkvVal struct {
	ver  uint32
	size int
}

// pkvModel is every live key's value.
type pkvModel map[int]pkvVal

// pkvBatch applies operation batch i, derived from i alone, to the model m
// and, if b is not nil, to b: sets (85 %), deletes and range deletes over
// space keys.
func pkvBatch(i, space int, b *pebble.Batch, m pkvModel) error {
	r := rand.New(rand.NewPCG(uint64(i), 0xc0ffee))
	for j := range 20 + r.IntN(100) {
		switch op := r.IntN(100); {
		case op < 85:
			k, ver, n := r.IntN(space), uint32(i*1000+j+1), pkvSize(r)
			m[k] = pkvVal{ver, n}
			if b != nil {
				if err := b.Set(pkvKey(k), pkvValue(k, ver, n), nil); err != nil {
					return err
				}
			}
		case op < 98:
			k := r.IntN(space)
			delete(m, k)
			if b != nil {
				if err := b.Delete(pkvKey(k), nil); err != nil {
					return err
				}
			}
		default:
			a, w := r.IntN(space), 1+r.IntN(50)
			for k := a; k < a+w; k++ {
				delete(m, k)
			}
			if b != nil {
				if err := b.DeleteRange(pkvKey(a), pkvKey(a+w), nil); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pkvCheck compares the whole database with m, byte for byte, by a scan
// and by a Get of every key, and returns the first differences it finds.
func pkvCheck(db *pebble.DB, m pkvModel) error {
	keys := slices.Sorted(maps.Keys(m))
	var diffs []string
	it, err := db.NewIter(nil)
	if err != nil {
		return err
	}
	i := 0
	for ok := it.First(); ok && len(diffs) < 10; ok = it.Next() {
		k, err := strconv.Atoi(strings.TrimPrefix(string(it.Key()), "key"))
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("unexpected key %q", it.Key()))
			continue
		}
		for ; i < len(keys) && keys[i] < k; i++ {
			diffs = append(diffs, fmt.Sprintf("scan: key %d missing", keys[i]))
		}
		if i == len(keys) || keys[i] != k {
			diffs = append(diffs, fmt.Sprintf("scan: key %d present, deleted in the model", k))
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("scan: key %d: %v", k, err))
		} else if want := pkvValue(k, m[k].ver, m[k].size); !bytes.Equal(v, want) {
			diffs = append(diffs, fmt.Sprintf("scan: key %d: %d bytes differ from the %d of version %d", k, len(v), len(want), m[k].ver))
		}
		i++
	}
	for ; i < len(keys) && len(diffs) < 10; i++ {
		diffs = append(diffs, fmt.Sprintf("scan: key %d missing at the end", keys[i]))
	}
	if err := it.Close(); err != nil {
		diffs = append(diffs, "closing the iterator: "+err.Error())
	}
	for _, k := range keys {
		if len(diffs) >= 10 {
			break
		}
		v, c, err := db.Get(pkvKey(k))
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("get %d: %v", k, err))
			continue
		}
		if !bytes.Equal(v, pkvValue(k, m[k].ver, m[k].size)) {
			diffs = append(diffs, fmt.Sprintf("get %d: value differs", k))
		}
		c.Close()
	}
	if len(diffs) > 0 {
		return fmt.Errorf("the database differs from the model:\n%s", strings.Join(diffs, "\n"))
	}
	return nil
}

// pebbleLog is pebble's Logger and background error listener, keeping
// what it reports as errors for the test to fail on.
type pebbleLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *pebbleLog) Infof(string, ...any) {}

func (l *pebbleLog) Errorf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
}

func (l *pebbleLog) Fatalf(format string, args ...any) {
	panic("pebble: " + fmt.Sprintf(format, args...))
}

// errors returns what l was told of as errors.
func (l *pebbleLog) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

// pebbleOptions are pebble's options over a new PebbleFS of 64 KiB chunks,
// with a memtable small enough that the tests flush and compact often.
func pebbleOptions(lg *pebbleLog, maxMapped int) (*pebble.Options, *PebbleFS) {
	cfs := &PebbleFS{Opts: chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: maxMapped}}
	o := &pebble.Options{FS: cfs, Logger: lg, MemTableSize: 1 << 20, L0CompactionThreshold: 2}
	o.EventListener = &pebble.EventListener{BackgroundError: func(err error) { lg.Errorf("background: %v", err) }}
	return o, cfs
}

// TestPebble writes a pebble database through PebbleFS in batches of sets,
// deletes and range deletes, some committed with Sync, then checks it
// against the model after the writes, after a flush and a compaction of
// everything, and after closing and opening it again; and that a closed
// database leaves no descriptor or mapping of its files. MaxMapped 0 is
// the default; 2 makes most reads miss.
func TestPebble(t *testing.T) {
	for _, maxMapped := range []int{0, 2} {
		t.Run("maxmapped="+strconv.Itoa(maxMapped), func(t *testing.T) {
			dir := t.TempDir()
			lg := &pebbleLog{}
			opts, cfs := pebbleOptions(lg, maxMapped)
			db, err := pebble.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			const batches, space = 600, 20000
			m := pkvModel{}
			for i := range batches {
				b := db.NewBatch()
				if err := pkvBatch(i, space, b, m); err != nil {
					t.Fatal(err)
				}
				wo := pebble.NoSync
				if i%10 == 0 {
					wo = pebble.Sync
				}
				if err := b.Commit(wo); err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
				b.Close()
			}
			if err := pkvCheck(db, m); err != nil {
				t.Fatalf("after the writes: %v", err)
			}
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := db.Compact(context.Background(), pkvKey(0), pkvKey(space+100), true); err != nil {
				t.Fatal(err)
			}
			if err := pkvCheck(db, m); err != nil {
				t.Fatalf("after a flush and compaction: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if n := cfs.OpenWriters(); n != 0 {
				t.Errorf("after Close, %d datasets are still open for writing", n)
			}
			if fds, maps := openUnder(t, dir); len(fds)+len(maps) > 0 {
				t.Errorf("after Close: descriptors %v and mappings %v of files under %s", fds, maps, dir)
			}
			if cfs.Stats.Appends.Load() == 0 || cfs.Stats.Renames.Load()+cfs.Stats.Removes.Load() == 0 {
				t.Errorf("pebble made %d appends, %d renames and %d removes: the test exercised less than it should",
					cfs.Stats.Appends.Load(), cfs.Stats.Renames.Load(), cfs.Stats.Removes.Load())
			}
			opts, _ = pebbleOptions(lg, maxMapped)
			if db, err = pebble.Open(dir, opts); err != nil {
				t.Fatalf("open again: %v", err)
			}
			if err := pkvCheck(db, m); err != nil {
				t.Fatalf("after opening again: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if errs := lg.errors(); len(errs) > 0 {
				t.Errorf("pebble reported errors: %v", errs)
			}
		})
	}
}

// openUnder returns this process's descriptors and mappings of files
// under dir (Linux's /proc; none elsewhere).
func openUnder(t *testing.T, dir string) (fds, maps []string) {
	t.Helper()
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(l, dir) {
			fds = append(fds, l)
		}
	}
	p, _ := os.ReadFile("/proc/self/maps")
	for line := range strings.Lines(string(p)) {
		if strings.Contains(line, dir) {
			maps = append(maps, strings.TrimSpace(line))
		}
	}
	return fds, maps
}

// pebbleKillEnv is set in the child process of TestPebbleKill to
// "DIR|FIRST": the database it writes to and its first batch.
const pebbleKillEnv = "CHUNKMAP_CLIENTS_PEBBLE_CHILD"

// pebbleKillSpace is the key space of TestPebbleKill's batches.
const pebbleKillSpace = 20000

// pebbleKillChild commits batches first, first+1, ... to the database at
// dir, each with Sync, and prints "ack N" once batch N's commit returned.
func pebbleKillChild(dir string, first int) {
	opts, _ := pebbleOptions(&pebbleLog{}, 0)
	db, err := pebble.Open(dir, opts)
	if err != nil {
		fmt.Println("E", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := first; ; i++ {
		b := db.NewBatch()
		if err := pkvBatch(i, pebbleKillSpace, b, pkvModel{}); err != nil {
			fmt.Println("E", err)
			os.Exit(2)
		}
		if err := b.Commit(pebble.Sync); err != nil {
			fmt.Println("E", err)
			os.Exit(2)
		}
		b.Close()
		fmt.Fprintf(out, "ack %d\n", i)
		out.Flush()
	}
}

// TestPebbleKill kills a process writing a pebble database through
// PebbleFS with SIGKILL at a random moment, opens the database again, and
// checks that it holds exactly the batches acknowledged (their commits,
// with Sync, returned), or one more (committed, its acknowledgement not
// yet printed); round after round on the same database, the child's
// memtable flushing and compacting as it goes.
func TestPebbleKill(t *testing.T) {
	if p := os.Getenv(pebbleKillEnv); p != "" {
		dir, first, _ := strings.Cut(p, "|")
		n, _ := strconv.Atoi(first)
		pebbleKillChild(dir, n)
		return
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	dir := filepath.Join(t.TempDir(), "db")
	m := pkvModel{} // the database after batches [0, next)
	next := 0
	for round := range 4 {
		cmd, sc := startChild(t, "TestPebbleKill", pebbleKillEnv+"="+dir+"|"+strconv.Itoa(next))
		watchdog := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
		target, last, killed := 30+r.IntN(300), next-1, false
		for sc.Scan() {
			n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack "))
			if err != nil || n != last+1 {
				t.Errorf("round %d: the child said %q after batch %d", round, sc.Text(), last)
				continue
			}
			last = n
			if !killed && n-next+1 == target {
				time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		watchdog.Stop()
		werr := cmd.Wait()
		if !killed {
			t.Fatalf("round %d: the child ended before it was killed: %v", round, werr)
		}
		for i := next; i <= last; i++ {
			pkvBatch(i, pebbleKillSpace, nil, m)
		}
		plus := maps.Clone(m)
		pkvBatch(last+1, pebbleKillSpace, nil, plus)

		lg := &pebbleLog{}
		opts, _ := pebbleOptions(lg, 0)
		db, err := pebble.Open(dir, opts)
		if err != nil {
			t.Fatalf("round %d: open after the kill (batch %d acknowledged): %v", round, last, err)
		}
		next = last + 1
		if err := pkvCheck(db, m); err != nil {
			if err2 := pkvCheck(db, plus); err2 != nil {
				db.Close()
				t.Fatalf("round %d: the database is neither as of batch %d, acknowledged (%v), nor as of the one after it (%v)", round, last, err, err2)
			}
			m, next = plus, last+2
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if errs := lg.errors(); len(errs) > 0 {
			t.Errorf("round %d: pebble reported errors: %v", round, errs)
		}
		t.Logf("round %d: killed after batch %d; the database holds batches [0, %d)", round, last, next)
	}
}
