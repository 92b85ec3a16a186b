package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lineage test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// With --tls-cert and --tls-key the server speaks wss and https: watch
// streams from it with --insecure and refuses it without, and the API
// answers over TLS.
func TestServeOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--seed", "3", "--tick-interval", "5ms",
		"--agent-interval", "20ms", "--tls-cert", cert, "--tls-key", key)
	s.logs.waitFor(t, "msg=serving", s.exited)
	base := field(t, s.logs.String(), "msg=serving", "websocket")
	if !strings.HasPrefix(base, "wss://") {
		t.Fatalf("serving %q, want a wss:// address", base)
	}
	if dash := field(t, s.logs.String(), "msg=serving", "dashboard"); dash != strings.Replace(base, "wss://", "https://", 1) {
		t.Errorf("dashboard %q, want the https:// address of %s", dash, base)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}

	out := newLogWatcher()
	_, done := runWatcher(t, watchOpts{url: u, n: 30, json: true, insecure: true}, &printer{w: out})
	if err := <-done; err != nil {
		t.Fatalf("watch --insecure %s: %v", base, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var last uint64
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not JSON: %s", i, l)
		}
		if i == 0 && m["type"] != "welcome" {
			t.Fatalf("first message %v, want the welcome", m)
		}
		if seq := seqOf(m); m["snapshot"] != true && seq != 0 {
			if last != 0 && seq != last+1 {
				t.Fatalf("sequence %d after %d", seq, last)
			}
			last = seq
		}
	}
	if len(lines) != 30 || last == 0 {
		t.Fatalf("%d messages, last live sequence %d: want 30 with live events", len(lines), last)
	}

	// Without --insecure the self-signed certificate is refused.
	_, done = runWatcher(t, watchOpts{url: u, n: 1}, &printer{w: newLogWatcher()})
	if err := <-done; err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("watch without --insecure: %v, want a certificate error", err)
	}

	api := strings.Replace(base, "wss://", "https://", 1) + "api/market"
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	resp, err := client.Get(api)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", api, resp.Status)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}
