package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/client"
)

// API versions of the key vault commands.
const (
	keyVaultARMAPI  = "2024-11-01" // Microsoft.KeyVault (management plane)
	keyVaultDataAPI = "7.6"        // the keys API (data plane)
)

// ---------------------------------------------------------------------------
// az-style arguments, shared by the keyvault, audit and servicebus commands.

// azCmd makes cmd parse its flags the way az does: a boolean flag may be
// followed by a separate true/false ("--enable-purge-protection true"), and
// a list flag takes every following value up to the next flag
// ("--key-permissions get wrapKey unwrapKey list"). pflag alone does
// neither, so cmd parses its own arguments after rewriting them.
func azCmd(cmd *cobra.Command) *cobra.Command {
	run := cmd.RunE
	cmd.DisableFlagParsing = true
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if err := c.Flags().Parse(azArgs(c, args)); err != nil {
			return c.FlagErrorFunc()(c, err)
		}
		if help, _ := c.Flags().GetBool("help"); help {
			return c.Help()
		}
		if rest := c.Flags().Args(); len(rest) > 0 {
			return fmt.Errorf("unexpected argument %q (see %s --help)", rest[0], c.CommandPath())
		}
		// cobra skips this check for commands that parse their own flags.
		c.DisableFlagParsing = false
		err := c.ValidateRequiredFlags()
		c.DisableFlagParsing = true
		if err != nil {
			return err
		}
		return run(c, nil)
	}
	return cmd
}

// azArgs rewrites az-style arguments into pflag's: "--flag true" for a
// boolean flag becomes "--flag=true", and "--flag a b" for a list flag
// becomes "--flag=a --flag=b".
func azArgs(cmd *cobra.Command, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		var name, typ string
		switch {
		case strings.HasPrefix(a, "--") && !strings.Contains(a, "="):
			if f := cmd.Flags().Lookup(a[2:]); f != nil {
				name, typ = f.Name, f.Value.Type()
			}
		case len(a) == 2 && a[0] == '-' && a[1] != '-':
			if f := cmd.Flags().ShorthandLookup(a[1:]); f != nil {
				name, typ = f.Name, f.Value.Type()
			}
		}
		switch typ {
		case "bool":
			if i+1 < len(args) && isBoolWord(args[i+1]) {
				out = append(out, "--"+name+"="+strings.ToLower(args[i+1]))
				i++
				continue
			}
		case "stringSlice", "stringArray":
			j := i + 1
			for j < len(args) && !strings.HasPrefix(args[j], "-") {
				out = append(out, "--"+name+"="+args[j])
				j++
			}
			if j > i+1 {
				i = j - 1
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

func isBoolWord(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false":
		return true
	}
	return false
}

// azCommand returns an az-style command that talks to a running keyward:
// it gets the connection flags, and run gets a client and a context that
// ends after waitCtx's timeout.
func azCommand(use, short string, run func(ctx context.Context, c *client.Client, cmd *cobra.Command) error) *cobra.Command {
	var cf connFlags
	cmd := &cobra.Command{
		Use: use, Short: short,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			return run(ctx, c, cmd)
		},
	}
	cf.register(cmd)
	return azCmd(cmd)
}

// required marks flags as required.
func required(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		if err := cmd.MarkFlagRequired(n); err != nil {
			panic("keyward: no flag " + n) // a programming error, found by every test run
		}
	}
}

// boolIf returns &v when the flag was given, else nil.
func boolIf(cmd *cobra.Command, name string, v bool) *bool {
	if cmd.Flags().Changed(name) {
		return &v
	}
	return nil
}

// parseTime reads an az date-time flag: ISO 8601 / RFC 3339 with or
// without a zone (UTC when absent), or a date.
func parseTime(flag, s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %q: use an ISO 8601 date-time such as 2030-01-31T00:00:00Z", flag, s)
}

// readJSONArg reads a JSON value given inline or as @file (or a file path).
func readJSONArg(flag, v string) (any, error) {
	b := []byte(v)
	if p, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if b, err = os.ReadFile(p); err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
	} else if t := strings.TrimSpace(v); !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") {
		if fb, err := os.ReadFile(v); err == nil {
			b = fb
		}
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("--%s: not valid JSON: %w", flag, err)
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Management plane: Microsoft.KeyVault/vaults.

func vaultsPath(c *client.Client, rg string) string {
	if rg == "" {
		return subPath(c, "/providers/Microsoft.KeyVault/vaults")
	}
	return subPath(c, "/resourceGroups/"+url.PathEscape(rg)+"/providers/Microsoft.KeyVault/vaults")
}

