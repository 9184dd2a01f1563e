package clients

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

var vfsSeq atomic.Int64

// newVFS registers a chunkmap VFS with small chunks and few mapped, so
// that SQLite's pages, journal records and WAL frames spread over many
// chunks and most accesses miss.
func newVFS(t testing.TB, wal bool) (*VFS, string) {
	t.Helper()
	v := &VFS{
		Opts:        chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 3},
		ScratchRoot: t.TempDir(),
		WAL:         wal,
	}
	name := fmt.Sprintf("chunkmap%d", vfsSeq.Add(1))
	vfs.Register(name, v)
	t.Cleanup(func() { vfs.Unregister(name) })
	return v, name
}

type row struct {
	id int64
	k  string
	v  []byte
	n  int64
}

type model map[int64]row

func (m model) hash() (string, int) {
	h := sha256.New()
	for _, id := range slices.Sorted(maps.Keys(m)) {
		r := m[id]
		writeRow(h, r.id, r.k, r.v, r.n)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), len(m)
}

func writeRow(w io.Writer, id int64, k string, v []byte, n int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(id))
	w.Write(b[:])
	binary.LittleEndian.PutUint64(b[:], uint64(len(k)))
	w.Write(b[:])
	io.WriteString(w, k)
	binary.LittleEndian.PutUint64(b[:], uint64(len(v)))
	w.Write(b[:])
	w.Write(v)
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	w.Write(b[:])
}

func openDB(t testing.TB, uri string) *sqlite3.Conn {
	t.Helper()
	c, err := sqlite3.Open(uri)
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	return c
}

func execAll(t testing.TB, conns []*sqlite3.Conn, sql string) {
	t.Helper()
	for i, c := range conns {
		if err := c.Exec(sql); err != nil {
			t.Fatalf("conn %d: %s: %v", i, sql, err)
		}
	}
}

