package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/testenv"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var fastPoll = &runtime.PollUntilDoneOptions{Frequency: 200 * time.Millisecond}

func mustStatus(t testing.TB, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want %d %s, got %v", status, code, err)
	}
	if re.StatusCode != status || (code != "" && re.ErrorCode != code) {
		t.Fatalf("want %d %s, got %d %s: %v", status, code, re.StatusCode, re.ErrorCode, err)
	}
}

func TestResourceGroupsAndResources(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx := ctxT(t)
	cred := env.Bootstrap(t)
	rgc, err := armresources.NewResourceGroupsClient(env.Conn.SubscriptionID, cred, env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := rgc.CreateOrUpdate(ctx, "rg1", armresources.ResourceGroup{Location: to.Ptr("West Europe"), Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
	if err != nil {
		t.Fatalf("create group: %v", err)
	}
	if *res.Location != "westeurope" || *res.Properties.ProvisioningState != "Succeeded" || *res.Name != "rg1" {
		t.Fatalf("group: %+v", res)
	}
	if _, err := rgc.CreateOrUpdate(ctx, "rg2", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = rgc.CreateOrUpdate(ctx, "rg3", armresources.ResourceGroup{Location: to.Ptr("moon")}, nil)
	mustStatus(t, err, 400, "LocationNotAvailableForResourceGroup")
	_, err = rgc.Get(ctx, "nope", nil)
	mustStatus(t, err, 404, "ResourceGroupNotFound")
	n := 0
	for pager := rgc.NewListPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 2 {
		t.Fatalf("listed %d groups", n)
	}

	// User-assigned identities, listed through the generic resources API.
	mc, err := armmsi.NewUserAssignedIdentitiesClient(env.Conn.SubscriptionID, cred, env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i, rg := range []string{"rg1", "rg1", "rg2"} {
		name := "id" + string(rune('a'+i))
		id, err := mc.CreateOrUpdate(ctx, rg, name, armmsi.Identity{Location: to.Ptr("westeurope")}, nil)
		if err != nil {
			t.Fatalf("create identity: %v", err)
		}
		if id.Properties.PrincipalID == nil || id.Properties.ClientID == nil || *id.Properties.TenantID != env.Conn.TenantID {
			t.Fatalf("identity: %+v", id.Properties)
		}
	}
	got, err := mc.Get(ctx, "rg1", "ida", nil)
	if err != nil || *got.Name != "ida" {
		t.Fatalf("get identity: %v", err)
	}
	rc, err := armresources.NewClient(env.Conn.SubscriptionID, cred, env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	count := func(pager *runtime.Pager[armresources.ClientListResponse]) int {
		c := 0
		for pager.More() {
			p, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c += len(p.Value)
		}
		return c
	}
	if c := count(rc.NewListPager(&armresources.ClientListOptions{Filter: to.Ptr("resourceType eq 'Microsoft.ManagedIdentity/userAssignedIdentities'")})); c != 3 {
		t.Fatalf("resources with filter: %d", c)
	}
	if c := count(rc.NewListPager(&armresources.ClientListOptions{Filter: to.Ptr("resourceType eq 'Microsoft.KeyVault/vaults'")})); c != 0 {
		t.Fatalf("resources of another type: %d", c)
	}

	// Deleting a group deletes what it holds.
	poller, err := rgc.BeginDelete(ctx, "rg1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.PollUntilDone(ctx, fastPoll); err != nil {
		t.Fatalf("delete group: %v", err)
	}
	if c := count(rc.NewListPager(nil)); c != 1 {
		t.Fatalf("resources after group delete: %d", c)
	}
	_, err = mc.Get(ctx, "rg1", "ida", nil)
	mustStatus(t, err, 404, "ResourceGroupNotFound")

	// Missing and unknown api-versions.
	req, _ := http.NewRequest("GET", env.Conn.ResourceManagerEndpoint+"subscriptions/"+env.Conn.SubscriptionID+"/resourcegroups", nil)
	tok, _ := getToken(t, cred, armScope)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := env.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("no api-version: %d", resp.StatusCode)
	}
	st, body := rawCall(t, env, tok.Token, "GET", env.Conn.ResourceManagerEndpoint+"subscriptions/"+env.Conn.SubscriptionID+"/resourceGroups/rg2/providers/Microsoft.ManagedIdentity/userAssignedIdentities/idc?api-version=1999-01-01", nil)
	if st != 400 || !strings.Contains(string(body), "NoRegisteredProviderFound") {
		t.Fatalf("bad api-version: %d %s", st, body)
	}
}

func TestRoleAssignmentsAndRBAC(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx := ctxT(t)
	admin := env.Bootstrap(t)
	sub := env.Conn.SubscriptionID
	gtok, err := getToken(t, admin, graphScope)
	if err != nil {
		t.Fatal(err)
	}
	clientID, secret, objectID := graphCreatePrincipal(t, env, gtok.Token, "rbac-user")
	user := env.Credential(t, clientID, secret)

	adminRG, _ := armresources.NewResourceGroupsClient(sub, admin, env.ARMOptions())
	userRG, _ := armresources.NewResourceGroupsClient(sub, user, env.ARMOptions())
	userMSI, _ := armmsi.NewUserAssignedIdentitiesClient(sub, user, env.ARMOptions())
	for _, rg := range []string{"rg-a", "rg-b"} {
		if _, err := adminRG.CreateOrUpdate(ctx, rg, armresources.ResourceGroup{Location: to.Ptr("westus")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// No role: cannot read.
	_, err = userRG.Get(ctx, "rg-a", nil)
	mustStatus(t, err, 403, "AuthorizationFailed")
	if !strings.Contains(err.Error(), "does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/read'") {
		t.Fatalf("message: %v", err)
	}

	ra, err := armauthorization.NewRoleAssignmentsClient(sub, admin, env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	rd, err := armauthorization.NewRoleDefinitionsClient(admin, env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	roleID := func(name string) string {
		pager := rd.NewListPager("/subscriptions/"+sub, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("roleName eq '" + name + "'")})
		page, err := pager.NextPage(ctx)
		if err != nil || len(page.Value) != 1 {
			t.Fatalf("role %s: %v %d", name, err, len(page.Value))
		}
		return *page.Value[0].ID
	}
	assign := func(scope, role string) string {
		name := uuid.NewString()
		_, err := ra.Create(ctx, scope, name, armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr(roleID(role)), PrincipalID: to.Ptr(objectID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
		}}, nil)
		if err != nil {
			t.Fatalf("assign %s at %s: %v", role, scope, err)
		}
		return name
	}
	// Reader at the subscription: reads everywhere, writes nowhere.
	readerName := assign("/subscriptions/"+sub, "Reader")
	if _, err := userRG.Get(ctx, "rg-a", nil); err != nil {
		t.Fatalf("reader get: %v", err)
	}
	_, err = userRG.CreateOrUpdate(ctx, "rg-c", armresources.ResourceGroup{Location: to.Ptr("westus")}, nil)
	mustStatus(t, err, 403, "AuthorizationFailed")
	_, err = userMSI.CreateOrUpdate(ctx, "rg-a", "idx1", armmsi.Identity{Location: to.Ptr("westus")}, nil)
	mustStatus(t, err, 403, "AuthorizationFailed")

	// Contributor on rg-a: writes in rg-a only.
	assign("/subscriptions/"+sub+"/resourceGroups/rg-a", "Contributor")
	if _, err := userMSI.CreateOrUpdate(ctx, "rg-a", "idx1", armmsi.Identity{Location: to.Ptr("westus")}, nil); err != nil {
		t.Fatalf("contributor on group: %v", err)
	}
	_, err = userMSI.CreateOrUpdate(ctx, "rg-b", "idx2", armmsi.Identity{Location: to.Ptr("westus")}, nil)
	mustStatus(t, err, 403, "AuthorizationFailed")
	// A contributor cannot assign roles.
	userRA, _ := armauthorization.NewRoleAssignmentsClient(sub, user, env.ARMOptions())
	_, err = userRA.Create(ctx, "/subscriptions/"+sub+"/resourceGroups/rg-a", uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(roleID("Owner")), PrincipalID: to.Ptr(objectID),
	}}, nil)
	mustStatus(t, err, 403, "AuthorizationFailed")

	// Contributor on one resource in rg-b: that resource only.
	adminMSI, _ := armmsi.NewUserAssignedIdentitiesClient(sub, admin, env.ARMOptions())
	idB, err := adminMSI.CreateOrUpdate(ctx, "rg-b", "shared", armmsi.Identity{Location: to.Ptr("westus")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	assign(*idB.ID, "Contributor")
	if _, err := userMSI.CreateOrUpdate(ctx, "rg-b", "shared", armmsi.Identity{Location: to.Ptr("westus"), Tags: map[string]*string{"k": to.Ptr("v")}}, nil); err != nil {
		t.Fatalf("contributor on resource: %v", err)
	}

	// Listing assignments, duplicate refused, principal must exist, deletion revokes.
	pager := ra.NewListForScopePager("/subscriptions/"+sub, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("principalId eq '" + objectID + "'")})
	page, err := pager.NextPage(ctx)
	if err != nil || len(page.Value) != 3 {
		t.Fatalf("list assignments: %v %d", err, len(page.Value))
	}
	_, err = ra.Create(ctx, "/subscriptions/"+sub, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(roleID("Reader")), PrincipalID: to.Ptr(objectID)}}, nil)
	mustStatus(t, err, 409, "RoleAssignmentExists")
	_, err = ra.Create(ctx, "/subscriptions/"+sub, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(roleID("Reader")), PrincipalID: to.Ptr(uuid.NewString())}}, nil)
	mustStatus(t, err, 400, "PrincipalNotFound")
	if _, err := ra.Delete(ctx, "/subscriptions/"+sub, readerName, nil); err != nil {
		t.Fatal(err)
	}
	_, err = userRG.Get(ctx, "rg-b", nil)
	mustStatus(t, err, 403, "AuthorizationFailed")
	if _, err := userRG.Get(ctx, "rg-a", nil); err != nil {
		t.Fatalf("contributor on rg-a still reads it: %v", err)
	}
}
