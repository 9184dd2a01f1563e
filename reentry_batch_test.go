package chunkmap_test

// Re-entry from a Batch function that outlives its Manager's writer state:
// a follower's batch whose function makes its writer truncate, regrow,
// drop, close or reopen (or closes the follower itself), and a writer's
// batch whose function closes its Manager and then reopens, removes or
// follows the dataset. Whatever the function does and however it ends
// (return, panic, runtime.Goexit), later calls work, errors match a
// sentinel, the follower is back within MaxMapped with nothing held, and
// Close leaves no mapping and gives the arena back.

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// reentryRun runs body in a Batch of m on a goroutine of its own, which
// recovers a panic and lets a runtime.Goexit end it, and checks the
// Batch's error against the sentinels.
func reentryRun(t *testing.T, m *chunkmap.Manager, body func(*chunkmap.Batch) error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			recover() // the body's own panic
			done <- err
		}()
		err = m.Batch(body)
	}()
	if err := <-done; err != nil {
		if msg := advErrCheck(err); msg != "" {
			t.Errorf("batch: %s", msg)
		}
	}
}

// reentryQuiet checks that closed Manager m maps nothing and gave its arena
// back.
func reentryQuiet(t *testing.T, m *chunkmap.Manager, what string) {
	t.Helper()
	if live, doomed, views := m.Mappings(); live+doomed+views != 0 || !m.ArenaReleased() {
		t.Errorf("%s: after Close %d live, %d doomed, %d view mappings, arena released %v; want none and true",
			what, live, doomed, views, m.ArenaReleased())
	}
}

func TestReentry_FollowerBatchWhileWriterChanges(t *testing.T) {
	watchdog.Start(t, 60*time.Second)
	const maxMapped = 2
	calls := []struct {
		name string
		f    func(w, r *chunkmap.Manager) error
	}{
		{"refresh", func(w, r *chunkmap.Manager) error { return r.Refresh() }},
		{"truncate0", func(w, r *chunkmap.Manager) error { return w.Truncate(0) }},
		{"truncateRegrow", func(w, r *chunkmap.Manager) error {
			if err := w.Truncate(cs); err != nil {
				return err
			}
			_, err := w.WriteAt(pattern(5, 12*cs), 0)
			return err
		}},
		{"truncateRegrowRefresh", func(w, r *chunkmap.Manager) error {
			if err := w.Truncate(cs); err != nil {
				return err
			}
			if _, err := w.WriteAt(pattern(5, 12*cs), 0); err != nil {
				return err
			}
			return r.Refresh()
		}},
		{"drop", func(w, r *chunkmap.Manager) error { return w.DropBefore(5 * cs) }},
		{"writerClose", func(w, r *chunkmap.Manager) error { return w.Close() }},
		{"writerReopen", func(w, r *chunkmap.Manager) error {
			if err := w.Close(); err != nil {
				return err
			}
			w2, err := chunkmap.Open(w.Dir(), &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				return err
			}
			defer w2.Close()
			if err := w2.Truncate(2 * cs); err != nil {
				return err
			}
			_, err = w2.WriteAt(pattern(7, 9*cs), 0)
			return err
		}},
		{"followerClose", func(w, r *chunkmap.Manager) error { return r.Close() }},
	}
	for _, c := range calls {
		// A small arena sends bytes across its end through views.
		for _, e := range []struct {
			end   string
			arena int64
		}{{"return", 3 * cs}, {"panic", 0}, {"goexit", 3 * cs}} {
			end, arena := e.end, e.arena
			t.Run(c.name+"/"+end, func(t *testing.T) {
				dir := t.TempDir()
				w := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped})
				writeAt(t, w, pattern(1, 10*cs), 0)
				r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: maxMapped, ArenaSize: arena})
				if err != nil {
					t.Fatal(err)
				}
				reentryRun(t, r, func(b *chunkmap.Batch) error {
					if _, err := b.Bytes(6*cs-4, 2*cs); err != nil {
						return err
					}
					if err := b.Hold(0, 10*cs); err != nil {
						return err
					}
					if err := c.f(w, r); err != nil {
						if msg := advErrCheck(err); msg != "" {
							t.Errorf("%s: %s", c.name, msg)
						}
					}
					for _, off := range []int64{0, cs - 4, 3*cs - 4, 6*cs - 4, 9 * cs} {
						if p, err := b.Bytes(off, 8); err == nil {
							_ = p[7]
						} else if msg := advErrCheck(err); msg != "" {
							t.Errorf("Bytes(%d, 8) after %s: %s", off, c.name, msg)
						}
						var buf [8]byte
						if _, err := r.ReadAt(buf[:], off); err != nil {
							if msg := advErrCheck(err); msg != "" {
								t.Errorf("ReadAt(8, %d) after %s: %s", off, c.name, msg)
							}
						}
					}
					switch end {
					case "panic":
						panic("reentry")
					case "goexit":
						runtime.Goexit()
					}
					return nil
				})
				if c.name != "followerClose" {
					var buf [8]byte
					if _, err := r.ReadAt(buf[:], 0); err != nil {
						if msg := advErrCheck(err); msg != "" {
							t.Errorf("ReadAt after the batch: %s", msg)
						}
					}
					if s := r.Stats(); s.Mapped > maxMapped || s.Pinned != 0 {
						t.Errorf("after the batch: Stats %+v, want Mapped <= %d, Pinned 0", s, maxMapped)
					}
				}
				if err := r.Close(); err != nil && !errors.Is(err, chunkmap.ErrClosed) {
					t.Errorf("follower Close: %v", err)
				}
				reentryQuiet(t, r, "follower")
			})
		}
	}
}

