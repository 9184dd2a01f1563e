// Command report runs the chunkmap benchmark suite and prints it as a
// markdown table: for each workload and contender the median ns/op and MB/s
// over -count runs, and the ratio of its ns/op to flat's in the same
// workload and set (2.0 means half flat's speed). It builds the bench
// module's test binary once (go test -c) and runs it, as
//
//	go test -run '^$' -bench <bench> -count 1 -benchtime <benchtime>
//
// would, -count times, with CHUNKMAP_BENCH_COLD set to -cold
// and CHUNKMAP_BENCH_DIR to one temporary directory, so that the data files
// are made once and every round measures every contender: on a busy machine
// a slow spell then hits all contenders alike, where go test -count 6 would
// run one contender six times in a row. It shows the test output on stderr
// as it comes, and can keep it for benchstat with -raw. Run it from the
// bench directory:
//
//	go run ./cmd/report -cold 256MiB -count 1
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	var (
		cold      = flag.String("cold", "2GiB", "size of the cold set (CHUNKMAP_BENCH_COLD)")
		count     = flag.Int("count", 1, "runs of each benchmark; the table shows medians")
		bench     = flag.String("bench", ".", "which benchmarks to run (go test -bench)")
		benchtime = flag.String("benchtime", "1s", "go test -benchtime")
		dir       = flag.String("dir", ".", "the bench module's directory")
		raw       = flag.String("raw", "", "also write the raw go test output to this file, for benchstat")
		in        = flag.String("in", "", "read go test output from this file instead of running the suite")
	)
	flag.Parse()
	if err := run(*cold, *count, *bench, *benchtime, *dir, *raw, *in); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(cold string, count int, bench, benchtime, dir, raw, in string) error {
	start := time.Now()
	load0 := loadAvg()
	rev := gitRev(dir) // before the build, which compiles the work tree as it is
	var out []byte
	if in != "" {
		var err error
		if out, err = os.ReadFile(in); err != nil {
			return err
		}
	} else {
		data, err := os.MkdirTemp("", "chunkmap-bench-data-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(data)
		// One binary for every round: the library's sources may change
		// while the suite runs, and each round must measure the same code.
		bin := filepath.Join(data, "bench.test")
		build := exec.Command("go", "test", "-c", "-o", bin)
		build.Dir, build.Stdout, build.Stderr = dir, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go test -c: %w", err)
		}
		args := []string{"-test.run", "^$", "-test.bench", bench, "-test.count", "1", "-test.benchtime", benchtime, "-test.timeout", "0"}
		var buf bytes.Buffer
		for round := 1; round <= count && err == nil; round++ {
			fmt.Fprintf(os.Stderr, "report: round %d of %d\n", round, count)
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "CHUNKMAP_BENCH_COLD="+cold, "CHUNKMAP_BENCH_DIR="+data)
			cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
			cmd.Stderr = os.Stderr
			if err = cmd.Run(); err != nil {
				err = fmt.Errorf("bench.test %s: %w", strings.Join(args, " "), err)
			}
		}
		out = buf.Bytes()
		if raw != "" {
			if werr := os.WriteFile(raw, out, 0o644); werr != nil {
				return errors.Join(err, werr)
			}
		}
		if err != nil {
			return err
		}
	}
	results := parse(out)
	if len(results) == 0 {
		return fmt.Errorf("no benchmark results in the output")
	}

	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "## chunkmap benchmarks (cold set %s)\n\n", cold)
	fmt.Fprintf(w, "- Machine: %s, %d cores, %s/%s, Linux %s\n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, osRelease())
	fmt.Fprintf(w, "- Go: %s; chunkmap at %s\n", goVersion(dir), rev)
	if in == "" {
		fmt.Fprintf(w, "- Run: %s, %s; load average %s before, %s after (other processes share the machine, so the figures carry their noise)\n",
			start.UTC().Format("2006-01-02 15:04 MST"), time.Since(start).Round(time.Second), load0, loadAvg())
	}
	fmt.Fprintf(w, "- Reproduce (from bench/): `go run ./cmd/report -cold %s -count %d -bench '%s' -benchtime %s`\n", cold, count, bench, benchtime)
	fmt.Fprintf(w, "- Medians of %d round(s), each a go test process that runs every contender once. ns/op is per uint64 access for the random workloads, per 1 MiB block for SeqRead, per whole build for Build, per Sync or Open otherwise; ParallelRead's is wall time per access with all goroutines reading. "+
		"× flat is ns/op divided by flat's in the same row group (below 1 is faster than flat); "+
		"the min columns use each contender's fastest round instead, the estimate least touched by other processes' load.\n\n", count)
	fmt.Fprintln(w, "| workload | case | impl | ns/op | MB/s | × flat | min ns/op | × flat (min) | allocs/op | other |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range results {
		ratio, minRatio := "—", "—"
		if f, ok := flatOf(results, r); ok && f.metric("ns/op") > 0 {
			ratio = fmt.Sprintf("%.2f", r.metric("ns/op")/f.metric("ns/op"))
			minRatio = fmt.Sprintf("%.2f", r.min["ns/op"]/f.min["ns/op"])
		}
		mbs := "—"
		if v, ok := r.median["MB/s"]; ok {
			mbs = strconv.FormatFloat(v, 'f', 0, 64)
			if v < 10 {
				mbs = strconv.FormatFloat(v, 'g', 2, 64)
			}
		}
		allocs := "—"
		if v, ok := r.median["allocs/op"]; ok {
			allocs = strconv.FormatFloat(v, 'g', 3, 64)
		}
		var other []string
		for _, u := range r.units {
			switch u {
			case "ns/op", "MB/s", "allocs/op", "B/op":
				continue
			case "minflt/op", "majflt/op":
				if r.median[u] < 0.001 {
					continue // noise: a fault per thousand accesses or fewer
				}
			}
			if rest, ok := strings.CutPrefix(u, "max-ns/"); ok {
				other = append(other, fmt.Sprintf("slowest %s %s", rest, formatNs(r.median[u])))
				continue
			}
			other = append(other, fmt.Sprintf("%s %s", strconv.FormatFloat(r.median[u], 'g', 3, 64), u))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.workload, r.group, r.impl, formatNs(r.metric("ns/op")), mbs, ratio,
			formatNs(r.min["ns/op"]), minRatio, allocs, strings.Join(other, ", "))
	}
	return nil
}