// armObject is a resource as the resource manager returns it.
type armObject = map[string]any

// listAll GETs a resource manager collection, following nextLink.
func listAll(ctx context.Context, c *client.Client, path, api string) ([]any, error) {
	var all []any
	var page struct {
		Value    []any  `json:"value"`
		NextLink string `json:"nextLink"`
	}
	if err := armDo(ctx, c, "GET", path, api, nil, &page); err != nil {
		return nil, err
	}
	all = append(all, page.Value...)
	for seen := 0; page.NextLink != "" && seen < 1000; seen++ {
		next := page.NextLink
		page.Value, page.NextLink = nil, ""
		if _, err := c.Do(ctx, "GET", next, c.Conn.ResourceManagerAudience, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
	}
	if all == nil {
		all = []any{}
	}
	return all, nil
}

// findVault returns a vault's resource: in group rg, or (rg empty) found
// by name in the subscription.
func findVault(ctx context.Context, c *client.Client, name, rg string) (armObject, error) {
	if rg != "" {
		var v armObject
		if err := armDo(ctx, c, "GET", vaultsPath(c, rg)+"/"+url.PathEscape(name), keyVaultARMAPI, nil, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	all, err := listAll(ctx, c, vaultsPath(c, ""), keyVaultARMAPI)
	if err != nil {
		return nil, err
	}
	for _, it := range all {
		if v, ok := it.(armObject); ok && strings.EqualFold(str(v["name"]), name) {
			return v, nil
		}
	}
	return nil, &client.APIError{Status: 404, Code: "ResourceNotFound", Message: fmt.Sprintf("The vault '%s' was not found in subscription '%s'.", name, c.Conn.SubscriptionID)}
}

// str returns v as a string ("" for anything else).
func str(v any) string {
	s, _ := v.(string)
	return s
}

// obj returns v as a JSON object (nil for anything else).
func obj(v any) armObject {
	m, _ := v.(armObject)
	return m
}

// groupLocation returns the location of a resource group.
func groupLocation(ctx context.Context, c *client.Client, rg string) (string, error) {
	var g struct {
		Location string `json:"location"`
	}
	if err := armDo(ctx, c, "GET", subPath(c, "/resourcegroups/"+url.PathEscape(rg)), armAPIVersion, nil, &g); err != nil {
		return "", err
	}
	return g.Location, nil
}

func newKeyVaultCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keyvault", Short: "Manage key vaults and keys (like az keyvault)"}
	cmd.AddCommand(kvCreateCmd(), kvUpdateCmd(), kvShowCmd(), kvListCmd(), kvDeleteCmd(), kvPurgeCmd(), kvRecoverCmd(),
		kvSetPolicyCmd(), kvDeletePolicyCmd(), newKeyCmd())
	return cmd
}

func kvCreateCmd() *cobra.Command {
	var name, rg, location, sku, publicAccess string
	var retention int
	var softDelete, purgeProtection, rbac, forDeployment, forDisk, forTemplate, noSelfPerms bool
	var tags []string
	cmd := azCommand("create", "Create a key vault (soft delete is always on; the caller gets an access policy with every permission unless RBAC)",
		func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
			tg, err := parseTags(tags)
			if err != nil {
				return err
			}
			if location == "" {
				if location, err = groupLocation(ctx, c, rg); err != nil {
					return err
				}
			}
			props := armObject{
				"tenantId": c.Conn.TenantID,
				"sku":      armObject{"family": "A", "name": strings.ToLower(sku)},
			}
			setIf := func(key, flag string, v any) {
				if cmd.Flags().Changed(flag) {
					props[key] = v
				}
			}
			setIf("enableSoftDelete", "enable-soft-delete", softDelete)
			setIf("enablePurgeProtection", "enable-purge-protection", purgeProtection)
			setIf("softDeleteRetentionInDays", "retention-days", retention)
			setIf("enabledForDeployment", "enabled-for-deployment", forDeployment)
			setIf("enabledForDiskEncryption", "enabled-for-disk-encryption", forDisk)
			setIf("enabledForTemplateDeployment", "enabled-for-template-deployment", forTemplate)
			setIf("publicNetworkAccess", "public-network-access", publicAccess)
			props["enableRbacAuthorization"] = rbac
			policies := []any{}
			if !rbac && !noSelfPerms {
				// Like az: the creator may do everything.
				all := []string{"all"}
				policies = append(policies, armObject{
					"tenantId": c.Conn.TenantID, "objectId": c.Conn.ObjectID,
					"permissions": armObject{"keys": all, "secrets": all, "certificates": all, "storage": all},
				})
			}
			props["accessPolicies"] = policies
			body := armObject{"location": location, "properties": props}
			if tg != nil {
				body["tags"] = tg
			}
			var out armObject
			if err := armDo(ctx, c, "PUT", vaultsPath(c, rg)+"/"+url.PathEscape(name), keyVaultARMAPI, body, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		})
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "vault name (3-24 letters, digits and hyphens)")
	f.StringVarP(&rg, "resource-group", "g", "", "resource group")
	f.StringVarP(&location, "location", "l", "", "location (default: the resource group's)")
	f.StringVar(&sku, "sku", "standard", "standard or premium")
	f.BoolVar(&softDelete, "enable-soft-delete", true, "soft delete (always on; false is refused)")
	f.BoolVar(&purgeProtection, "enable-purge-protection", false, "purge protection (\"Do Not Purge\"): once on, never off")
	f.IntVar(&retention, "retention-days", 90, "soft-delete retention in days (7-90); fixed after creation")
	f.BoolVar(&rbac, "enable-rbac-authorization", false, "authorize data-plane calls with role assignments instead of access policies")
	f.BoolVar(&forDeployment, "enabled-for-deployment", false, "enabledForDeployment")
	f.BoolVar(&forDisk, "enabled-for-disk-encryption", false, "enabledForDiskEncryption")
	f.BoolVar(&forTemplate, "enabled-for-template-deployment", false, "enabledForTemplateDeployment")
	f.StringVar(&publicAccess, "public-network-access", "", "Enabled or Disabled")
	f.BoolVar(&noSelfPerms, "no-self-perms", false, "do not give the caller an access policy")
	f.StringSliceVar(&tags, "tags", nil, "tags as key=value")
	required(cmd, "name", "resource-group")
	return cmd
}

func kvUpdateCmd() *cobra.Command {
	var name, rg, sku, publicAccess string
	var retention int
	var softDelete, purgeProtection, rbac, forDeployment, forDisk, forTemplate bool
	var tags []string
	cmd := azCommand("update", "Update a key vault's properties (purge protection can only be turned on; the retention is fixed)",
		func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
			v, err := findVault(ctx, c, name, rg)
			if err != nil {
				return err
			}
			props := armObject{}
			setIf := func(key, flag string, v any) {
				if cmd.Flags().Changed(flag) {
					props[key] = v
				}
			}
			setIf("enableSoftDelete", "enable-soft-delete", softDelete)
			setIf("enablePurgeProtection", "enable-purge-protection", purgeProtection)
			setIf("softDeleteRetentionInDays", "retention-days", retention)
			setIf("enableRbacAuthorization", "enable-rbac-authorization", rbac)
			setIf("enabledForDeployment", "enabled-for-deployment", forDeployment)
			setIf("enabledForDiskEncryption", "enabled-for-disk-encryption", forDisk)
			setIf("enabledForTemplateDeployment", "enabled-for-template-deployment", forTemplate)
			setIf("publicNetworkAccess", "public-network-access", publicAccess)
			if cmd.Flags().Changed("sku") {
				props["sku"] = armObject{"family": "A", "name": strings.ToLower(sku)}
			}
			body := armObject{"properties": props}
			if cmd.Flags().Changed("tags") {
				tg, err := parseTags(tags)
				if err != nil {
					return err
				}
				if tg == nil {
					tg = map[string]string{}
				}
				body["tags"] = tg
			}
			var out armObject
			if err := armDo(ctx, c, "PATCH", "/"+strings.TrimPrefix(str(v["id"]), "/"), keyVaultARMAPI, body, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		})
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "vault name")
	f.StringVarP(&rg, "resource-group", "g", "", "resource group (default: found by name)")
	f.StringVar(&sku, "sku", "", "standard or premium")
	f.BoolVar(&softDelete, "enable-soft-delete", true, "soft delete (always on)")
	f.BoolVar(&purgeProtection, "enable-purge-protection", false, "turn purge protection on (it can never be turned off)")
	f.IntVar(&retention, "retention-days", 0, "soft-delete retention (refused: it cannot change after creation)")
	f.BoolVar(&rbac, "enable-rbac-authorization", false, "use role assignments (true) or access policies (false)")
	f.BoolVar(&forDeployment, "enabled-for-deployment", false, "enabledForDeployment")
	f.BoolVar(&forDisk, "enabled-for-disk-encryption", false, "enabledForDiskEncryption")
	f.BoolVar(&forTemplate, "enabled-for-template-deployment", false, "enabledForTemplateDeployment")
	f.StringVar(&publicAccess, "public-network-access", "", "Enabled or Disabled")
	f.StringSliceVar(&tags, "tags", nil, "tags as key=value (replace all tags)")
	required(cmd, "name")
	return cmd
}

