// Package armhttp serves the resource manager on management.<domain>: it
// authenticates bearer tokens, turns HTTP requests into arm.Requests and
// writes ARM responses, errors and long-running-operation headers.
package armhttp

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/identity"
)

// Validator validates access tokens (identity.Service).
type Validator interface {
	ValidateToken(raw string, audiences ...string) (*identity.Claims, error)
}

// Manager serves ARM requests (arm.Manager).
type Manager interface {
	Do(ctx context.Context, req *arm.Request) (*arm.Response, error)
	OperationURL(base, sub string, op *arm.Operation, kind string) string
}

// Handler is the management host's handler.
type Handler struct {
	m         Manager
	tokens    Validator
	audiences []string
	base      string // "https://management.<domain>:<port>"
	loginBase string
	tenantID  string
}

// New returns the handler. base is the external base URL of the management
// host; loginBase and tenantID go into WWW-Authenticate challenges.
func New(m Manager, tokens Validator, audiences []string, base, loginBase, tenantID string) *Handler {
	return &Handler{m: m, tokens: tokens, audiences: audiences, base: strings.TrimRight(base, "/"), loginBase: strings.TrimRight(loginBase, "/"), tenantID: tenantID}
}

// maxBody bounds request bodies (ARM's limit is 4 MB for templates).
const maxBody = 4 << 20

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, ok := httpx.BearerToken(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+h.loginBase+"/"+h.tenantID+`", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`)
		h.writeError(w, r, &arm.Error{Status: 401, Code: "AuthenticationFailed", Message: "Authentication failed. The 'Authorization' header is missing."})
		return
	}
	claims, err := h.tokens.ValidateToken(tok, h.audiences...)
	if err != nil {
		code, msg := "InvalidAuthenticationToken", "The access token is invalid: "+strings.TrimPrefix(err.Error(), "invalid token: ")
		if strings.Contains(err.Error(), "expired") {
			code, msg = "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time."
		}
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+h.loginBase+"/"+h.tenantID+`", error="invalid_token", error_description="`+code+`"`)
		h.writeError(w, r, &arm.Error{Status: 401, Code: code, Message: msg})
		return
	}
	target, err := arm.ParseTarget(r.URL.Path)
	if err != nil {
		h.writeError(w, r, arm.BadRequest("InvalidRequestUri", "The request URI '%s' is not valid: %s.", r.URL.Path, err.Error()))
		return
	}
	var body []byte
	if r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodPost {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			h.writeError(w, r, arm.Errorf(413, "RequestEntityTooLarge", "The request content size exceeds the maximum of %d bytes.", maxBody))
			return
		}
	}
	q := r.URL.Query()
	req := &arm.Request{
		Method: r.Method, Target: target, APIVersion: q.Get("api-version"), Query: q, Body: body,
		Caller: arm.Caller{
			TenantID: claims.TenantID, ObjectID: claims.ObjectID, AppID: claims.AppID, ClientIP: httpx.ClientIP(r),
			CorrelationID: httpx.CorrelationID(r.Context()), RequestID: httpx.RequestID(r.Context()),
		},
		BaseURL: h.base,
	}
	resp, err := h.m.Do(r.Context(), req)
	if err != nil {
		h.writeError(w, r, arm.AsError(err))
		return
	}
	if resp.Operation != nil {
		sub := target.SubscriptionID
		w.Header().Set("Azure-AsyncOperation", h.m.OperationURL(h.base, sub, resp.Operation, "operationStatuses"))
		w.Header().Set("Location", h.m.OperationURL(h.base, sub, resp.Operation, "operationResults"))
		if resp.Operation.Status() == arm.OpInProgress {
			w.Header().Set("Retry-After", "1")
		}
	}
	if st, ok := resp.Body.(map[string]any); ok && st["status"] == arm.OpInProgress {
		w.Header().Set("Retry-After", "1")
	}
	if r.Method == http.MethodHead || resp.Body == nil {
		w.WriteHeader(resp.Status)
		return
	}
	httpx.WriteJSON(w, resp.Status, resp.Body)
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, e *arm.Error) {
	w.Header().Set("x-ms-failure-cause", "gateway")
	if r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	httpx.WriteJSON(w, e.Status, map[string]any{"error": e})
}
