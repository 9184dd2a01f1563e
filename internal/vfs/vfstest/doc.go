// Package vfstest holds file systems for tests of code written against
// package vfs: a [Recorder], which logs every operation that changes a
// directory or makes it durable and builds, from the log, the disk as a
// power loss at any point would have left it (the method of ALICE, OSDI
// 2014, and CrashMonkey, OSDI 2018); a [Faulty] file system, which makes
// chosen operations fail, or simulates bugs such as a missing fsync; and
// [WithBootID], which makes a file system claim another boot, so that a
// reopened image looks like one after a restart.
//
// The pieces stack: a Faulty over a Recorder records only what the Faulty
// let through, which is how a removed fsync shows in the images.
//
//	rec := vfstest.NewRecorder(vfs.OS, "A")
//	bug := vfstest.NewFaulty(rec)
//	bug.Add(vfstest.Rule{Match: vfstest.OpOn(vfstest.OpSync, "*.chunk"), Mode: vfstest.Skip})
//	// ... run the code under test on bug ...
//	for k := 0; k <= rec.Steps(); k++ {
//		err := rec.Materialize(dir, vfstest.Cut{After: k}, t.TempDir())
//		// ... open the image with WithBootID(vfs.OS, "B") and check it ...
//	}
package vfstest
