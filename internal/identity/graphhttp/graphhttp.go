// Package graphhttp serves the directory API on graph.<domain>: the subset of
// Microsoft Graph v1.0 that manages applications, their client secrets and
// certificates, and service principals.
package graphhttp

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/identity"
)

// Identity is what the handlers need from the identity service.
type Identity interface {
	ValidateToken(raw string, audiences ...string) (*identity.Claims, error)
	Principal(ctx context.Context, tenantID, objectID string) (identity.Principal, error)
	Principals(ctx context.Context, tenantID string) ([]identity.Principal, error)
	PrincipalByAppID(ctx context.Context, tenantID, appID string) (identity.Principal, error)
	CreateServicePrincipal(ctx context.Context, tenantID, appID string) (identity.Principal, error)
	DeletePrincipal(ctx context.Context, tenantID, objectID string) error
	CreateApplication(ctx context.Context, tenantID, displayName string) (identity.Application, error)
	Application(ctx context.Context, tenantID, objectID string) (identity.Application, error)
	Applications(ctx context.Context, tenantID string) ([]identity.Application, error)
	UpdateApplication(ctx context.Context, tenantID, objectID, displayName string) (identity.Application, error)
	DeleteApplication(ctx context.Context, tenantID, objectID string) error
	AddPassword(ctx context.Context, tenantID, objectID, displayName string, end time.Time) (identity.NewSecret, error)
	RemovePassword(ctx context.Context, tenantID, objectID, keyID string) error
	SetCertificates(ctx context.Context, tenantID, objectID string, certs []identity.KeyCredential) (identity.Application, error)
}

// Handler serves the graph host.
type Handler struct {
	id        Identity
	base      string
	audiences []string
	mux       *http.ServeMux
}

// New returns the graph host's handler. base is its external base URL;
// audiences are the token audiences it accepts.
func New(id Identity, base string, audiences []string) *Handler {
	h := &Handler{id: id, base: strings.TrimRight(base, "/"), audiences: audiences, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /v1.0/applications", h.auth(true, h.createApp))
	h.mux.HandleFunc("GET /v1.0/applications", h.auth(false, h.listApps))
	h.mux.HandleFunc("GET /v1.0/applications/{id}", h.auth(false, h.getApp))
	h.mux.HandleFunc("PATCH /v1.0/applications/{id}", h.auth(true, h.patchApp))
	h.mux.HandleFunc("DELETE /v1.0/applications/{id}", h.auth(true, h.deleteApp))
	h.mux.HandleFunc("POST /v1.0/applications/{id}/addPassword", h.auth(true, h.addPassword))
	h.mux.HandleFunc("POST /v1.0/applications/{id}/removePassword", h.auth(true, h.removePassword))
	h.mux.HandleFunc("POST /v1.0/servicePrincipals", h.auth(true, h.createSP))
	h.mux.HandleFunc("GET /v1.0/servicePrincipals", h.auth(false, h.listSPs))
	h.mux.HandleFunc("GET /v1.0/servicePrincipals/{id}", h.auth(false, h.getSP))
	h.mux.HandleFunc("DELETE /v1.0/servicePrincipals/{id}", h.auth(true, h.deleteSP))
	// keyward issues application tokens only (client credentials, managed
	// identities): /me answers as Graph does for those.
	h.mux.HandleFunc("GET /v1.0/me", h.auth(false, func(w http.ResponseWriter, r *http.Request, _ caller) {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
	}))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+strings.Trim(r.URL.Path, "/")+"'.")
	})
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type caller struct {
	claims    *identity.Claims
	principal identity.Principal
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c caller)

func (h *Handler) auth(write bool, next handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := httpx.BearerToken(r)
		if !ok {
			graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
			return
		}
		claims, err := h.id.ValidateToken(tok, h.audiences...)
		if err != nil {
			graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure: "+strings.TrimPrefix(err.Error(), "invalid token: "))
			return
		}
		p, err := h.id.Principal(r.Context(), claims.TenantID, claims.ObjectID)
		if err != nil {
			graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "The token's principal no longer exists.")
			return
		}
		if write && !p.HasDirectoryRole(identity.RoleGlobalAdministrator, identity.RoleApplicationAdministrator) {
			graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
			return
		}
		next(w, r, caller{claims: claims, principal: p})
	}
}