func kvShowCmd() *cobra.Command {
	var name, rg string
	cmd := azCommand("show", "Show a key vault", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		v, err := findVault(ctx, c, name, rg)
		if err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), v)
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "vault name")
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: found by name)")
	required(cmd, "name")
	return cmd
}

func kvListCmd() *cobra.Command {
	var rg string
	cmd := azCommand("list", "List key vaults (of a resource group, or of the subscription)", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		all, err := listAll(ctx, c, vaultsPath(c, rg), keyVaultARMAPI)
		if err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), all)
	})
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: every vault of the subscription)")
	return cmd
}

func kvDeleteCmd() *cobra.Command {
	var name, rg string
	cmd := azCommand("delete", "Delete a key vault (soft delete: it can be recovered, or purged unless purge protection is on)",
		func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
			v, err := findVault(ctx, c, name, rg)
			if err != nil {
				return err
			}
			return armDo(ctx, c, "DELETE", "/"+strings.TrimPrefix(str(v["id"]), "/"), keyVaultARMAPI, nil, nil)
		})
	cmd.Flags().StringVarP(&name, "name", "n", "", "vault name")
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: found by name)")
	required(cmd, "name")
	return cmd
}

// findDeletedVault returns a soft-deleted vault, looked up in location
// (or, empty, in every location of the subscription).
func findDeletedVault(ctx context.Context, c *client.Client, name, location string) (armObject, error) {
	if location != "" {
		var d armObject
		p := subPath(c, "/providers/Microsoft.KeyVault/locations/"+url.PathEscape(location)+"/deletedVaults/"+url.PathEscape(name))
		if err := armDo(ctx, c, "GET", p, keyVaultARMAPI, nil, &d); err != nil {
			return nil, err
		}
		return d, nil
	}
	all, err := listAll(ctx, c, subPath(c, "/providers/Microsoft.KeyVault/deletedVaults"), keyVaultARMAPI)
	if err != nil {
		return nil, err
	}
	for _, it := range all {
		if d := obj(it); d != nil && strings.EqualFold(str(d["name"]), name) {
			return d, nil
		}
	}
	return nil, &client.APIError{Status: 404, Code: "DeletedVaultNotFound", Message: fmt.Sprintf("No soft-deleted vault named '%s' in subscription '%s'.", name, c.Conn.SubscriptionID)}
}