func TestReentry_CloseThenReopenInsideBatch(t *testing.T) {
	watchdog.Start(t, 60*time.Second)
	for _, arena := range []int64{0, 2 * cs} {
		for _, then := range []string{"reopen", "remove", "follow"} {
			t.Run(then, func(t *testing.T) {
				dir := t.TempDir()
				m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: arena})
				if err != nil {
					t.Fatal(err)
				}
				writeAt(t, m, pattern(1, 6*cs), 0)
				var w2 *chunkmap.Manager
				err = m.Batch(func(b *chunkmap.Batch) error {
					p, err := b.WritableBytes(cs-4, 2*cs)
					if err != nil {
						return err
					}
					copy(p, "old")
					if err := m.Close(); !errors.Is(err, chunkmap.ErrBusy) {
						t.Errorf("Close inside the batch: %v, want ErrBusy", err)
					}
					switch then {
					case "reopen":
						w2, err = chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: arena})
						if err != nil {
							return err
						}
						if err := w2.Truncate(0); err != nil {
							return err
						}
						if _, err := w2.WriteAt(pattern(2, 5*cs), 0); err != nil {
							return err
						}
					case "remove":
						if err := chunkmap.Remove(dir); err != nil {
							t.Errorf("Remove: %v", err)
						}
					case "follow":
						r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
						if err != nil {
							return err
						}
						got := make([]byte, 3)
						if _, err := r.ReadAt(got, cs-4); err != nil || string(got) != "old" {
							t.Errorf("follower ReadAt = %q, %v, want \"old\", nil", got, err)
						}
						if err := r.Close(); err != nil {
							t.Errorf("follower Close: %v", err)
						}
					}
					// Stores through bytes handed out before Close go to
					// the old files: after the reopen's Truncate, to a
					// deleted one, which the new writer never reads.
					copy(p, "new")
					if _, err := b.Bytes(0, 10); !errors.Is(err, chunkmap.ErrClosed) {
						t.Errorf("Bytes after Close: %v, want ErrClosed", err)
					}
					return nil
				})
				if err != nil {
					t.Errorf("Batch: %v", err)
				}
				reentryQuiet(t, m, "writer")
				if w2 != nil {
					got := readAt(t, w2, 0, 5*cs)
					if i := firstDiff(got, pattern(2, 5*cs)); i >= 0 {
						t.Errorf("reopened writer's bytes differ at %d: the old batch's store reached them", i)
					}
					if err := w2.Close(); err != nil {
						t.Errorf("reopened writer's Close: %v", err)
					}
				}
			})
		}
	}
}
