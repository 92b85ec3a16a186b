package bearer

import (
	"net/http/httptest"
	"testing"
)

func TestAllows(t *testing.T) {
	tok := New("s3cret")
	for _, tc := range []struct {
		name, target, auth string
		want               bool
	}{
		{"none", "/", "", false},
		{"header", "/", "Bearer s3cret", true},
		{"header any case", "/", "bEARER s3cret", true},
		{"wrong header", "/", "Bearer s3cre", false},
		{"prefix", "/", "Bearer s3cret2", false},
		{"basic", "/", "Basic s3cret", false},
		{"bare scheme", "/", "Bearer ", false},
		{"query", "/?token=s3cret", "", true},
		{"wrong query", "/?token=x", "", false},
		{"header wins over query", "/?token=s3cret", "Bearer x", false},
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if got := tok.Allows(r); got != tc.want {
			t.Errorf("%s: Allows = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !tok.Required() {
		t.Error("a set token is not required")
	}
	var none Token
	if none.Required() || !none.Allows(httptest.NewRequest("GET", "/", nil)) || New("").Required() {
		t.Error("the zero token must require nothing")
	}
}
