package chunkmap_test

// A refused mapping or descriptor lowers a Manager's bound on mapped chunks
// (relieveLocked); these tests check that the bound comes back once the
// system has room again, and that a shortage that persists costs a bounded
// number of relieve cycles. Each runs in a child process (runFDsRows): the
// descriptor limit is the process's.

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// rlChunks is how many chunks the tests' datasets hold: more than any
// row's MaxMapped, so that a scan of them all evicts.
const rlChunks = 20

// rlBallast is how many files rlPersisting holds open: with them, a quarter
// of a limit just past what the process holds is room for more chunks
// than rlChunks.
const rlBallast = 4 * (rlChunks + 8)

// rlOpen opens a dataset of rlChunks chunks of random bytes in dir, and
// returns it with the model of its bytes.
func rlOpen(t *testing.T, dir string, maxMapped int) (*chunkmap.Manager, []byte) {
	t.Helper()
	return rlOpenAdmission(t, dir, maxMapped, false)
}

// rlOpenAdmission is rlOpen, with admission on or off.
func rlOpenAdmission(t *testing.T, dir string, maxMapped int, admission bool) (*chunkmap.Manager, []byte) {
	t.Helper()
	const cs = chunkmap.MinChunkSize
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped, NoAdmission: !admission})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	want := make([]byte, rlChunks*cs)
	fillRandom(rand.New(rand.NewPCG(uint64(maxMapped), 7)), want)
	if _, err := m.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	return m, want
}

// rlScan reads chunks [from, to) of m whole, in order, and checks each
// against want.
func rlScan(t *testing.T, m *chunkmap.Manager, want []byte, from, to int64) {
	t.Helper()
	const cs = chunkmap.MinChunkSize
	got := make([]byte, cs)
	for i := from; i < to; i++ {
		if _, err := m.ReadAt(got, i*cs); err != nil {
			t.Fatalf("ReadAt of chunk %d: %v", i, err)
		}
		if !bytes.Equal(got, want[i*cs:(i+1)*cs]) {
			t.Fatalf("chunk %d read back differs from what was written", i)
		}
	}
}

// TestRelieve_BoundRecovers: a Manager that met a shortage of descriptors
// must map MaxMapped chunks again once the shortage is over. It lowered its
// bound for good to 3/8 of what was mapped at the refusal, so a later scan
// of MaxMapped chunks remapped a chunk at every access for the life of the
// Manager.
func TestRelieve_BoundRecovers(t *testing.T) {
	runFDsRows(t, "TestRelieve_BoundRecovers", []int{4, 8}, func(t *testing.T, maxMapped int, dir string) {
		rlRecovers(t, maxMapped, dir, false)
	})
}

// TestRelieve_BoundRecoversAdmission is TestRelieve_BoundRecovers with
// admission on, where most misses of a lowered bound are served by pread
// and map nothing: the bound must come back all the same.
func TestRelieve_BoundRecoversAdmission(t *testing.T) {
	runFDsRows(t, "TestRelieve_BoundRecoversAdmission", []int{8}, func(t *testing.T, maxMapped int, dir string) {
		rlRecovers(t, maxMapped, dir, true)
	})
}

