package vaulthttp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/identity/oauthhttp"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/tlsca"
	"github.com/keyward/keyward/internal/vault"
	"github.com/keyward/keyward/internal/vault/vaulthttp"
)

const (
	testDomain = "kwtest.local"
	testSub    = "33333333-3333-3333-3333-333333333333"
)

// harness is a TLS test server holding a real identity service (issuing
// tokens on login.<domain>) and the vault data plane (<vault>.vault.<domain>),
// with an HTTP client that reaches it for every host name.
type harness struct {
	t         testing.TB
	srv       *httptest.Server
	port      string
	loginBase string
	resource  string
	dir       string
	st        *store.Pebble
	id        *identity.Service
	svc       *vault.Service
	clk       *clock.Manual
	roles     *fakeRoles
	tenant    string
	client    *http.Client
	tlsConfig *tls.Config // trusts the server's CA
	addr      string      // the server's listening address
	closeOnce sync.Once
}

// principal is a service principal with a client-secret credential.
type principal struct {
	name     string
	appID    string
	objectID string
	secret   string
	cred     azcore.TokenCredential
}

// fakeRoles grants data actions per principal object id.
type fakeRoles struct {
	mu    sync.Mutex
	grant map[string][]string
}

func (f *fakeRoles) HasDataAction(_ context.Context, _, oid, _, action string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.grant[oid] {
		if a == action || a == "*" {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeRoles) set(oid string, actions ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grant[oid] = actions
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, dir: t.TempDir(), roles: &fakeRoles{grant: map[string][]string{}}}
	var err error
	h.st, err = store.Open(filepath.Join(h.dir, "store"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := seal.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewUnstartedServer(nil)
	_, h.port, _ = net.SplitHostPort(h.srv.Listener.Addr().String())
	h.loginBase = "https://login." + testDomain + ":" + h.port
	h.resource = "https://vault." + testDomain + ":" + h.port
	audiences := []string{"https://vault.azure.net", h.resource, "https://vault." + testDomain}
	h.id, err = identity.New(ctx, h.st, dk, clock.Real{}, nil, identity.Config{
		IssuerBase: h.loginBase, TokenLifetime: time.Hour,
		Resources: func(r string) bool {
			for _, a := range audiences {
				if identity.SameResource(a, r) {
					return true
				}
			}
			return false
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ten, err := h.id.CreateTenant(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	h.tenant = ten.ID
	h.clk = clock.NewManual(time.Now().Truncate(time.Second))
	h.svc, err = vault.New(h.st, dk, h.clk, nil, vault.Config{DNSSuffix: "vault." + testDomain, Port: h.port}, h.roles)
	if err != nil {
		t.Fatal(err)
	}
	dp := vaulthttp.New(h.svc, h.id.ValidateToken, func(string) []string { return audiences }, vaulthttp.Options{LoginBase: h.loginBase})
	router := httpx.NewHostRouter(testDomain, http.NotFoundHandler())
	router.Handle("login", oauthhttp.New(h.id, h.loginBase, time.Now))
	router.HandleWildcard("vault", dp.Handler)
	h.srv.Config.Handler = httpx.Wrap("test", router, nil, nil)
	ca, err := tlsca.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue([]string{"login." + testDomain, "vault." + testDomain, "*.vault." + testDomain}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	h.srv.StartTLS()
	addr := h.srv.Listener.Addr().String()
	h.addr = addr
	h.tlsConfig = &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	d := &net.Dialer{Timeout: 5 * time.Second}
	h.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig:     h.tlsConfig.Clone(),
		MaxIdleConnsPerHost: 512,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
	t.Cleanup(h.close)
	return h
}

// close stops the server and closes the service and the store.
func (h *harness) close() {
	h.closeOnce.Do(func() {
		h.client.CloseIdleConnections()
		h.srv.Close()
		h.svc.Close()
		h.st.Close()
	})
}

func (h *harness) principal(name string) principal {
	h.t.Helper()
	ctx := context.Background()
	app, err := h.id.CreateApplication(ctx, h.tenant, name)
	if err != nil {
		h.t.Fatal(err)
	}
	sp, err := h.id.CreateServicePrincipal(ctx, h.tenant, app.AppID)
	if err != nil {
		h.t.Fatal(err)
	}
	sec, err := h.id.AddPassword(ctx, h.tenant, app.ObjectID, "test", time.Now().Add(24*time.Hour))
	if err != nil {
		h.t.Fatal(err)
	}
	cred, err := azidentity.NewClientSecretCredential(h.tenant, app.AppID, sec.SecretText, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Transport: h.client, Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: h.loginBase + "/"}},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return principal{name: name, appID: app.AppID, objectID: sp.ObjectID, secret: sec.SecretText, cred: cred}
}

func (h *harness) policy(p principal, keys ...string) vault.AccessPolicy {
	return vault.AccessPolicy{TenantID: h.tenant, ObjectID: p.objectID, Permissions: vault.Permissions{Keys: keys}}
}

func (h *harness) vault(name string, mod func(*vault.VaultSpec), policies ...vault.AccessPolicy) {
	h.t.Helper()
	spec := vault.VaultSpec{
		SubscriptionID: testSub, ResourceGroup: "rg", Name: name, Location: "westeurope",
		TenantID: &h.tenant, SKU: &vault.SKU{Family: "A", Name: "premium"}, AccessPolicies: policies,
		EnablePurgeProtection: ptr(true),
	}
	if mod != nil {
		mod(&spec)
	}
	if _, _, err := h.svc.CreateOrUpdateVault(context.Background(), vault.Caller{ObjectID: "test"}, spec); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) vaultURL(name string) string {
	return "https://" + name + ".vault." + testDomain + ":" + h.port
}

// keys returns an unmodified azkeys client with default options except
// the transport.
func (h *harness) keys(vaultName string, p principal) *azkeys.Client {
	h.t.Helper()
	c, err := azkeys.NewClient(h.vaultURL(vaultName), p.cred, &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: h.client}})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// token returns an access token for the vault resource.
func (h *harness) token(p principal) string {
	h.t.Helper()
	tok, err := p.cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{h.resource + "/.default"}, TenantID: h.tenant})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok.Token
}

// do sends a raw request to a vault and returns status, headers and body.
func (h *harness) do(method, vaultName, pathQuery, token string, body any) (int, http.Header, []byte) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.vaultURL(vaultName)+pathQuery, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// errorOf decodes an Azure error body.
func errorOf(t testing.TB, body []byte) (code, inner, msg string) {
	t.Helper()
	var e struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.Error.InnerError != nil {
		inner = e.Error.InnerError.Code
	}
	return e.Error.Code, inner, e.Error.Message
}

// wantStatus checks an azkeys error's status and error code.
func wantStatus(t testing.TB, err error, status int, code string) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want an HTTP %d error", err, status)
	}
	if re.StatusCode != status || (code != "" && re.ErrorCode != code) {
		t.Fatalf("got %d %s, want %d %s: %v", re.StatusCode, re.ErrorCode, status, code, err)
	}
	return re
}

func ptr[T any](v T) *T { return &v }
