package accessor

// The per-type methods of the package are generated from one template: the
// typed reads and writes and the typed scans (typed_gen.go), a Batch's
// typed reads and writes (batch_gen.go), the bulk calls (bulk_gen.go) and
// the gather and scatter calls (gather_gen.go). Each only names its type;
// generic functions implement them (values.go, iter.go, batch.go). The
// type table is in internal/gen/main.go and the methods in
// internal/gen/accessor.tmpl: edit those, never a *_gen.go file, and run
//
//	go generate ./accessor/...
//
// CI fails if the generated files are not what the generator writes.

//go:generate go run ./internal/gen