type passwordJSON struct {
	CustomKeyIdentifier *string `json:"customKeyIdentifier"`
	DisplayName         string  `json:"displayName"`
	EndDateTime         string  `json:"endDateTime"`
	Hint                string  `json:"hint"`
	KeyID               string  `json:"keyId"`
	SecretText          *string `json:"secretText"`
	StartDateTime       string  `json:"startDateTime"`
}

type keyCredentialJSON struct {
	CustomKeyIdentifier string  `json:"customKeyIdentifier,omitempty"`
	DisplayName         string  `json:"displayName,omitempty"`
	EndDateTime         string  `json:"endDateTime,omitempty"`
	Key                 *string `json:"key"`
	KeyID               string  `json:"keyId,omitempty"`
	StartDateTime       string  `json:"startDateTime,omitempty"`
	Type                string  `json:"type"`
	Usage               string  `json:"usage"`
}

func appJSON(a identity.Application) map[string]any {
	pw := make([]passwordJSON, 0, len(a.Passwords))
	for _, p := range a.Passwords {
		pw = append(pw, passwordJSON{DisplayName: p.DisplayName, EndDateTime: ts(p.End), Hint: p.Hint, KeyID: p.KeyID, StartDateTime: ts(p.Start)})
	}
	kc := make([]keyCredentialJSON, 0, len(a.Certificates))
	for _, c := range a.Certificates {
		kc = append(kc, keyCredentialJSON{
			CustomKeyIdentifier: strings.ToUpper(hexString(c.Thumbprint)), DisplayName: c.DisplayName,
			EndDateTime: ts(c.End), KeyID: c.KeyID, StartDateTime: ts(c.Start), Type: c.Type, Usage: c.Usage,
		})
	}
	return map[string]any{
		"@odata.context":      "https://graph.microsoft.com/v1.0/$metadata#applications/$entity",
		"id":                  a.ObjectID,
		"appId":               a.AppID,
		"displayName":         a.DisplayName,
		"createdDateTime":     ts(a.CreatedAt),
		"signInAudience":      "AzureADMyOrg",
		"publisherDomain":     "keyward.localhost",
		"passwordCredentials": pw,
		"keyCredentials":      kc,
	}
}

// spNames are a service principal's servicePrincipalNames.
func spNames(p identity.Principal) []string {
	names := []string{p.AppID}
	if p.ResourceID != "" {
		names = append(names, "https://identity.azure.net/")
	}
	return names
}

func spJSON(p identity.Principal) map[string]any {
	alt := []string{}
	names := spNames(p)
	if p.ResourceID != "" {
		alt = append(alt, "isExplicit=False", p.ResourceID)
	}
	return map[string]any{
		"@odata.context":         "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals/$entity",
		"id":                     p.ObjectID,
		"appId":                  p.AppID,
		"displayName":            p.DisplayName,
		"servicePrincipalType":   p.Type,
		"accountEnabled":         p.Enabled,
		"appOwnerOrganizationId": p.TenantID,
		"alternativeNames":       alt,
		"servicePrincipalNames":  names,
		"createdDateTime":        ts(p.CreatedAt),
	}
}

func (h *Handler) createApp(w http.ResponseWriter, r *http.Request, c caller) {
	var body struct {
		DisplayName    string              `json:"displayName"`
		KeyCredentials []keyCredentialJSON `json:"keyCredentials"`
	}
	if err := httpx.DecodeJSON(r, 1<<20, &body); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload: "+err.Error())
		return
	}
	certs, err := parseKeyCredentials(body.KeyCredentials)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	app, err := h.id.CreateApplication(r.Context(), c.claims.TenantID, body.DisplayName)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	if len(certs) > 0 {
		if app, err = h.id.SetCertificates(r.Context(), c.claims.TenantID, app.ObjectID, certs); err != nil {
			writeErr(w, r, err)
			return
		}
	}
	w.Header().Set("Location", h.base+"/v1.0/applications/"+app.ObjectID)
	httpx.WriteJSON(w, http.StatusCreated, appJSON(app))
}

var (
	eqFilter  = regexp.MustCompile(`^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$`)
	anyFilter = regexp.MustCompile(`^\s*(\w+)/any\(\s*(\w+)\s*:\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$`)
)

