// Package oauthhttp serves keyward's token issuer on login.<domain>: OpenID
// discovery, the JWKS document, the OAuth2 token endpoints (v1 and v2) and an
// App Service-style managed-identity endpoint.
package oauthhttp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/identity"
)

// Identity is what the handlers need from the identity service.
type Identity interface {
	Tenant(ctx context.Context, id string) (identity.Tenant, error)
	Issuer(tenantID string) string
	PublicKeys() []identity.JWK
	TokenForClient(ctx context.Context, req identity.ClientCredentials) (identity.Token, error)
	TokenForManagedIdentity(ctx context.Context, secret string, sel identity.ManagedIdentitySelector, resource string) (identity.Token, error)
}

// Handler serves the login host.
type Handler struct {
	id   Identity
	base string // "https://login.<domain>:<port>"
	mux  *http.ServeMux
	now  func() time.Time
}

// New returns the login host's handler; base is its external base URL.
func New(id Identity, base string, now func() time.Time) *Handler {
	h := &Handler{id: id, base: strings.TrimRight(base, "/"), mux: http.NewServeMux(), now: now}
	h.mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", h.discovery)
	h.mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", h.discovery)
	h.mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", h.keys)
	h.mux.HandleFunc("GET /{tenant}/discovery/keys", h.keys)
	h.mux.HandleFunc("GET /common/discovery/keys", h.keys)
	h.mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", h.token)
	h.mux.HandleFunc("POST /{tenant}/oauth2/token", h.token)
	h.mux.HandleFunc("GET /msi/token", h.managedIdentity)
	h.mux.HandleFunc("POST /msi/token", h.managedIdentity)
	return h
}

// ServeADFS serves tenant tenantID also under the path /adfs, the
// authority shape of an AD FS identity provider (Azure Stack Hub):
// /adfs/.well-known/openid-configuration, /adfs/oauth2/token and
// /adfs/discovery/keys. Clients that validate every other authority with
// login.microsoftonline.com's instance discovery, such as the Azure CLI
// (MSAL Python), skip that for an AD FS authority, so
// `az cloud register --endpoint-active-directory https://login.<domain>:<port>/adfs`
// makes them work against keyward. Call it before serving.
func (h *Handler) ServeADFS(tenantID string) {
	h.mux.HandleFunc("GET /adfs/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		h.discoveryFor(w, r, "adfs", tenantID)
	})
	h.mux.HandleFunc("GET /adfs/discovery/keys", h.keys)
	h.mux.HandleFunc("POST /adfs/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		h.tokenFor(w, r, "adfs", tenantID)
	})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) discovery(w http.ResponseWriter, r *http.Request) {
	h.discoveryFor(w, r, "", r.PathValue("tenant"))
}

// discoveryFor answers the OpenID configuration of tenant; its endpoints
// are under /<prefix> (the tenant's id when prefix is empty).
func (h *Handler) discoveryFor(w http.ResponseWriter, r *http.Request, prefix, tenant string) {
	t, err := h.id.Tenant(r.Context(), tenant)
	if err != nil {
		h.oauthError(w, r, &identity.OAuthError{Status: 400, Code: "invalid_tenant", AADSTS: 90002, Description: "Tenant '" + tenant + "' not found."})
		return
	}
	tb := h.base + "/" + t.ID
	tokenEndpoint, jwks := tb+"/oauth2/v2.0/token", tb+"/discovery/v2.0/keys"
	if prefix != "" {
		tokenEndpoint, jwks = h.base+"/"+prefix+"/oauth2/token", h.base+"/"+prefix+"/discovery/keys"
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"issuer":                                h.id.Issuer(t.ID),
		"authorization_endpoint":                tb + "/oauth2/v2.0/authorize",
		"token_endpoint":                        tokenEndpoint,
		"device_authorization_endpoint":         tb + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              jwks,
		"end_session_endpoint":                  tb + "/oauth2/v2.0/logout",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"grant_types_supported":                 []string{"client_credentials"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid", "azp", "idtyp", "ver"},
		"tenant_region_scope":                   "NA",
		"cloud_instance_name":                   "keyward",
		"request_uri_parameter_supported":       false,
	})
}

func (h *Handler) keys(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"keys": h.id.PublicKeys()})
}

// maxForm bounds token request bodies.
const maxForm = 64 << 10

func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	h.tokenFor(w, r, r.PathValue("tenant"), r.PathValue("tenant"))
}

