// Package decimalbench measures market's fixed-point ledger arithmetic
// against github.com/shopspring/decimal and float64. It is a separate module
// so that the root module gains no dependency; it has no API, only tests and
// benchmarks (see README.md).
package decimalbench