func kvPurgeCmd() *cobra.Command {
	var name, location string
	cmd := azCommand("purge", "Purge a soft-deleted key vault (refused under purge protection)", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		if location == "" {
			d, err := findDeletedVault(ctx, c, name, "")
			if err != nil {
				return err
			}
			location = str(obj(d["properties"])["location"])
		}
		p := subPath(c, "/providers/Microsoft.KeyVault/locations/"+url.PathEscape(location)+"/deletedVaults/"+url.PathEscape(name)+"/purge")
		return armDo(ctx, c, "POST", p, keyVaultARMAPI, nil, nil)
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "name of the deleted vault")
	cmd.Flags().StringVarP(&location, "location", "l", "", "location of the deleted vault (default: looked up)")
	required(cmd, "name")
	return cmd
}

func kvRecoverCmd() *cobra.Command {
	var name, location, rg string
	cmd := azCommand("recover", "Recover a soft-deleted key vault", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		d, err := findDeletedVault(ctx, c, name, location)
		if err != nil {
			return err
		}
		props := obj(d["properties"])
		id := str(props["vaultId"])
		if rg != "" || id == "" {
			if rg == "" {
				return fmt.Errorf("the deleted vault '%s' does not name its resource group: give --resource-group", name)
			}
			id = vaultsPath(c, rg) + "/" + url.PathEscape(name)
		}
		body := armObject{
			"location": str(props["location"]),
			"properties": armObject{
				"tenantId": c.Conn.TenantID, "sku": armObject{"family": "A", "name": "standard"}, "createMode": "recover",
			},
		}
		var out armObject
		if err := armDo(ctx, c, "PUT", "/"+strings.TrimPrefix(id, "/"), keyVaultARMAPI, body, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "name of the deleted vault")
	cmd.Flags().StringVarP(&location, "location", "l", "", "location of the deleted vault (default: looked up)")
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group to recover into (default: the original one)")
	required(cmd, "name")
	return cmd
}

// updatePolicies PUTs vaults/{name}/accessPolicies/{kind} and prints the
// vault afterwards.
func updatePolicies(ctx context.Context, c *client.Client, cmd *cobra.Command, name, rg, kind string, policy armObject) error {
	v, err := findVault(ctx, c, name, rg)
	if err != nil {
		return err
	}
	id := "/" + strings.TrimPrefix(str(v["id"]), "/")
	body := armObject{"properties": armObject{"accessPolicies": []any{policy}}}
	if err := armDo(ctx, c, "PUT", id+"/accessPolicies/"+kind, keyVaultARMAPI, body, nil); err != nil {
		return err
	}
	var out armObject
	if err := armDo(ctx, c, "GET", id, keyVaultARMAPI, nil, &out); err != nil {
		return err
	}
	return printJSON(cmd.OutOrStdout(), out)
}

func kvSetPolicyCmd() *cobra.Command {
	var name, rg, objectID, appID string
	var keys, secrets, certs, storage []string
	cmd := azCommand("set-policy", "Grant permissions to a principal through an access policy (adds to its current permissions)",
		func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
			perms := armObject{}
			for _, p := range []struct {
				key  string
				list []string
			}{{"keys", keys}, {"secrets", secrets}, {"certificates", certs}, {"storage", storage}} {
				if len(p.list) > 0 {
					perms[p.key] = p.list
				}
			}
			if len(perms) == 0 {
				return fmt.Errorf("give at least one of --key-permissions, --secret-permissions, --certificate-permissions, --storage-permissions")
			}
			pol := armObject{"tenantId": c.Conn.TenantID, "objectId": objectID, "permissions": perms}
			if appID != "" {
				pol["applicationId"] = appID
			}
			return updatePolicies(ctx, c, cmd, name, rg, "add", pol)
		})
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "vault name")
	f.StringVarP(&rg, "resource-group", "g", "", "resource group (default: found by name)")
	f.StringVar(&objectID, "object-id", "", "object id of the principal (e.g. a namespace's identity.principalId)")
	f.StringVar(&appID, "application-id", "", "application id, for a compound identity")
	f.StringSliceVar(&keys, "key-permissions", nil, "key permissions: get list update create import delete recover backup restore decrypt encrypt unwrapKey wrapKey verify sign purge release rotate getrotationpolicy setrotationpolicy all")
	f.StringSliceVar(&secrets, "secret-permissions", nil, "secret permissions")
	f.StringSliceVar(&certs, "certificate-permissions", nil, "certificate permissions")
	f.StringSliceVar(&storage, "storage-permissions", nil, "storage permissions")
	required(cmd, "name", "object-id")
	return cmd
}