// filterFunc parses the "$filter" forms keyward supports: "<field> eq '<v>'"
// for a field of fields, and "<collection>/any(c:c eq '<v>')" for a
// collection of multi (the Azure CLI finds a service principal by
// servicePrincipalNames that way).
func filterFunc(r *http.Request, fields map[string]func(any) string, multi map[string]func(any) []string) (func(any) bool, error) {
	f := r.URL.Query().Get("$filter")
	if f == "" {
		return func(any) bool { return true }, nil
	}
	if m := anyFilter.FindStringSubmatch(f); m != nil && m[2] == m[3] {
		get, ok := multi[m[1]]
		if !ok {
			return nil, errUnsupportedQuery
		}
		want := strings.ReplaceAll(m[4], "''", "'")
		return func(v any) bool {
			for _, s := range get(v) {
				if strings.EqualFold(s, want) {
					return true
				}
			}
			return false
		}, nil
	}
	m := eqFilter.FindStringSubmatch(f)
	if m == nil {
		return nil, errUnsupportedQuery
	}
	get, ok := fields[m[1]]
	if !ok {
		return nil, errUnsupportedQuery
	}
	want := strings.ReplaceAll(m[2], "''", "'")
	return func(v any) bool { return strings.EqualFold(get(v), want) }, nil
}

var errUnsupportedQuery = errors.New("unsupported query")

