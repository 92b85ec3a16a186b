//go:build !race

package arena

// spinLimit is how many checks a waiting side of the pool makes before it
// parks: about 100–200 µs here, longer than the usual gap between two ticks
// of an offline run (measured: 1<<13 halved BenchmarkArena/workers=2 by
// parking on most ticks), far shorter than a served tick interval.
const spinLimit = 1 << 17
