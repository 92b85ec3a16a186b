package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// exchange is one GET of a provider API and how to read its answer.
type exchange struct {
	// req has no context: every attempt clones it with its own.
	req *http.Request
	// decode reads a 2xx JSON body. An error that is not a *providerError
	// is a parse error.
	decode func(body []byte) error
	// notFoundOK makes a 404 an answer (errNotFound), not a failure: the
	// API does not know the instrument.
	notFoundOK bool
}

// errNotFound is the answer to an exchange with notFoundOK that got a 404.
var errNotFound = errors.New("not found")

// doer performs an exchange. Decorators (retryDoer, limitDoer) wrap the
// httpDoer at the core the way middleware wraps a handler.
type doer interface {
	do(ctx context.Context, x *exchange) error
}

// Request defaults.
const (
	// DefaultMaxBody bounds a response body; a larger one is a parse error
	// and the rest is never read.
	DefaultMaxBody = 1 << 20
	// maxErrBody bounds what is read of an error body for its message.
	maxErrBody = 4 << 10
	// maxRetryAfter caps a Retry-After, so a wrong header cannot silence a
	// provider for long.
	maxRetryAfter = 15 * time.Minute
	userAgent     = "lineage (+https://github.com/lineage-arena/lineage)"
)

// httpDoer sends one request with a timeout, reads a bounded body,
// classifies the outcome into a Reason and records it.
type httpDoer struct {
	provider string
	client   *http.Client
	timeout  time.Duration
	maxBody  int64
	clock    Clock
	stats    *providerStats
	secrets  []string // redacted from every message
}

func (h *httpDoer) do(ctx context.Context, x *exchange) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := h.clock.Now()
	err := h.exchange(ctx, x)
	if err != nil && !errors.Is(err, errNotFound) && ctx.Err() != nil {
		// The caller gave up: not the provider's failure.
		return ctx.Err()
	}
	h.stats.request(h.clock.Now().Sub(start), reasonOf(err))
	return err
}

func (h *httpDoer) exchange(ctx context.Context, x *exchange) error {
	actx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	resp, err := h.client.Do(x.req.Clone(actx))
	if err != nil {
		return h.transportError(actx, err, "")
	}
	defer resp.Body.Close()
	code := resp.StatusCode
	if code < 200 || code > 299 {
		if code == http.StatusNotFound && x.notFoundOK {
			return errNotFound
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
		return h.statusError(resp, apiMessage(body))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, h.maxBody+1))
	if err != nil {
		return h.transportError(actx, err, "reading body: ")
	}
	if int64(len(body)) > h.maxBody {
		return h.fail(ReasonParse, code, fmt.Sprintf("body larger than %d bytes", h.maxBody))
	}
	if ct := resp.Header.Get("Content-Type"); !isJSON(ct) {
		return h.fail(ReasonParse, code, fmt.Sprintf("content type %q, want application/json", ct))
	}
	if err := x.decode(body); err != nil {
		var pe *providerError
		if errors.As(err, &pe) {
			pe.provider, pe.sent, pe.msg = h.provider, true, redact(pe.msg, h.secrets)
			if pe.status == 0 {
				pe.status = code
			}
			return pe
		}
		return h.fail(ReasonParse, code, err.Error())
	}
	return nil
}

func (h *httpDoer) fail(r Reason, status int, msg string) *providerError {
	return &providerError{provider: h.provider, reason: r, status: status, sent: true, msg: redact(msg, h.secrets)}
}

// transportError classifies an error without an HTTP status. The URL of a
// *url.Error is dropped: only the cause is kept.
func (h *httpDoer) transportError(actx context.Context, err error, prefix string) *providerError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(actx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return h.fail(ReasonTimeout, 0, fmt.Sprintf("%sno answer within %s", prefix, h.timeout))
	}
	return h.fail(ReasonNetwork, 0, prefix+err.Error())
}

func (h *httpDoer) statusError(resp *http.Response, apiMsg string) *providerError {
	code := resp.StatusCode
	msg := resp.Status
	if apiMsg != "" {
		msg += ": " + apiMsg
	}
	var e *providerError
	switch {
	case code == http.StatusTooManyRequests:
		e = h.fail(ReasonRateLimited, code, msg)
	case code == http.StatusUnauthorized || code == http.StatusPaymentRequired || code == http.StatusForbidden:
		e = h.fail(ReasonAuth, code, msg)
	case code >= 500:
		e = h.fail(ReasonHTTP5xx, code, msg)
	case code >= 300 && code < 400:
		e = h.fail(ReasonHTTP4xx, code, msg+" (redirects are not followed)")
	default:
		e = h.fail(ReasonHTTP4xx, code, msg)
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), h.clock.Now())
	}
	return e
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 when the header is absent, malformed or in the past,
// and caps the delay at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		d = time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// isJSON accepts application/json, any +json type, and a missing header.
func isJSON(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// apiMessage digs the human-readable message out of an API's JSON error
// body, whichever of the documented shapes it has; "" when none.
func apiMessage(body []byte) string {
	var e struct {
		Message string          `json:"message"`
		Error   json.RawMessage `json:"error"`
		Status  struct {
			ErrorMessage string `json:"error_message"`
		} `json:"status"`
		Err struct {
			Message string `json:"message"`
		} `json:"Err"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var s string
	_ = json.Unmarshal(e.Error, &s)
	for _, m := range []string{e.Status.ErrorMessage, e.Err.Message, e.Message, s} {
		if m != "" {
			return m
		}
	}
	return ""
}

// decodeJSON decodes one JSON value that must fill the whole body. Numbers
// stay text (UseNumber), so prices never pass through float64.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: data after the value")
	}
	return nil
}

// parseNumber parses a price from a JSON number or numeric string, exactly.
func parseNumber(raw json.RawMessage) (market.Price, error) {
	var n json.Number
	if err := decodeJSON(raw, &n); err != nil || n == "" {
		return 0, fmt.Errorf("price %s: not a number", bytes.TrimSpace(raw))
	}
	return market.ParsePrice(n.String())
}

// newGet builds a GET with the headers every provider sends.
func newGet(rawURL string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// noRedirect stops a client from following redirects: a custom key header
// would follow a redirect to any host.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
