package clients

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// TestSQLiteHotJournal leaves a hot rollback journal behind, as a crash in
// the middle of a transaction whose dirty pages spilled into the database
// would, and checks that the next connection rolls the database back from
// the journal dataset.
func TestSQLiteHotJournal(t *testing.T) {
	for _, jm := range []string{"DELETE", "PERSIST", "TRUNCATE"} {
		t.Run(jm, func(t *testing.T) {
			v, vname := newVFS(t, false)
			path := filepath.Join(t.TempDir(), "hot.db")
			uri := "file:" + path + "?vfs=" + vname
			c := openDB(t, uri)
			conns := []*sqlite3.Conn{c}
			execAll(t, conns, `PRAGMA journal_mode=`+jm+`; PRAGMA cache_size=20;
				CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB, n INTEGER);
				CREATE INDEX t_k ON t(k)`)
			m := model{}
			rng := rand.New(rand.NewPCG(7, 7))
			next := int64(1)
			workload(t, conns, m, rng, &next, 3, 2000)
			before, _ := dumpHash(t, c)
			size0 := datasetSizeOpen(t, v, path)

			// A transaction big enough to spill into the database file.
			execAll(t, conns, `BEGIN; UPDATE t SET v = randomblob(700), k = 'x' || id; INSERT INTO t(k, v, n) SELECT k || 'y', v, n FROM t`)
			if got := datasetSizeOpen(t, v, path); got <= size0 {
				t.Fatalf("database did not grow during the transaction (%d -> %d): no spill", size0, got)
			}
			v.Frozen.Store(true)
			err := c.Close()
			t.Logf("close with writes failing: %v", err)
			v.Frozen.Store(false)
			if ok, _ := v.Access(path+"-journal", 0); !ok {
				t.Fatalf("no journal left behind")
			}
			if v.open[path] != nil {
				t.Fatalf("database still open after Close")
			}

			c = openDB(t, uri)
			execAll(t, []*sqlite3.Conn{c}, `PRAGMA journal_mode=`+jm)
			checkIntegrity(t, c, "after hot journal rollback")
			if after, _ := dumpHash(t, c); after != before {
				t.Fatalf("hot journal not rolled back: content differs")
			}
			checkSame(t, []*sqlite3.Conn{c}, m, "after hot journal rollback")
			if got := datasetSizeOpen(t, v, path); got != size0 {
				t.Errorf("database size %d after rollback, %d before the transaction", got, size0)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// datasetSizeOpen returns the Size of the dataset at path through the VFS
// if a connection has it open, else by opening it.
func datasetSizeOpen(t testing.TB, v *VFS, path string) int64 {
	v.mu.Lock()
	d := v.open[path]
	v.mu.Unlock()
	if d != nil {
		return d.m.Size()
	}
	return datasetSize(t, path)
}

// TestSQLiteWALConcurrent runs a writer and readers on separate
// connections to one WAL database, which share one Manager for the
// database and one for the WAL.
func TestSQLiteWALConcurrent(t *testing.T) {
	_, vname := newVFS(t, true)
	path := filepath.Join(t.TempDir(), "conc.db")
	uri := "file:" + path + "?vfs=" + vname + "&_pragma=busy_timeout(10000)"
	w := openDB(t, uri)
	execAll(t, []*sqlite3.Conn{w}, `PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=100;
		CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB, s INTEGER)`)

	const txns, per = 60, 200
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	done := make(chan struct{})
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := sqlite3.Open(uri)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			last := int64(0)
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				st, _, err := c.Prepare(`SELECT count(*), coalesce(sum(s), 0), coalesce(sum(length(v)), 0) FROM t`)
				if err != nil {
					errs <- err
					return
				}
				if !st.Step() {
					errs <- fmt.Errorf("reader %d: %v", r, st.Err())
					st.Close()
					return
				}
				n, sum, blen := st.ColumnInt64(0), st.ColumnInt64(1), st.ColumnInt64(2)
				st.Close()
				// Each transaction adds per rows with s = id; a reader sees
				// whole transactions only.
				if n%per != 0 || sum != n*(n+1)/2 || blen != n*300 {
					errs <- fmt.Errorf("reader %d: torn snapshot: count %d sum %d blob bytes %d", r, n, sum, blen)
					return
				}
				if n < last {
					errs <- fmt.Errorf("reader %d: count went back from %d to %d", r, last, n)
					return
				}
				last = n
			}
		}()
	}
	for i := range txns {
		if err := w.Exec(`BEGIN IMMEDIATE`); err != nil {
			t.Fatal(err)
		}
		if err := w.Exec(`INSERT INTO t(v, s) SELECT randomblob(300), ` + strconv.Itoa(i*per) + ` + value FROM generate_series(1, ` + strconv.Itoa(per) + `)`); err != nil {
			// generate_series may be missing: fall back to a recursive CTE.
			if err := w.Exec(`WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ` + strconv.Itoa(per) + `)
				INSERT INTO t(v, s) SELECT randomblob(300), ` + strconv.Itoa(i*per) + ` + x FROM g`); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Exec(`COMMIT`); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := queryString(t, w, `SELECT count(*) FROM t`); got != strconv.Itoa(txns*per) {
		t.Fatalf("count %s", got)
	}
	checkIntegrity(t, w, "after concurrent WAL")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c := openDB(t, uri)
	defer c.Close()
	checkIntegrity(t, c, "after reopen")
	if got := queryString(t, c, `SELECT count(*) || ',' || sum(s) FROM t`); got != fmt.Sprintf("%d,%d", txns*per, txns*per*(txns*per+1)/2) {
		t.Fatalf("after reopen: %s", got)
	}
}

// TestSQLiteFollower reads a database through ReadOnly Managers (a second
// VFS) while the writer's connection, through its own VFS, keeps changing
// it between the reader's queries: growing it, VACUUMing it smaller (chunk
// files deleted) and growing it again over the deleted chunks.
func TestSQLiteFollower(t *testing.T) {
	for _, jm := range []string{"DELETE", "PERSIST"} {
		t.Run(jm, func(t *testing.T) {
			_, wname := newVFS(t, false)
			rv, rname := newVFS(t, false)
			rv.ReadOnly = true
			path := filepath.Join(t.TempDir(), "f.db")
			w := openDB(t, "file:"+path+"?vfs="+wname)
			defer w.Close()
			ws := []*sqlite3.Conn{w}
			execAll(t, ws, `PRAGMA journal_mode=`+jm+`; PRAGMA cache_size=30;
				CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB, n INTEGER);
				CREATE INDEX t_k ON t(k)`)
			m := model{}
			rng := rand.New(rand.NewPCG(11, 11))
			next := int64(1)
			workload(t, ws, m, rng, &next, 4, 1500)

			r := openDB(t, "file:"+path+"?vfs="+rname+"&mode=ro")
			defer r.Close()
			rs := []*sqlite3.Conn{r}
			execAll(t, rs, `PRAGMA cache_size=30`)
			checkSame(t, rs, m, "reader, first")
			for round := range 4 {
				switch round % 2 {
				case 0:
					// Shrink: most rows go, VACUUM truncates the file.
					execAll(t, ws, `DELETE FROM t WHERE id % 3 != 0; VACUUM`)
					for id := range m {
						if id%3 != 0 {
							delete(m, id)
						}
					}
				case 1:
					workload(t, ws, m, rng, &next, 3, 2500)
				}
				checkSame(t, rs, m, fmt.Sprintf("reader, round %d", round))
				checkIntegrity(t, r, fmt.Sprintf("reader, round %d", round))
			}
		})
	}
}

// TestSQLiteTempFiles makes SQLite put temp tables, sorter runs and
// statement journals in files (Scratch datasets here), and compares the
// results with the same statements on the os VFS.
func TestSQLiteTempFiles(t *testing.T) {
	v, vname := newVFS(t, false)
	dir := t.TempDir()
	conns := []*sqlite3.Conn{
		openDB(t, "file:"+filepath.Join(dir, "cm.db")+"?vfs="+vname),
		openDB(t, "file:"+filepath.Join(dir, "ref.db")),
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	execAll(t, conns, `PRAGMA temp_store=FILE; PRAGMA cache_size=20; PRAGMA temp.cache_size=10;
		CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b BLOB UNIQUE);
		WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 20000)
		INSERT INTO t(a, b) SELECT printf('%08x', (x * 2654435761) % 4294967296), zeroblob(100) || x FROM g;
		CREATE TEMP TABLE tt AS SELECT id, a, b FROM t WHERE id % 2 = 0;
		CREATE INDEX ta ON t(a)`)
	// A statement that fails half way: its statement journal rolls it back.
	for i, c := range conns {
		err := c.Exec(`BEGIN; UPDATE t SET b = zeroblob(100) || (id % 5000) WHERE id > 10; `)
		if err == nil {
			t.Fatalf("conn %d: UPDATE breaking UNIQUE succeeded", i)
		}
		if i == 0 {
			t.Logf("failing UPDATE: %v", err)
		}
		if err := c.Exec(`COMMIT`); err != nil {
			t.Fatalf("conn %d: commit after failed statement: %v", i, err)
		}
	}
	for _, q := range []string{
		`SELECT group_concat(a, ',') FROM (SELECT a FROM t ORDER BY a DESC, id LIMIT 50)`,
		`SELECT count(*) || ':' || sum(length(b)) FROM tt`,
		`SELECT count(DISTINCT substr(a, 1, 3)) FROM t`,
		`SELECT group_concat(x, ',') FROM (SELECT substr(a, 1, 2) || count(*) AS x FROM t GROUP BY substr(a, 1, 2) ORDER BY 1 LIMIT 40)`,
		`SELECT sum(id) FROM (SELECT t.id FROM t JOIN tt USING (a) ORDER BY t.b)`,
	} {
		a, b := queryString(t, conns[0], q), queryString(t, conns[1], q)
		if a != b {
			t.Fatalf("%s:\nchunkmap %.80s\nos       %.80s", q, a, b)
		}
	}
	checkIntegrity(t, conns[0], "temp files")
	if v.Stats.Scratch.Load() == 0 {
		t.Errorf("no temp file was opened")
	}
	t.Logf("scratch datasets: %d", v.Stats.Scratch.Load())
}
