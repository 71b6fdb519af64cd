package logic

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/keybinding"
	"github.com/keyward/keyward/internal/managedidentity"
)

func armCode(err error) string {
	var e *arm.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestISEAccessWindowGranted(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	x, created, err := h.s.CreateOrUpdateISE(ctx, caller, iseSpec("ise1", true))
	if err != nil || !created {
		t.Fatal(err)
	}
	if x.ProvisioningState != StateInProgress || x.Identity.SystemPrincipalID == "" || !x.Deadline.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("accepted ISE: %+v", x)
	}
	// 29 minutes of polling without access: still waiting.
	for i := 0; i < 29; i++ {
		h.clock.Advance(time.Minute)
	}
	time.Sleep(10 * time.Millisecond)
	if got := h.state(x.ID); got != StateInProgress {
		t.Fatalf("state after 29m: %s", got)
	}
	if _, err := h.s.DataKeyForTest(x.ID); err != nil {
		t.Fatalf("the ISE's binding exists while it waits: %v", err)
	}
	// Access arrives: the vault event makes the ISE bind its key at once.
	h.vault.allow(x.Identity.SystemPrincipalID, true)
	eventually(t, "Succeeded", func() bool { return h.state(x.ID) == StateSucceeded })
	if err := h.s.WaitProvisioned(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := h.s.GetISE(x.ID)
	if got.Key.PinnedVersion != "v1" {
		t.Fatalf("pinned version %q", got.Key.PinnedVersion)
	}
	info, err := h.kb.Info(x.ID)
	if err != nil || !info.CustomerManaged || info.Status != keybinding.StatusActive {
		t.Fatalf("binding: %+v %v", info, err)
	}
	// The deadline passing later changes nothing.
	h.clock.Advance(time.Hour)
	time.Sleep(5 * time.Millisecond)
	if h.state(x.ID) != StateSucceeded {
		t.Fatal("a provisioned ISE changed state")
	}
}

func TestISEAccessWindowCloses(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	x, _, err := h.s.CreateOrUpdateISE(ctx, caller, iseSpec("ise1", true))
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(30 * time.Minute)
	eventually(t, "Failed", func() bool { return h.state(x.ID) == StateFailed })
	err = h.s.WaitProvisioned(ctx, x.ID)
	if armCode(err) != "KeyVaultPermissionsMissing" || !strings.Contains(err.Error(), x.Identity.SystemPrincipalID) {
		t.Fatalf("failure: %v", err)
	}
	// No data key: the ISE holds no data; it can host nothing.
	if _, err := h.kb.DataKey(x.ID); !errors.Is(err, keybinding.ErrNotFound) {
		t.Fatalf("data key of a failed ISE: %v", err)
	}
	_, _, err = h.s.CreateOrUpdateWorkflow(ctx, caller, WorkflowSpec{SubscriptionID: "sub1", ResourceGroup: "rg1", Name: "wf", TenantID: "tenant1",
		Location: "westeurope", Definition: json.RawMessage(`{"triggers":{},"actions":{}}`), ISEID: x.ID, ISEGiven: true})
	if armCode(err) != "IntegrationServiceEnvironmentFailed" {
		t.Fatalf("workflow in a failed ISE: %v", err)
	}
	_, _, err = h.s.CreateOrUpdateISE(ctx, caller, iseSpec("ise1", true))
	if armCode(err) != "IntegrationServiceEnvironmentFailed" {
		t.Fatalf("PUT on a failed ISE: %v", err)
	}
	if _, err := h.s.DeleteISE(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.s.GetISE(x.ID); ok {
		t.Fatal("deleted ISE remains")
	}
}

func TestISERules(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	internal := iseSpec("ise-int", true)
	internal.Network.AccessEndpoint = "Internal"
	noID := iseSpec("ise-noid", true)
	noID.Identity = nil
	userOnly := iseSpec("ise-uai", true)
	userOnly.Identity = &managedidentity.JSON{Type: "None"}
	badSubnets := iseSpec("ise-sub", false)
	badSubnets.Network.Subnets = badSubnets.Network.Subnets[:3]
	mixed := iseSpec("ise-mixed", false)
	mixed.Network.Subnets[3] = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/other/subnets/d"
	badSKU := iseSpec("ise-sku", false)
	badSKU.SKU = &SKU{Name: "Standard"}
	noVault := iseSpec("ise-nov", true)
	noVault.Key.VaultID = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/nope"
	tests := []struct {
		name string
		spec ISESpec
		code string
	}{
		{"internal endpoint", internal, "CustomerManagedKeyRequiresExternalEndpoint"},
		{"no identity", noID, "CustomerManagedKeyRequiresSystemAssignedIdentity"},
		{"no system identity", userOnly, "CustomerManagedKeyRequiresSystemAssignedIdentity"},
		{"three subnets", badSubnets, "InvalidSubnets"},
		{"two networks", mixed, "InvalidSubnets"},
		{"sku", badSKU, "InvalidSku"},
		{"unknown vault", noVault, "KeyVaultNotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := h.s.CreateOrUpdateISE(ctx, caller, tc.spec)
			if armCode(err) != tc.code {
				t.Fatalf("error %v, want %s", err, tc.code)
			}
		})
	}
	h.vault.mu.Lock()
	h.vault.purge = false
	h.vault.mu.Unlock()
	_, _, err := h.s.CreateOrUpdateISE(ctx, caller, iseSpec("ise-np", true))
	if armCode(err) != "KeyVaultSoftDeleteAndPurgeProtectionRequired" {
		t.Fatalf("vault without purge protection: %v", err)
	}
	h.vault.mu.Lock()
	h.vault.purge = true
	h.vault.mu.Unlock()

	// After creation: the key cannot change, go away or arrive.
	x, _, err := h.s.CreateOrUpdateISE(ctx, caller, iseSpec("ise1", true))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.s.CreateOrUpdateISE(ctx, caller, iseSpec("ise1", true)); armCode(err) != "AnotherOperationInProgress" {
		t.Fatalf("PUT while provisioning: %v", err)
	}
	h.vault.allow(x.Identity.SystemPrincipalID, true)
	eventually(t, "Succeeded", func() bool { return h.state(x.ID) == StateSucceeded })
	change := iseSpec("ise1", true)
	change.Key.KeyVersion = "v2"
	rename := iseSpec("ise1", true)
	rename.Key.KeyName = "k2"
	remove := iseSpec("ise1", false)
	removeExplicit := iseSpec("ise1", false)
	removeExplicit.KeyGiven = true
	removeExplicit.Patch = true
	dropID := iseSpec("ise1", true)
	dropID.Identity = &managedidentity.JSON{Type: "None"}
	plain := iseSpec("ise-plain", false)
	plain.Identity = nil
	p, _, err := h.s.CreateOrUpdateISE(ctx, caller, plain)
	if err != nil || p.ProvisioningState != StateSucceeded {
		t.Fatalf("ISE without a key: %v", err)
	}
	addKey := iseSpec("ise-plain", true)
	for _, tc := range []struct {
		name string
		spec ISESpec
		code string
	}{
		{"new version", change, "EncryptionKeyCannotBeChanged"},
		{"other key", rename, "EncryptionKeyCannotBeChanged"},
		{"PUT without key", remove, "EncryptionKeyCannotBeRemoved"},
		{"PATCH null key", removeExplicit, "EncryptionKeyCannotBeRemoved"},
		{"identity removed", dropID, "CustomerManagedKeyRequiresSystemAssignedIdentity"},
		{"key after creation", addKey, "EncryptionKeyCanOnlyBeSetAtCreation"},
	} {
		_, _, err := h.s.CreateOrUpdateISE(ctx, caller, tc.spec)
		if armCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	// The same key (version as given, or the pinned one) and a tag change are fine.
	same := iseSpec("ise1", true)
	same.Key.KeyVersion = "v1"
	same.Tags = map[string]string{"a": "b"}
	got, created, err := h.s.CreateOrUpdateISE(ctx, caller, same)
	if err != nil || created || got.Tags["a"] != "b" {
		t.Fatalf("idempotent PUT: %v", err)
	}
	patch := ISESpec{SubscriptionID: "sub1", ResourceGroup: "rg1", Name: "ise1", Patch: true, SKU: &SKU{Name: "Premium"}}
	if _, _, err := h.s.CreateOrUpdateISE(ctx, caller, patch); armCode(err) != "SkuCannotBeChanged" {
		t.Fatalf("SKU change: %v", err)
	}
}

// requestWorkflow is a workflow with a Request trigger that answers with
// the request body.
const requestWorkflow = `{
  "parameters": {"conn": {"type": "SecureString"}},
  "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {"method": "POST"}}},
  "actions": {
    "Send": {"type": "ServiceBus", "inputs": {"connectionString": "@parameters('conn')", "entityName": "q1", "message": {"contentData": "@triggerBody()"}}},
    "Response": {"type": "Response", "runAfter": {"Send": ["Succeeded"]}, "inputs": {"statusCode": 201, "body": "@triggerBody()"}}
  }
}`

func (h *harness) workflow(t *testing.T, name, iseID, def string, params map[string]any) Workflow {
	t.Helper()
	ps := map[string]json.RawMessage{}
	for k, v := range params {
		b, _ := json.Marshal(map[string]any{"value": v})
		ps[k] = b
	}
	w, _, err := h.s.CreateOrUpdateWorkflow(context.Background(), caller, WorkflowSpec{SubscriptionID: "sub1", ResourceGroup: "rg1", Name: name,
		TenantID: "tenant1", Location: "westeurope", Definition: json.RawMessage(def), Parameters: ps, ISEID: iseID, ISEGiven: iseID != ""})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// call invokes a callback URL as logichttp would.
func (h *harness) call(t *testing.T, rawURL, method, body string) CallbackResponse {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	rest := strings.TrimPrefix(u.Path, "/workflows/")
	access, path, _ := strings.Cut(rest, "/")
	return h.s.HandleCallback(context.Background(), CallbackRequest{Method: method, AccessID: access, Path: "/" + path, Query: u.Query(),
		Headers: map[string]string{"Content-Type": "application/json"}, Body: []byte(body)})
}

func TestISEWorkflowRevokeAndRestore(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	x, _, err := h.s.CreateOrUpdateISE(ctx, caller, iseSpec("ise1", true))
	if err != nil {
		t.Fatal(err)
	}
	h.vault.allow(x.Identity.SystemPrincipalID, true)
	eventually(t, "Succeeded", func() bool { return h.state(x.ID) == StateSucceeded })
	w := h.workflow(t, "wf1", x.ID, requestWorkflow, map[string]any{"conn": "Endpoint=sb://ns1.servicebus.test/;SharedAccessKeyName=root;SharedAccessKey=secret"})
	cb, err := h.s.TriggerCallbackURL(ctx, w.ID, "manual", "Primary", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	resp := h.call(t, cb.Value, "POST", `{"n":1}`)
	if resp.Status != 201 || string(resp.Body) != `{"n":1}` || resp.Headers["x-ms-workflow-run-id"] == "" {
		t.Fatalf("trigger: %d %s", resp.Status, resp.Body)
	}
	if len(h.sb.sent) != 1 || string(h.sb.sent[0].Body) != `{"n":1}` || h.sb.to[0] != "ns1.servicebus.test/q1" {
		t.Fatalf("sent: %+v", h.sb.sent)
	}
	if r := h.call(t, cb.Value, "GET", ""); r.Status != 405 {
		t.Fatalf("GET on a POST trigger: %d", r.Status)
	}
	eventually(t, "run stored", func() bool {
		runs, err := h.s.ListRuns(ctx, w.ID)
		return err == nil && len(runs) == 1 && runs[0].Status == StatusSucceeded
	})

	// Revoked: key disabled.
	h.vault.mu.Lock()
	h.vault.disabled = true
	h.vault.mu.Unlock()
	h.vault.event()
	eventually(t, "Revoked", func() bool { cur, _ := h.s.GetISE(x.ID); return h.s.Status(cur) == "Revoked" })
	if r := h.call(t, cb.Value, "POST", `{}`); r.Status != 409 || !strings.Contains(string(r.Body), "IntegrationServiceEnvironmentRevoked") {
		t.Fatalf("trigger while revoked: %d %s", r.Status, r.Body)
	}
	if _, err := h.s.ListRuns(ctx, w.ID); armCode(err) != "IntegrationServiceEnvironmentRevoked" {
		t.Fatalf("runs while revoked: %v", err)
	}
	if got, _ := h.s.GetWorkflow(ctx, w.ID); !got.Revoked || got.Definition != nil {
		t.Fatal("the definition is readable while revoked")
	}
	if _, _, err := h.s.StartRun(ctx, w.ID, Invocation{Trigger: "manual"}); armCode(err) != "IntegrationServiceEnvironmentRevoked" {
		t.Fatalf("run while revoked: %v", err)
	}

	// Restored: history intact.
	h.vault.mu.Lock()
	h.vault.disabled = false
	h.vault.mu.Unlock()
	h.vault.event()
	eventually(t, "Active", func() bool { cur, _ := h.s.GetISE(x.ID); return h.s.Status(cur) == "Active" })
	if r := h.call(t, cb.Value, "POST", `{"n":2}`); r.Status != 201 {
		t.Fatalf("trigger after restore: %d %s", r.Status, r.Body)
	}
	eventually(t, "two runs", func() bool {
		runs, err := h.s.ListRuns(ctx, w.ID)
		return err == nil && len(runs) == 2 && runs[0].Status == StatusSucceeded
	})
	runs, _ := h.s.ListRuns(ctx, w.ID)
	if b, _ := json.Marshal(runs[1].Trigger.Outputs); !strings.Contains(string(b), `"n":1`) {
		t.Fatalf("first run after restore: %s", b)
	}
	// A regenerated key invalidates old callback URLs.
	if err := h.s.RegenerateAccessKey(ctx, w.ID, "Primary"); err != nil {
		t.Fatal(err)
	}
	if r := h.call(t, cb.Value, "POST", `{}`); r.Status != 401 {
		t.Fatalf("old callback URL after regeneration: %d", r.Status)
	}
	// Deleting the ISE deletes its workflows and its data key.
	deleted, err := h.s.DeleteISE(ctx, x.ID)
	if err != nil || len(deleted) != 1 {
		t.Fatalf("delete ISE: %v %v", deleted, err)
	}
	if _, ok := h.s.GetWorkflow(ctx, w.ID); ok {
		t.Fatal("the workflow outlived its ISE")
	}
}

func TestCallbackSignatures(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	w := h.workflow(t, "wf1", "", requestWorkflow, map[string]any{"conn": "Endpoint=sb://ns1.servicebus.test/;SharedAccessKeyName=root;SharedAccessKey=secret"})
	cb, err := h.s.TriggerCallbackURL(ctx, w.ID, "manual", "Secondary", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(url.Values)
		status int
	}{
		{"valid", func(url.Values) {}, 201},
		{"no sig", func(q url.Values) { q.Del("sig") }, 401},
		{"other sp", func(q url.Values) { q.Set("sp", "/triggers/other/run") }, 401},
		{"later expiry", func(q url.Values) { q.Set("se", t0.Add(2*time.Hour).Format(time.RFC3339)) }, 401},
		{"tampered", func(q url.Values) {
			sig := q.Get("sig")
			first := "A"
			if strings.HasPrefix(sig, "A") {
				first = "B"
			}
			q.Set("sig", first+sig[1:])
		}, 401},
	}
	for _, tc := range tests {
		u, _ := url.Parse(cb.Value)
		q := u.Query()
		tc.mutate(q)
		u.RawQuery = q.Encode()
		if r := h.call(t, u.String(), "POST", `{}`); r.Status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.Status, r.Body, tc.status)
		}
	}
	h.clock.Advance(2 * time.Hour)
	if r := h.call(t, cb.Value, "POST", `{}`); r.Status != 401 || !strings.Contains(string(r.Body), "Expired") {
		t.Fatalf("expired URL: %d %s", r.Status, r.Body)
	}
	if r := h.call(t, "https://management.test/workflows/nope/triggers/manual/paths/invoke", "POST", ""); r.Status != 404 {
		t.Fatalf("unknown workflow: %d", r.Status)
	}
	if err := h.s.SetWorkflowState(ctx, w.ID, WorkflowDisabled); err != nil {
		t.Fatal(err)
	}
	cb, _ = h.s.TriggerCallbackURL(ctx, w.ID, "manual", "Primary", time.Time{})
	if r := h.call(t, cb.Value, "POST", `{}`); r.Status != 409 {
		t.Fatalf("disabled workflow: %d", r.Status)
	}
}

// DataKeyForTest exposes the data key lookup to tests.
func (s *Service) DataKeyForTest(id string) (any, error) { return s.kb.DataKey(id) }

func TestProvisioningResumesAfterRestart(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	x, _, err := h.s.CreateOrUpdateISE(ctx, caller, iseSpec("ise1", true))
	if err != nil {
		t.Fatal(err)
	}
	w := h.workflow(t, "wf-plain", "", requestWorkflow, map[string]any{"conn": "Endpoint=sb://ns1.servicebus.test/;SharedAccessKeyName=root;SharedAccessKey=secret"})
	// A run that a stop interrupts is marked failed at the next start.
	h.s.mu.Lock()
	hd := *h.s.wfByID[strings.ToLower(w.ID)]
	h.s.mu.Unlock()
	if err := h.s.saveRun(ctx, hd, &Run{Name: h.s.newVersion(), WorkflowID: w.ID, Status: StatusRunning, StartTime: t0}, false); err != nil {
		t.Fatal(err)
	}
	h.s.Close()
	h.clock.Advance(10 * time.Minute)
	h.start(t)
	if got := h.state(x.ID); got != StateInProgress {
		t.Fatalf("after restart: %s", got)
	}
	runs, err := h.s.ListRuns(ctx, w.ID)
	if err != nil || len(runs) != 1 || runs[0].Status != StatusFailed || runs[0].Error.Code != "ServiceStopped" {
		t.Fatalf("interrupted run: %v %+v", err, runs)
	}
	// The window keeps its deadline across the restart.
	h.clock.Advance(19 * time.Minute)
	time.Sleep(5 * time.Millisecond)
	if got := h.state(x.ID); got != StateInProgress {
		t.Fatalf("29 minutes after creation: %s", got)
	}
	h.vault.allow(x.Identity.SystemPrincipalID, true)
	eventually(t, "Succeeded", func() bool { return h.state(x.ID) == StateSucceeded })
}

func TestISEKeyMustBeEnabledRSA2048(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(v *fakeVault)
		code string
	}{
		{"disabled", func(v *fakeVault) { v.disabled = true }, "KeyDisabled"},
		{"small", func(v *fakeVault) { v.size = 1024 }, "InvalidEncryptionKey"},
		{"EC", func(v *fakeVault) { v.kty = "EC" }, "InvalidEncryptionKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.vault.mu.Lock()
			tc.set(h.vault)
			h.vault.mu.Unlock()
			x, _, err := h.s.CreateOrUpdateISE(context.Background(), caller, iseSpec("ise1", true))
			if err != nil {
				t.Fatal(err)
			}
			h.vault.allow(x.Identity.SystemPrincipalID, true)
			eventually(t, "Failed", func() bool { return h.state(x.ID) == StateFailed })
			if err := h.s.WaitProvisioned(context.Background(), x.ID); armCode(err) != tc.code {
				t.Fatalf("error %v, want %s", err, tc.code)
			}
		})
	}
}