// queryString returns the first column of every row, joined by newlines.
func queryString(t testing.TB, c *sqlite3.Conn, sql string) string {
	t.Helper()
	st, _, err := c.Prepare(sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer st.Close()
	var out []string
	for st.Step() {
		out = append(out, st.ColumnText(0))
	}
	if err := st.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return strings.Join(out, "\n")
}

func dumpHash(t testing.TB, c *sqlite3.Conn) (string, int) {
	t.Helper()
	st, _, err := c.Prepare(`SELECT id, k, v, n FROM t ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := sha256.New()
	count := 0
	for st.Step() {
		writeRow(h, st.ColumnInt64(0), st.ColumnText(1), st.ColumnRawBlob(2), st.ColumnInt64(3))
		count++
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), count
}

func checkIntegrity(t testing.TB, c *sqlite3.Conn, what string) {
	t.Helper()
	if got := queryString(t, c, `PRAGMA integrity_check`); got != "ok" {
		t.Fatalf("%s: integrity_check: %s", what, got)
	}
}

func checkSame(t testing.TB, conns []*sqlite3.Conn, m model, what string) {
	t.Helper()
	want, wantN := m.hash()
	for i, c := range conns {
		got, n := dumpHash(t, c)
		if got != want || n != wantN {
			t.Fatalf("%s: conn %d: %d rows hash %s, model %d rows hash %s", what, i, n, got[:12], wantN, want[:12])
		}
	}
}

// workload runs the same random transactions on every connection and
// applies the committed ones to m. Every fifth transaction rolls back.
func workload(t testing.TB, conns []*sqlite3.Conn, m model, rng *rand.Rand, nextID *int64, batches, per int) {
	t.Helper()
	type stmts struct{ ins, upd, del *sqlite3.Stmt }
	ss := make([]stmts, len(conns))
	for i, c := range conns {
		var err error
		if ss[i].ins, _, err = c.Prepare(`INSERT INTO t(id, k, v, n) VALUES (?, ?, ?, ?)`); err != nil {
			t.Fatal(err)
		}
		if ss[i].upd, _, err = c.Prepare(`UPDATE t SET v = ?, n = n + 1 WHERE id = ?`); err != nil {
			t.Fatal(err)
		}
		if ss[i].del, _, err = c.Prepare(`DELETE FROM t WHERE id = ?`); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, s := range ss {
			s.ins.Close()
			s.upd.Close()
			s.del.Close()
		}
	}()
	run := func(st *sqlite3.Stmt, args ...any) {
		t.Helper()
		for j, a := range args {
			var err error
			switch a := a.(type) {
			case int64:
				err = st.BindInt64(j+1, a)
			case string:
				err = st.BindText(j+1, a)
			case []byte:
				err = st.BindBlob(j+1, a)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Exec(); err != nil {
			t.Fatalf("%s: %v", st.SQL(), err)
		}
	}
	blob := func() []byte {
		b := make([]byte, 20+rng.IntN(600))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for b := 0; b < batches; b++ {
		pending := maps.Clone(m)
		savedNext := *nextID
		execAll(t, conns, `BEGIN`)
		for range per {
			switch x := rng.IntN(100); {
			case x < 80 || len(pending) == 0:
				r := row{id: *nextID, k: fmt.Sprintf("k%08d", rng.IntN(1e8)), v: blob(), n: rng.Int64N(1 << 40)}
				*nextID++
				for i := range conns {
					run(ss[i].ins, r.id, r.k, r.v, r.n)
				}
				pending[r.id] = r
			case x < 93:
				id := 1 + rng.Int64N(*nextID)
				v := blob()
				for i := range conns {
					run(ss[i].upd, v, id)
				}
				if r, ok := pending[id]; ok {
					r.v, r.n = v, r.n+1
					pending[id] = r
				}
			default:
				id := 1 + rng.Int64N(*nextID)
				for i := range conns {
					run(ss[i].del, id)
				}
				delete(pending, id)
			}
		}
		if b%5 == 3 {
			execAll(t, conns, `ROLLBACK`)
			*nextID = savedNext
			continue
		}
		execAll(t, conns, `COMMIT`)
		clear(m)
		maps.Copy(m, pending)
	}
}

// compareFiles checks that the chunkmap dataset in dir holds exactly the
// bytes of the ordinary file ref.
func compareFiles(t testing.TB, dir, ref string) {
	t.Helper()
	want, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: 2, ErrorIfNotExists: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Size() != int64(len(want)) {
		t.Fatalf("dataset %s: Size %d, reference file %d bytes", dir, m.Size(), len(want))
	}
	got := make([]byte, len(want))
	if n, err := m.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt whole dataset: n=%d err=%v", n, err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for got[i] == want[i] {
			i++
		}
		t.Fatalf("dataset %s differs from the reference file at byte %d (chunk %d)", dir, i, int64(i)/m.ChunkSize())
	}
}

func datasetSize(t testing.TB, dir string) int64 {
	t.Helper()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ErrorIfNotExists: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return m.Size()
}

type sqliteMode struct {
	name    string
	wal     bool // VFS gives a shared-memory WAL index
	pragmas string
	opts    func(*chunkmap.Options)
}

var sqliteModes = []sqliteMode{
	{"delete", false, `PRAGMA journal_mode=DELETE`, nil},
	{"truncate", false, `PRAGMA journal_mode=TRUNCATE`, nil},
	{"persist", false, `PRAGMA journal_mode=PERSIST`, nil},
	{"wal", true, `PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=200`, nil},
	{"wal-exclusive-noshm", false, `PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=200`, nil},
	// Chunks that share arena slots, every miss mapped, no read-ahead.
	{"delete-tinyarena", false, `PRAGMA journal_mode=DELETE`, func(o *chunkmap.Options) {
		o.ArenaSize, o.MaxMapped, o.NoAdmission, o.Advice = 2*chunkmap.MinChunkSize, 2, true, chunkmap.AdviceRandom
	}},
	{"wal-tinyarena", true, `PRAGMA journal_mode=WAL`, func(o *chunkmap.Options) {
		o.ArenaSize, o.MaxMapped, o.Advice = 4*chunkmap.MinChunkSize, 1, chunkmap.AdviceSequential
	}},
}

func TestSQLite(t *testing.T) {
	for _, mode := range sqliteModes {
		t.Run(mode.name, func(t *testing.T) { testSQLiteMode(t, mode) })
	}
}

func testSQLiteMode(t *testing.T, mode sqliteMode) {
	v, vname := newVFS(t, mode.wal)
	if mode.opts != nil {
		mode.opts(&v.Opts)
	}
	dir := t.TempDir()
	cmPath := filepath.Join(dir, "cm.db")
	refPath := filepath.Join(dir, "ref.db")
	cmURI := "file:" + cmPath + "?vfs=" + vname
	refURI := "file:" + refPath

	open := func() []*sqlite3.Conn {
		conns := []*sqlite3.Conn{openDB(t, cmURI), openDB(t, refURI)}
		// A small page cache spills dirty pages into the database before
		// commit, so a rollback must restore them from the journal.
		// The mode first: a WAL database without shared memory must be in
		// EXCLUSIVE locking mode before its first read.
		execAll(t, conns, mode.pragmas)
		execAll(t, conns, `PRAGMA cache_size=40`)
		return conns
	}
	closeAll := func(conns []*sqlite3.Conn) {
		for i, c := range conns {
			if err := c.Close(); err != nil {
				t.Fatalf("close conn %d: %v", i, err)
			}
		}
	}

	conns := open()
	if got := queryString(t, conns[0], `PRAGMA journal_mode`); !strings.EqualFold(got, strings.Split(strings.Split(mode.pragmas, "journal_mode=")[1], ";")[0]) {
		t.Fatalf("journal_mode is %q", got)
	}
	execAll(t, conns, `CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB, n INTEGER);
		CREATE INDEX t_k ON t(k);
		CREATE TABLE meta(key TEXT PRIMARY KEY, val TEXT)`)
	m := model{}
	rng := rand.New(rand.NewPCG(1, uint64(len(mode.name))))
	nextID := int64(1)
	workload(t, conns, m, rng, &nextID, 25, 1200)
	checkSame(t, conns, m, "after workload")
	checkIntegrity(t, conns[0], "after workload")
	if mode.wal {
		execAll(t, conns, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	pagesBefore := queryString(t, conns[0], `PRAGMA page_count`)

	// Delete most rows and VACUUM: the database file shrinks (Truncate).
	execAll(t, conns, `DELETE FROM t WHERE id % 4 != 0`)
	for id := range m {
		if id%4 != 0 {
			delete(m, id)
		}
	}
	truncs := v.Stats.Truncates.Load()
	execAll(t, conns, `VACUUM`)
	if mode.wal {
		execAll(t, conns, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	pagesAfter := queryString(t, conns[0], `PRAGMA page_count`)
	if v.Stats.Truncates.Load() == truncs {
		t.Errorf("VACUUM did not truncate anything")
	}
	t.Logf("page_count %s -> %s after VACUUM", pagesBefore, pagesAfter)
	checkSame(t, conns, m, "after VACUUM")
	checkIntegrity(t, conns[0], "after VACUUM")
	for i, c := range conns {
		if got, want := queryString(t, c, `SELECT count(*) || ',' || sum(length(v)) || ',' || sum(n) FROM t`), queryString(t, conns[1], `SELECT count(*) || ',' || sum(length(v)) || ',' || sum(n) FROM t`); got != want {
			t.Fatalf("conn %d aggregates %s, reference %s", i, got, want)
		}
	}
	closeAll(conns)
	compareFiles(t, cmPath, refPath)

	// Reopen: every dataset is opened anew.
	conns = open()
	checkSame(t, conns, m, "after reopen")
	checkIntegrity(t, conns[0], "after reopen")
	workload(t, conns, m, rng, &nextID, 6, 1500)
	checkSame(t, conns, m, "after second workload")
	closeAll(conns)
	compareFiles(t, cmPath, refPath)

	conns = open()
	checkSame(t, conns, m, "after second reopen")
	checkIntegrity(t, conns[0], "after second reopen")
	closeAll(conns)

	t.Logf("VFS: opens %d scratch %d deletes %d reads %d (short %d) writes %d truncates %d syncs %d size hints %d straddling %d",
		v.Stats.Opens.Load(), v.Stats.Scratch.Load(), v.Stats.Deletes.Load(), v.Stats.Reads.Load(), v.Stats.ShortReads.Load(),
		v.Stats.Writes.Load(), v.Stats.Truncates.Load(), v.Stats.Syncs.Load(), v.Stats.SizeHint.Load(), v.Stats.Straddles.Load())
	if v.Stats.Straddles.Load() == 0 && mode.name != "wal-exclusive-noshm" {
		t.Logf("note: no read or write straddled a chunk boundary")
	}
}
