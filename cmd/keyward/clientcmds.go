package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/client"
	"github.com/keyward/keyward/internal/connfile"
)

// connFlags are the flags of every command that talks to a running keyward.
type connFlags struct {
	dataDir    string
	connection string
}

func (c *connFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.dataDir, "data-dir", envOr("KEYWARD_DATA_DIR", "./keyward-data"), "data directory of the running keyward (for its connection.json)")
	cmd.Flags().StringVar(&c.connection, "connection", "", "path of a connection.json (overrides --data-dir)")
}

// load reads the running keyward's connection.json (--connection, or the
// one in --data-dir).
func (c *connFlags) load() (client.Connection, error) {
	path := c.connection
	if path == "" {
		path = filepath.Join(c.dataDir, connfile.Name)
	}
	return client.Load(path)
}

func (c *connFlags) client() (*client.Client, error) {
	conn, err := c.load()
	if err != nil {
		return nil, err
	}
	return client.New(conn)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newPrincipalCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "principal", Short: "Manage service principals"}
	var cf connFlags
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an application, its service principal and a client secret; print the credentials as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			var app struct {
				ID    string `json:"id"`
				AppID string `json:"appId"`
			}
			if _, err := c.Do(ctx, "POST", c.GraphURL("/v1.0/applications"), client.GraphResource, map[string]any{"displayName": args[0]}, &app); err != nil {
				return fmt.Errorf("create application: %w", err)
			}
			var sp struct {
				ID string `json:"id"`
			}
			if _, err := c.Do(ctx, "POST", c.GraphURL("/v1.0/servicePrincipals"), client.GraphResource, map[string]any{"appId": app.AppID}, &sp); err != nil {
				return fmt.Errorf("create service principal: %w", err)
			}
			var pw struct {
				SecretText string `json:"secretText"`
			}
			if _, err := c.Do(ctx, "POST", c.GraphURL("/v1.0/applications/"+app.ID+"/addPassword"), client.GraphResource, map[string]any{"passwordCredential": map[string]any{"displayName": "keyward principal create"}}, &pw); err != nil {
				return fmt.Errorf("add client secret: %w", err)
			}
			return printJSON(cmd.OutOrStdout(), map[string]string{
				"clientId": app.AppID, "clientSecret": pw.SecretText, "objectId": sp.ID, "tenantId": c.Conn.TenantID,
			})
		},
	}
	cf.register(create)
	cmd.AddCommand(create)
	return cmd
}

func newHostsCmd() *cobra.Command {
	var cf connFlags
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "Print hosts-file lines for keyward's hosts (login, management, graph, every vault and namespace)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			ip, _, err := net.SplitHostPort(c.Conn.HTTPSAddr)
			if err != nil || ip == "" || ip == "0.0.0.0" || ip == "::" {
				ip = "127.0.0.1"
			}
			hosts, err := serviceHosts(cmd, c)
			if err != nil {
				return err
			}
			sort.Strings(hosts[3:])
			for _, h := range hosts {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", ip, h)
			}
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}
