package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// yamlDocs parses every document of a YAML file into generic values.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// yamlFiles lists deploy/'s YAML files.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("deploy/ holds %d YAML files: %v", len(files), files)
	}
	return files
}

func TestEveryYAMLFileParses(t *testing.T) {
	for _, f := range yamlFiles(t) {
		if len(yamlDocs(t, f)) == 0 {
			t.Errorf("%s: no YAML document", f)
		}
	}
}

// secretLine finds a setting whose name speaks of a secret and whose value
// is written in the file: anything but empty or a ${VAR} reference.
var secretLine = regexp.MustCompile(`(?i)^\s*-?\s*"?([A-Za-z0-9_.-]*(token|password|passwd|secret|api_key|apikey|credential)[A-Za-z0-9_.-]*)"?\s*[:=]\s*(.*)$`)

// secretsIn returns the lines of text that write a secret's value.
func secretsIn(text string) []string {
	var found []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		m := secretLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := strings.Trim(strings.TrimSpace(m[3]), `"'`)
		if v == "" || strings.HasPrefix(v, "${") && !strings.Contains(v, ":-") && !strings.Contains(v, "-}") {
			continue
		}
		found = append(found, strings.TrimSpace(line))
	}
	return found
}

func TestNoSecretInTheFiles(t *testing.T) {
	if got := secretsIn("  LINEAGE_TOKEN: hunter2hunter2\n  password=abc\n  GF_X_PASSWORD: ${P:-default}\n"); len(got) != 3 {
		t.Fatalf("the scan misses written secrets: found %q", got)
	}
	if got := secretsIn("  LINEAGE_TOKEN: ${LINEAGE_TOKEN:?set it}\nLINEAGE_TOKEN=\n  # token: abc\n"); len(got) != 0 {
		t.Fatalf("the scan flags references: %q", got)
	}
	files := []string{"../Dockerfile", "../.dockerignore"}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".go") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range secretsIn(string(b)) {
			t.Errorf("%s: a secret written in the file: %s", f, line)
		}
	}
	// No Secret object with its data in the manifests: the token Secret is
	// created by the operator (docs/deploy.md).
	for _, f := range yamlFiles(t) {
		for _, doc := range yamlDocs(t, f) {
			if doc["kind"] == "Secret" && (doc["data"] != nil || doc["stringData"] != nil) {
				t.Errorf("%s: a Secret with its data", f)
			}
		}
	}
}

// Small accessors over generic YAML values.

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }
func listOf(v any) []any         { l, _ := v.([]any); return l }
func str(v any) string           { s, _ := v.(string); return s }

func path(v any, keys ...string) any {
	for _, k := range keys {
		v = mapOf(v)[k]
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range listOf(v) {
		out = append(out, str(x))
	}
	return out
}
