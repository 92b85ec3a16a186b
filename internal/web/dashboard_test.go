package web

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func serveDashboard(t *testing.T, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Dashboard().ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDashboardIndex(t *testing.T) {
	resp := serveDashboard(t, "GET", "/", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": DashboardCSP,
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-cache",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("GET / %s: %q, want %q", k, got, want)
		}
	}
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self' ws: wss:", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(DashboardCSP, d) {
			t.Errorf("the CSP lacks %q", d)
		}
	}
	if strings.Contains(DashboardCSP, "unsafe") {
		t.Errorf("the CSP allows something unsafe: %s", DashboardCSP)
	}
	if b := body(t, resp); !bytes.Contains(b, []byte("<h1>Lineage</h1>")) {
		t.Errorf("GET / is not the dashboard: %.200s", b)
	}
}

// TestIndexHasNothingInline parses index.html and fails on anything a
// strict CSP would block or that runs code from markup: a script with a
// body or without a src, a <style> element, a style= attribute, an on*
// handler, a javascript: URL, or a resource from another origin.
func TestIndexHasNothingInline(t *testing.T) {
	page := body(t, serveDashboard(t, "GET", "/", nil))
	dec := xml.NewDecoder(bytes.NewReader(page))
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	var refs []string
	inScript := false
	elements := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("index.html does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			elements++
			name := strings.ToLower(tok.Name.Local)
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				an := strings.ToLower(a.Name.Local)
				attrs[an] = a.Value
				switch {
				case an == "style":
					t.Errorf("<%s style=%q>: an inline style attribute", name, a.Value)
				case strings.HasPrefix(an, "on"):
					t.Errorf("<%s %s=%q>: an inline event handler", name, an, a.Value)
				case strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Value)), "javascript:"):
					t.Errorf("<%s %s=%q>: a javascript: URL", name, an, a.Value)
				}
			}
			switch name {
			case "style":
				t.Errorf("an inline <style> element")
			case "script":
				inScript = true
				if attrs["src"] == "" {
					t.Errorf("a <script> without src")
				}
				refs = append(refs, attrs["src"])
			case "link":
				refs = append(refs, attrs["href"])
			case "img", "iframe", "object", "embed", "base":
				t.Errorf("<%s> in the page", name)
			}
		case xml.EndElement:
			if strings.EqualFold(tok.Name.Local, "script") {
				inScript = false
			}
		case xml.CharData:
			if inScript && len(bytes.TrimSpace(tok)) > 0 {
				t.Errorf("an inline script: %q", tok)
			}
		}
	}
	if elements < 20 {
		t.Fatalf("parsed only %d elements: the parse went wrong", elements)
	}
	if len(refs) < 4 {
		t.Fatalf("the page references only %v", refs)
	}
	for _, ref := range refs {
		if !strings.HasPrefix(ref, "/assets/") {
			t.Errorf("the page loads %q, not one of its own assets", ref)
			continue
		}
		if resp := serveDashboard(t, "GET", ref, nil); resp.StatusCode != 200 {
			t.Errorf("the page loads %s: %d", ref, resp.StatusCode)
		}
	}
}

