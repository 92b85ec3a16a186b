//go:build race

package arena

// spinLimit is short under the race detector, where every atomic check is
// instrumented and long spins only slow the tests; parking more often also
// puts the wake-up paths under the detector's eye.
const spinLimit = 1 << 8
