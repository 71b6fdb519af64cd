package main

import "github.com/spf13/cobra"

func newLogicCmd() *cobra.Command {
	return &cobra.Command{Use: "logic", Short: "Manage integration service environments and logic apps"}
}
