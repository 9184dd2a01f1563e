package fuzz

import "testing"

// TestFarTop runs FuzzFar's operations to the very top of the offsets: it
// appends until Size is math.MaxInt64, is refused one byte more, reads,
// writes, pins and gathers in the top chunk, and syncs, reopens, drops and
// grows there, each checked against the model.
func TestFarTop(t *testing.T) {
	in := []byte{1,
		fTruncate, 16, 0x40 | 63, // abs 2^63 - 1008
		fAppend, 127, fAppend, 127, fAppend, 127, fAppend, 127, fAppend, 127, fAppend, 127, fAppend, 127,
		fAppend, 118, // Size = MaxInt64
		fAppend, 1, // overflows
		fRead, 16, 0x80, 64, // Size-32, 64 bytes
		fTyped, 0, 16, 0xf8, // ReadUint64(Size-8)
		fTyped, 1, 16, 0xf7, // WriteUint64(Size-9)
		fAtomic, 1, 16, 0xf0,
		fPin, 1, 16, 0x40 | 62, 127,
		fGather, 3, 8, 16, 0xf8, 16, 0xf0, 16, 0,
		fBatch, 16, 0x80 | 20, 40, 1,
		fSync,
		fReopen, 0,
		fDrop, 16, 0x40 | 1,
		fRead, 0, 0x80, 40,
		fGrow, 1,
		fWrite, 16, 0x80 | 31, 1,
		fWrite, 16, 0x80 | 30, 1,
	}
	farVerbose = true
	defer func() { farVerbose = false }()
	runFar(t, in)
}
