// Package batchwin describes the windows of a chunkmap.Batch's fast paths
// and its cache of runs, so that package accessor's typed Batch calls can
// check them inline, as Batch.Bytes and Batch.WritableBytes do, without a
// call per value.
//
// Head mirrors the leading fields of chunkmap.Batch, and Run an entry of
// its cache; they are declared in the same order and checked at compile
// time to lie at the same offsets with the same sizes (batchhead.go in
// package chunkmap). Only package chunkmap writes them; package accessor
// reads them through a *Head that points at the chunkmap.Batch its
// function was given.
package batchwin

import "unsafe"

// Head is the start of a chunkmap.Batch: the windows of its fast paths.
// The N bytes from offset Lo, mapped at P, may be read (the WN bytes from
// WLo at WP, stored to) while *Shrinks equals Epoch, by the goroutine that
// runs the batch; N and WN are 0 in a zero or ended Batch. Lim is N-7, or 0
// if N is less than 8 (WLim likewise): a value of at most 8 bytes at Lo+o
// lies in the window if o < Lim.
type Head struct {
	Lo, WLo   int64
	N, WN     uint64
	Lim, WLim uint64
	P, WP     unsafe.Pointer
	Epoch     uint64
	Shrinks   *uint64
	// Runs is the batch's cache of the chunks it holds (the first field
	// of its state): chunk i's bytes are in Runs[i%NRuns] if that run's
	// Lo>>Shift is i and its N is not 0, valid as the windows are. An
	// ended Batch's Runs are all empty.
	Runs  *[NRuns]Run
	Shift uint
}

// NRuns is the size of a Batch's cache of runs.
const NRuns = 64

// Run is one entry of a Batch's cache: the N bytes from offset Lo, mapped
// at P, of one chunk the batch holds, of which the first WN may be stored
// to.
type Run struct {
	Lo    int64
	N, WN uint64
	P     unsafe.Pointer
}