func kvDeletePolicyCmd() *cobra.Command {
	var name, rg, objectID, appID string
	cmd := azCommand("delete-policy", "Remove a principal's access policy", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		pol := armObject{"tenantId": c.Conn.TenantID, "objectId": objectID, "permissions": armObject{}}
		if appID != "" {
			pol["applicationId"] = appID
		}
		return updatePolicies(ctx, c, cmd, name, rg, "remove", pol)
	})
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "vault name")
	f.StringVarP(&rg, "resource-group", "g", "", "resource group (default: found by name)")
	f.StringVar(&objectID, "object-id", "", "object id of the principal")
	f.StringVar(&appID, "application-id", "", "application id, for a compound identity")
	required(cmd, "name", "object-id")
	return cmd
}

// ---------------------------------------------------------------------------
// Data plane: keys.

// validVaultName checks a vault name before it becomes a host name.
func validVaultName(n string) bool {
	if len(n) < 3 || len(n) > 24 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// vaultDo calls a vault's data plane at path (which starts with "/").
func vaultDo(ctx context.Context, c *client.Client, method, vaultName, path string, q url.Values, in, out any) error {
	if !validVaultName(vaultName) {
		return fmt.Errorf("--vault-name %q is not a vault name (3-24 letters, digits and hyphens)", vaultName)
	}
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("api-version", keyVaultDataAPI)
	_, err := c.Do(ctx, method, c.VaultURL(vaultName)+path+"?"+v.Encode(), c.VaultResource(), in, out)
	return err
}

// vaultList GETs a data-plane collection, following nextLink.
func vaultList(ctx context.Context, c *client.Client, vaultName, path string) ([]any, error) {
	var page struct {
		Value    []any  `json:"value"`
		NextLink string `json:"nextLink"`
	}
	if err := vaultDo(ctx, c, "GET", vaultName, path, nil, nil, &page); err != nil {
		return nil, err
	}
	all := append([]any{}, page.Value...)
	for seen := 0; page.NextLink != "" && seen < 10000; seen++ {
		next := page.NextLink
		if c.VaultNameFromURL(next) == "" {
			return nil, fmt.Errorf("the vault answered a nextLink outside keyward: %s", next)
		}
		page.Value, page.NextLink = nil, ""
		if _, err := c.Do(ctx, "GET", next, c.VaultResource(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
	}
	return all, nil
}

// azKeyOut rewrites the data plane's key JSON the way az prints it: times
// as ISO 8601 instead of Unix seconds, nbf/exp as notBefore/expires.
func azKeyOut(v any) any {
	switch t := v.(type) {
	case []any:
		for i := range t {
			t[i] = azKeyOut(t[i])
		}
		return t
	case armObject:
		if a := obj(t["attributes"]); a != nil {
			for _, k := range [][2]string{{"created", "created"}, {"updated", "updated"}, {"nbf", "notBefore"}, {"exp", "expires"}} {
				if x, ok := a[k[0]]; ok {
					delete(a, k[0])
					a[k[1]] = isoTime(x)
				} else if _, ok := a[k[1]]; !ok && k[0] != k[1] {
					a[k[1]] = nil
				}
			}
		}
		for _, k := range []string{"deletedDate", "scheduledPurgeDate"} {
			if x, ok := t[k]; ok {
				t[k] = isoTime(x)
			}
		}
		return t
	}
	return v
}

// isoTime turns Unix seconds into RFC 3339 (UTC); other values pass.
func isoTime(v any) any {
	if f, ok := v.(float64); ok {
		return time.Unix(int64(f), 0).UTC().Format(time.RFC3339)
	}
	return v
}

// keyRef is the --vault-name/--name/--version or --id of a key command.
type keyRef struct {
	vault, name, version, id string
}

func (k *keyRef) register(cmd *cobra.Command, withVersion bool) {
	cmd.Flags().StringVar(&k.vault, "vault-name", "", "vault name")
	cmd.Flags().StringVarP(&k.name, "name", "n", "", "key name")
	if withVersion {
		cmd.Flags().StringVarP(&k.version, "version", "v", "", "key version (default: the current one)")
		cmd.Flags().StringVar(&k.id, "id", "", "key identifier (https://<vault host>/keys/<name>[/<version>]) instead of --vault-name, --name and --version")
	}
}

// resolve fills vault, name and version from --id.
func (k *keyRef) resolve(c *client.Client) error {
	if k.id != "" {
		if k.vault != "" || k.name != "" || k.version != "" {
			return fmt.Errorf("--id cannot be combined with --vault-name, --name or --version")
		}
		u, err := url.Parse(k.id)
		vault := c.VaultNameFromURL(k.id)
		if err != nil || vault == "" {
			return fmt.Errorf("--id %q is not a key identifier of this keyward (https://<vault>.%s/keys/<name>[/<version>])", k.id, c.Conn.KeyVaultDNSSuffix)
		}
		segs := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(segs) < 2 || len(segs) > 3 || segs[0] != "keys" || segs[1] == "" {
			return fmt.Errorf("--id %q is not a key identifier (…/keys/<name>[/<version>])", k.id)
		}
		k.vault, k.name = vault, segs[1]
		if len(segs) == 3 {
			k.version = segs[2]
		}
	}
	if k.vault == "" || k.name == "" {
		return fmt.Errorf("give --vault-name and --name (or --id)")
	}
	return nil
}

// path returns /keys/{name}[/{version}] followed by suffix.
func (k *keyRef) path(suffix string) string {
	p := "/keys/" + url.PathEscape(k.name)
	if k.version != "" {
		p += "/" + url.PathEscape(k.version)
	}
	return p + suffix
}

// keyAttrs are the attribute flags of key create and set-attributes.
type keyAttrs struct {
	expires, notBefore string
	ops, tags          []string
}

func (a *keyAttrs) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.expires, "expires", "", "expiry (ISO 8601 date-time, UTC)")
	cmd.Flags().StringVar(&a.notBefore, "not-before", "", "activation (ISO 8601 date-time, UTC)")
	cmd.Flags().StringSliceVar(&a.ops, "ops", nil, "permitted operations: decrypt encrypt sign verify wrapKey unwrapKey import")
	cmd.Flags().StringSliceVar(&a.tags, "tags", nil, "tags as key=value")
}

// body fills the request body's attributes, key_ops and tags from the
// flags given.
func (a *keyAttrs) body(cmd *cobra.Command, body, attrs armObject) error {
	for _, f := range []struct{ flag, key, v string }{{"expires", "exp", a.expires}, {"not-before", "nbf", a.notBefore}} {
		if !cmd.Flags().Changed(f.flag) {
			continue
		}
		t, err := parseTime(f.flag, f.v)
		if err != nil {
			return err
		}
		attrs[f.key] = t.Unix()
	}
	if cmd.Flags().Changed("ops") {
		body["key_ops"] = a.ops
	}
	if cmd.Flags().Changed("tags") {
		tg, err := parseTags(a.tags)
		if err != nil {
			return err
		}
		if tg == nil {
			tg = map[string]string{}
		}
		body["tags"] = tg
	}
	return nil
}

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage keys in a vault (like az keyvault key)"}
	cmd.AddCommand(keyCreateCmd(), keyListCmd(), keyListVersionsCmd(), keyShowCmd(), keySetAttributesCmd(), keyRotateCmd(),
		keyDeleteCmd(), keyRecoverCmd(), keyPurgeCmd(), keyListDeletedCmd(), keyShowDeletedCmd(), newRotationPolicyCmd())
	return cmd
}

