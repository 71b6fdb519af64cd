// Package logichttp is the HTTP side of keyward's Logic Apps: it serves the
// workflows' signed callback and content URLs
// (https://management.<domain>:<port>/workflows/{accessId}/…, authorized by
// their "sig" query parameter, not by a bearer token), and it performs the
// Http action's outbound requests.
package logichttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/logic"
)

// PathPrefix is the path prefix of callback and content URLs.
const PathPrefix = "/workflows/"

// maxBody bounds request and response bodies.
const maxBody = 16 << 20

// Callbacks serves callback and content URLs.
type Callbacks struct {
	s *logic.Service
}

// NewCallbacks returns the handler.
func NewCallbacks(s *logic.Service) *Callbacks { return &Callbacks{s: s} }

// Wrap returns a handler that serves callback and content URLs (paths under
// /workflows/) and passes every other request to next (the resource
// manager).
func (c *Callbacks) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, PathPrefix) {
			c.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP implements http.Handler.
func (c *Callbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, PathPrefix)
	access, path, _ := strings.Cut(rest, "/")
	if access == "" {
		httpx.WriteJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "WorkflowNotFound", "message": "The workflow was not found."}})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		httpx.WriteJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": map[string]any{"code": "RequestEntityTooLarge", "message": fmt.Sprintf("The request body exceeds %d bytes.", maxBody)}})
		return
	}
	headers := map[string]string{}
	for k, v := range r.Header {
		if len(v) > 0 {
			headers[k] = v[0]
		}
	}
	resp := c.s.HandleCallback(r.Context(), logic.CallbackRequest{
		Method: r.Method, AccessID: access, Path: "/" + path, Query: r.URL.Query(), Headers: headers, Body: body,
		ClientTrackingID: r.Header.Get("x-ms-client-tracking-id"),
	})
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.Status)
	if r.Method != http.MethodHead && len(resp.Body) > 0 {
		_, _ = w.Write(resp.Body)
	}
}

// Client performs the Http action's requests with net/http.
type Client struct {
	hc *http.Client
}

// NewClient returns a client; hc nil means a client with a 100-second
// timeout, as the Http action's default.
func NewClient(hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 100 * time.Second}
	}
	return &Client{hc: hc}
}

// Do implements logic.HTTPClient.
func (c *Client) Do(ctx context.Context, req logic.HTTPRequest) (logic.HTTPResponse, error) {
	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, body)
	if err != nil {
		return logic.HTTPResponse{}, fmt.Errorf("logichttp: %w", err)
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return logic.HTTPResponse{}, fmt.Errorf("logichttp: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return logic.HTTPResponse{}, fmt.Errorf("logichttp: read response: %w", err)
	}
	if len(b) > maxBody {
		return logic.HTTPResponse{}, errors.New("logichttp: the response body exceeds 16 MiB")
	}
	out := logic.HTTPResponse{StatusCode: resp.StatusCode, Headers: map[string]string{}, Body: b}
	for k, v := range resp.Header {
		if len(v) > 0 {
			out.Headers[k] = v[0]
		}
	}
	return out, nil
}
