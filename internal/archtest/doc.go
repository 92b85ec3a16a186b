// Package archtest holds the test that keeps Lineage's import graph
// pointing inward: the domain imports only the standard library, adapters
// import the domain but not each other, and cli (the command set behind
// cmd/lineage) wires everything.
package archtest
