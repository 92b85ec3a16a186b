package edge

import (
	"github.com/lineage-arena/lineage/arena"
)

// advance returns the snapshot s moved forward by evs, the events after
// it, leaving s as it is (the hub keeps every snapshot it is given): the
// latest price of each symbol from market events, each agent's state from
// its agent events (an agent born since is added), the last round from
// round events. That is the state a client connected since s would hold;
// what no event carries — an agent's equity marked to every tick between
// its agent events — stays as of its last agent event.
func advance(s *arena.Snapshot, index map[string]int, evs []arena.Event) *arena.Snapshot {
	n := *s
	copied := false
	marks := false
	for i := range evs {
		e := &evs[i]
		n.Time, n.NextSeq = e.Time, e.Seq+1
		switch {
		case e.Market != nil:
			if !marks {
				n.Marks, marks = append([]arena.MarketEvent(nil), n.Marks...), true
			}
			for j := range n.Marks {
				if n.Marks[j].Symbol == e.Market.Symbol {
					n.Marks[j] = *e.Market
				}
			}
		case e.Agent != nil:
			if !copied {
				n.Agents, copied = append(make([]arena.AgentState, 0, len(n.Agents)+1), n.Agents...), true
			}
			if j, ok := index[e.Agent.ID]; ok && j < len(n.Agents) {
				n.Agents[j] = *e.Agent
			} else {
				index[e.Agent.ID] = len(n.Agents)
				n.Agents = append(n.Agents, *e.Agent)
			}
		case e.Round != nil:
			n.LastRound = e.Round
			n.Rounds++
		}
	}
	return &n
}

// indexAgents maps each agent's id to its place in s.Agents.
func indexAgents(s *arena.Snapshot) map[string]int {
	m := make(map[string]int, len(s.Agents))
	for i := range s.Agents {
		m[s.Agents[i].ID] = i
	}
	return m
}
