package arena

import (
	"time"

	"github.com/lineage-arena/lineage/market"
)

// RoundResult closes a round: who won, and where every agent that took part
// stood at its end.
type RoundResult struct {
	Number    int    `json:"round"`
	StartTick int64  `json:"start_tick"`
	EndTick   int64  `json:"end_tick"` // exclusive
	Winner    string `json:"winner"`   // "" when nobody was alive at the end
	// WinnerReturn is the winner's return over the round, a fraction.
	WinnerReturn float64         `json:"winner_return"`
	Standings    []RoundStanding `json:"standings"`
}

// RoundStanding is one agent's result in a round. Return counts
// endowments paid to children as kept, so breeding is not a loss.
type RoundStanding struct {
	Agent    string       `json:"agent_id"`
	Strategy string       `json:"strategy"`
	Capital  market.Money `json:"capital"` // equity at the round's end, or at death
	Return   float64      `json:"return"`
	Status   Status       `json:"status"`
}

// RoundWinner is a round's number and winner, kept for every round.
type RoundWinner struct {
	Round  int     `json:"round"`
	Winner string  `json:"winner"`
	Return float64 `json:"return"`
}

type roundState struct {
	number    int
	startTick int64
	departed  []*agent // died during the round
}

func (ar *Arena) startRound() {
	ar.round = roundState{number: ar.round.number + 1, startTick: ar.ticks}
	for _, a := range ar.active {
		a.roundStart = a.equity()
		a.roundPaid = 0
	}
}

// roundReturn is a's return since the round started (or a was born).
func (a *agent) roundReturn() float64 {
	if a.roundStart <= 0 {
		return 0
	}
	return float64(a.equity()+a.roundPaid-a.roundStart) / float64(a.roundStart)
}

func (ar *Arena) endRound(now time.Time) error {
	res := &RoundResult{Number: ar.round.number, StartTick: ar.round.startTick, EndTick: ar.ticks}
	var best *agent
	for _, a := range ar.active {
		r := a.roundReturn()
		if best == nil || r > best.roundReturn() {
			best = a
		}
		res.Standings = append(res.Standings, RoundStanding{
			Agent: a.id, Strategy: a.spec.Name, Capital: a.equity(), Return: r, Status: a.status(),
		})
	}
	for _, a := range ar.round.departed {
		res.Standings = append(res.Standings, RoundStanding{
			Agent: a.id, Strategy: a.spec.Name, Capital: a.equity(), Return: a.roundReturn(), Status: StatusDeceased,
		})
	}
	if best != nil {
		best.roundsWon++
		res.Winner, res.WinnerReturn = best.id, best.roundReturn()
	}
	ar.winners = append(ar.winners, RoundWinner{Round: res.Number, Winner: res.Winner, Return: res.WinnerReturn})
	ar.lastRound = res
	ar.startRound()
	return ar.publish(Event{Type: EventRound, Tick: ar.ticks - 1, Round: res}, now)
}

// Winners lists every completed round's winner, oldest first.
func (ar *Arena) Winners() []RoundWinner { return append([]RoundWinner(nil), ar.winners...) }

// LastRound is the most recent completed round, or nil before the first.
func (ar *Arena) LastRound() *RoundResult { return ar.lastRound }
