package vaulthttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	"github.com/keyward/keyward/internal/vault/vaulthttp"
)

// FuzzHandler sends arbitrary methods, paths and bodies to a vault's
// handler: it must never panic, must answer with a known status, and every
// error body must be Azure's JSON error shape.
func FuzzHandler(f *testing.F) {
	const tenant = "11111111-1111-1111-1111-111111111111"
	st, err := store.Open(filepath.Join(f.TempDir(), "store"), nil)
	if err != nil {
		f.Fatal(err)
	}
	dk, _ := seal.NewDataKey()
	svc, err := vault.New(st, dk, clock.NewManual(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), nil, vault.Config{DNSSuffix: "vault.fz.local", Port: "443"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close(); st.Close() })
	owner := vault.Caller{TenantID: tenant, ObjectID: "owner"}
	ctx := context.Background()
	if _, _, err := svc.CreateOrUpdateVault(ctx, owner, vault.VaultSpec{SubscriptionID: "s", ResourceGroup: "rg", Name: "kvfz", Location: "x",
		TenantID: ptr(tenant), SKU: &vault.SKU{Family: "A", Name: "standard"},
		AccessPolicies: []vault.AccessPolicy{{TenantID: tenant, ObjectID: "owner", Permissions: vault.Permissions{Keys: []string{"all"}}}}}); err != nil {
		f.Fatal(err)
	}
	if _, err := svc.CreateKey(ctx, owner, "kvfz", "k", vault.CreateKeyParams{Kty: "EC"}); err != nil {
		f.Fatal(err)
	}
	validate := func(raw string, _ ...string) (*identity.Claims, error) {
		if raw != "good" {
			return nil, errors.New("invalid token: bad")
		}
		return &identity.Claims{TenantID: tenant, ObjectID: "owner", AppID: "app", ExpiresAt: time.Now().Add(time.Hour)}, nil
	}
	h := vaulthttp.New(svc, validate, func(string) []string { return []string{"https://vault.fz.local"} }, vaulthttp.Options{LoginBase: "https://login.fz.local"}).Handler("kvfz")
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
	seeds := []struct {
		m    uint8
		path string
		body string
	}{
		{0, "/keys?api-version=7.4", ""},
		{1, "/keys/k/sign?api-version=7.4", `{"alg":"ES256","value":"AAAA"}`},
		{1, "/keys/n/create?api-version=2025-07-01", `{"kty":"EC","crv":"P-384","attributes":{"exp":1900000000}}`},
		{2, "/keys/i?api-version=7.4", `{"key":{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}}`},
		{3, "/keys/k/?api-version=7.4", `{"attributes":{"enabled":false},"tags":{"a":"b"}}`},
		{2, "/keys/k/rotationpolicy?api-version=7.4", `{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Rotate"}}]}`},
		{1, "/keys/restore?api-version=7.4", `{"value":"S1dLQgE"}`},
		{1, "/rng?api-version=7.4", `{"count":16}`},
		{0, "/keyward/audit?since=0&limit=5", ""},
		{4, "/deletedkeys/k?api-version=7.4", ""},
	}
	for _, s := range seeds {
		f.Add(s.m, s.path, []byte(s.body), true)
	}
	f.Fuzz(func(t *testing.T, m uint8, path string, body []byte, auth bool) {
		req, err := http.NewRequest(methods[int(m)%len(methods)], "https://kvfz.vault.fz.local"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		if auth {
			req.Header.Set("Authorization", "Bearer good")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 204:
			return
		case 400, 401, 403, 404, 405, 409:
		default:
			t.Fatalf("%s %q: status %d: %s", req.Method, path, rec.Code, rec.Body.Bytes())
		}
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s %q: error body %q", req.Method, path, rec.Body.Bytes())
		}
		if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatal("401 without a challenge")
		}
	})
}
