package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestKeepLasting: after surveyTries surveys during each of which a writer
// moved the state page, the faults every survey found stay, those only
// some found go, and the note says which happened.
func TestKeepLasting(t *testing.T) {
	lasting := finding{what: "ffff lies past Size but is not a regular file", key: "ffff lies past Size but is not a regular file"}
	passing := finding{what: "0003 is missing: bytes [196608, 262144) are lost", key: "missing from 0003"}
	// A chunk's fault whose bytes lost moved with Size between surveys:
	// the key is the same.
	moved := finding{what: "0007 is missing: bytes [458752, 460000) are lost", key: "missing from 0007"}
	tests := []struct {
		name   string
		last   []finding      // the faults of the last survey
		seen   map[string]int // surveys that found each text
		want   []finding
		inNote string
	}{
		{
			name:   "only passing",
			last:   []finding{passing},
			seen:   map[string]int{passing.key: 1, "missing from 0001": 1},
			want:   []finding{},
			inNote: "2 faults that some of them found and others did not were its changes, not damage",
		},
		{
			name:   "only lasting",
			last:   []finding{lasting},
			seen:   map[string]int{lasting.key: surveyTries},
			want:   []finding{lasting},
			inNote: "every one found the faults above",
		},
		{
			name:   "lasting, its bytes moved",
			last:   []finding{moved},
			seen:   map[string]int{moved.key: surveyTries},
			want:   []finding{moved},
			inNote: "every one found the faults above",
		},
		{
			name:   "both",
			last:   []finding{lasting, passing},
			seen:   map[string]int{lasting.key: surveyTries, passing.key: surveyTries - 1},
			want:   []finding{lasting},
			inNote: "every one found the faults above, and 1 more fault that only some found",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &survey{faults: append([]finding(nil), tc.last...)}
			s.keepLasting(tc.seen)
			if !reflect.DeepEqual(s.faults, tc.want) {
				t.Errorf("faults = %+v, want %+v", s.faults, tc.want)
			}
			if len(s.notes) != 1 || !strings.Contains(s.notes[0], tc.inNote) {
				t.Errorf("notes = %q, want one that says %q", s.notes, tc.inNote)
			}
		})
	}
}

// TestVerify_CutDuringEverySurvey: a writer drops two chunks from the
// front in the middle of every survey (after it reads the manifest, before
// it lists the directory), so every survey finds other chunk files
// missing, and the page moved during each. Those faults are the writer's
// drops: verify must find the dataset OK, with a note that says so.
func TestVerify_CutDuringEverySurvey(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	must(t, err)
	defer w.Close()
	_, err = w.Append(make([]byte, 4*surveyTries*cs))
	must(t, err)
	var cuts int
	surveyMidway = func() {
		cuts++
		must(t, w.DropBefore(w.Start()+2*cs))
	}
	defer func() { surveyMidway = nil }()
	code, stdout, stderr := runCmd(t, "verify", dir)
	if cuts != surveyTries {
		t.Errorf("verify surveyed %d times, want %d", cuts, surveyTries)
	}
	if code != exitOK || !strings.Contains(stdout, "10 faults that some of them found and others did not were its changes") {
		t.Errorf("exit status %d, want %d and a note on the writer's changes\nstdout:\n%s\nstderr:\n%s", code, exitOK, stdout, stderr)
	}
}

// TestVerify_OpenedAndCutDuringSurvey: no writer has the dataset open as
// verify and info begin; one opens it and cuts it (Truncate) after their
// survey read the manifest and before it lists the directory, and stays
// open. The page the survey read said the dataset was closed cleanly, and
// a survey that took that for "nobody changes it" reported the chunk files
// the cut deleted as lost.
func TestVerify_OpenedAndCutDuringSurvey(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, cmd := range []string{"verify", "info"} {
		t.Run(cmd, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
			must(t, err)
			_, err = w.Append(make([]byte, 8*cs))
			must(t, err)
			must(t, w.Close())
			var opened bool
			surveyMidway = func() {
				if opened {
					return
				}
				opened = true
				w, err := chunkmap.Open(dir, nil)
				must(t, err)
				t.Cleanup(func() { w.Close() })
				must(t, w.Truncate(2*cs))
			}
			defer func() { surveyMidway = nil }()
			if code, stdout, stderr := runCmd(t, cmd, dir); code != exitOK {
				t.Errorf("%s beside a writer that opened the dataset and cut it during the survey: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", cmd, code, exitOK, stdout, stderr)
			}
		})
	}
}

// TestVerify_DamageBesideMovingSize: the last chunk's file is missing
// (another program removed it), and a writer lowers Size a little within
// that chunk in the middle of every survey, so each survey words the lost
// bytes, [the chunk's start, Size), another way. The fault is the same
// one in all ten: verify must report it, not take it for the writer's
// passing changes.
func TestVerify_DamageBesideMovingSize(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	must(t, err)
	defer w.Close()
	_, err = w.Append(make([]byte, 4*cs-1000))
	must(t, err)
	must(t, os.Remove(filepath.Join(dir, chunk.Name(3))))
	var moves int
	surveyMidway = func() {
		moves++
		must(t, w.Truncate(w.Size()-10))
	}
	defer func() { surveyMidway = nil }()
	code, stdout, stderr := runCmd(t, "verify", dir)
	if moves != surveyTries {
		t.Errorf("verify surveyed %d times, want %d", moves, surveyTries)
	}
	if code != exitFail || !strings.Contains(stdout, chunk.Name(3)+" is missing") || !strings.Contains(stdout, "every one found the faults above") {
		t.Errorf("exit status %d, want %d, %s reported missing and a note that every survey found it\nstdout:\n%s\nstderr:\n%s", code, exitFail, chunk.Name(3), stdout, stderr)
	}
}
