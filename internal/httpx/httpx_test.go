package httpx

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWrapPanic checks that a panicking handler answers 500 in the Azure
// error shape, and that the server goes on serving.
func TestWrapPanic(t *testing.T) {
	h := Wrap("test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			var m map[string]int
			m["x"]++ // a bug: assignment to a nil map
		}
		_, _ = io.WriteString(w, "ok")
	}), slog.New(slog.DiscardHandler), nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatalf("a panicking handler dropped the connection: %v", err)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || err != nil || body.Error.Code != "InternalServerError" {
		t.Fatalf("status %d, body %+v, %v", resp.StatusCode, body, err)
	}
	resp, err = http.Get(srv.URL + "/fine")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after a panic: %v %v", resp, err)
	}
	resp.Body.Close()
}
