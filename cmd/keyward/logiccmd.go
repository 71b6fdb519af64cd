package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/client"
)

// API versions the logic commands speak: the seed document's for ISEs,
// armlogic's for workflows.
const (
	iseAPIVersion      = "2018-07-01-preview"
	workflowAPIVersion = "2019-05-01"
)

func newLogicCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "logic", Short: "Manage integration service environments and logic apps"}
	cmd.AddCommand(newISECmd(), newWorkflowCmd())
	return cmd
}

// readJSONFile reads a JSON document from path ("-" for stdin).
func readJSONFile(path string) (map[string]any, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 4<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", path, err)
	}
	return v, nil
}

func isePath(c *client.Client, rg, name string) string {
	p := "/resourceGroups/" + url.PathEscape(rg) + "/providers/Microsoft.Logic/integrationServiceEnvironments"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return subPath(c, p)
}

func workflowPath(c *client.Client, rg, name string) string {
	p := "/resourceGroups/" + url.PathEscape(rg) + "/providers/Microsoft.Logic/workflows"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return subPath(c, p)
}

// resourceFlags are the flags every single-resource command has.
type resourceFlags struct {
	connFlags
	name, group string
}

func (f *resourceFlags) register(cmd *cobra.Command, what string) {
	cmd.Flags().StringVarP(&f.name, "name", "n", "", what+" name")
	cmd.Flags().StringVarP(&f.group, "resource-group", "g", "", "resource group")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("resource-group")
	f.connFlags.register(cmd)
}

func newISECmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ise", Short: "Manage integration service environments (ISEs)"}

	var cf resourceFlags
	var file string
	var noWait bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an ISE from a JSON definition (the body of the Logic Apps REST API's PUT, as in the ISE seed document)",
		Long: "Create an ISE from a JSON definition file: the request body of PUT …/integrationServiceEnvironments/{name}, e.g. the\n" +
			"seed document's body with the networkConfiguration, encryptionConfiguration and a SystemAssigned identity.\n" +
			"With a customer-managed key, the ISE waits (--ise-key-access-timeout on the server, 30 minutes by default) until its\n" +
			"identity can use the key: the command prints that identity's principal id on stderr, then waits for the result.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			body, err := readJSONFile(file)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Hour)
			defer cancel()
			u := strings.TrimRight(c.Conn.ResourceManagerEndpoint, "/") + isePath(c, cf.group, cf.name) + "?api-version=" + iseAPIVersion
			var out map[string]any
			resp, err := c.Do(ctx, "PUT", u, c.Conn.ResourceManagerAudience, body, &out)
			if err != nil {
				return err
			}
			op := resp.Header.Get("Azure-AsyncOperation")
			if op == "" || noWait {
				return printJSON(cmd.OutOrStdout(), out)
			}
			principal, deadline := "", ""
			if id, ok := out["identity"].(map[string]any); ok {
				principal, _ = id["principalId"].(string)
			}
			if p, ok := out["properties"].(map[string]any); ok {
				deadline, _ = p["keyAccessDeadline"].(string)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "ISE %s accepted. Grant its system-assigned identity (principal id %s) access to its key before %s:\n"+
				"an access policy with get, wrapKey and unwrapKey, a Key Vault crypto role, or the Contributor role on the vault. Waiting…\n",
				cf.name, principal, deadline)
			if err := waitOperation(ctx, c, op); err != nil {
				return err
			}
			if err := armDo(ctx, c, "GET", isePath(c, cf.group, cf.name), iseAPIVersion, nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "JSON definition file ('-' for stdin)")
	create.Flags().BoolVar(&noWait, "no-wait", false, "print the accepted ISE and return without waiting for provisioning")
	create.MarkFlagRequired("file")
	cf.register(create, "ISE")

	var sf resourceFlags
	show := &cobra.Command{
		Use: "show", Short: "Show an ISE", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			var out any
			if err := armDo(ctx, c, "GET", isePath(c, sf.group, sf.name), iseAPIVersion, nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	sf.register(show, "ISE")

	var lcf connFlags
	var lgroup string
	list := &cobra.Command{
		Use: "list", Short: "List ISEs (of a resource group, or of the subscription)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := lcf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			p := subPath(c, "/providers/Microsoft.Logic/integrationServiceEnvironments")
			if lgroup != "" {
				p = isePath(c, lgroup, "")
			}
			var out struct {
				Value []any `json:"value"`
			}
			if err := armDo(ctx, c, "GET", p, iseAPIVersion, nil, &out); err != nil {
				return err
			}
			if out.Value == nil {
				out.Value = []any{}
			}
			return printJSON(cmd.OutOrStdout(), out.Value)
		},
	}
	list.Flags().StringVarP(&lgroup, "resource-group", "g", "", "resource group (default: the whole subscription)")
	lcf.register(list)

	var df resourceFlags
	del := &cobra.Command{
		Use: "delete", Short: "Delete an ISE with the workflows it hosts (its data key is destroyed)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := df.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			return armDo(ctx, c, "DELETE", isePath(c, df.group, df.name), iseAPIVersion, nil, nil)
		},
	}
	df.register(del, "ISE")
	cmd.AddCommand(create, show, list, del)
	return cmd
}