// result is one benchmark's medians.
type result struct {
	name     string // without the -GOMAXPROCS suffix
	workload string // RandRead
	group    string // set=cold: the name's keys other than impl
	impl     string
	units    []string // in the order the output gave them
	samples  map[string][]float64
	median   map[string]float64
	min      map[string]float64
}

func (r *result) metric(unit string) float64 { return r.median[unit] }

// parse reads benchmark lines, "BenchmarkX/k=v/impl=y-2  N  v unit  v unit",
// and returns one result per name in first-seen order.
func parse(out []byte) []*result {
	byName := map[string]*result{}
	var order []*result
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		r := byName[name]
		if r == nil {
			r = &result{name: name, samples: map[string][]float64{}}
			parts := strings.Split(strings.TrimPrefix(name, "Benchmark"), "/")
			r.workload = parts[0]
			var keys []string
			for _, p := range parts[1:] {
				if v, ok := strings.CutPrefix(p, "impl="); ok {
					r.impl = v
				} else {
					keys = append(keys, p)
				}
			}
			r.group = strings.Join(keys, " ")
			byName[name] = r
			order = append(order, r)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			u := f[i+1]
			if _, seen := r.samples[u]; !seen {
				r.units = append(r.units, u)
			}
			r.samples[u] = append(r.samples[u], v)
		}
	}
	for _, r := range order {
		r.median, r.min = map[string]float64{}, map[string]float64{}
		for u, s := range r.samples {
			r.median[u], r.min[u] = median(s), slices.Min(s)
		}
	}
	return order
}

// flatOf returns the flat result of r's workload and group.
func flatOf(results []*result, r *result) (*result, bool) {
	for _, f := range results {
		if f.impl == "flat" && f.workload == r.workload && f.group == r.group {
			return f, true
		}
	}
	return nil, false
}

func median(s []float64) float64 {
	s = slices.Clone(s)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// formatNs prints ns/op with three significant digits, in a unit a reader
// can take in at a glance.
func formatNs(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.3g s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e4:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	case ns >= 100:
		return fmt.Sprintf("%.0f ns", ns)
	case ns >= 10:
		return fmt.Sprintf("%.1f ns", ns)
	default:
		return fmt.Sprintf("%.2f ns", ns)
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func osRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// goVersion is the toolchain go test runs with.
func goVersion(dir string) string {
	cmd := exec.Command("go", "env", "GOVERSION")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

// gitRev names the commit the library was measured at, and says whether the
// work tree had changes.
func gitRev(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "an unknown commit"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no", "..").Output(); err == nil && len(st) > 0 {
		rev += " with uncommitted changes"
	}
	return rev
}
