module github.com/lineage-arena/lineage/hub/internal/wsbench

go 1.26.8

require (
	github.com/coder/websocket v1.8.15
	github.com/gorilla/websocket v1.5.3
	github.com/lxzan/gws v1.8.9
	golang.org/x/sys v0.48.0
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/klauspost/compress v1.20.1 // indirect
)
