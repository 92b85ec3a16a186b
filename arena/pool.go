package arena

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// pool runs one job per worker per tick on persistent goroutines. A tick
// is tens of microseconds of work, shorter than waking a parked goroutine,
// so workers first spin on an atomic generation counter and park only
// after spinLimit idle checks (a server between its ticks). The caller
// spins too while the workers finish. Results never depend on the pool:
// chunks are contiguous and settled in order.
type pool struct {
	gen     atomic.Uint64 // bumped once per dispatched tick
	pending atomic.Int32  // workers still running the current tick
	closed  atomic.Bool
	fn      func(worker int) // the current tick's work, set before gen
	parked  []atomic.Bool
	wake    []chan struct{} // capacity 1: a wake-up is never lost
	alive   sync.WaitGroup
	once    sync.Once
}

// spinLimit is how many idle checks a worker makes before parking.
const spinLimit = 1 << 16

func newPool(n int) *pool {
	p := &pool{parked: make([]atomic.Bool, n), wake: make([]chan struct{}, n)}
	for i := range n {
		p.wake[i] = make(chan struct{}, 1)
		p.alive.Add(1)
		go p.work(i)
	}
	return p
}

func (p *pool) work(i int) {
	defer p.alive.Done()
	var seen uint64
	for {
		for spins := 0; p.gen.Load() == seen; spins++ {
			if p.closed.Load() {
				return
			}
			if spins < spinLimit {
				if spins&4095 == 4095 {
					runtime.Gosched()
				}
				continue
			}
			p.parked[i].Store(true)
			if p.gen.Load() == seen && !p.closed.Load() {
				<-p.wake[i]
			}
			p.parked[i].Store(false)
			spins = 0
		}
		seen = p.gen.Load()
		p.fn(i)
		p.pending.Add(-1)
	}
}

// run hands fn to every worker; wait returns when all have finished it.
func (p *pool) run(fn func(worker int)) {
	p.fn = fn
	p.pending.Store(int32(len(p.wake)))
	p.gen.Add(1)
	for i := range p.parked {
		if p.parked[i].Load() {
			select {
			case p.wake[i] <- struct{}{}:
			default:
			}
		}
	}
}

func (p *pool) wait() {
	for spins := 0; p.pending.Load() > 0; spins++ {
		if spins&4095 == 4095 {
			runtime.Gosched()
		}
	}
}

func (p *pool) close() {
	p.once.Do(func() {
		p.closed.Store(true)
		for _, ch := range p.wake {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		p.alive.Wait()
	})
}
