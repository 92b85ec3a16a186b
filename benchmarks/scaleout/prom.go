package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scrape is one read of a /metrics page in the Prometheus text format:
// each sample line's name with its labels, as written, to its value.
type scrape map[string]float64

func scrapeMetrics(url string) (scrape, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	s := scrape{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		s[line[:i]] = v
	}
	return s, sc.Err()
}

// value is the unlabelled sample name, NaN when absent.
func (s scrape) value(name string) float64 {
	if v, ok := s[name]; ok {
		return v
	}
	return math.NaN()
}

// hist is a histogram family's buckets (cumulative counts by upper bound,
// +Inf last), count and sum.
type hist struct {
	Bounds []float64
	Counts []float64
	Count  float64
	Sum    float64
}

// MarshalJSON writes the bounds as Prometheus writes le labels ("+Inf"
// is not a JSON number).
func (h hist) MarshalJSON() ([]byte, error) {
	le := make([]string, len(h.Bounds))
	for i, b := range h.Bounds {
		le[i] = strconv.FormatFloat(b, 'g', -1, 64)
	}
	return json.Marshal(struct {
		Le     []string  `json:"le"`
		Counts []float64 `json:"counts"`
		Count  float64   `json:"count"`
		Sum    float64   `json:"sum_s"`
	}{le, h.Counts, h.Count, h.Sum})
}

// histogram reads the unlabelled histogram base (base_bucket{le="…"},
// base_count, base_sum); ok is false when the page has none.
func (s scrape) histogram(base string) (h hist, ok bool) {
	prefix := base + `_bucket{le="`
	for k, v := range s {
		le, found := strings.CutPrefix(k, prefix)
		if !found {
			continue
		}
		b, err := strconv.ParseFloat(strings.TrimSuffix(le, `"}`), 64)
		if err != nil {
			continue
		}
		h.Bounds = append(h.Bounds, b)
		h.Counts = append(h.Counts, v)
	}
	if len(h.Bounds) == 0 {
		return h, false
	}
	idx := make([]int, len(h.Bounds))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmpFloat(h.Bounds[a], h.Bounds[b]) })
	bounds, counts := make([]float64, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		bounds[i], counts[i] = h.Bounds[j], h.Counts[j]
	}
	h.Bounds, h.Counts = bounds, counts
	h.Count, h.Sum = s.value(base+"_count"), s.value(base+"_sum")
	return h, true
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// minus is h − o: what was observed between two scrapes (same buckets).
func (h hist) minus(o hist) hist {
	if len(o.Bounds) != len(h.Bounds) {
		return h
	}
	d := hist{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts)), Count: h.Count - o.Count, Sum: h.Sum - o.Sum}
	for i := range h.Counts {
		d.Counts[i] = h.Counts[i] - o.Counts[i]
	}
	return d
}

// plus is h + o, for merging edges (same buckets; an empty h takes o's).
func (h hist) plus(o hist) hist {
	if len(h.Bounds) == 0 {
		return o
	}
	if len(o.Bounds) != len(h.Bounds) {
		return h
	}
	d := hist{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts)), Count: h.Count + o.Count, Sum: h.Sum + o.Sum}
	for i := range h.Counts {
		d.Counts[i] = h.Counts[i] + o.Counts[i]
	}
	return d
}

// quantile estimates the q-quantile in seconds as Prometheus's
// histogram_quantile does: linear within the bucket that holds it (the
// first from 0), the last finite bound if it lies past it; NaN when empty.
func (h hist) quantile(q float64) float64 {
	n := len(h.Counts)
	if n == 0 || h.Counts[n-1] <= 0 {
		return math.NaN()
	}
	rank := q * h.Counts[n-1]
	for i, c := range h.Counts {
		if c < rank {
			continue
		}
		if math.IsInf(h.Bounds[i], 1) {
			if i == 0 {
				return math.NaN()
			}
			return h.Bounds[i-1]
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = h.Bounds[i-1], h.Counts[i-1]
		}
		if c == below {
			return h.Bounds[i]
		}
		return lo + (h.Bounds[i]-lo)*(rank-below)/(c-below)
	}
	return h.Bounds[n-1]
}