// keyOut runs a data-plane call and prints its answer az-style.
func keyOut(ctx context.Context, c *client.Client, cmd *cobra.Command, method, vault, path string, in any) error {
	var out any
	if err := vaultDo(ctx, c, method, vault, path, nil, in, &out); err != nil {
		return err
	}
	return printJSON(cmd.OutOrStdout(), azKeyOut(out))
}

func keyCreateCmd() *cobra.Command {
	var k keyRef
	var a keyAttrs
	var kty, curve, protection string
	var size int
	var disabled bool
	cmd := azCommand("create", "Create a key (or a new version of it)", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		if err := k.resolve(c); err != nil {
			return err
		}
		switch strings.ToLower(protection) {
		case "", "software":
		case "hsm":
			if !strings.HasSuffix(strings.ToUpper(kty), "-HSM") {
				kty += "-HSM"
			}
		default:
			return fmt.Errorf("--protection %q: use software or hsm", protection)
		}
		body := armObject{"kty": kty}
		if cmd.Flags().Changed("size") {
			body["key_size"] = size
		}
		if curve != "" {
			body["crv"] = curve
		}
		attrs := armObject{}
		if disabled {
			attrs["enabled"] = false
		}
		if err := a.body(cmd, body, attrs); err != nil {
			return err
		}
		if len(attrs) > 0 {
			body["attributes"] = attrs
		}
		return keyOut(ctx, c, cmd, "POST", k.vault, k.path("/create"), body)
	})
	k.register(cmd, false)
	a.register(cmd)
	f := cmd.Flags()
	f.StringVar(&kty, "kty", "RSA", "key type: RSA, RSA-HSM, EC, EC-HSM")
	f.IntVar(&size, "size", 0, "RSA key size: 2048, 3072 or 4096 (default 2048)")
	f.StringVar(&curve, "curve", "", "EC curve: P-256, P-384, P-521 (default P-256)")
	f.StringVar(&protection, "protection", "", "software or hsm")
	f.BoolVar(&disabled, "disabled", false, "create the key disabled")
	required(cmd, "vault-name", "name")
	return cmd
}