// rlRecovers is TestRelieve_BoundRecovers' child, with admission on or off.
func rlRecovers(t *testing.T, maxMapped int, dir string, admission bool) {
	t.Helper()
	m, want := rlOpenAdmission(t, dir, maxMapped, admission)
	rlScan(t, m, want, 0, int64(maxMapped))
	chunkmap.DropFileCache(m)
	restore := lowerFileLimit(t)
	rlScan(t, m, want, int64(maxMapped), rlChunks) // refused: relieves
	restore()
	if st := m.Stats(); st.Refusals == 0 || st.Lowered == 0 {
		t.Fatalf("a scan with no descriptor free left Refusals %d and Lowered %d, want a refusal and a bound below %d", st.Refusals, st.Lowered, maxMapped)
	}
	// Scan the first MaxMapped chunks until a whole scan evicts nothing
	// and keeps them all mapped; a recovery worth its name takes a few
	// hundred misses, not thousands.
	const scans = 200
	for n := 0; ; n++ {
		if n == scans {
			st := m.Stats()
			t.Fatalf("after %d scans of %d chunks once descriptors were free again, a scan still evicts or leaves fewer mapped: %+v", scans, maxMapped, st)
		}
		before := m.Stats()
		rlScan(t, m, want, 0, int64(maxMapped))
		after := m.Stats()
		if after.Evictions == before.Evictions && after.Mapped == maxMapped {
			if after.Lowered != 0 || after.Refusals != before.Refusals {
				t.Fatalf("recovered with Lowered %d and Refusals %d to %d, want 0 (MaxMapped %d in force) and no new refusal", after.Lowered, before.Refusals, after.Refusals, maxMapped)
			}
			break
		}
	}
}

// TestRelieve_PersistingShortageBounded: under a descriptor limit that
// stays, a few files above what the process holds, every call must still
// work (ReadAt, WriteAt, and a Pin, which needs a mapping), and where the
// Manager cannot count the descriptors it may take, its probes for room
// must cost a number of relieve cycles (each unmaps every chunk nobody
// holds) that grows with the logarithm of the misses, not with the misses
// themselves: a Manager that raised its bound again after a fixed number
// of misses would unmap its chunks every few scans for as long as the
// limit stays.
func TestRelieve_PersistingShortageBounded(t *testing.T) {
	runFDsRows(t, "TestRelieve_PersistingShortageBounded", []int{16}, func(t *testing.T, maxMapped int, dir string) {
		defer chunkmap.SetSpareCounts(false)()
		rlPersisting(t, maxMapped, dir, func(m *chunkmap.Manager, misses int64) int64 {
			// The first refusal, then failed probes: the k-th comes
			// first·2^(k-1) misses or more after the refusal before it,
			// so k ≤ log2(misses/first + 1), and past most, one per most
			// misses (see recoverLocked). bits.Len64 is the log rounded
			// down, plus one.
			most := chunkmap.RaiseMost(m)
			return 1 + int64(bits.Len64(uint64(misses/chunkmap.RaiseFirst+1))) + misses/most
		})
	})
}

// TestRelieve_PersistingShortageCounted: where the Manager counts the
// descriptors the process has spare, a limit that stays costs the one
// relieve cycle of the first refusal: a probe would only take the process
// back to its limit.
func TestRelieve_PersistingShortageCounted(t *testing.T) {
	runFDsRows(t, "TestRelieve_PersistingShortageCounted", []int{16}, func(t *testing.T, maxMapped int, dir string) {
		rlPersisting(t, maxMapped, dir, func(*chunkmap.Manager, int64) int64 { return 1 })
	})
}

