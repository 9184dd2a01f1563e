package clients

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// killEnv is set in the child process of TestSQLiteKillMidCommit to
// "MODE|PATH": the journal mode and the database it commits to.
const killEnv = "CHUNKMAP_CLIENTS_KILL_CHILD"

// startChild runs this test binary again as a child process that runs test
// alone, with env (NAME=VALUE) added to its environment and its standard
// error this process's, and returns it with a scanner of its standard
// output.
func startChild(t *testing.T, test, env string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

// sqliteKillChild commits transactions to the database at path forever,
// each updating every row (so the rollback journal spans several chunks),
// and prints "C n" after the COMMIT of transaction n returned.
func sqliteKillChild(path string, jm string) {
	v := &VFS{Opts: chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 3}, ScratchRoot: filepath.Dir(path)}
	vfs.Register("chunkmapkill", v)
	c, err := sqlite3.Open("file:" + path + "?vfs=chunkmapkill")
	if err != nil {
		fmt.Println("E", err)
		os.Exit(2)
	}
	if err := c.Exec(`PRAGMA journal_mode=` + jm + `; PRAGMA synchronous=FULL; PRAGMA cache_size=50;
		CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB);
		CREATE TABLE IF NOT EXISTS commits(n INTEGER PRIMARY KEY)`); err != nil {
		fmt.Println("E", err)
		os.Exit(2)
	}
	if err := c.Exec(`INSERT OR IGNORE INTO t(id, v) SELECT value, randomblob(900) FROM generate_series(1, 300)`); err != nil {
		// generate_series may be missing: fall back to a recursive CTE.
		if err := c.Exec(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 300)
			INSERT OR IGNORE INTO t(id, v) SELECT i, randomblob(900) FROM s`); err != nil {
			fmt.Println("E", err)
			os.Exit(2)
		}
	}
	st, _, err := c.Prepare(`SELECT coalesce(max(n), 0) FROM commits`)
	if err != nil {
		fmt.Println("E", err)
		os.Exit(2)
	}
	st.Step()
	n := st.ColumnInt64(0)
	st.Close()
	fmt.Println("R", n)
	for {
		n++
		if err := c.Exec(`BEGIN; UPDATE t SET v = randomblob(900); INSERT INTO commits(n) VALUES (` + strconv.FormatInt(n, 10) + `); COMMIT`); err != nil {
			fmt.Println("E", err)
			os.Exit(2)
		}
		fmt.Println("C", n)
	}
}

// TestSQLiteKillMidCommit runs a writer in a child process (this test
// binary again) that commits transactions whose rollback journal spans
// several chunks, SIGKILLs it at random moments, and checks after each
// kill that the database opens, passes integrity_check and holds every
// transaction whose COMMIT returned. A kill in the middle of the VFS's
// Delete of the journal left a manifest without its chunks, which Open
// refused as corrupt: the database could not be opened again.
func TestSQLiteKillMidCommit(t *testing.T) {
	if p := os.Getenv(killEnv); p != "" {
		f := strings.SplitN(p, "|", 2)
		sqliteKillChild(f[1], f[0])
		return
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	for _, mode := range []struct {
		jm  string
		run time.Duration
	}{{"DELETE", 2 * time.Second}, {"TRUNCATE", time.Second}, {"PERSIST", time.Second}, {"WAL", time.Second}} {
		jm := mode.jm
		t.Run(jm, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kill.db")
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
			var last int64
			deadline := time.Now().Add(mode.run)
			for round := 0; time.Now().Before(deadline); round++ {
				cmd, sc := startChild(t, "TestSQLiteKillMidCommit", killEnv+"="+jm+"|"+path)
				ready := make(chan int64, 1)
				done := make(chan struct{})
				var committed int64
				var childErr string
				go func() {
					defer close(done)
					for sc.Scan() {
						line := sc.Text()
						switch {
						case strings.HasPrefix(line, "R "):
							n, _ := strconv.ParseInt(line[2:], 10, 64)
							ready <- n
						case strings.HasPrefix(line, "C "):
							committed, _ = strconv.ParseInt(line[2:], 10, 64)
						case strings.HasPrefix(line, "E "):
							childErr = line
						}
					}
				}()
				select {
				case n := <-ready:
					if n < last {
						cmd.Process.Kill()
						cmd.Wait()
						t.Fatalf("round %d: child found commit %d, %d was acknowledged", round, n, last)
					}
				case <-done:
					cmd.Wait()
					t.Fatalf("round %d: child exited before ready: %s", round, childErr)
				}
				time.Sleep(time.Duration(10+rng.IntN(100)) * time.Millisecond)
				cmd.Process.Kill()
				<-done
				cmd.Wait()
				if childErr != "" {
					t.Fatalf("round %d: child: %s", round, childErr)
				}
				if committed > last {
					last = committed
				}
				t.Logf("round %d: killed after commit %d", round, committed)

				_, vname := newVFS(t, jm == "WAL")
				c, err := sqlite3.Open("file:" + path + "?vfs=" + vname)
				if err != nil {
					t.Fatalf("round %d: reopen: %v", round, err)
				}
				if err := c.Exec(`SELECT 1 FROM sqlite_master`); err != nil {
					for _, suf := range []string{"", "-journal", "-wal"} {
						ents, _ := os.ReadDir(path + suf)
						var names []string
						for _, e := range ents {
							names = append(names, e.Name())
						}
						m, err := chunkmap.Open(path+suf, &chunkmap.Options{ErrorIfNotExists: true})
						if err == nil {
							m.Close()
						}
						t.Logf("%s: %v: %v", suf, names, err)
					}
				}
				if got := queryString(t, c, `PRAGMA integrity_check`); got != "ok" {
					t.Fatalf("round %d: integrity_check: %s", round, got)
				}
				got, _ := strconv.ParseInt(queryString(t, c, `SELECT coalesce(max(n), 0) FROM commits`), 10, 64)
				cnt, _ := strconv.ParseInt(queryString(t, c, `SELECT count(*) FROM commits`), 10, 64)
				if got < last || cnt != got {
					t.Fatalf("round %d: max commit %d (%d rows), %d acknowledged", round, got, cnt, last)
				}
				last = got
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestVFSDeleteLeftovers checks that Delete clears what a crash in an
// earlier Delete left: a renamed dataset missing chunks, or its empty
// directory.
func TestVFSDeleteLeftovers(t *testing.T) {
	for _, left := range []string{"half", "empty"} {
		t.Run(left, func(t *testing.T) {
			v, _ := newVFS(t, false)
			name := filepath.Join(t.TempDir(), "x.db-journal")
			for _, d := range []string{name, name + deletedSuffix} {
				m := openCM(t, d, chunkmap.Options{ChunkSize: chunkmap.MinChunkSize})
				if _, err := m.Append(make([]byte, 3*chunkmap.MinChunkSize)); err != nil {
					t.Fatal(err)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
			}
			tomb := name + deletedSuffix
			switch left {
			case "half":
				if err := os.Remove(filepath.Join(tomb, "0000000000000002.chunk")); err != nil {
					t.Fatal(err)
				}
			case "empty":
				if err := os.RemoveAll(tomb); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(tomb, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := v.Delete(name, true); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{name, tomb} {
				if _, err := os.Lstat(d); !os.IsNotExist(err) {
					t.Errorf("%s left after Delete: %v", d, err)
				}
			}
			if ok, _ := v.Access(name, 0); ok {
				t.Error("Access reports the deleted dataset")
			}
		})
	}
}