func (h *Handler) listApps(w http.ResponseWriter, r *http.Request, c caller) {
	match, err := filterFunc(r, map[string]func(any) string{
		"appId":       func(v any) string { return v.(identity.Application).AppID },
		"displayName": func(v any) string { return v.(identity.Application).DisplayName },
		"id":          func(v any) string { return v.(identity.Application).ObjectID },
	}, nil)
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query: keyward supports $filter=<appId|displayName|id> eq '<value>'.")
		return
	}
	apps, err := h.id.Applications(r.Context(), c.claims.TenantID)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, a := range apps {
		if match(a) {
			j := appJSON(a)
			delete(j, "@odata.context")
			out = append(out, j)
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications", "value": out})
}

func (h *Handler) getApp(w http.ResponseWriter, r *http.Request, c caller) {
	app, err := h.id.Application(r.Context(), c.claims.TenantID, r.PathValue("id"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, appJSON(app))
}

func (h *Handler) patchApp(w http.ResponseWriter, r *http.Request, c caller) {
	var body struct {
		DisplayName    *string              `json:"displayName"`
		KeyCredentials *[]keyCredentialJSON `json:"keyCredentials"`
	}
	if err := httpx.DecodeJSON(r, 1<<20, &body); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload: "+err.Error())
		return
	}
	id := r.PathValue("id")
	if _, err := h.id.Application(r.Context(), c.claims.TenantID, id); err != nil {
		writeErr(w, r, err)
		return
	}
	var certs []identity.KeyCredential
	if body.KeyCredentials != nil {
		var err error
		if certs, err = parseKeyCredentials(*body.KeyCredentials); err != nil {
			writeErr(w, r, err)
			return
		}
	}
	if body.DisplayName != nil {
		if _, err := h.id.UpdateApplication(r.Context(), c.claims.TenantID, id, *body.DisplayName); err != nil {
			writeErr(w, r, err)
			return
		}
	}
	if body.KeyCredentials != nil {
		if _, err := h.id.SetCertificates(r.Context(), c.claims.TenantID, id, certs); err != nil {
			writeErr(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func parseKeyCredentials(in []keyCredentialJSON) ([]identity.KeyCredential, error) {
	var out []identity.KeyCredential
	for i, k := range in {
		if k.Key == nil {
			return nil, errorf("keyCredentials[%d].key is required", i)
		}
		if k.Type != "AsymmetricX509Cert" || k.Usage != "Verify" {
			return nil, errorf("keyCredentials[%d]: keyward supports type AsymmetricX509Cert with usage Verify", i)
		}
		der, err := base64.StdEncoding.DecodeString(*k.Key)
		if err != nil {
			return nil, errorf("keyCredentials[%d].key is not base64", i)
		}
		cred, err := identity.NewCertificateCredential(der, k.DisplayName)
		if err != nil {
			return nil, err
		}
		out = append(out, cred)
	}
	return out, nil
}

func errorf(format string, args ...any) error {
	return &badRequest{msg: sprintf(format, args...)}
}

type badRequest struct{ msg string }

func (b *badRequest) Error() string { return b.msg }

func (h *Handler) deleteApp(w http.ResponseWriter, r *http.Request, c caller) {
	if err := h.id.DeleteApplication(r.Context(), c.claims.TenantID, r.PathValue("id")); err != nil {
		writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) addPassword(w http.ResponseWriter, r *http.Request, c caller) {
	var body struct {
		PasswordCredential struct {
			DisplayName string `json:"displayName"`
			EndDateTime string `json:"endDateTime"`
		} `json:"passwordCredential"`
	}
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(r, 1<<16, &body); err != nil {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload: "+err.Error())
			return
		}
	}
	var end time.Time
	if s := body.PasswordCredential.EndDateTime; s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "endDateTime is not an ISO 8601 date-time: "+s)
			return
		}
		end = t
	}
	sec, err := h.id.AddPassword(r.Context(), c.claims.TenantID, r.PathValue("id"), body.PasswordCredential.DisplayName, end)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	p := sec.Credential
	text := sec.SecretText
	httpx.WriteJSON(w, http.StatusOK, passwordJSON{DisplayName: p.DisplayName, EndDateTime: ts(p.End), Hint: p.Hint, KeyID: p.KeyID, SecretText: &text, StartDateTime: ts(p.Start)})
}

func (h *Handler) removePassword(w http.ResponseWriter, r *http.Request, c caller) {
	var body struct {
		KeyID string `json:"keyId"`
	}
	if err := httpx.DecodeJSON(r, 1<<16, &body); err != nil || body.KeyID == "" {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "The request must name the keyId of the password to remove.")
		return
	}
	if err := h.id.RemovePassword(r.Context(), c.claims.TenantID, r.PathValue("id"), body.KeyID); err != nil {
		writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) createSP(w http.ResponseWriter, r *http.Request, c caller) {
	var body struct {
		AppID string `json:"appId"`
	}
	if err := httpx.DecodeJSON(r, 1<<16, &body); err != nil || body.AppID == "" {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "The request must name the appId of the application.")
		return
	}
	sp, err := h.id.CreateServicePrincipal(r.Context(), c.claims.TenantID, body.AppID)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	w.Header().Set("Location", h.base+"/v1.0/servicePrincipals/"+sp.ObjectID)
	httpx.WriteJSON(w, http.StatusCreated, spJSON(sp))
}

func (h *Handler) listSPs(w http.ResponseWriter, r *http.Request, c caller) {
	match, err := filterFunc(r, map[string]func(any) string{
		"appId":       func(v any) string { return v.(identity.Principal).AppID },
		"displayName": func(v any) string { return v.(identity.Principal).DisplayName },
		"id":          func(v any) string { return v.(identity.Principal).ObjectID },
	}, map[string]func(any) []string{
		"servicePrincipalNames": func(v any) []string { return spNames(v.(identity.Principal)) },
	})
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query: keyward supports $filter=<appId|displayName|id> eq '<value>' and servicePrincipalNames/any(c:c eq '<value>').")
		return
	}
	sps, err := h.id.Principals(r.Context(), c.claims.TenantID)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, p := range sps {
		if match(p) {
			j := spJSON(p)
			delete(j, "@odata.context")
			out = append(out, j)
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals", "value": out})
}

func (h *Handler) getSP(w http.ResponseWriter, r *http.Request, c caller) {
	sp, err := h.id.Principal(r.Context(), c.claims.TenantID, r.PathValue("id"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, spJSON(sp))
}

func (h *Handler) deleteSP(w http.ResponseWriter, r *http.Request, c caller) {
	sp, err := h.id.Principal(r.Context(), c.claims.TenantID, r.PathValue("id"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	if sp.Type == identity.TypeManagedIdentity {
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "A managed identity's service principal is deleted with its resource, not through the directory API.")
		return
	}
	if err := h.id.DeletePrincipal(r.Context(), c.claims.TenantID, sp.ObjectID); err != nil {
		writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	switch {
	case errors.As(err, &br):
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", br.msg)
	case errors.Is(err, identity.ErrNotFound):
		graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+r.PathValue("id")+"' does not exist or one of its queried reference-property objects are not present.")
	case errors.Is(err, identity.ErrConflict):
		graphError(w, r, http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue", "Another object with the same value for property appId already exists.")
	case errors.Is(err, identity.ErrInvalid):
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", strings.TrimPrefix(err.Error(), identity.ErrInvalid.Error()+": "))
	default:
		graphError(w, r, http.StatusInternalServerError, "Service_InternalServerError", "Encountered an internal server error.")
	}
}

func graphError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	httpx.WriteJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{
			"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": httpx.RequestID(r.Context()),
			"client-request-id": httpx.CorrelationID(r.Context()),
		},
	}})
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}