// rlPersisting reads, writes and pins a dataset of rlChunks chunks over
// and over under a descriptor limit a few files above what the process
// holds, checks every byte against the model, fails the test if the
// refusals exceed most(m, misses), and checks the bytes again
// after a reopen with the limit lifted.
//
// The process holds rlBallast files of the test's first, so that the
// Managers' share of the limit (a quarter) leaves room for every chunk a
// Manager maps and it is the system that refuses them: in a process
// started with only its three standard files, the limit lies near 20, and
// the share, taken up by the Manager's own descriptors, would keep it from
// mapping an unheld chunk at all, with no refusal to relieve.
func rlPersisting(t *testing.T, maxMapped int, dir string, most func(m *chunkmap.Manager, misses int64) int64) {
	t.Helper()
	const cs = chunkmap.MinChunkSize
	holdFiles(t, rlBallast)
	m, want := rlOpen(t, dir, maxMapped)
	chunkmap.DropFileCache(m)
	restore := limitFiles(t, 4)
	before := m.Stats()
	const scans = 80
	for n := range scans {
		rlScan(t, m, want, 0, rlChunks)
		i := int64(n % rlChunks)
		// A write into each chunk in turn, so that relieve cycles unmap
		// dirty chunks too.
		w := []byte{byte(n), byte(n >> 8), 0xa5}
		off := i*cs + int64(n)*97%(cs-int64(len(w)))
		if _, err := m.WriteAt(w, off); err != nil {
			t.Fatalf("WriteAt %d under the limit: %v", off, err)
		}
		copy(want[off:], w)
		p, err := m.Pin(i*cs, cs)
		if err != nil {
			t.Fatalf("Pin of chunk %d under the limit: %v", i, err)
		}
		if !bytes.Equal(p.Bytes(), want[i*cs:(i+1)*cs]) {
			t.Fatalf("Pin of chunk %d: the bytes differ from what was written", i)
		}
		p.Release()
	}
	st := m.Stats()
	misses, refusals := st.Misses-before.Misses, st.Refusals-before.Refusals
	if limit := most(m, misses); refusals == 0 || refusals > limit {
		t.Errorf("%d misses under a limit that stays cost %d refusals, want 1 to %d: %+v", misses, refusals, limit, st)
	}
	if st.Lowered == 0 {
		t.Errorf("Lowered 0 under a limit that stays: MaxMapped %d in force", maxMapped)
	}
	t.Logf("%d misses, %d refusals, %+v", misses, refusals, st)
	restore()
	rlCloseAndCheck(t, m, dir, want, rlChunks)
}

// rlCloseAndCheck syncs and closes m, then checks through a ReadOnly
// Manager that dir holds want in its first chunks chunks: what was written
// while mappings were refused survives the Manager.
func rlCloseAndCheck(t *testing.T, m *chunkmap.Manager, dir string, want []byte, chunks int64) {
	t.Helper()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	closeAndReread(t, m, dir, want[:chunks*chunkmap.MinChunkSize])
}

// TestRelieve_RefusedWithNothingMapped: a refusal that finds none of the
// Manager's chunks mapped lowers nothing, since the room went elsewhere
// in the process: it is counted, the bound stays at MaxMapped, and the
// error says so rather than advise a lower MaxMapped.
func TestRelieve_RefusedWithNothingMapped(t *testing.T) {
	runFDsRows(t, "TestRelieve_RefusedWithNothingMapped", []int{16}, func(t *testing.T, maxMapped int, dir string) {
		const cs = chunkmap.MinChunkSize
		m, want := rlOpen(t, dir, maxMapped)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m, err := chunkmap.Open(dir, &chunkmap.Options{MaxMapped: maxMapped, NoAdmission: true})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		restore := limitFiles(t, 0)
		_, err = m.Pin(cs, 8)
		restore()
		if !errors.Is(err, chunkmap.ErrIO) || !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("Pin with no descriptor left: %v, want ErrIO and EMFILE", err)
		}
		wantMsg := fmt.Sprintf("this Manager had no chunk mapped, and MaxMapped is now %d", maxMapped)
		if msg := err.Error(); !strings.Contains(msg, wantMsg) || strings.Contains(msg, "lower MaxMapped") {
			t.Errorf("Pin's error %q: want it to say %q, and no advice to lower MaxMapped", msg, wantMsg)
		}
		if st := m.Stats(); st.Refusals != 1 || st.Lowered != 0 || st.Mapped != 0 {
			t.Errorf("after the refusal: %+v, want 1 refusal, nothing lowered or mapped", st)
		}
		p, err := m.Pin(cs, cs)
		if err != nil {
			t.Fatalf("Pin with the limit restored: %v", err)
		}
		defer p.Release()
		if !bytes.Equal(p.Bytes(), want[cs:2*cs]) {
			t.Errorf("the pinned chunk's bytes differ from what was written")
		}
	})
}
