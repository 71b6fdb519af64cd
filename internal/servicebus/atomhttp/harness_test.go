package atomhttp_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"

	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/atomhttp"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
	"github.com/keyward/keyward/internal/store"
)

const (
	testNS     = "atomtest01"
	testSuffix = ".servicebus.test"
	rootKey    = "cm9vdC1rZXktZm9yLXRlc3RzLW9ubHktMzItYnl0ZXMhIQ=="
	listenKey  = "bGlzdGVuLWtleS1mb3ItdGVzdHMtb25seS0zMi1ieXRlcyE="
	nsID       = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/" + testNS
)

// keys is a KeySource whose namespaces can be revoked.
type keys struct {
	mu      sync.Mutex
	k       map[string]*seal.DataKey
	revoked map[string]bool
}

func (f *keys) DataKey(ctx context.Context, ns string) (*seal.DataKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.revoked[ns] {
		return nil, fmt.Errorf("test keys: %w", servicebus.ErrRevoked)
	}
	if f.k[ns] == nil {
		k, err := seal.NewDataKey()
		if err != nil {
			return nil, err
		}
		f.k[ns] = k
	}
	return f.k[ns], nil
}

// fakeNamespaces holds namespace records and verifies SAS tokens like
// namespaces.Service does (the test's own implementation).
type fakeNamespaces struct {
	mu         sync.Mutex
	ns         map[string]namespaces.Namespace
	replicated atomic.Int64
}

func (f *fakeNamespaces) Get(name string) (namespaces.Namespace, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.ns[strings.ToLower(name)]
	return n, ok
}

func (f *fakeNamespaces) Host(name string) string { return strings.ToLower(name) + testSuffix }

func (f *fakeNamespaces) ReplicateFrom(ctx context.Context, name string) error {
	f.replicated.Add(1)
	return nil
}

func (f *fakeNamespaces) VerifySAS(ctx context.Context, ns, token string) (namespaces.Grant, error) {
	n, ok := f.Get(ns)
	if !ok {
		return namespaces.Grant{}, errors.New("no namespace")
	}
	rest, ok := strings.CutPrefix(token, "SharedAccessSignature ")
	if !ok {
		return namespaces.Grant{}, namespaces.ErrSAS
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(rest, "&") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	se, err := strconv.ParseInt(fields["se"], 10, 64)
	if err != nil || time.Now().Unix() >= se {
		return namespaces.Grant{}, errors.New("the SAS token has expired")
	}
	sr, _ := url.QueryUnescape(fields["sr"])
	sig, _ := url.QueryUnescape(fields["sig"])
	sigBytes, _ := base64.StdEncoding.DecodeString(sig)
	res := strings.ToLower(sr)
	if _, after, ok := strings.Cut(res, "://"); ok {
		res = after
	}
	host, path, _ := strings.Cut(res, "/")
	host, _, _ = strings.Cut(host, ":")
	res = strings.TrimRight(host+"/"+path, "/")
	for _, r := range n.AuthRules {
		if r.Name != fields["skn"] {
			continue
		}
		m := hmac.New(sha256.New, []byte(r.PrimaryKey))
		m.Write([]byte(fields["sr"] + "\n" + fields["se"]))
		if subtle.ConstantTimeCompare(m.Sum(nil), sigBytes) == 1 {
			return namespaces.Grant{KeyName: r.Name, Rights: r.Rights, Resource: res, Expires: time.Unix(se, 0)}, nil
		}
	}
	return namespaces.Grant{}, namespaces.ErrSAS
}

// fakeAuthz grants data actions to principals at scopes (and below).
type fakeAuthz struct {
	mu     sync.Mutex
	grants map[string][]string // principal -> "scope|action-prefix"
}

func (f *fakeAuthz) grant(principal, scope, actionPrefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grants[principal] = append(f.grants[principal], strings.ToLower(scope)+"|"+actionPrefix)
}

func (f *fakeAuthz) AllowedData(principal, scope, action string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.grants[principal] {
		s, a, _ := strings.Cut(g, "|")
		sc := strings.ToLower(scope)
		if (sc == s || strings.HasPrefix(sc, s+"/")) && strings.HasPrefix(action, a) {
			return true
		}
	}
	return false
}

// validate accepts tokens "jwt.<objectID>.sig" for audience servicebus.
func validate(raw string, audiences ...string) (*identity.Claims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] != "jwt" || parts[2] != "sig" {
		return nil, fmt.Errorf("%w: malformed", identity.ErrInvalidToken)
	}
	return &identity.Claims{ObjectID: parts[1], ExpiresAt: time.Now().Add(time.Hour)}, nil
}

