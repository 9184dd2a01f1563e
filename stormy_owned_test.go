package chunkmap_test

import (
	"testing"
)

// stormyBaseConfig is about nine chunks of 64 KiB: two below the owned area
// (the dropper's), then frozen cells and the cells of six owners, 4104 bytes
// each, so that about one cell in sixteen straddles a chunk boundary.
func stormyBaseConfig() stormyConfig {
	cfg := stormyConfig{
		owners:        6,
		cellsPerOwner: 14,
		frozenCells:   24,
		cellSize:      4104,
		prefixChunks:  2,
		follower:      true,
		noise:         2,
		phases:        3,
	}
	if testing.Short() || raceEnabled {
		cfg.phases = 2
	}
	return cfg
}

func stormyRunWorld(t *testing.T, cfg stormyConfig) *stormyWorld {
	seed := stormySeed(t)
	e := stormyNewEnv(t)
	w := stormyNewWorld(e, seed, cfg)
	w.closeOnCleanup(t)
	for p := range cfg.phases {
		w.storm(p, nil)
		w.quiesce(p)
		if e.failing() {
			break
		}
	}
	w.finish()
	t.Logf("%d owner operations compared %d bytes with the model; %d Stats samples, Mapped at most %d over MaxMapped + Pinned",
		w.ops.Load(), w.checked.Load(), w.samples.Load(), w.excess.Load())
	return w
}

// TestStormy_OwnedBytesReadBack: six goroutines each write their own cells
// through every write path (WriteAt, typed, bulk, pins, views, batches,
// scatter, atomics) and read them back through every read path, on the
// writer and on a ReadOnly follower, while others append records past
// them, read and pin anywhere, drop the chunks below them, Sync, Grow,
// Advise (AdviceDontNeed included: hints change speed, never results) and
// sample Stats. Every byte a goroutine wrote reads back, from the writer,
// the follower, and the dataset reopened.
func TestStormy_OwnedBytesReadBack(t *testing.T) {
	cfg := stormyBaseConfig()
	cfg.drop = true
	cfg.appenders = 2
	w := stormyRunWorld(t, cfg)
	t.Logf("%d records appended", len(w.recs))
}

// TestStormy_TruncatedBytesReadAsZero: as above, with a goroutine that
// truncates the owned area (to chunk boundaries and inside chunks) and
// extends it again while the owners write and read. A byte that no Truncate
// cut reads back as written; a byte a Truncate cut reads as zero once the
// dataset reaches it again (Manager.Truncate: "bytes past it read as zeros
// if the dataset is extended again"); calls on bytes Size covered throughout
// never fail; follower reads racing a Truncate fail only with
// ErrOutOfRange, io.EOF or ErrFault.
func TestStormy_TruncatedBytesReadAsZero(t *testing.T) {
	cfg := stormyBaseConfig()
	cfg.shrink = true
	cfg.drop = true
	w := stormyRunWorld(t, cfg)
	t.Logf("%d truncates; %d Batches saw one run between two of their calls", w.ev.started.Load(), w.sawTruncate.Load())
}

// TestStormy_HoldsEndAfterPanicsBreaksAndCopies: the owners favour calls
// that hold chunks and end in unusual ways: Batch functions that panic,
// return their own error or let their Batch escape, scans that break or
// whose loop body panics, pins released through copies, twice, and from
// several goroutines at once, views released twice, and calls nested inside
// all of them. With every goroutine stopped, Stats.Pinned counts only the
// chunks the test's own long-lived pins cover, and Mapped stays within
// MaxMapped plus Pinned; after Close nothing stays mapped.
func TestStormy_HoldsEndAfterPanicsBreaksAndCopies(t *testing.T) {
	cfg := stormyBaseConfig()
	cfg.weights = map[string]int{
		"writeAt": 2, "readAt": 2, "typedWrite": 0, "typedRead": 0, "bulkWrite": 0, "bulkRead": 0,
		"batchTricks": 8, "pinWrite": 4, "pinRead": 4, "pinTwice": 4, "scan": 6, "blocks": 6,
		"sliceWrite": 3, "sliceRead": 3, "batchWrite": 3, "batchRead": 3, "accBatchWrite": 2, "accBatchRead": 2,
	}
	cfg.noise = 3
	stormyRunWorld(t, cfg)
}
