package accessor

// The per-type code of the package is generated from one template: the
// typed reads and writes of a ViewAccessor (typed_gen.go) and of a Batch
// (batch_gen.go), the bulk calls (bulk_gen.go), the gather and scatter
// calls (gather_gen.go), and the byte-order converters under them. The
// type table is in internal/gen/main.go and the code in
// internal/gen/accessor.tmpl: edit those, never a *_gen.go file, and run
//
//	go generate ./accessor/...
//
// CI fails if the generated files are not what the generator writes.

//go:generate go run ./internal/gen