// workflowBody turns a file into a workflow resource body: either the body
// itself ({"location","properties":{"definition",…}}) or a bare definition.
func workflowBody(doc map[string]any, location, ise string, params map[string]any) map[string]any {
	body := doc
	if _, ok := doc["properties"]; !ok {
		if _, isBody := doc["definition"]; isBody {
			body = map[string]any{"properties": doc}
		} else {
			body = map[string]any{"properties": map[string]any{"definition": doc}}
		}
	}
	props, _ := body["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		body["properties"] = props
	}
	if location != "" {
		body["location"] = location
	}
	if ise != "" {
		props["integrationServiceEnvironment"] = map[string]any{"id": ise}
	}
	if params != nil {
		props["parameters"] = params
	}
	return body
}

func newWorkflowCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "workflow", Short: "Manage logic apps (workflows) and run them"}

	var cf resourceFlags
	var file, paramsFile, location, ise string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create or update a workflow from a definition file",
		Long: "Create or update a workflow. --file holds a Workflow Definition Language definition ({\"triggers\",\"actions\",…})\n" +
			"or a whole workflow resource body; --parameters holds {\"name\": {\"value\": …}}; --ise names the hosting\n" +
			"integration service environment (its name in the same resource group, or its resource id).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			doc, err := readJSONFile(file)
			if err != nil {
				return err
			}
			var params map[string]any
			if paramsFile != "" {
				if params, err = readJSONFile(paramsFile); err != nil {
					return err
				}
				// An ARM parameter file: {"parameters": {…}}.
				if inner, ok := params["parameters"].(map[string]any); ok && len(params) <= 3 {
					params = inner
				}
			}
			iseID := ise
			if ise != "" && !strings.HasPrefix(ise, "/") {
				iseID = isePath(c, cf.group, ise)
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			if location == "" && iseID != "" {
				var x struct {
					Location string `json:"location"`
				}
				if err := armDo(ctx, c, "GET", iseID, iseAPIVersion, nil, &x); err != nil {
					return err
				}
				location = x.Location
			}
			if location == "" {
				if _, ok := doc["location"]; !ok {
					location = "westus"
				}
			}
			var out any
			if err := armDo(ctx, c, "PUT", workflowPath(c, cf.group, cf.name), workflowAPIVersion, workflowBody(doc, location, iseID, params), &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "definition or workflow body file ('-' for stdin)")
	create.Flags().StringVarP(&paramsFile, "parameters", "p", "", "parameter values file")
	create.Flags().StringVarP(&location, "location", "l", "", "location (default: the ISE's, or westus)")
	create.Flags().StringVar(&ise, "ise", "", "hosting integration service environment (name or resource id)")
	create.MarkFlagRequired("file")
	cf.register(create, "workflow")

	var sf resourceFlags
	show := &cobra.Command{
		Use: "show", Short: "Show a workflow", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			var out any
			if err := armDo(ctx, c, "GET", workflowPath(c, sf.group, sf.name), workflowAPIVersion, nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	sf.register(show, "workflow")

	var rf resourceFlags
	var trigger, bodyFile, bodyJSON string
	run := &cobra.Command{
		Use:   "run",
		Short: "Run a workflow: call its Request trigger's callback URL with a body, or fire another trigger now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := rf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			tp := workflowPath(c, rf.group, rf.name) + "/triggers/" + url.PathEscape(trigger)
			var trig struct {
				Properties struct {
					Recurrence any `json:"recurrence"`
				} `json:"properties"`
			}
			if err := armDo(ctx, c, "GET", tp, workflowAPIVersion, nil, &trig); err != nil {
				return err
			}
			if trig.Properties.Recurrence != nil {
				if err := armDo(ctx, c, "POST", tp+"/run", workflowAPIVersion, nil, nil); err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"status": "Accepted", "trigger": trigger})
			}
			var cb struct {
				Value  string `json:"value"`
				Method string `json:"method"`
			}
			if err := armDo(ctx, c, "POST", tp+"/listCallbackUrl", workflowAPIVersion, nil, &cb); err != nil {
				return err
			}
			var body []byte
			switch {
			case bodyJSON != "":
				body = []byte(bodyJSON)
			case bodyFile == "-":
				body, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 16<<20))
			case bodyFile != "":
				body, err = os.ReadFile(bodyFile)
			}
			if err != nil {
				return err
			}
			method := cb.Method
			if method == "" {
				method = "POST"
			}
			req, err := http.NewRequestWithContext(ctx, method, cb.Value, bytes.NewReader(body))
			if err != nil {
				return err
			}
			if len(body) > 0 {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := c.HTTP.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			rb, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
			if err != nil {
				return err
			}
			out := map[string]any{"statusCode": resp.StatusCode, "runName": resp.Header.Get("x-ms-workflow-run-id")}
			var v any
			if json.Unmarshal(rb, &v) == nil {
				out["body"] = v
			} else if len(rb) > 0 {
				out["body"] = string(rb)
			}
			if err := printJSON(cmd.OutOrStdout(), out); err != nil {
				return err
			}
			if resp.StatusCode >= 400 {
				return &exitError{code: 1, err: fmt.Errorf("the trigger answered %d", resp.StatusCode)}
			}
			return nil
		},
	}
	run.Flags().StringVarP(&trigger, "trigger", "t", "manual", "trigger name")
	run.Flags().StringVarP(&bodyFile, "body", "b", "", "request body file ('-' for stdin)")
	run.Flags().StringVar(&bodyJSON, "body-json", "", "request body given inline")
	rf.register(run, "workflow")

	var uf resourceFlags
	var runName string
	runs := &cobra.Command{
		Use: "runs", Short: "List a workflow's runs, newest first, or show one run with its actions (--run)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := uf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			base := workflowPath(c, uf.group, uf.name) + "/runs"
			if runName == "" {
				var out struct {
					Value []any `json:"value"`
				}
				if err := armDo(ctx, c, "GET", base, workflowAPIVersion, nil, &out); err != nil {
					return err
				}
				if out.Value == nil {
					out.Value = []any{}
				}
				return printJSON(cmd.OutOrStdout(), out.Value)
			}
			var r map[string]any
			if err := armDo(ctx, c, "GET", base+"/"+url.PathEscape(runName), workflowAPIVersion, nil, &r); err != nil {
				return err
			}
			var acts struct {
				Value []any `json:"value"`
			}
			if err := armDo(ctx, c, "GET", base+"/"+url.PathEscape(runName)+"/actions", workflowAPIVersion, nil, &acts); err != nil {
				return err
			}
			r["actions"] = acts.Value
			return printJSON(cmd.OutOrStdout(), r)
		},
	}
	runs.Flags().StringVar(&runName, "run", "", "show this run and its actions")
	uf.register(runs, "workflow")
	cmd.AddCommand(create, show, run, runs)
	return cmd
}
