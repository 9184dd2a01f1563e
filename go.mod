module github.com/chunkmap/chunkmap

go 1.26.0

require (
	github.com/edsrzf/mmap-go v1.2.0
	github.com/hashicorp/golang-lru/v2 v2.0.7
	golang.org/x/sys v0.50.0
)
