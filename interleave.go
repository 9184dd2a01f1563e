package chunkmap

// A lock-free access checks a slot, then touches the bytes, then checks
// the slot again (slots.go). Between the checks another goroutine may
// evict the chunk, give its slot to another chunk, or shrink the dataset:
// the second check is what keeps such a change from reaching the caller.
// The window is a few nanoseconds wide, so that stress tests hit it
// rarely. Builds with the chunkmap_interleave tag call a hook at each such
// place (interleave_on.go), where tests make the change every time; other
// builds call an empty function, which the compiler removes.

// raceSite names a place between a lock-free check and the access it
// guards, or another place where a change by another goroutine is hard to
// time in a test.
type raceSite int

const (
	siteRead1       raceSite = iota // hotRead1: the slot checked, before the copy
	siteReadSpan                    // hotReadSpan: every slot checked, before the copy
	siteGather                      // hotGather: the block's slots checked, before the copy
	siteFollowPull                  // followedRead: before it pulls the writer's state
	siteWrite1                      // hotWrite1: the slot entered and checked, before the store
	siteWriteSpan                   // hotWriteSpan: every slot entered and checked, before the store
	siteScatter                     // hotScatter: the block's slots entered and checked, before the stores
	siteMarkStored                  // WriteAt: a lock-free store left its slot finding it clean, before it marks the chunk
	siteAtomicLoad                  // hotAtomic: a load's slot checked, before the load
	siteAtomicWrite                 // hotAtomic: a store's, add's or swap's slot entered and checked, before it
	siteStaleZeroed                 // reserveLocked: a growth zeroed the stale bytes it covers, before it writes or publishes
	siteReadSized                   // hotRead1, hotReadSpan: the caller checked Size, before the shrink epoch and the slots are loaded
	siteWrite1Sized                 // hotWrite1: its caller checked Size, before the store enters the slot
	siteReadCopied                  // hotRead1, hotReadSpan, hotAtomic's load, hotGather: the bytes copied or loaded, before the second checks
	siteAtomicSized                 // hotAtomic: its caller checked Size, before a load loads the shrink epoch or a store enters the slot
	siteBlockSized                  // resolve, enterAll: a Gather's or Scatter's block loaded Size, before it checks or enters a slot
)
