package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/testenv"
)

func getToken(t testing.TB, cred azcore.TokenCredential, scope string) (azcore.AccessToken, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
}

// graphCreatePrincipal creates an application, its service principal and a
// secret through the directory API, as `keyward principal create` does.
func graphCreatePrincipal(t testing.TB, env *testenv.Env, token, name string) (clientID, secret, objectID string) {
	t.Helper()
	var app struct{ ID, AppID string }
	graphCall(t, env, token, "POST", "/v1.0/applications", map[string]any{"displayName": name}, http.StatusCreated, &app)
	var sp struct{ ID string }
	graphCall(t, env, token, "POST", "/v1.0/servicePrincipals", map[string]any{"appId": app.AppID}, http.StatusCreated, &sp)
	var pw struct{ SecretText string }
	graphCall(t, env, token, "POST", "/v1.0/applications/"+app.ID+"/addPassword", map[string]any{}, http.StatusOK, &pw)
	return app.AppID, pw.SecretText, sp.ID
}

func graphCall(t testing.TB, env *testenv.Env, token, method, path string, in any, want int, out any) {
	t.Helper()
	status, body := rawCall(t, env, token, method, env.URL("graph", path), in)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
}

func rawCall(t testing.TB, env *testenv.Env, token, method, u string, in any) (int, []byte) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := env.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

const graphScope = "https://graph.microsoft.com/.default"
const armScope = "https://management.core.windows.net//.default"

