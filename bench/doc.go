// Package bench measures chunkmap against the ways its users would otherwise
// reach the bytes of a large file, on the same bytes in the same run:
//
//   - flat: one mmap-go mapping of one file, raw slice access with
//     encoding/binary, the physical limit;
//   - pread: os.File ReadAt and WriteAt, a system call per access;
//   - xexp: golang.org/x/exp/mmap's ReaderAt (read workloads only);
//   - chunkslices, guardfloor, scopefloor and holdfloor: reference designs
//     for the random workloads, what chunking alone (a [][]byte of
//     per-chunk mappings), a per-call fault guard alone (one non-inlined
//     guarded load), a scope's per-access window check alone (an inlined
//     check of fields loaded through a pointer, one guard per block) and
//     that scope holding each chunk at its first access (an atomic add,
//     and another to let go as the scope ends) cost;
//   - chunkmap: the Manager's ReadAt, WriteAt and Append;
//   - chunkmap-typed, chunkmap-typed-batch, chunkmap-bulk, chunkmap-view:
//     the accessor package's single typed calls, typed calls in a Batch,
//     bulk slice calls and pinned Views;
//   - chunkmap-batch, chunkmap-batch-held, chunkmap-gather,
//     chunkmap-pinned: Manager.Batch per block (the second holding the
//     range the block's offsets span first, with Batch.Hold), gather and
//     scatter, and one Pin of the whole dataset.
//
// Besides those, BenchmarkEvictIdle (evict_test.go) measures eviction with
// many idle goroutines, and BenchmarkColdRandom and BenchmarkColdScan
// (cold_linux_test.go, Linux only) read from disk, with the data dropped
// from the page cache before each pass, and report the bytes read from disk;
// BenchmarkSparseWrite (sparsewrite_linux_test.go, Linux only) writes at
// random into a dataset made by Truncate and reports the disk its files
// take.
//
// The package is its own module, so that x/exp and the benchmark's needs
// stay out of the library's go.mod. The benchmarks are in *_test.go; each
// is named Benchmark<Workload>/<key=value>/impl=<contender>, so benchstat can
// group them. Run them from this directory:
//
//	go test -run '^$' -bench . -count 6 | tee new.txt
//	benchstat -col /impl new.txt
//
// The cold set is 2 GiB unless CHUNKMAP_BENCH_COLD says otherwise (for
// example CHUNKMAP_BENCH_COLD=256MiB). Data files live in one temporary
// directory under os.TempDir(), one per size, shared by every benchmark that
// needs that size and removed when the test binary exits; with
// CHUNKMAP_BENCH_DIR set they live there instead and are kept, so that
// several test processes can share them (the caller removes the directory).
// On Linux, before a dataset is first used in a process, its files are
// settled in the page cache alike (settle, huge_linux_test.go), so that the
// flat file and the chunk files sit in folios of the same sizes and cold
// ratios compare access paths.
//
// cmd/report runs the suite and prints it as a markdown table with each
// contender's ratio to flat.
package bench
