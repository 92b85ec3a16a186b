module github.com/lineage-arena/lineage

go 1.26.8
