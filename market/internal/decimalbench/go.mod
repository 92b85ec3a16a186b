module github.com/lineage-arena/lineage/market/internal/decimalbench

go 1.26.8

require github.com/lineage-arena/lineage v0.0.0

require github.com/shopspring/decimal v1.6.0

replace github.com/lineage-arena/lineage => ../../..
