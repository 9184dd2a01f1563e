module github.com/chunkmap/chunkmap/bench

go 1.26.0

replace github.com/chunkmap/chunkmap => ../

require (
	github.com/chunkmap/chunkmap v0.0.0-00010101000000-000000000000
	github.com/edsrzf/mmap-go v1.2.0
	golang.org/x/exp v0.0.0-20261113113407-e3970619a1a4
	golang.org/x/sys v0.50.0
)

require github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
