package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lineage-arena/lineage/client"
)

// printer writes watch's table. On a terminal it uses emoji and, unless
// NO_COLOR is set, colour; elsewhere plain two-character tags, so a pipe
// or a file gets clean text. Every icon takes two cells, so columns line up
// whatever the terminal does with emoji.
type printer struct {
	w     io.Writer
	emoji bool
	color bool
}

const (
	colEvent = 23 // label width after the two-cell icon and a space
	colName  = 12
	colValue = 15
)

func (p *printer) header() {
	fmt.Fprintf(p.w, "%-26s%-13s%-16s%s\n", "EVENT", "SYMBOL/AGENT", "VALUE", "TIMESTAMP")
	fmt.Fprintln(p.w, strings.Repeat("─", 75))
}

var icons = map[string][2]string{ // [emoji, plain]
	"welcome": {"📨", "> "}, "up": {"📈", "+ "}, "down": {"📉", "- "},
	"active": {"🟢", "A "}, "resting": {"⏸️", "R "}, "deceased": {"💀", "X "},
	"trade": {"💱", "T "}, "scar": {"🩹", "S "}, "death": {"💀", "X "}, "spawn": {"🐣", "B "},
	"round": {"🏆", "W "}, "info": {"ℹ️", "i "}, "error": {"⚠️", "! "},
}

func (p *printer) icon(name string) string {
	if p.emoji {
		return icons[name][0]
	}
	return icons[name][1]
}

const (
	green, red, yellow, dim, reset = "\033[32m", "\033[31m", "\033[33m", "\033[2m", "\033[0m"
)

func (p *printer) paint(c, s string) string {
	if !p.color {
		return s
	}
	return c + s + reset
}

// row prints one aligned row.
func (p *printer) row(icon, label, name, value, ts, extra, color string) {
	line := fmt.Sprintf("%s %-*s%-*s %-*s %s", p.icon(icon), colEvent, label, colName, name, colValue, value, ts)
	if extra != "" {
		line += " " + extra
	}
	fmt.Fprintln(p.w, p.paint(color, strings.TrimRight(line, " ")))
}

// note prints a dim line of watch's own (reconnects, garbage frames).
func (p *printer) note(format string, args ...any) {
	fmt.Fprintln(p.w, p.paint(dim, "   "+fmt.Sprintf(format, args...)))
}

// clock formats a timestamp as HH:MM:SS.mmmZ; none is blank.
func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("15:04:05.000Z")
}

func dollars(n json.Number, decimals int) string {
	f, err := n.Float64()
	if err != nil {
		return "$" + n.String()
	}
	// Half away from zero, as people round money: 115000.5 → $115001.
	scale := math.Pow10(decimals)
	return "$" + strconv.FormatFloat(math.Round(f*scale)/scale, 'f', decimals, 64)
}

// priceText shows a price with cents, and sub-dollar coins with enough
// decimals to see them move.
func priceText(n json.Number) string {
	f, err := n.Float64()
	switch {
	case err != nil || math.Abs(f) >= 1:
		return dollars(n, 2)
	case math.Abs(f) >= 0.01:
		return dollars(n, 4)
	}
	return dollars(n, 8)
}

// print writes m, reporting whether it printed a row.
func (p *printer) print(m *client.Message) bool {
	switch m.Type {
	case client.TypeWelcome:
		fmt.Fprintf(p.w, "%s Welcome: %q\n", p.icon("welcome"), m.Text)
		return true
	case client.TypeError:
		p.row("error", "ERROR", m.Code, "", "", m.Text, yellow)
		return true
	case client.TypeResume:
		p.row("info", "RESUME", m.Code, "", "", m.Text, yellow)
		return true
	}
	if !m.Event {
		return false // pong, subscribed, and types watch does not know
	}
	switch m.Type {
	case client.TypeMarket:
		mk := m.Market
		if mk == nil {
			return false
		}
		icon, color := "up", green
		if mk.ChangePercent < 0 {
			icon, color = "down", red
		}
		extra := ""
		if mk.Stale {
			extra = "(stale)"
		}
		p.row(icon, "MARKET", mk.Symbol, priceText(mk.Price), clock(mk.Timestamp), extra, color)
	case client.TypeAgent:
		a := m.Agent
		if a == nil {
			return false
		}
		color := map[string]string{"active": green, "resting": yellow, "deceased": red}[a.Status]
		icon := a.Status
		if _, ok := icons[icon]; !ok {
			icon = "active"
		}
		p.row(icon, "AGENT", a.ID, dollars(a.Capital, 0), clock(a.Timestamp), fmt.Sprintf("(%.1f%%)", a.WinRate*100), color)
	default:
		return p.other(m)
	}
	return true
}

// other prints trade, scar, death, spawn and round events.
func (p *printer) other(m *client.Message) bool {
	kind := m.Type
	raw := m.Payload()
	var f struct {
		Agent     string      `json:"agent_id"`
		Symbol    string      `json:"symbol"`
		Action    string      `json:"action"`
		Side      string      `json:"side"`
		Qty       json.Number `json:"quantity"`
		Price     json.Number `json:"price"`
		NetPnL    json.Number `json:"net_pnl"`
		Reason    string      `json:"reason"`
		Timestamp time.Time   `json:"timestamp"`
		Total     int         `json:"total_scars"`
		Scar      struct {
			Kind     string
			Severity int
		} `json:"scar"`
		Cause     string      `json:"cause"`
		Final     json.Number `json:"final_capital"`
		Parent    string      `json:"parent_id"`
		Child     string      `json:"child_id"`
		Endowment json.Number `json:"endowment"`
		Round     int         `json:"round"`
		Winner    string      `json:"winner"`
		WinnerRet float64     `json:"winner_return"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return false
	}
	ts := clock(f.Timestamp)
	switch kind {
	case "trade":
		extra := fmt.Sprintf("%s %s %s", f.Action, f.Side, f.Symbol)
		if f.Action == "close" {
			extra += " net " + dollars(f.NetPnL, 2)
		}
		if f.Reason == "liquidation" {
			extra += " (liquidation)"
		}
		p.row("trade", "TRADE", f.Agent, dollars(f.Price, 2), ts, extra, "")
	case "scar":
		p.row("scar", "SCAR", f.Agent, fmt.Sprintf("severity %d", f.Scar.Severity), ts,
			fmt.Sprintf("%s, %d scars", strings.ToLower(f.Scar.Kind), f.Total), yellow)
	case "death":
		p.row("death", "DEATH", f.Agent, dollars(f.Final, 0), ts, "("+f.Cause+")", red)
	case "spawn":
		p.row("spawn", "SPAWN", f.Child, dollars(f.Endowment, 0), ts, "(child of "+f.Parent+")", green)
	case "round":
		winner := f.Winner
		if winner == "" {
			winner = "nobody"
		}
		p.row("round", fmt.Sprintf("ROUND %d", f.Round), winner, fmt.Sprintf("%+.2f%%", f.WinnerRet*100), ts, "", green)
	default:
		return false
	}
	return true
}
