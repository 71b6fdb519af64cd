// Command keyward runs and drives keyward: a self-hosted key vault, identity
// service, resource manager and Service Bus broker with customer-managed keys
// in one binary.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := newRootCmd()
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "keyward: "+oneLine(err.Error()))
		os.Exit(exitCode(err))
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "keyward",
		Short:         "Azure customer-managed keys, self-hosted: key vault, identity, resource manager and Service Bus in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newVersionCmd(), newHostsCmd(), newAzCloudCmd(), newPrincipalCmd(), newGroupCmd(), newRoleCmd(), newDeploymentCmd(), newIdentityCmd(), newKeyVaultCmd(), newAuditCmd(), newServiceBusCmd(), newLogicCmd())
	return root
}

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}

func oneLine(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
