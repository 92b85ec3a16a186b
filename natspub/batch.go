package natspub

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/lineage-arena/lineage/eventlog"
)

// JetStream's headers for atomic batches and optimistic concurrency
// (nats-server ≥ 2.12, ADR-50).
const (
	hdrBatchID      = "Nats-Batch-Id"
	hdrBatchSeq     = "Nats-Batch-Sequence"
	hdrBatchCommit  = "Nats-Batch-Commit"
	hdrExpectedLast = "Nats-Expected-Last-Sequence"
	hdrMsgID        = "Nats-Msg-Id"
)

// catchUpChunk is how many records a catch-up reads from the log before
// publishing them, in batches of the events that share a time.
const catchUpChunk = 4096

// record is a log record copied out of the reader.
type record struct {
	seq        uint64
	time       time.Time
	typ        string
	hash, prev [32]byte
	payload    []byte
}

// load reads the records [from, until) from the log.
func (p *Publisher) load(from, until uint64) ([]record, error) {
	var out []record
	err := p.e.History().Records(from, until, func(r eventlog.Record) error {
		out = append(out, record{seq: r.Seq, time: r.Time, typ: r.Type, hash: r.Hash, prev: r.Prev, payload: append([]byte(nil), r.Payload...)})
		return nil
	})
	if err == nil && len(out) != int(until-from) {
		err = fmt.Errorf("the log gave %d of events %d-%d", len(out), from, until-1)
	}
	if err != nil {
		return nil, fmt.Errorf("read events %d-%d from the log: %w", from, until-1, err)
	}
	return out, nil
}

// publishStep publishes a committed step: first whatever the stream lacks
// before it (read back from the log), then the step as one atomic batch
// (several if it has more than MaxBatch events). A step already in the
// stream is skipped.
func (p *Publisher) publishStep(ctx context.Context, s span) error {
	if s.last < p.next {
		return nil
	}
	if p.next < s.first {
		if err := p.catchUp(ctx, s.first-1); err != nil {
			return err
		}
	}
	recs, err := p.load(p.next, s.last+1)
	if err != nil {
		return err
	}
	for len(recs) > 0 {
		n := min(len(recs), p.cfg.MaxBatch)
		if err := p.send(ctx, recs[:n]); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// catchUp publishes the events from p.next to upto from the log. The log
// does not mark where a step ends, but every event of a step has the
// step's time: each run of events with one time is one batch (two steps
// stamped alike go together; a run longer than MaxBatch is split).
func (p *Publisher) catchUp(ctx context.Context, upto uint64) error {
	if p.next > upto {
		return nil
	}
	p.cfg.Logger.Info("jetstream catching up from the log", "stream", p.cfg.Stream, "from", p.next, "to", upto)
	for p.next <= upto {
		until := min(upto+1, p.next+catchUpChunk)
		recs, err := p.load(p.next, until)
		if err != nil {
			return err
		}
		groups := groupByTime(recs, p.cfg.MaxBatch)
		if until <= upto && len(groups) > 1 {
			// The last run of the chunk may go on in the next: read it again.
			groups = groups[:len(groups)-1]
		}
		for _, g := range groups {
			if err := p.send(ctx, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// groupByTime cuts recs into runs of one time, each at most max long.
func groupByTime(recs []record, max int) [][]record {
	var out [][]record
	start := 0
	for i := 1; i <= len(recs); i++ {
		if i == len(recs) || !recs[i].time.Equal(recs[start].time) || i-start == max {
			out = append(out, recs[start:i])
			start = i
		}
	}
	return out
}

// pubAck is JetStream's answer to a batch's commit.
type pubAck struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Batch  string `json:"batch"`
	Count  int    `json:"count"`
	Error  *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// send publishes recs, the events from p.next on, as one atomic batch:
// the first message expects the stream's last sequence to be the one
// before it, the last commits. The messages before the commit are
// published without waiting (one connection keeps them in order); only
// the commit's acknowledgement is awaited. On success p.next moves past
// the batch.
func (p *Publisher) send(ctx context.Context, recs []record) error {
	first, last := recs[0].seq, recs[len(recs)-1].seq
	if first != p.next || recs[0].prev != p.prev {
		return fmt.Errorf("batch of events %d-%d does not follow the stream's last event %d", first, last, p.next-1)
	}
	id := nuid.Next()
	var reply *nats.Msg
	for i, r := range recs {
		m := nats.NewMsg(p.cfg.Subject)
		m.Header.Set(hdrBatchID, id)
		m.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
		m.Header.Set(hdrMsgID, p.cfg.RunID+":"+strconv.FormatUint(r.seq, 10))
		m.Header.Set(HeaderSeq, strconv.FormatUint(r.seq, 10))
		m.Header.Set(HeaderHash, hex.EncodeToString(r.hash[:]))
		m.Header.Set(HeaderPrev, hex.EncodeToString(r.prev[:]))
		m.Header.Set(HeaderTime, strconv.FormatInt(r.time.UnixNano(), 10))
		m.Header.Set(HeaderType, r.typ)
		if i == 0 {
			m.Header.Set(hdrExpectedLast, strconv.FormatUint(first-1, 10))
		}
		m.Data = r.payload
		if i < len(recs)-1 {
			if err := p.nc.PublishMsg(m); err != nil {
				return fmt.Errorf("publish event %d: %w", r.seq, err)
			}
			continue
		}
		m.Header.Set(hdrBatchCommit, "1")
		actx, cancel := context.WithTimeout(ctx, p.cfg.AckTimeout)
		var err error
		reply, err = p.nc.RequestMsgWithContext(actx, m)
		cancel()
		if err != nil {
			return fmt.Errorf("commit batch of events %d-%d: %w", first, last, err)
		}
	}
	var ack pubAck
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return fmt.Errorf("commit batch of events %d-%d: unreadable acknowledgement: %w", first, last, err)
	}
	if ack.Error != nil {
		return fmt.Errorf("commit batch of events %d-%d: %s (error %d)", first, last, ack.Error.Description, ack.Error.ErrCode)
	}
	if ack.Seq != last {
		return fmt.Errorf("commit batch of events %d-%d: the stream stored it ending at sequence %d", first, last, ack.Seq)
	}
	if p.cfg.OnAck != nil {
		p.cfg.OnAck(recs[0].time, time.Now())
	}
	p.next, p.prev = last+1, recs[len(recs)-1].hash
	p.published.Store(last)
	p.batches.Add(1)
	p.messages.Add(uint64(len(recs)))
	return nil
}
