package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/client"
)

// armAPIVersion is the Microsoft.Resources api-version the CLI speaks.
const armAPIVersion = "2025-04-01"

// armDo calls the resource manager at path (which starts with "/") with api.
func armDo(ctx context.Context, c *client.Client, method, path, api string, in, out any) error {
	u := strings.TrimRight(c.Conn.ResourceManagerEndpoint, "/") + path
	if strings.Contains(u, "?") {
		u += "&api-version=" + api
	} else {
		u += "?api-version=" + api
	}
	resp, err := c.Do(ctx, method, u, c.Conn.ResourceManagerAudience, in, out)
	if err != nil {
		return err
	}
	if op := resp.Header.Get("Azure-AsyncOperation"); op != "" && (resp.StatusCode == 201 || resp.StatusCode == 202) {
		return waitOperation(ctx, c, op)
	}
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode == 202 {
		return waitOperation(ctx, c, strings.Replace(loc, "operationResults", "operationStatuses", 1))
	}
	return nil
}

// waitOperation polls an Azure-AsyncOperation URL until it ends.
func waitOperation(ctx context.Context, c *client.Client, opURL string) error {
	for {
		var st struct {
			Status string          `json:"status"`
			Error  json.RawMessage `json:"error"`
		}
		if _, err := c.Do(ctx, "GET", opURL, c.Conn.ResourceManagerAudience, nil, &st); err != nil {
			return err
		}
		switch st.Status {
		case "Succeeded":
			return nil
		case "Failed", "Canceled":
			return fmt.Errorf("operation %s: %s", strings.ToLower(st.Status), st.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func subPath(c *client.Client, rest string) string {
	return "/subscriptions/" + c.Conn.SubscriptionID + rest
}

func parseTags(tags []string) (map[string]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, t := range tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--tags %q: use key=value", t)
		}
		out[k] = v
	}
	return out, nil
}

func newGroupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage resource groups (like az group)"}
	var cf connFlags
	var name, location string
	var tags []string
	create := &cobra.Command{
		Use: "create", Short: "Create or update a resource group", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			tg, err := parseTags(tags)
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			var out any
			if err := armDo(ctx, c, "PUT", subPath(c, "/resourcegroups/"+url.PathEscape(name)), armAPIVersion, map[string]any{"location": location, "tags": tg}, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	create.Flags().StringVarP(&name, "name", "n", "", "resource group name")
	create.Flags().StringVarP(&location, "location", "l", "westus", "location")
	create.Flags().StringSliceVar(&tags, "tags", nil, "tags as key=value")
	create.MarkFlagRequired("name")
	cf.register(create)

	var lcf connFlags
	list := &cobra.Command{
		Use: "list", Short: "List resource groups", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := lcf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			var out struct {
				Value []any `json:"value"`
			}
			if err := armDo(ctx, c, "GET", subPath(c, "/resourcegroups"), armAPIVersion, nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out.Value)
		},
	}
	lcf.register(list)

	var dcf connFlags
	var dname string
	var yes bool
	del := &cobra.Command{
		Use: "delete", Short: "Delete a resource group and everything in it", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := dcf.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			return armDo(ctx, c, "DELETE", subPath(c, "/resourcegroups/"+url.PathEscape(dname)), armAPIVersion, nil, nil)
		},
	}
	del.Flags().StringVarP(&dname, "name", "n", "", "resource group name")
	del.Flags().BoolVarP(&yes, "yes", "y", false, "do not prompt (keyward never prompts; accepted for az compatibility)")
	del.MarkFlagRequired("name")
	dcf.register(del)
	cmd.AddCommand(create, list, del)
	return cmd
}

func newRoleCmd() *cobra.Command {
	role := &cobra.Command{Use: "role", Short: "Manage role assignments (like az role)"}
	asg := &cobra.Command{Use: "assignment", Short: "Manage role assignments"}
	var cf connFlags
	var assignee, roleName, scope string
	create := &cobra.Command{
		Use: "create", Short: "Assign a role to a principal at a scope", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			if scope == "" {
				scope = "/subscriptions/" + c.Conn.SubscriptionID
			}
			scope = "/" + strings.Trim(scope, "/")
			var roleID string
			if _, err := uuid.Parse(roleName); err != nil {
				var defs struct {
					Value []struct {
						ID string `json:"id"`
					} `json:"value"`
				}
				if err := armDo(ctx, c, "GET", scope+"/providers/Microsoft.Authorization/roleDefinitions?$filter="+url.QueryEscape("roleName eq '"+roleName+"'"), "2022-04-01", nil, &defs); err != nil {
					return err
				}
				if len(defs.Value) != 1 {
					return fmt.Errorf("--role %q: no such role", roleName)
				}
				roleID = defs.Value[0].ID
			} else {
				roleID = "/subscriptions/" + c.Conn.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + roleName
			}
			var out any
			body := map[string]any{"properties": map[string]any{"roleDefinitionId": roleID, "principalId": assignee, "principalType": "ServicePrincipal"}}
			if err := armDo(ctx, c, "PUT", scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(), "2022-04-01", body, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	create.Flags().StringVar(&assignee, "assignee", "", "object id of the principal")
	create.Flags().StringVar(&roleName, "role", "", "role name (e.g. Contributor) or role definition GUID")
	create.Flags().StringVar(&scope, "scope", "", "scope (default: the subscription)")
	create.MarkFlagRequired("assignee")
	create.MarkFlagRequired("role")
	cf.register(create)

	var lcf connFlags
	var lscope, lassignee string
	list := &cobra.Command{
		Use: "list", Short: "List role assignments", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := lcf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			if lscope == "" {
				lscope = "/subscriptions/" + c.Conn.SubscriptionID
			}
			p := "/" + strings.Trim(lscope, "/") + "/providers/Microsoft.Authorization/roleAssignments"
			if lassignee != "" {
				p += "?$filter=" + url.QueryEscape("principalId eq '"+lassignee+"'")
			}
			var out struct {
				Value []any `json:"value"`
			}
			if err := armDo(ctx, c, "GET", p, "2022-04-01", nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out.Value)
		},
	}
	list.Flags().StringVar(&lscope, "scope", "", "scope (default: the subscription)")
	list.Flags().StringVar(&lassignee, "assignee", "", "only this principal's assignments")
	lcf.register(list)
	asg.AddCommand(create, list)
	role.AddCommand(asg)
	return role
}

func newIdentityCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "Managed identities"}
	var cf connFlags
	var resource string
	env := &cobra.Command{
		Use:   "env",
		Short: "Print IDENTITY_ENDPOINT and IDENTITY_HEADER for a resource's managed identities (App Service style), as shell exports",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			var out struct {
				IdentityEndpoint string `json:"identityEndpoint"`
				IdentityHeader   string `json:"identityHeader"`
			}
			p := "/" + strings.Trim(resource, "/") + "/providers/Microsoft.ManagedIdentity/identities/default/endpoint"
			if err := armDo(ctx, c, "POST", p, "2024-11-30", nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "export IDENTITY_ENDPOINT=%s\nexport IDENTITY_HEADER=%s\n", out.IdentityEndpoint, out.IdentityHeader)
			return nil
		},
	}
	env.Flags().StringVar(&resource, "resource", "", "resource id whose identities the process acts as")
	env.MarkFlagRequired("resource")
	cf.register(env)
	cmd.AddCommand(env)
	return cmd
}