func TestClientSecretCredential(t *testing.T) {
	env := testenv.Start(t, nil)
	tok, err := getToken(t, env.Bootstrap(t), armScope)
	if err != nil {
		t.Fatalf("bootstrap token: %v", err)
	}
	claims, err := env.App.Identity.ValidateToken(tok.Token, "https://management.core.windows.net/")
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	if claims.ObjectID != env.Conn.ObjectID || claims.TenantID != env.Conn.TenantID || claims.AppID != env.Conn.ClientID {
		t.Fatalf("claims %+v do not name the bootstrap principal", claims)
	}
	if time.Until(tok.ExpiresOn) < 50*time.Minute {
		t.Fatalf("token expires too soon: %v", tok.ExpiresOn)
	}

	// A wrong secret is refused with invalid_client.
	_, err = getToken(t, env.Credential(t, env.Conn.ClientID, "wrong-secret"), armScope)
	var authErr *azidentity.AuthenticationFailedError
	if !errors.As(err, &authErr) || authErr.RawResponse == nil || authErr.RawResponse.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret: got %v", err)
	}
	// An unknown client is refused with unauthorized_client, an unknown tenant with invalid_tenant.
	_, err = getToken(t, env.Credential(t, "00000000-0000-0000-0000-000000000001", "x"), armScope)
	if err == nil || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Fatalf("unknown client: got %v", err)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	env := testenv.Start(t, nil)
	tokenURL := env.URL("login", "/"+env.Conn.TenantID+"/oauth2/v2.0/token")
	cases := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"no grant", url.Values{"client_id": {env.Conn.ClientID}}, 400, "invalid_request"},
		{"bad grant", url.Values{"grant_type": {"password"}, "client_id": {env.Conn.ClientID}, "scope": {armScope}}, 400, "unsupported_grant_type"},
		{"no scope", url.Values{"grant_type": {"client_credentials"}, "client_id": {env.Conn.ClientID}, "client_secret": {env.Conn.ClientSecret}}, 400, "invalid_request"},
		{"scope without .default", url.Values{"grant_type": {"client_credentials"}, "client_id": {env.Conn.ClientID}, "client_secret": {env.Conn.ClientSecret}, "scope": {"https://vault.azure.net/keys.read"}}, 400, "invalid_scope"},
		{"unknown resource", url.Values{"grant_type": {"client_credentials"}, "client_id": {env.Conn.ClientID}, "client_secret": {env.Conn.ClientSecret}, "scope": {"https://example.com/.default"}}, 400, "invalid_resource"},
		{"no secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {env.Conn.ClientID}, "scope": {armScope}}, 401, "invalid_client"},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {env.Conn.ClientID}, "client_secret": {"nope"}, "scope": {armScope}}, 401, "invalid_client"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := env.HTTP.PostForm(tokenURL, c.form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error   string `json:"error"`
				Desc    string `json:"error_description"`
				Codes   []int  `json:"error_codes"`
				TraceID string `json:"trace_id"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != c.status || body.Error != c.code || body.TraceID == "" || body.Desc == "" {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, body, c.status, c.code)
			}
		})
	}
	// Unknown tenant.
	resp, err := env.HTTP.PostForm(env.URL("login", "/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token"), url.Values{"grant_type": {"client_credentials"}, "client_id": {env.Conn.ClientID}, "client_secret": {env.Conn.ClientSecret}, "scope": {armScope}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("unknown tenant: %d", resp.StatusCode)
	}
}

func TestTokenAudienceExpiryAndTampering(t *testing.T) {
	clk := clock.NewManual(time.Now())
	env := testenv.Start(t, nil, app.WithClock(clk))
	cred := env.Bootstrap(t)
	armTok, err := getToken(t, cred, armScope)
	if err != nil {
		t.Fatal(err)
	}
	graphTok, err := getToken(t, cred, graphScope)
	if err != nil {
		t.Fatal(err)
	}
	list := env.URL("graph", "/v1.0/applications")
	if st, b := rawCall(t, env, graphTok.Token, "GET", list, nil); st != 200 {
		t.Fatalf("graph with graph token: %d %s", st, b)
	}
	if st, b := rawCall(t, env, armTok.Token, "GET", list, nil); st != 401 || !strings.Contains(string(b), "audience") {
		t.Fatalf("graph with an ARM token: %d %s", st, b)
	}
	// Tamper with the payload: the signature no longer matches.
	parts := strings.Split(graphTok.Token, ".")
	payload := []byte(parts[1])
	payload[10] ^= 1
	tampered := parts[0] + "." + string(payload) + "." + parts[2]
	if st, _ := rawCall(t, env, tampered, "GET", list, nil); st != 401 {
		t.Fatalf("tampered token: %d", st)
	}
	if st, _ := rawCall(t, env, "", "GET", list, nil); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	// Expired.
	clk.Advance(2 * time.Hour)
	if st, b := rawCall(t, env, graphTok.Token, "GET", list, nil); st != 401 || !strings.Contains(string(b), "expired") {
		t.Fatalf("expired token: %d %s", st, b)
	}
}

func TestManagedIdentityCredential(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx := context.Background()
	mi, err := env.App.Identity.CreateManagedIdentity(ctx, env.Conn.TenantID, "/subscriptions/"+env.Conn.SubscriptionID+"/resourceGroups/rg/providers/Microsoft.Web/sites/app1", "app1")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := env.App.Identity.CreateIdentityEndpointSecret(ctx, env.Conn.TenantID, mi.ResourceID, mi.ObjectID, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("IDENTITY_ENDPOINT", env.URL("login", "/msi/token"))
	t.Setenv("IDENTITY_HEADER", secret)
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: env.HTTP}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := getToken(t, cred, "https://vault.azure.net/.default")
	if err != nil {
		t.Fatalf("managed identity token: %v", err)
	}
	claims, err := env.App.Identity.ValidateToken(tok.Token, "https://vault.azure.net")
	if err != nil {
		t.Fatal(err)
	}
	if claims.ObjectID != mi.ObjectID || claims.ResourceID != mi.ResourceID {
		t.Fatalf("token claims %+v, want the managed identity %s", claims, mi.ObjectID)
	}
	// The endpoint also answers on the loopback address (App Service's
	// IDENTITY_ENDPOINT is a localhost URL), and only that path does.
	_, port, _ := net.SplitHostPort(env.Config.Addr)
	for _, tc := range []struct {
		path string
		want int
	}{{"/msi/token?api-version=2019-08-01&resource=https://vault.azure.net", 200}, {"/subscriptions", 404}} {
		req, _ := http.NewRequest("GET", "https://127.0.0.1:"+port+tc.path, nil)
		req.Header.Set("X-IDENTITY-HEADER", secret)
		resp, err := env.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("https://127.0.0.1%s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
	// A wrong identity header is refused.
	req, _ := http.NewRequest("GET", env.URL("login", "/msi/token?api-version=2019-08-01&resource=https://vault.azure.net"), nil)
	req.Header.Set("X-IDENTITY-HEADER", "not-the-secret")
	resp, err := env.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong identity header: %d", resp.StatusCode)
	}
}

func TestRestartKeepsStateAndWrongRootKeyRefused(t *testing.T) {
	env := testenv.Start(t, nil)
	tok, err := getToken(t, env.Bootstrap(t), graphScope)
	if err != nil {
		t.Fatal(err)
	}
	clientID, secret, objectID := graphCreatePrincipal(t, env, tok.Token, "restart-app")
	before := env.Conn
	caBefore, _ := os.ReadFile(filepath.Join(env.DataDir, "ca.pem"))
	rootBefore, _ := os.ReadFile(filepath.Join(env.DataDir, "root.key"))

	if err := env.Restart(t, nil); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if env.Conn.TenantID != before.TenantID || env.Conn.SubscriptionID != before.SubscriptionID || env.Conn.ClientID != before.ClientID || env.Conn.ClientSecret != before.ClientSecret {
		t.Fatalf("connection changed across restart:\n%+v\n%+v", before, env.Conn)
	}
	caAfter, _ := os.ReadFile(filepath.Join(env.DataDir, "ca.pem"))
	rootAfter, _ := os.ReadFile(filepath.Join(env.DataDir, "root.key"))
	if !bytes.Equal(caBefore, caAfter) || !bytes.Equal(rootBefore, rootAfter) {
		t.Fatal("CA or root key changed across restart")
	}
	// The principal created before the restart still gets tokens, and old tokens still validate.
	tok2, err := getToken(t, env.Credential(t, clientID, secret), graphScope)
	if err != nil {
		t.Fatalf("principal after restart: %v", err)
	}
	c, err := env.App.Identity.ValidateToken(tok2.Token, "https://graph.microsoft.com")
	if err != nil || c.ObjectID != objectID {
		t.Fatalf("token after restart: %+v %v", c, err)
	}
	if _, err := env.App.Identity.ValidateToken(tok.Token, "https://graph.microsoft.com"); err != nil {
		t.Fatalf("a token issued before the restart: %v", err)
	}

	// A wrong root key refuses to start.
	other, _ := seal.NewRootKey()
	err = env.Restart(t, func(c *app.Config) { c.RootKey = other.Encode() })
	if err == nil || !strings.Contains(err.Error(), "wrong root key") {
		t.Fatalf("start with a wrong root key: %v", err)
	}
	// Without root.key and without a supplied key, keyward refuses rather than making a new one.
	os.Rename(filepath.Join(env.DataDir, "root.key"), filepath.Join(env.DataDir, "root.key.bak"))
	err = env.Restart(t, func(c *app.Config) { c.RootKey = "" })
	if err == nil || !strings.Contains(err.Error(), "never makes a new root key") {
		t.Fatalf("start without root key: %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(env.DataDir, "root.key")); statErr == nil {
		t.Fatal("a new root.key was written over existing data")
	}
	// The original key, given by file, works.
	err = env.Restart(t, func(c *app.Config) { c.RootKeyFile = filepath.Join(env.DataDir, "root.key.bak") })
	if err != nil {
		t.Fatalf("start with the original key file: %v", err)
	}
}

func TestDataDirHoldsNoSecretsOrPlaintext(t *testing.T) {
	env := testenv.Start(t, nil)
	tok, err := getToken(t, env.Bootstrap(t), graphScope)
	if err != nil {
		t.Fatal(err)
	}
	marker := "MARKER-display-name-5f0c2b"
	_, secret, _ := graphCreatePrincipal(t, env, tok.Token, marker)
	env.Stop(t) // flush everything to disk
	needles := map[string][]byte{
		"client secret": []byte(secret),
		"display name":  []byte(marker),
		"bootstrap secret (outside connection.json)": []byte(env.Conn.ClientSecret),
	}
	err = filepath.WalkDir(env.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for what, n := range needles {
			if what == "bootstrap secret (outside connection.json)" && filepath.Base(path) == "connection.json" {
				continue
			}
			if bytes.Contains(b, n) {
				t.Errorf("%s found in %s", what, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
