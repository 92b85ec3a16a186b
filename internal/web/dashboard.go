package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// The dashboard's files, embedded so the binary serves them offline. The
// chart library under assets/vendor/ is uPlot, fetched from the npm
// registry by tools/fetch-uplot.sh and committed (docs/dashboard.md).
//
//go:embed assets
var assetFS embed.FS

// DashboardCSP is the Content-Security-Policy of the dashboard: scripts,
// styles and images from the page's own origin only (no inline script or
// style attribute), WebSocket connections to any host (the hub may sit
// behind a proxy on another name), no plugins, no framing.
const DashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; " +
	"img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body, gz    []byte // gz is nil when compression does not pay
	ctype, etag string
	cache       string
}

// contentTypes maps the extensions of the embedded files to their types;
// a file of another extension is not served (and fails the tests).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	"":      "text/plain; charset=utf-8", // LICENSE, VERSION
}

// Cache policies: the page and the app's own files may change with every
// build, so browsers revalidate them by ETag on every load; the vendored
// library changes only when its version does (VERSION beside it), so it is
// kept for a day before being revalidated.
const (
	cacheRevalidate = "no-cache"
	cacheVendor     = "public, max-age=86400"
)

// Dashboard serves the live dashboard:
//
//	GET /           index.html, with the DashboardCSP policy
//	GET /assets/... the page's scripts, styles and the chart library
//
// and 404 for any other path, directories included. Responses carry
// strong ETags (If-None-Match answers 304) and are gzip-compressed for
// clients that accept it. The handler is safe for concurrent use; the
// files are read once, from the binary.
func Dashboard() http.Handler {
	files := loadAssets()
	index := files["/assets/index.html"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		a := files[r.URL.Path]
		switch r.URL.Path {
		case "/":
			a = index
		case "/assets/index.html":
			a = nil // the page lives at / only
		}
		if a == nil {
			http.NotFound(w, r)
			return
		}
		serveAsset(w, r, a)
	})
}

// loadAssets reads and compresses the embedded files, once per process.
var loadAssets = sync.OnceValue(func() map[string]*asset {
	files := map[string]*asset{}
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		body, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, cache: cacheRevalidate}
		if strings.HasPrefix(p, "assets/vendor/") {
			a.cache = cacheVendor
		}
		if gz := gzipped(body); len(gz) < len(body)*9/10 {
			a.gz = gz
		}
		files["/"+p] = a
		return nil
	})
	if err != nil {
		panic("web: embedded dashboard: " + err.Error()) // the files are compiled in
	}
	return files
})

func serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	h.Set("Content-Security-Policy", DashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", a.cache)
	h.Set("Content-Type", a.ctype)
	h.Add("Vary", "Accept-Encoding")
	body, etag := a.body, a.etag
	if a.gz != nil && acceptsGzip(r) {
		body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	if matchETag(r.Header.Get("If-None-Match"), etag) {
		h.Del("Content-Type")
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func matchETag(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