// readParameters reads --parameters values: @file or file paths (ARM
// parameter files or plain {"name": value} objects) and key=value pairs.
func readParameters(args []string) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range args {
		path := strings.TrimPrefix(a, "@")
		if k, v, ok := strings.Cut(a, "="); ok && !strings.HasPrefix(a, "@") {
			if _, err := os.Stat(a); err != nil {
				var js any
				if json.Unmarshal([]byte(v), &js) == nil && (strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[")) {
					out[k] = map[string]any{"value": js}
				} else {
					out[k] = map[string]any{"value": v}
				}
				continue
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--parameters %s: %w", a, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("--parameters %s: %w", a, err)
		}
		if p, ok := doc["parameters"].(map[string]any); ok {
			doc = p
		}
		for k, v := range doc {
			if m, ok := v.(map[string]any); ok {
				if _, has := m["value"]; has {
					out[k] = m
					continue
				}
				if _, has := m["reference"]; has {
					out[k] = m
					continue
				}
			}
			out[k] = map[string]any{"value": v}
		}
	}
	return out, nil
}

func newDeploymentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "deployment", Short: "Deploy ARM templates (like az deployment)"}
	group := &cobra.Command{Use: "group", Short: "Deployments at resource group scope"}
	var cf connFlags
	var rg, file, name, mode string
	var params []string
	create := &cobra.Command{
		Use: "create", Short: "Deploy a template to a resource group", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("--template-file: %w", err)
			}
			var tmpl any
			if err := json.Unmarshal(b, &tmpl); err != nil {
				return fmt.Errorf("--template-file %s: %w", file, err)
			}
			p, err := readParameters(params)
			if err != nil {
				return err
			}
			if name == "" {
				name = strings.TrimSuffix(filepathBase(file), ".json")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Minute)
			defer cancel()
			path := subPath(c, "/resourcegroups/"+url.PathEscape(rg)+"/providers/Microsoft.Resources/deployments/"+url.PathEscape(name))
			body := map[string]any{"properties": map[string]any{"mode": mode, "template": tmpl, "parameters": p}}
			if err := armDo(ctx, c, "PUT", path, armAPIVersion, body, nil); err != nil {
				return err
			}
			var out any
			if err := armDo(ctx, c, "GET", path, armAPIVersion, nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	create.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
	create.Flags().StringVarP(&file, "template-file", "f", "", "template file (JSON)")
	create.Flags().StringVarP(&name, "name", "n", "", "deployment name (default: the template file's name)")
	create.Flags().StringVar(&mode, "mode", "Incremental", "Incremental or Complete")
	create.Flags().StringArrayVarP(&params, "parameters", "p", nil, "parameters: a parameter file (optionally @file) or key=value; repeatable")
	create.MarkFlagRequired("resource-group")
	create.MarkFlagRequired("template-file")
	cf.register(create)
	group.AddCommand(create)
	cmd.AddCommand(group)
	return cmd
}

func filepathBase(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}
