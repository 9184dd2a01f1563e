package clients

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/ncruces/go-sqlite3"
)

// smallTmpfs mounts a tmpfs of size bytes on a new directory, unmounted
// when the test ends; it skips the test where it cannot mount.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestSQLiteFullDisk fills a small tmpfs with a SQLite database on the
// chunkmap VFS until a commit fails, checks that the VFS saw ErrNoSpace,
// then reopens the database: it must pass integrity_check and hold every
// committed row.
func TestSQLiteFullDisk(t *testing.T) {
	for _, jm := range []string{"DELETE", "WAL"} {
		t.Run(jm, func(t *testing.T) {
			root := smallTmpfs(t, "2m")
			v, vname := newVFS(t, jm == "WAL")
			v.ScratchRoot = root
			path := filepath.Join(root, "full.db")
			uri := "file:" + path + "?vfs=" + vname
			c := openDB(t, uri)
			execAll(t, []*sqlite3.Conn{c}, `PRAGMA journal_mode=`+jm+`; PRAGMA cache_size=20;
				CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)`)
			var committed int64
			var failed error
			for i := int64(1); i < 10000; i++ {
				err := c.Exec(fmt.Sprintf(`BEGIN; INSERT INTO t(id, v) VALUES (%d, randomblob(3000)); UPDATE t SET v = randomblob(3000) WHERE id = %d; COMMIT`, i, i/2+1))
				if err != nil {
					failed = err
					c.Exec(`ROLLBACK`)
					break
				}
				committed = i
			}
			if failed == nil {
				t.Fatal("the disk never filled")
			}
			t.Logf("after %d commits: %v", committed, failed)
			// SQLite's own VFS reports a full disk as SQLITE_FULL
			// ("database or disk is full"), which programs check for
			// to free room and retry; a chunkmap dataset must too.
			if !errors.Is(failed, sqlite3.FULL) {
				t.Errorf("a full disk failed the commit with %v, want SQLITE_FULL", failed)
			}
			// A later statement on the same connection still works, or
			// fails cleanly.
			if err := c.Exec(`SELECT count(*) FROM t`); err != nil {
				t.Logf("select after full: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Logf("close: %v", err)
			}
			// Free some room: nothing else lives on this tmpfs but
			// the datasets.
			c = openDB(t, uri)
			if got := queryString(t, c, `PRAGMA integrity_check`); got != "ok" {
				t.Fatalf("integrity_check: %s", got)
			}
			n, _ := strconv.ParseInt(queryString(t, c, `SELECT count(*) FROM t`), 10, 64)
			if n != committed {
				t.Fatalf("%d rows, %d committed", n, committed)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestManagerFullTmpfs writes to a Manager on a small tmpfs in every way
// a client does until it fails: each error must match ErrNoSpace, and the
// bytes acknowledged before must read back after reopening.
func TestManagerFullTmpfs(t *testing.T) {
	for _, how := range []string{"append", "writeat", "small"} {
		t.Run(how, func(t *testing.T) {
			root := smallTmpfs(t, "1m")
			dir := filepath.Join(root, "d")
			m := openCM(t, dir, chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 2})
			closed := false
			t.Cleanup(func() {
				if !closed {
					m.Close()
				}
			})
			var want []byte
			var err error
			for i := 0; err == nil && i < 1<<20; i++ {
				p := make([]byte, 1000+i%7*3000)
				for j := range p {
					p[j] = byte(i + j)
				}
				switch how {
				case "append":
					_, err = m.Append(p)
				case "writeat":
					_, err = m.WriteAt(p, int64(len(want)))
				case "small":
					_, err = m.WriteAt(p[:8], int64(len(want)))
					p = p[:8]
					if err == nil && i%1000 == 0 {
						err = m.Sync()
					}
				}
				if err == nil {
					want = append(want, p...)
				}
			}
			if !errors.Is(err, chunkmap.ErrNoSpace) {
				t.Fatalf("after %d bytes: %v, want ErrNoSpace", len(want), err)
			}
			if got := m.Size(); got != int64(len(want)) {
				t.Errorf("Size %d after the failure, %d written", got, len(want))
			}
			// Overwrites of bytes held must still work, and Sync.
			if _, err := m.WriteAt([]byte("overwrite"), 100); err != nil {
				t.Errorf("overwrite on a full disk: %v", err)
			} else {
				copy(want[100:], "overwrite")
			}
			if err := m.Sync(); err != nil {
				t.Errorf("sync on a full disk: %v", err)
			}
			closed = true
			if err := m.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			m = openCM(t, dir, chunkmap.Options{ChunkSize: chunkmap.MinChunkSize, MaxMapped: 1})
			closed = false
			got := make([]byte, m.Size())
			if _, err := m.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("read back %d bytes, wrote %d; differ", len(got), len(want))
			}
		})
	}
}
