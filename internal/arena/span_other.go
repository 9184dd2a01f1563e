//go:build !unix

package arena

import (
	"errors"
	"fmt"
	"os"
)

// SpanViews reports whether MapSpan works here: not where files are
// mapped through mmap-go or Windows placeholders.
const SpanViews = false

// MapSpan returns an error matching errors.ErrUnsupported here (see
// SpanViews).
func MapSpan(files []*os.File, slotSize, lo, hi int64, writable bool) (*View, error) {
	return nil, fmt.Errorf("arena: span view of %d files: %w", len(files), errors.ErrUnsupported)
}

// releaseSpan is never called here: MapSpan makes no view.
func releaseSpan(b []byte) error { return nil }

// flushSpan is never called here: MapSpan makes no view.
func flushSpan(b []byte) error { return nil }