func TestDashboardAssets(t *testing.T) {
	tests := []struct {
		path, ctype, cache, contains string
	}{
		{"/assets/app.js", "text/javascript; charset=utf-8", "no-cache", "startLink()"},
		{"/assets/js/model.js", "text/javascript; charset=utf-8", "no-cache", "export function handleEvent"},
		{"/assets/app.css", "text/css; charset=utf-8", "no-cache", "--bg"},
		{"/assets/favicon.svg", "image/svg+xml", "no-cache", "<svg"},
		{"/assets/vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8", "public, max-age=86400", "uPlot"},
		{"/assets/vendor/uplot/uPlot.min.css", "text/css; charset=utf-8", "public, max-age=86400", ".uplot"},
		{"/assets/vendor/uplot/LICENSE", "text/plain; charset=utf-8", "public, max-age=86400", "MIT License"},
	}
	for _, tt := range tests {
		resp := serveDashboard(t, "GET", tt.path, nil)
		b := body(t, resp)
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(tt.contains)) {
			t.Errorf("GET %s: %d, %d bytes without %q", tt.path, resp.StatusCode, len(b), tt.contains)
			continue
		}
		h := resp.Header
		if h.Get("Content-Type") != tt.ctype || h.Get("Cache-Control") != tt.cache || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("ETag") == "" {
			t.Errorf("GET %s: Content-Type %q, Cache-Control %q, nosniff %q, ETag %q; want %q, %q", tt.path,
				h.Get("Content-Type"), h.Get("Cache-Control"), h.Get("X-Content-Type-Options"), h.Get("ETag"), tt.ctype, tt.cache)
		}
		// Revalidation and compression.
		if r := serveDashboard(t, "GET", tt.path, map[string]string{"If-None-Match": h.Get("ETag")}); r.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", tt.path, r.StatusCode)
		}
		gz := serveDashboard(t, "GET", tt.path, map[string]string{"Accept-Encoding": "gzip, br"})
		if gz.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(gz.Body)
			if err != nil {
				t.Fatalf("GET %s gzip: %v", tt.path, err)
			}
			if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, b) {
				t.Errorf("GET %s gzip: does not decompress to the file (%v)", tt.path, err)
			}
			if gz.Header.Get("ETag") == h.Get("ETag") {
				t.Errorf("GET %s: the gzip body has the plain body's ETag", tt.path)
			}
		} else if len(b) > 10_000 {
			t.Errorf("GET %s: %d bytes sent uncompressed to a client that takes gzip", tt.path, len(b))
		}
	}
	for _, p := range []string{"/assets/nope.js", "/assets/", "/assets/vendor/", "/assets/vendor/uplot/", "/assets/index.html", "/index.html", "/nothing", "/assets/../web.go"} {
		if resp := serveDashboard(t, "GET", p, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	if resp := serveDashboard(t, "POST", "/", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", resp.StatusCode)
	}
	if resp := serveDashboard(t, "HEAD", "/assets/app.js", nil); resp.StatusCode != 200 || len(body(t, resp)) != 0 {
		t.Errorf("HEAD /assets/app.js: %d", resp.StatusCode)
	}
}

// TestEveryAssetIsServed keeps the embedded files and the content types in
// step: a file the handler would not serve is a mistake.
func TestEveryAssetIsServed(t *testing.T) {
	n := 0
	fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "assets/index.html" {
			return err
		}
		n++
		if _, ok := contentTypes[path.Ext(p)]; !ok {
			t.Errorf("%s: no content type for %q", p, path.Ext(p))
		}
		if resp := serveDashboard(t, "GET", "/"+p, nil); resp.StatusCode != 200 {
			t.Errorf("GET /%s: %d", p, resp.StatusCode)
		}
		return nil
	})
	if n < 6 {
		t.Errorf("only %d assets embedded", n)
	}
}

// TestScriptsStayInsideTheCSP reads every script: no code from strings
// (script-src 'self' blocks eval), and the app's own modules never parse
// anything as HTML nor set a style attribute wholesale.
func TestScriptsStayInsideTheCSP(t *testing.T) {
	evalRE := regexp.MustCompile(`\beval\(|new Function\(|setTimeout\(\s*["'\x60]|setInterval\(\s*["'\x60]`)
	htmlRE := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser|createContextualFragment|srcdoc|setAttribute\(\s*["']style|cssText`)
	n := 0
	fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		n++
		b, err := assetFS.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := evalRE.Find(b); m != nil {
			t.Errorf("%s evaluates strings as code (%q): the CSP blocks it", p, m)
		}
		if !strings.HasPrefix(p, "assets/vendor/") {
			if m := htmlRE.Find(b); m != nil {
				t.Errorf("%s uses %q: server strings must go in as text", p, m)
			}
		}
		return nil
	})
	if n < 5 {
		t.Errorf("read only %d scripts", n)
	}
}
