package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward/internal/app"
)

// envFlags maps flags to the environment variables that set them.
var envFlags = [][2]string{
	{"data-dir", "KEYWARD_DATA_DIR"},
	{"addr", "KEYWARD_ADDR"},
	{"amqp-addr", "KEYWARD_AMQP_ADDR"},
	{"amqp-plain-addr", "KEYWARD_AMQP_PLAIN_ADDR"},
	{"domain", "KEYWARD_DOMAIN"},
	{"key-poll-interval", "KEYWARD_KEY_POLL_INTERVAL"},
	{"ise-key-access-timeout", "KEYWARD_ISE_KEY_ACCESS_TIMEOUT"},
	{"key-unreachable-grace", "KEYWARD_KEY_UNREACHABLE_GRACE"},
	{"tls-cert", "KEYWARD_TLS_CERT"},
	{"tls-key", "KEYWARD_TLS_KEY"},
	{"root-key-file", "KEYWARD_ROOT_KEY_FILE"},
	{"audit-file", "KEYWARD_AUDIT_FILE"},
	{"token-lifetime", "KEYWARD_TOKEN_LIFETIME"},
	{"log-format", "KEYWARD_LOG_FORMAT"},
	{"log-level", "KEYWARD_LOG_LEVEL"},
}

func newServeCmd() *cobra.Command {
	cfg := app.Defaults()
	logFormat, logLevel := "text", "info"
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run every keyward service in this process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return &exitError{code: 2, err: err}
			}
			cfg.RootKey = os.Getenv("KEYWARD_ROOT_KEY")
			log, err := newLogger(logFormat, logLevel)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if err := cfg.Validate(); err != nil {
				return &exitError{code: 2, err: err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a, err := app.New(ctx, cfg, log)
			if err != nil {
				return err
			}
			return a.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "all state: store, TLS material, connection.json")
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "the HTTPS listener (identity, resource manager, vaults, Service Bus HTTPS, health, metrics)")
	f.StringVar(&cfg.AMQPAddr, "amqp-addr", cfg.AMQPAddr, "AMQP 1.0 over TLS")
	f.StringVar(&cfg.AMQPPlainAddr, "amqp-plain-addr", cfg.AMQPPlainAddr, "AMQP 1.0 without TLS (UseDevelopmentEmulator=true); empty disables it")
	f.StringVar(&cfg.Domain, "domain", cfg.Domain, "DNS suffix of every service host")
	f.DurationVar(&cfg.KeyPollInterval, "key-poll-interval", cfg.KeyPollInterval, "how often each customer-managed key binding re-reads its keys")
	f.DurationVar(&cfg.ISEKeyAccessTimeout, "ise-key-access-timeout", cfg.ISEKeyAccessTimeout, "how long an integration service environment waits for access to its key")
	f.DurationVar(&cfg.KeyUnreachableGrace, "key-unreachable-grace", cfg.KeyUnreachableGrace, "how long a key binding serves from its cache while a vault is unreachable")
	f.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate chain to serve instead of the local CA's")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&cfg.RootKeyFile, "root-key-file", "", "file holding the root key (default <data-dir>/root.key, generated on first start); KEYWARD_ROOT_KEY gives the key itself")
	f.StringVar(&cfg.AuditFile, "audit-file", "", "also append the audit log to this file as JSON lines")
	f.DurationVar(&cfg.TokenLifetime, "token-lifetime", cfg.TokenLifetime, "lifetime of issued access tokens")
	f.StringVar(&logFormat, "log-format", logFormat, "log format: text or json")
	f.StringVar(&logLevel, "log-level", logLevel, "log level: debug, info, warn or error")
	return cmd
}

// applyEnv sets every flag the command line left unset from its environment
// variable, naming both in any error.
func applyEnv(fs *pflag.FlagSet) error {
	for _, fe := range envFlags {
		v, ok := os.LookupEnv(fe[1])
		if !ok || fs.Changed(fe[0]) {
			continue
		}
		if err := fs.Set(fe[0], v); err != nil {
			return fmt.Errorf("--%s (from %s): %v", fe[0], fe[1], err)
		}
	}
	return nil
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: use text or json", format)
	}
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print keyward's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "keyward "+app.Version)
		},
	}
}

// waitCtx is a helper for commands that talk to the server.
func waitCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, 2*time.Minute)
}
