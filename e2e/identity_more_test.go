package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/keyward/keyward/internal/testenv"
)

func TestSigningKeyRotation(t *testing.T) {
	env := testenv.Start(t, nil)
	cred := env.Bootstrap(t)
	old, err := getToken(t, cred, armScope)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.App.Identity.RotateSigningKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := env.App.Identity.ValidateToken(old.Token, "https://management.core.windows.net/"); err != nil {
		t.Fatalf("a token signed before the rotation: %v", err)
	}
	fresh, err := getToken(t, env.Credential(t, env.Conn.ClientID, env.Conn.ClientSecret), armScope)
	if err != nil {
		t.Fatal(err)
	}
	kid := func(tok string) string {
		h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		return string(h)
	}
	if kid(old.Token) == kid(fresh.Token) {
		t.Fatal("the new token is signed with the old key")
	}
	if _, err := env.App.Identity.ValidateToken(fresh.Token, "https://management.core.windows.net/"); err != nil {
		t.Fatal(err)
	}
	// JWKS publishes both keys.
	st, body := rawCall(t, env, "", "GET", env.URL("login", "/"+env.Conn.TenantID+"/discovery/v2.0/keys"), nil)
	if st != 200 || strings.Count(string(body), `"kid"`) != 2 {
		t.Fatalf("jwks: %d %s", st, body)
	}
}

func TestClientCertificateCredential(t *testing.T) {
	env := testenv.Start(t, nil)
	tok, err := getToken(t, env.Bootstrap(t), graphScope)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "cert-app"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	var app struct{ ID, AppID string }
	graphCall(t, env, tok.Token, "POST", "/v1.0/applications", map[string]any{"displayName": "cert-app", "keyCredentials": []any{map[string]any{
		"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.StdEncoding.EncodeToString(der), "displayName": "ci cert",
	}}}, 201, &app)
	var sp struct{ ID string }
	graphCall(t, env, tok.Token, "POST", "/v1.0/servicePrincipals", map[string]any{"appId": app.AppID}, 201, &sp)

	opts := &azidentity.ClientCertificateCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: env.HTTP, Cloud: env.Cloud()}, DisableInstanceDiscovery: true}
	cc, err := azidentity.NewClientCertificateCredential(env.Conn.TenantID, app.AppID, []*x509.Certificate{cert}, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	at, err := getToken(t, cc, armScope)
	if err != nil {
		t.Fatalf("certificate credential: %v", err)
	}
	c, err := env.App.Identity.ValidateToken(at.Token, "https://management.core.windows.net/")
	if err != nil || c.ObjectID != sp.ID {
		t.Fatalf("claims %+v %v", c, err)
	}
	// A certificate that is not registered on the application is refused.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &other.PublicKey, other)
	otherCert, _ := x509.ParseCertificate(otherDER)
	bad, err := azidentity.NewClientCertificateCredential(env.Conn.TenantID, app.AppID, []*x509.Certificate{otherCert}, other, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := getToken(t, bad, armScope); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("forged assertion: %v", err)
	}
}

// TestADFSAuthority: the login host also serves the bootstrap tenant as an
// AD FS authority (/adfs), the shape the Azure CLI accepts without instance
// discovery; azidentity with tenant "adfs" (MSAL's AD FS path) gets tokens
// there, valid for keyward's APIs.
func TestADFSAuthority(t *testing.T) {
	env := testenv.Start(t, nil)
	st, body := rawCall(t, env, "", "GET", env.URL("login", "/adfs/.well-known/openid-configuration"), nil)
	if st != 200 || !strings.Contains(string(body), `/adfs/oauth2/token"`) {
		t.Fatalf("adfs discovery: %d %s", st, body)
	}
	cred, err := azidentity.NewClientSecretCredential("adfs", env.Conn.ClientID, env.Conn.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: env.HTTP, Cloud: env.Cloud()}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := getToken(t, cred, armScope)
	if err != nil {
		t.Fatalf("token from the adfs authority: %v", err)
	}
	claims, err := env.App.Identity.ValidateToken(tok.Token, "https://management.core.windows.net/")
	if err != nil || claims.TenantID != env.Conn.TenantID || claims.ObjectID != env.Conn.ObjectID {
		t.Fatalf("adfs token: %+v %v", claims, err)
	}
	// A wrong secret is refused there too.
	bad, _ := azidentity.NewClientSecretCredential("adfs", env.Conn.ClientID, "wrong",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: env.HTTP, Cloud: env.Cloud()}, DisableInstanceDiscovery: true})
	if _, err := getToken(t, bad, armScope); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret at the adfs authority: %v", err)
	}
}

// TestGraphServicePrincipalNamesFilter: Microsoft Graph's lambda filter on
// servicePrincipalNames, which the Azure CLI uses to find the signed-in
// service principal.
func TestGraphServicePrincipalNamesFilter(t *testing.T) {
	env := testenv.Start(t, nil)
	tok, err := getToken(t, env.Bootstrap(t), graphScope)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Value []struct{ ID, AppID string }
	}
	graphCall(t, env, tok.Token, "GET", "/v1.0/servicePrincipals?$filter="+url.QueryEscape("servicePrincipalNames/any(c:c eq '"+env.Conn.ClientID+"')"), nil, 200, &list)
	if len(list.Value) != 1 || list.Value[0].ID != env.Conn.ObjectID {
		t.Fatalf("by servicePrincipalNames: %+v", list.Value)
	}
	graphCall(t, env, tok.Token, "GET", "/v1.0/servicePrincipals?$filter="+url.QueryEscape("servicePrincipalNames/any(c:c eq 'no-such-name')"), nil, 200, &list)
	if len(list.Value) != 0 {
		t.Fatalf("no match: %+v", list.Value)
	}
	// /me is for delegated tokens; keyward's are application tokens (the
	// Azure CLI asks, then falls back to the filter above).
	st, body := rawCall(t, env, tok.Token, "GET", env.URL("graph", "/v1.0/me"), nil)
	if st != 400 || !strings.Contains(string(body), "delegated authentication flow") {
		t.Fatalf("/me: %d %s", st, body)
	}
	for _, f := range []string{"servicePrincipalNames/any(c:d eq 'x')", "tags/any(c:c eq 'x')"} {
		st, body := rawCall(t, env, tok.Token, "GET", env.URL("graph", "/v1.0/servicePrincipals?$filter="+url.QueryEscape(f)), nil)
		if st != 400 || !strings.Contains(string(body), "Request_UnsupportedQuery") {
			t.Fatalf("%s: %d %s", f, st, body)
		}
	}
}