func keyListCmd() *cobra.Command {
	var vault string
	cmd := azCommand("list", "List the keys of a vault", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		all, err := vaultList(ctx, c, vault, "/keys")
		if err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), azKeyOut(all))
	})
	cmd.Flags().StringVar(&vault, "vault-name", "", "vault name")
	required(cmd, "vault-name")
	return cmd
}

func keyListVersionsCmd() *cobra.Command {
	var k keyRef
	cmd := azCommand("list-versions", "List the versions of a key", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		if err := k.resolve(c); err != nil {
			return err
		}
		all, err := vaultList(ctx, c, k.vault, k.path("/versions"))
		if err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), azKeyOut(all))
	})
	k.register(cmd, false)
	required(cmd, "vault-name", "name")
	return cmd
}

func keyShowCmd() *cobra.Command {
	var k keyRef
	cmd := azCommand("show", "Show a key (its current version, or --version)", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		if err := k.resolve(c); err != nil {
			return err
		}
		return keyOut(ctx, c, cmd, "GET", k.vault, k.path(""), nil)
	})
	k.register(cmd, true)
	return cmd
}

func keySetAttributesCmd() *cobra.Command {
	var k keyRef
	var a keyAttrs
	var enabled bool
	cmd := azCommand("set-attributes", "Change a key version's attributes (enabled, activation, expiry, operations, tags)",
		func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
			if err := k.resolve(c); err != nil {
				return err
			}
			body := armObject{}
			attrs := armObject{}
			if cmd.Flags().Changed("enabled") {
				attrs["enabled"] = enabled
			}
			if err := a.body(cmd, body, attrs); err != nil {
				return err
			}
			if len(attrs) > 0 {
				body["attributes"] = attrs
			}
			return keyOut(ctx, c, cmd, "PATCH", k.vault, k.path(""), body)
		})
	k.register(cmd, true)
	a.register(cmd)
	cmd.Flags().BoolVar(&enabled, "enabled", true, "enable (true) or disable (false) the version")
	return cmd
}