// tokenFor serves the token endpoint at /<pathTenant>/... for tenant.
func (h *Handler) tokenFor(w http.ResponseWriter, r *http.Request, pathTenant, tenant string) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.oauthError(w, r, &identity.OAuthError{Status: 400, Code: "invalid_request", AADSTS: 900144, Description: "The request body must be application/x-www-form-urlencoded: " + err.Error()})
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	if grant == "" {
		h.oauthError(w, r, &identity.OAuthError{Status: 400, Code: "invalid_request", AADSTS: 900144, Description: "The request body must contain the following parameter: 'grant_type'."})
		return
	}
	if grant != "client_credentials" {
		h.oauthError(w, r, &identity.OAuthError{Status: 400, Code: "unsupported_grant_type", AADSTS: 70003, Description: "The app requested an unsupported grant type '" + grant + "'. keyward supports client_credentials."})
		return
	}
	v2 := strings.Contains(r.URL.Path, "/v2.0/")
	var resource string
	if v2 || f.Get("scope") != "" {
		res, err := identity.ResourceFromScope(f.Get("scope"))
		if err != nil {
			h.oauthError(w, r, err)
			return
		}
		resource = res
	} else {
		resource = f.Get("resource")
		if resource == "" {
			h.oauthError(w, r, &identity.OAuthError{Status: 400, Code: "invalid_request", AADSTS: 900144, Description: "The request body must contain the following parameter: 'resource'."})
			return
		}
	}
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	tok, err := h.id.TokenForClient(r.Context(), identity.ClientCredentials{
		Tenant: tenant, ClientID: clientID, ClientSecret: secret,
		Assertion: f.Get("client_assertion"), AssertionType: f.Get("client_assertion_type"),
		TokenEndpoints: []string{h.base + "/" + pathTenant + "/oauth2/v2.0/token", h.base + "/" + pathTenant + "/oauth2/token", h.base + "/" + pathTenant},
		Resource:       resource,
	})
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	body := map[string]any{
		"token_type":     "Bearer",
		"expires_in":     tok.ExpiresIn,
		"ext_expires_in": tok.ExpiresIn,
		"access_token":   tok.AccessToken,
	}
	if !v2 {
		body["expires_on"] = strconv.FormatInt(tok.ExpiresOn.Unix(), 10)
		body["resource"] = resource
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}

func (h *Handler) managedIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err == nil {
			q = r.Form
		}
	}
	secret := r.Header.Get("X-IDENTITY-HEADER")
	sel := identity.ManagedIdentitySelector{ClientID: q.Get("client_id"), ObjectID: firstNonEmpty(q.Get("object_id"), q.Get("principal_id")), ResourceID: q.Get("mi_res_id")}
	n := 0
	for _, v := range []string{sel.ClientID, sel.ObjectID, sel.ResourceID} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		h.oauthError(w, r, &identity.OAuthError{Status: 400, Code: "invalid_request", Description: "Specify at most one of client_id, object_id and mi_res_id."})
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		h.oauthError(w, r, &identity.OAuthError{Status: 400, Code: "invalid_request", Description: "The 'resource' parameter is required."})
		return
	}
	tok, err := h.id.TokenForManagedIdentity(r.Context(), secret, sel, resource)
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token": tok.AccessToken,
		"expires_on":   strconv.FormatInt(tok.ExpiresOn.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    tok.ClientID,
	})
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func (h *Handler) oauthError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *identity.OAuthError
	if !errors.As(err, &oe) {
		oe = &identity.OAuthError{Status: 500, Code: "server_error", AADSTS: 90100, Description: "An internal error occurred."}
	}
	trace := httpx.RequestID(r.Context())
	if trace == "" {
		trace = uuid.NewString()
	}
	codes := []int{}
	desc := oe.Description
	if oe.AADSTS != 0 {
		codes = append(codes, oe.AADSTS)
		desc = "AADSTS" + strconv.Itoa(oe.AADSTS) + ": " + oe.Description
	}
	now := h.now().UTC()
	desc += " Trace ID: " + trace + " Correlation ID: " + httpx.CorrelationID(r.Context()) + " Timestamp: " + now.Format("2006-01-02 15:04:05Z")
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, oe.Status, map[string]any{
		"error":             oe.Code,
		"error_description": desc,
		"error_codes":       codes,
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    httpx.CorrelationID(r.Context()),
	})
}
