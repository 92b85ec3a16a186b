module github.com/lineage-arena/lineage/benchmarks/centrifugo

go 1.26.8

require (
	github.com/gobwas/ws v1.5.0
	github.com/google/pprof v0.0.0-20261105003125-4bf881d7fb0b
	github.com/lineage-arena/lineage v0.0.0
)

require github.com/gobwas/httphead v0.1.0 // indirect

replace github.com/lineage-arena/lineage => ../..