// simpleKeyCmd is a key command of --vault-name and --name only.
func simpleKeyCmd(use, short, method, prefix, suffix string, print bool) *cobra.Command {
	var k keyRef
	cmd := azCommand(use, short, func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		if err := k.resolve(c); err != nil {
			return err
		}
		path := prefix + url.PathEscape(k.name) + suffix
		if !print {
			return vaultDo(ctx, c, method, k.vault, path, nil, nil, nil)
		}
		return keyOut(ctx, c, cmd, method, k.vault, path, nil)
	})
	k.register(cmd, false)
	required(cmd, "vault-name", "name")
	return cmd
}

func keyRotateCmd() *cobra.Command {
	return simpleKeyCmd("rotate", "Rotate a key: create a new version with the same type and size", "POST", "/keys/", "/rotate", true)
}

func keyDeleteCmd() *cobra.Command {
	return simpleKeyCmd("delete", "Delete a key (soft delete: recoverable for the vault's retention)", "DELETE", "/keys/", "", true)
}

func keyRecoverCmd() *cobra.Command {
	return simpleKeyCmd("recover", "Recover a soft-deleted key", "POST", "/deletedkeys/", "/recover", true)
}

func keyPurgeCmd() *cobra.Command {
	return simpleKeyCmd("purge", "Purge a soft-deleted key (refused under purge protection)", "DELETE", "/deletedkeys/", "", false)
}

func keyShowDeletedCmd() *cobra.Command {
	return simpleKeyCmd("show-deleted", "Show a soft-deleted key", "GET", "/deletedkeys/", "", true)
}

func keyListDeletedCmd() *cobra.Command {
	var vault string
	cmd := azCommand("list-deleted", "List the soft-deleted keys of a vault", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		all, err := vaultList(ctx, c, vault, "/deletedkeys")
		if err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), azKeyOut(all))
	})
	cmd.Flags().StringVar(&vault, "vault-name", "", "vault name")
	required(cmd, "vault-name")
	return cmd
}

func newRotationPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rotation-policy", Short: "Show or set a key's rotation policy"}
	cmd.AddCommand(simpleKeyCmd("show", "Show a key's rotation policy", "GET", "/keys/", "/rotationpolicy", true))
	var k keyRef
	var value string
	update := azCommand("update", "Set a key's rotation policy (lifetimeActions Rotate/Notify with timeAfterCreate/timeBeforeExpiry, attributes.expiryTime)",
		func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
			if err := k.resolve(c); err != nil {
				return err
			}
			v, err := readJSONArg("value", value)
			if err != nil {
				return err
			}
			return keyOut(ctx, c, cmd, "PUT", k.vault, "/keys/"+url.PathEscape(k.name)+"/rotationpolicy", camelPolicy(v))
		})
	k.register(update, false)
	update.Flags().StringVar(&value, "value", "", "the policy: JSON, @file or a file path")
	required(update, "vault-name", "name", "value")
	cmd.AddCommand(update)
	return cmd
}

// camelPolicy accepts the snake_case spellings az also reads
// (lifetime_actions, time_after_create, …) and returns the wire's.
func camelPolicy(v any) any {
	switch t := v.(type) {
	case armObject:
		out := armObject{}
		for k, x := range t {
			switch k {
			case "lifetime_actions":
				k = "lifetimeActions"
			case "time_after_create":
				k = "timeAfterCreate"
			case "time_before_expiry":
				k = "timeBeforeExpiry"
			case "expiry_time":
				k = "expiryTime"
			}
			out[k] = camelPolicy(x)
		}
		return out
	case []any:
		for i := range t {
			t[i] = camelPolicy(t[i])
		}
		return t
	}
	return v
}
