package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/keyward/keyward/internal/testenv"
)

// FuzzHTTP sends arbitrary requests, with an owner's tokens, to every host
// keyward serves (resource manager, directory, login, a vault, a Service Bus
// namespace): whatever the input, the answer is never a 500 (a panicking
// handler answers 500 InternalServerError) and the server keeps serving.
func FuzzHTTP(f *testing.F) {
	env := testenv.Start(f, nil)
	sf := newSBFixture(f, env)
	if _, err := sf.putNamespace(f, "fuzz-ns-01", premium(false)); err != nil {
		f.Fatal(err)
	}
	sub := env.Conn.SubscriptionID
	token := func(scope string) string {
		tok, err := sf.admin.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}})
		if err != nil {
			f.Fatal(err)
		}
		return tok.Token
	}
	type host struct{ label, token string }
	hosts := []host{
		{"management", token(armScope)},
		{"graph", token(graphScope)},
		{"login", ""},
		{"sb-keys.vault", token("https://vault.azure.net/.default")},
		{"fuzz-ns-01.servicebus", token("https://servicebus.azure.net/.default")},
	}
	methods := []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodHead}
	for _, s := range []struct {
		m, h uint8
		path string
		body string
	}{
		{1, 0, "/subscriptions/" + sub + "/resourceGroups/fz?api-version=2021-04-01", `{"location":"westus"}`},
		{1, 0, "/subscriptions/" + sub + "/resourceGroups/kv-rg/providers/Microsoft.ServiceBus/namespaces/fuzz-ns-01/queues/q1?api-version=2021-11-01", `{"properties":{}}`},
		{1, 0, "/subscriptions/" + sub + "/resourceGroups/kv-rg/providers/Microsoft.Resources/deployments/d1?api-version=2021-04-01",
			`{"properties":{"mode":"Incremental","template":{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[],"outputs":{"o":{"type":"string","value":"[reference('/providers/x/y/z').a]"}}}}}`},
		{2, 3, "/keys/k1/create?api-version=7.5", `{"kty":"RSA","key_size":2048}`},
		{2, 3, "/keys/k1/wrapkey?api-version=7.5", `{"alg":"RSA-OAEP","value":"AAAA"}`},
		{1, 4, "/q2", `<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><QueueDescription/></content></entry>`},
		{2, 4, "/q2/messages", `hello`},
		{2, 2, "/" + env.Conn.TenantID + "/oauth2/v2.0/token", `grant_type=client_credentials`},
		{0, 1, "/v1.0/servicePrincipals?$filter=appId eq 'x'", ``},
	} {
		f.Add(s.m, s.h, s.path, s.body)
	}
	f.Fuzz(func(t *testing.T, m, h uint8, path, body string) {
		hs := hosts[int(h)%len(hosts)]
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(methods[int(m)%len(methods)], env.URL(hs.label, path), strings.NewReader(body))
		if err != nil {
			return // not a URL a client could send
		}
		if hs.token != "" {
			req.Header.Set("Authorization", "Bearer "+hs.token)
		}
		switch {
		case strings.HasPrefix(body, "<"):
			req.Header.Set("Content-Type", "application/atom+xml;type=entry;charset=utf-8")
		case strings.HasPrefix(body, "{"):
			req.Header.Set("Content-Type", "application/json")
		default:
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := env.HTTP.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: %d %s", req.Method, req.URL, body, resp.StatusCode, b)
		}
	})
}
