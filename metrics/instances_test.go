package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// promToken is one token of a PromQL expression, as far as the checks
// below need: an identifier, a {…} matcher block, a (…) label list after
// by/without/on/ignoring, or any other single character.
type promToken struct {
	kind string // "ident", "braces", "(", ")", "other"
	text string
}

var identRE = regexp.MustCompile(`^[A-Za-z_:][A-Za-z0-9_:]*`)

// tokenize splits expr, skipping string literals outside braces and the
// contents of [range] brackets.
func tokenize(expr string) []promToken {
	var out []promToken
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\n' || c == '\t':
			i++
		case c == '{' || c == '[' || c == '"':
			closer := map[byte]byte{'{': '}', '[': ']', '"': '"'}[c]
			j := i + 1
			for j < len(expr) && expr[j] != closer {
				if expr[j] == '"' && c == '{' { // a quoted value inside braces
					j++
					for j < len(expr) && expr[j] != '"' {
						j++
					}
				}
				j++
			}
			if c == '{' {
				out = append(out, promToken{"braces", expr[i+1 : min(j, len(expr))]})
			}
			i = j + 1
		case c == '(' || c == ')':
			out = append(out, promToken{string(c), string(c)})
			i++
		case c >= '0' && c <= '9' || c == '.':
			j := i
			for j < len(expr) && (expr[j] >= '0' && expr[j] <= '9' || strings.IndexByte(".eE", expr[j]) >= 0) {
				j++
			}
			out = append(out, promToken{"other", expr[i:j]})
			i = j
		default:
			if m := identRE.FindString(expr[i:]); m != "" {
				out = append(out, promToken{"ident", m})
				i += len(m)
				continue
			}
			out = append(out, promToken{"other", string(c)})
			i++
		}
	}
	return out
}

var (
	aggregations = []string{"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"}
	grouping     = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}
	keywords     = []string{"and", "or", "unless", "bool", "offset"}
)

// promCheck lists what an expression breaks: every aggregation must keep
// the instance label (by (…, instance, …)), and, when matchers is true,
// every selector must carry the job and instance variable matchers.
func promCheck(expr string, matchers bool) []string {
	var errs []string
	toks := tokenize(expr)
	labelList := func(i int) ([]string, int) { // toks[i] is "("
		var ls []string
		j := i + 1
		for ; j < len(toks) && toks[j].kind != ")"; j++ {
			if toks[j].kind == "ident" {
				ls = append(ls, toks[j].text)
			}
		}
		return ls, j
	}
	for i := 0; i < len(toks); i++ {
		tk := toks[i]
		next := promToken{}
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		switch {
		case tk.kind == "ident" && slices.Contains(aggregations, tk.text):
			if next.kind != "ident" || next.text != "by" {
				errs = append(errs, tk.text+" without by (instance): the result names no server")
				continue
			}
			if i+2 < len(toks) && toks[i+2].kind == "(" {
				ls, j := labelList(i + 2)
				if !slices.Contains(ls, "instance") {
					errs = append(errs, tk.text+" by ("+strings.Join(ls, ", ")+") drops instance")
				}
				i = j
			}
		case tk.kind == "ident" && slices.Contains(grouping, tk.text):
			if next.kind == "(" {
				_, j := labelList(i + 1)
				i = j
			}
		case tk.kind == "ident" && slices.Contains(keywords, tk.text):
		case tk.kind == "ident" && next.kind == "(": // a function call
		case tk.kind == "ident" || tk.kind == "braces":
			block := ""
			if tk.kind == "braces" {
				block = tk.text
			} else if next.kind == "braces" {
				block = next.text
				i++
			}
			if matchers {
				for _, m := range []string{`job=~"$job"`, `instance=~"$instance"`} {
					if !strings.Contains(block, m) {
						errs = append(errs, tk.text+": no "+m+" matcher")
					}
				}
			}
		}
	}
	return errs
}

