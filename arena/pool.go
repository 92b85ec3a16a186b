package arena

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// pool runs one job per worker per tick on persistent goroutines. A tick
// is tens of microseconds of work, about what waking a parked goroutine
// costs, so both sides spin briefly before they park: a worker on an atomic
// generation counter waiting for the next tick, the caller on the count of
// workers still busy. After spinLimit checks each parks on a channel, so a
// server idle between its ticks, or a machine whose cores are taken by
// another process, costs no spinning. Results never depend on the pool:
// chunks are contiguous and settled in order.
type pool struct {
	gen     atomic.Uint64 // bumped once per dispatched tick
	pending atomic.Int32  // workers still running the current tick
	closed  atomic.Bool
	fn      func(worker int) // the current tick's work, set before gen
	parked  []atomic.Bool
	wake    []chan struct{} // capacity 1: a wake-up is never lost
	waiting atomic.Bool     // the caller is parked in wait
	done    chan struct{}   // capacity 1: wakes the caller
	alive   sync.WaitGroup
	once    sync.Once
}

func newPool(n int) *pool {
	p := &pool{parked: make([]atomic.Bool, n), wake: make([]chan struct{}, n), done: make(chan struct{}, 1)}
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
		if p.pending.Add(-1) == 0 && p.waiting.Load() {
			signal(p.done)
		}
	}
}

// run hands fn to every worker; wait returns when all have finished it.
func (p *pool) run(fn func(worker int)) {
	p.fn = fn
	p.pending.Store(int32(len(p.wake)))
	p.gen.Add(1)
	for i := range p.parked {
		if p.parked[i].Load() {
			signal(p.wake[i])
		}
	}
}

func (p *pool) wait() {
	for spins := 0; p.pending.Load() > 0; spins++ {
		if spins < spinLimit {
			continue
		}
		p.waiting.Store(true)
		if p.pending.Load() > 0 {
			<-p.done
		}
		p.waiting.Store(false)
		spins = 0
	}
	// Drop a wake-up that raced with the last check, so the next tick's
	// wait does not return early.
	select {
	case <-p.done:
	default:
	}
}

// signal sends on a capacity-1 channel without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (p *pool) close() {
	p.once.Do(func() {
		p.closed.Store(true)
		for _, ch := range p.wake {
			signal(ch)
		}
		p.alive.Wait()
	})
}
