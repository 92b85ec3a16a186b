#!/bin/sh
# Runs the storage benchmarks as reported in README.md. Each append
# sub-benchmark does a fixed amount of work (so every backend writes the same
# volume), and the five rounds interleave the backends, so that drift in the
# disk's speed during the run is shared among them rather than landing on one.
set -e
cd "$(dirname "$0")"
for round in 1 2 3 4 5; do
	go test -run xxx -bench 'DurableAppend/./batch=1$' -benchtime 2000x .
	go test -run xxx -bench 'DurableAppend/./batch=(100|1000)$' -benchtime 200000x .
done
go test -run xxx -bench 'ReadBack' -benchtime 3x -count 3 .
