package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// stepGap separates two steps in a trace: events closer than this to the
// one before belong to the same step.
const stepGap = 50 * time.Millisecond

// steps cuts a trace into steps: each is its events' sizes and when the
// first came (from the window's start).
func steps(trace []traceEvent) (at []time.Duration, sizes [][]int) {
	for i, e := range trace {
		if i == 0 || e.At-trace[i-1].At > stepGap {
			at = append(at, e.At)
			sizes = append(sizes, nil)
		}
		sizes[len(sizes)-1] = append(sizes[len(sizes)-1], e.Size)
	}
	return at, sizes
}

// traceShape is the number of steps, mean events per step and mean bytes
// per event of a trace.
func traceShape(trace []traceEvent) (n int, msgsPerStep, bytesPerMsg float64) {
	at, _ := steps(trace)
	if len(at) == 0 {
		return 0, 0, 0
	}
	var total int
	for _, e := range trace {
		total += e.Size
	}
	return len(at), float64(len(trace)) / float64(len(at)), float64(total) / float64(len(trace))
}

// The line Centrifugo writes for a publication on channel "bench", around
// its data.
const (
	pushHead = `{"push":{"channel":"bench","pub":{"data":`
	pushTail = `}}}`
)

// publish replays the trace to Centrifugo through its HTTP API: every
// step of Lineage's window, at the same offset from the window's start,
// as one `batch` call of as many publications, each padded so that the
// line a client receives is as long as Lineage's message was. Each
// publication's data carries a sequence (to count gaps) and the time it
// was sent (unix ns). It returns after the window.
func publish(s *server, trace []traceEvent, t0 time.Time, window time.Duration) error {
	at, sizes := steps(trace)
	url := "http://" + s.addr + "/api/batch"
	hc := &http.Client{Timeout: 10 * time.Second}
	var seq uint64
	var body bytes.Buffer
	for i := range at {
		if at[i] > window {
			break
		}
		time.Sleep(time.Until(t0.Add(at[i]))) // the step's time in Lineage's window
		now := time.Now().UnixNano()
		body.Reset()
		body.WriteString(`{"commands":[`)
		for j, size := range sizes[i] {
			seq++
			if j > 0 {
				body.WriteByte(',')
			}
			data := `{"n":` + strconv.FormatUint(seq, 10) + `,"t":` + strconv.FormatInt(now, 10) + `,"p":"`
			pad := size - len(pushHead) - len(pushTail) - len(data) - len(`"}`)
			body.WriteString(`{"publish":{"channel":"bench","data":`)
			body.WriteString(data)
			body.Write(bytes.Repeat([]byte{'x'}, max(pad, 0)))
			body.WriteString(`"}}}`)
		}
		body.WriteString(`]}`)
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body.Bytes()))
		if err != nil {
			return err
		}
		req.Header.Set("X-API-Key", s.apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || bytes.Contains(reply, []byte(`"error"`)) {
			return fmt.Errorf("batch: %s %.200s", resp.Status, reply)
		}
	}
	return nil
}
