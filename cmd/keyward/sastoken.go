package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newSASTokenCmd prints a namespace-wide shared access signature signed with
// the namespace's RootManageSharedAccessKey, for curl and other HTTP clients.
func newSASTokenCmd() *cobra.Command {
	var f sbEntityFlags
	cmd := &cobra.Command{
		Use:   "sas-token",
		Short: "Print a one-hour SharedAccessSignature for a namespace (for curl: -H \"Authorization: $(keyward servicebus sas-token --namespace NS)\")",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			s, err := f.connect(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), s.token())
			return nil
		},
	}
	f.connFlags.register(cmd)
	cmd.Flags().StringVar(&f.namespace, "namespace", "", "Service Bus namespace name")
	cmd.Flags().StringVarP(&f.resourceGroup, "resource-group", "g", "", "resource group of the namespace (found by name when omitted)")
	_ = cmd.MarkFlagRequired("namespace")
	return cmd
}
