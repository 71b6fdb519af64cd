package template

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDeployer is an in-memory resource group that records every request.
type fakeDeployer struct {
	mu        sync.Mutex
	puts      []ResourceRequest
	gets      []string
	deletes   []string
	resources map[string]map[string]any // lower-case id
	order     []string                  // ids in creation order
	fail      map[string]error          // lower-case id -> error to return from PutResource
}

func newFake() *fakeDeployer {
	return &fakeDeployer{resources: map[string]map[string]any{}, fail: map[string]error{}}
}

func (f *fakeDeployer) PutResource(_ context.Context, r ResourceRequest) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, r)
	if err := f.fail[strings.ToLower(r.ID)]; err != nil {
		return nil, err
	}
	obj := deepCopy(r.Body).(map[string]any)
	obj["id"], obj["name"], obj["type"] = r.ID, r.Name, r.Type
	props, _ := obj["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	props["provisioningState"] = "Succeeded"
	props["endpoint"] = "https://" + r.Name + ".example/"
	obj["properties"] = props
	// Round-trip through JSON like a real resource manager would.
	data, _ := json.Marshal(obj)
	var back map[string]any
	_ = json.Unmarshal(data, &back)
	key := strings.ToLower(r.ID)
	if _, ok := f.resources[key]; !ok {
		f.order = append(f.order, r.ID)
	}
	f.resources[key] = back
	return back, nil
}

func (f *fakeDeployer) GetResource(_ context.Context, id, _ string) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, id)
	r, ok := f.resources[strings.ToLower(id)]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", id, ErrResourceNotFound)
	}
	return r, nil
}

func (f *fakeDeployer) ListResourceIDs(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, id := range f.order {
		if _, ok := f.resources[strings.ToLower(id)]; ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (f *fakeDeployer) DeleteResource(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, id)
	delete(f.resources, strings.ToLower(id))
	return nil
}

// seed adds an existing resource.
func (f *fakeDeployer) seed(id string, obj map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj["id"] = id
	f.resources[strings.ToLower(id)] = obj
	f.order = append(f.order, id)
}

// actionFake also implements ActionInvoker.
type actionFake struct {
	*fakeDeployer
	calls []string
}

func (a *actionFake) InvokeAction(_ context.Context, id, action, apiVersion string, body any) (any, error) {
	a.calls = append(a.calls, fmt.Sprintf("%s %s %s %v", id, action, apiVersion, body))
	return map[string]any{"primaryKey": "pk-" + action, "keys": []any{map[string]any{"value": "k1"}}}, nil
}

// codedErr is a Deployer error carrying an ARM code.
type codedErr struct{ code, msg string }

func (c codedErr) Error() string     { return c.code + ": " + c.msg }
func (c codedErr) ErrorCode() string { return c.code }
func (c codedErr) ErrorMessage() string {
	return c.msg
}

func testScope() Scope {
	fixed := time.Date(2024, 3, 5, 17, 53, 18, 123456700, time.UTC)
	return Scope{
		TenantID:              "tenant-1",
		SubscriptionID:        "sub-1",
		SubscriptionName:      "keyward subscription",
		ResourceGroup:         "rg1",
		ResourceGroupLocation: "westeurope",
		ResourceGroupTags:     map[string]string{"env": "test"},
		DeploymentName:        "dep1",
		Environment: Environment{
			Name: "keyward", ResourceManager: "https://management.keyward.localhost:8443/",
			LoginEndpoint: "https://login.keyward.localhost:8443/", Audiences: []string{"https://management.keyward.localhost"},
			Suffixes: map[string]string{"keyvaultDns": ".vault.keyward.localhost", "serviceBus": ".servicebus.keyward.localhost"},
		},
		Now:     func() time.Time { return fixed },
		NewGUID: func() string { return "00000000-0000-4000-8000-000000000001" },
	}
}

func mustParse(t testing.TB, src string) *Template {
	t.Helper()
	tm, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tm
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func asError(t testing.TB, err error) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	te, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %T %v is not *Error", err, err)
	}
	return te
}

func putNames(f *fakeDeployer) []string {
	out := make([]string, len(f.puts))
	for i, p := range f.puts {
		out[i] = p.Name
	}
	return out
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