// TestPromCheck: the checker itself finds what it is meant to find.
func TestPromCheck(t *testing.T) {
	for _, tc := range []struct {
		expr string
		errs int
	}{
		{`sum by (instance) (rate(x{job=~"$job", instance=~"$instance"}[$__rate_interval]))`, 0},
		{`sum(rate(x{job=~"$job", instance=~"$instance"}[5m]))`, 1},
		{`sum by (le) (x{job=~"$job", instance=~"$instance"})`, 1},
		{`x{instance=~"$instance"}`, 1},
		{`x`, 2},
		{`histogram_quantile(0.5, sum by (instance, le) (x{job=~"$job", instance=~"$instance"})) and on (instance) y{job=~"$job", instance=~"$instance"} > 0`, 0},
		{`time() - x{job=~"$job", instance=~"$instance", a="}"}`, 0},
	} {
		if got := promCheck(tc.expr, true); len(got) != tc.errs {
			t.Errorf("%s: %v, want %d errors", tc.expr, got, tc.errs)
		}
	}
}

// TestSeveralServers: with more than one server behind one Prometheus,
// every dashboard query is limited to the selected jobs and instances and
// keeps the instance label, every legend names the instance, every alert
// aggregation keeps instance and every alert says which server it is
// about. The job and instance variables follow grafana/dashboard-linter:
// multi-select queries on ${datasource} with ".+" as "All".
func TestSeveralServers(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(monitoring, "grafana", "dashboards", "lineage.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []struct {
				Name, Label, Type, AllValue, Definition string
				Multi, IncludeAll                       bool
				Datasource                              *datasourceRef
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr         string `json:"expr"`
				LegendFormat string `json:"legendFormat"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"job", "instance"} {
		i := slices.IndexFunc(d.Templating.List, func(v struct {
			Name, Label, Type, AllValue, Definition string
			Multi, IncludeAll                       bool
			Datasource                              *datasourceRef
		}) bool {
			return v.Name == name
		})
		if i < 0 {
			t.Errorf("no %s variable", name)
			continue
		}
		v := d.Templating.List[i]
		if v.Type != "query" || !v.Multi || !v.IncludeAll || v.AllValue != ".+" || v.Datasource == nil || v.Datasource.UID != "${datasource}" ||
			v.Label != strings.ToUpper(name[:1])+name[1:] {
			t.Errorf("%s variable: %+v; want a multi-select query on ${datasource} labelled %q, All = .+", name, v, strings.ToUpper(name[:1])+name[1:])
		}
	}
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			n++
			for _, e := range promCheck(tg.Expr, true) {
				t.Errorf("panel %q: %s\n\t%s", p.Title, e, tg.Expr)
			}
			if !strings.Contains(tg.LegendFormat, "{{instance}}") {
				t.Errorf("panel %q: legend %q does not name the instance", p.Title, tg.LegendFormat)
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d queries found in the dashboard", n)
	}

	rules, err := os.ReadFile(filepath.Join(monitoring, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := alertRules(string(rules))
	if len(alerts) < 10 {
		t.Fatalf("only %d alert rules found in alerts.yml", len(alerts))
	}
	for _, a := range alerts {
		for _, e := range promCheck(a.expr, false) {
			t.Errorf("alert %s: %s\n\t%s", a.name, e, a.expr)
		}
		if !strings.Contains(a.summary, "$labels.instance") {
			t.Errorf("alert %s: the summary %q names no server", a.name, a.summary)
		}
	}
}

type alertRule struct{ name, expr, summary string }

// alertRules reads the alert name, expression and summary of every rule
// of alerts.yml, with plain and block (|) expressions.
func alertRules(text string) []alertRule {
	var out []alertRule
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(l, "- alert: "):
			out = append(out, alertRule{name: strings.TrimPrefix(l, "- alert: ")})
		case len(out) > 0 && l == "expr: |":
			indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
			var block []string
			for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" || len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > indent) {
				i++
				block = append(block, lines[i])
			}
			out[len(out)-1].expr = strings.Join(block, "\n")
		case len(out) > 0 && strings.HasPrefix(l, "expr: "):
			out[len(out)-1].expr = strings.TrimPrefix(l, "expr: ")
		case len(out) > 0 && strings.HasPrefix(l, "summary: "):
			out[len(out)-1].summary = strings.TrimPrefix(l, "summary: ")
		}
	}
	return out
}
