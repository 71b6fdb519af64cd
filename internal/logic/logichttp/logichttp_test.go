package logichttp

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/logic"
)

func TestWrapRoutesOnlyWorkflowPaths(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	// A service with no workflows: every callback is a 404 from the logic side.
	s := logic.New(nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, logic.Config{})
	h := NewCallbacks(s).Wrap(next)
	tests := []struct {
		path string
		want int
	}{
		{"/subscriptions/s/resourceGroups/g/providers/Microsoft.Logic/workflows/w", 299},
		{"/workflows/abc/triggers/manual/paths/invoke?sig=x&sp=y", 404},
		{"/workflows/", 404},
		{"/workflowsx", 299},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "https://management.test"+tc.path, strings.NewReader("{}")))
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, rec.Code, tc.want)
		}
	}
}

func TestClientLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", r.Header.Get("X-In"))
		w.WriteHeader(201)
		_, _ = w.Write(append([]byte(r.Method+" "), b...))
	}))
	defer srv.Close()
	resp, err := NewClient(srv.Client()).Do(context.Background(), logic.HTTPRequest{Method: "PUT", URL: srv.URL, Headers: map[string]string{"X-In": "v"}, Body: []byte("hi")})
	if err != nil || resp.StatusCode != 201 || string(resp.Body) != "PUT hi" || resp.Headers["X-Echo"] != "v" {
		t.Fatalf("%+v %v", resp, err)
	}
	if _, err := NewClient(nil).Do(context.Background(), logic.HTTPRequest{Method: "GET", URL: "http://127.0.0.1:1/"}); err == nil {
		t.Fatal("no error for a closed port")
	}
}
