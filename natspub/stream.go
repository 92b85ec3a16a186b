package natspub

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/eventlog"
)

// Metadata keys of a stream the publisher creates: whose run it holds.
const (
	metaRun     = "lineage_run"
	metaGenesis = "lineage_genesis"
)

// stream finds the stream, creating it if missing, and checks it can hold
// this run: its subject, atomic batches, and (if it says) the same run.
func (p *Publisher) stream(ctx context.Context) (jetstream.Stream, error) {
	actx, cancel := context.WithTimeout(ctx, p.askTimeout())
	st, err := p.js.Stream(actx, p.cfg.Stream)
	cancel()
	ctx, cancel = context.WithTimeout(ctx, p.cfg.AckTimeout)
	defer cancel()
	genesis := hex.EncodeToString(p.genesis[:])
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = p.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:               p.cfg.Stream,
			Description:        "Lineage run " + p.cfg.RunID + ": stream sequence N is event N of the event log",
			Subjects:           []string{p.cfg.Subject},
			Storage:            jetstream.FileStorage,
			Replicas:           p.cfg.Replicas,
			AllowAtomicPublish: true,
			DenyDelete:         true,
			Metadata:           map[string]string{metaRun: p.cfg.RunID, metaGenesis: genesis},
		})
		if err == nil {
			p.cfg.Logger.Info("jetstream stream created", "stream", p.cfg.Stream, "subject", p.cfg.Subject, "replicas", p.cfg.Replicas)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", p.cfg.Stream, err)
	}
	c := st.CachedInfo().Config
	switch {
	case !c.AllowAtomicPublish:
		return nil, fmt.Errorf("stream %s does not allow atomic publish (allow_atomic)", p.cfg.Stream)
	case !slices.Contains(c.Subjects, p.cfg.Subject):
		return nil, fmt.Errorf("stream %s does not take subject %s (it takes %v)", p.cfg.Stream, p.cfg.Subject, c.Subjects)
	case c.Metadata[metaGenesis] != "" && c.Metadata[metaGenesis] != genesis:
		return nil, fmt.Errorf("%w: stream %s holds another run (genesis %s, the log's is %s)",
			ErrDiverged, p.cfg.Stream, c.Metadata[metaGenesis], genesis)
	}
	return st, nil
}

// askTimeout bounds a question to the stream (its info, a message): the
// stream's leader answers from memory, so one that takes longer than a
// second is not there (an election is under way) and the question is
// better asked again than waited for; a reconcile after a leader's loss
// then resumes within about a second of the election, not at AckTimeout.
func (p *Publisher) askTimeout() time.Duration { return min(p.cfg.AckTimeout, time.Second) }

// reconcile reads the stream's last sequence and checks that message
// against the log: its sequence and record hash must be the log's, and so
// must what an edge hashes — payload, time, type and link. Then
// the next event to publish is the one after it. A stream that differs,
// or runs ahead of the log, is diverged (ErrDiverged).
func (p *Publisher) reconcile(ctx context.Context) error {
	st, err := p.stream(ctx)
	if err != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, p.askTimeout())
	defer cancel()
	info, err := st.Info(ictx)
	if err != nil {
		return fmt.Errorf("stream %s info: %w", p.cfg.Stream, err)
	}
	last := info.State.LastSeq
	if last == 0 {
		p.next, p.prev = 1, p.genesis
		p.published.Store(0)
		return nil
	}
	if head := p.head(); last > head {
		return fmt.Errorf("%w: stream %s ends at sequence %d, ahead of the log's last durable event %d",
			ErrDiverged, p.cfg.Stream, last, head)
	}
	msg, err := st.GetMsg(ictx, last)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("%w: stream %s has no message at its last sequence %d", ErrDiverged, p.cfg.Stream, last)
	}
	if err != nil {
		return fmt.Errorf("stream %s message %d: %w", p.cfg.Stream, last, err)
	}
	var want eventlog.Record
	err = p.e.History().Records(last, last+1, func(r eventlog.Record) error {
		want = r
		want.Payload = append([]byte(nil), r.Payload...) // the reader's buffer is reused
		return nil
	})
	if err != nil {
		return fmt.Errorf("read event %d from the log: %w", last, err)
	}
	if got := msg.Header.Get(HeaderSeq); got != strconv.FormatUint(last, 10) {
		return fmt.Errorf("%w: stream %s message %d says it is event %q", ErrDiverged, p.cfg.Stream, last, got)
	}
	if got := msg.Header.Get(HeaderHash); got != hex.EncodeToString(want.Hash[:]) {
		return fmt.Errorf("%w: stream %s message %d has hash %q, the log's record %d has %x",
			ErrDiverged, p.cfg.Stream, last, got, last, want.Hash)
	}
	if what := differs(msg, want); what != "" {
		return fmt.Errorf("%w: stream %s message %d has the log's hash but not its record's %s",
			ErrDiverged, p.cfg.Stream, last, what)
	}
	if p.next != last+1 {
		p.cfg.Logger.Info("jetstream stream reconciled", "stream", p.cfg.Stream, "last", last, "head", p.head())
	}
	p.next, p.prev = last+1, want.Hash
	p.published.Store(last)
	return nil
}

// differs names what of rec message m does not carry as the log holds it
// (its payload, time, type or link), "" when it carries it all: the
// headers a publisher writes may be right on a message whose content is
// not, and an edge refuses such a message for good.
func differs(m *jetstream.RawStreamMsg, rec eventlog.Record) string {
	switch {
	case !bytes.Equal(m.Data, rec.Payload):
		return "payload"
	case m.Header.Get(HeaderTime) != strconv.FormatInt(rec.Time.UnixNano(), 10):
		return "time"
	case m.Header.Get(HeaderType) != rec.Type:
		return "type"
	case m.Header.Get(HeaderPrev) != hex.EncodeToString(rec.Prev[:]):
		return "link to the previous record"
	}
	return ""
}