type harness struct {
	t      *testing.T
	ctx    context.Context
	keys   *keys
	broker *servicebus.Broker
	nsb    *servicebus.Namespace
	nss    *fakeNamespaces
	authz  *fakeAuthz
	srv    *httptest.Server
	client *http.Client
	base   string // https://atomtest01.servicebus.test
}

func newHarness(t *testing.T, tier servicebus.Tier) *harness {
	t.Helper()
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, ctx: context.Background(), keys: &keys{k: map[string]*seal.DataKey{}, revoked: map[string]bool{}}}
	h.broker, err = servicebus.New(servicebus.Options{Store: st, Keys: h.keys, RevalidateInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.broker.Close() })
	h.nsb, err = h.broker.OpenNamespace(h.ctx, testNS, servicebus.NamespaceOptions{Tier: tier})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	h.nss = &fakeNamespaces{ns: map[string]namespaces.Namespace{testNS: {
		ID: nsID, Name: testNS, SKU: namespaces.SKU{Name: string(tier), Tier: string(tier), Capacity: 1}, CreatedAt: now, UpdatedAt: now,
		AuthRules: []namespaces.AuthRule{
			{Name: "RootManageSharedAccessKey", Rights: []string{"Listen", "Send", "Manage"}, PrimaryKey: rootKey},
			{Name: "listen", Rights: []string{"Listen"}, PrimaryKey: listenKey},
			{Name: "send", Rights: []string{"Send"}, PrimaryKey: listenKey + "s"},
		},
	}}}
	h.authz = &fakeAuthz{grants: map[string][]string{}}
	handler := atomhttp.New(atomhttp.Options{
		Broker: h.broker, Namespaces: h.nss, ValidateToken: validate, Audiences: []string{"https://servicebus.azure.net"},
		Authz: h.authz, MaxReceiveWait: 5 * time.Second,
	})
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := strings.Cut(r.Host, ":")
		name, ok := strings.CutSuffix(strings.ToLower(host), testSuffix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		handler.Handler(name).ServeHTTP(w, r)
	}))
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	addr := h.srv.Listener.Addr().String()
	h.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test server with a self-signed certificate
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	h.base = "https://" + testNS + testSuffix
	return h
}

func (h *harness) clientOptions() *admin.ClientOptions {
	return &admin.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: h.client, Retry: policy.RetryOptions{MaxRetries: -1}}}
}

// adminSAS returns an admin client with the connection string of a rule.
func (h *harness) adminSAS(keyName, key string) *admin.Client {
	h.t.Helper()
	c, err := admin.NewClientFromConnectionString("Endpoint=sb://"+testNS+testSuffix+"/;SharedAccessKeyName="+keyName+";SharedAccessKey="+key, h.clientOptions())
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

type staticCred string

func (s staticCred) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// adminJWT returns an admin client authenticating as principal.
func (h *harness) adminJWT(principal string) *admin.Client {
	h.t.Helper()
	c, err := admin.NewClient(testNS+testSuffix, staticCred("jwt."+principal+".sig"), h.clientOptions())
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// sas signs a token for uri with a key.
func sas(uri, keyName, key string, ttl time.Duration) string {
	sr := strings.ToLower(url.QueryEscape(uri))
	se := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(sr + "\n" + se))
	sig := url.QueryEscape(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	return "SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=" + se + "&skn=" + keyName
}

func (h *harness) rootSAS() string {
	return sas(h.base, "RootManageSharedAccessKey", rootKey, time.Hour)
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with the given authorization and headers.
func (h *harness) do(method, path, auth string, hdr map[string]string, body string) resp {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (r resp) want(t *testing.T, status int, detail string) {
	t.Helper()
	if r.status != status || (detail != "" && !strings.Contains(string(r.body), detail)) {
		t.Fatalf("status %d (want %d), body %s (want %q)", r.status, status, r.body, detail)
	}
}

func ptr[T any](v T) *T { return &v }
