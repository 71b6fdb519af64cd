// Package app builds every keyward service from a Config, owns the
// listeners, and shuts everything down in order. It is the only place that
// knows how the pieces fit together.
package app

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Config is everything `keyward serve` can be told.
type Config struct {
	DataDir             string
	Addr                string
	AMQPAddr            string
	AMQPPlainAddr       string
	Domain              string
	KeyPollInterval     time.Duration
	ISEKeyAccessTimeout time.Duration
	// KeyUnreachableGrace is how long a customer-managed key binding keeps
	// serving from its cache while a vault cannot be reached.
	KeyUnreachableGrace time.Duration
	TLSCertFile         string
	TLSKeyFile          string
	RootKeyFile         string
	RootKey             string // the root key itself (KEYWARD_ROOT_KEY); wins over RootKeyFile
	AuditFile           string // optional JSON-lines copy of the audit log
	TokenLifetime       time.Duration
}

// Defaults returns the contract's default configuration.
func Defaults() Config {
	return Config{
		DataDir:             "./keyward-data",
		Addr:                "127.0.0.1:8443",
		AMQPAddr:            "127.0.0.1:5671",
		AMQPPlainAddr:       "127.0.0.1:5672",
		Domain:              "keyward.localhost",
		KeyPollInterval:     5 * time.Minute,
		ISEKeyAccessTimeout: 30 * time.Minute,
		KeyUnreachableGrace: 15 * time.Minute,
		TokenLifetime:       time.Hour,
	}
}

// Validate checks a configuration and returns an error naming the flag at
// fault.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	for _, a := range []struct{ flag, v string }{{"--addr", c.Addr}, {"--amqp-addr", c.AMQPAddr}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return fmt.Errorf("%s %q is not host:port: %v", a.flag, a.v, err)
		}
	}
	if c.AMQPPlainAddr != "" {
		if _, _, err := net.SplitHostPort(c.AMQPPlainAddr); err != nil {
			return fmt.Errorf("--amqp-plain-addr %q is not host:port: %v", c.AMQPPlainAddr, err)
		}
	}
	if err := validDomain(c.Domain); err != nil {
		return fmt.Errorf("--domain %q: %v", c.Domain, err)
	}
	if c.KeyPollInterval <= 0 {
		return fmt.Errorf("--key-poll-interval must be positive, got %s", c.KeyPollInterval)
	}
	if c.ISEKeyAccessTimeout <= 0 {
		return fmt.Errorf("--ise-key-access-timeout must be positive, got %s", c.ISEKeyAccessTimeout)
	}
	if c.KeyUnreachableGrace < 0 {
		return fmt.Errorf("--key-unreachable-grace must not be negative, got %s", c.KeyUnreachableGrace)
	}
	if c.TokenLifetime < 5*time.Minute || c.TokenLifetime > 24*time.Hour {
		return fmt.Errorf("--token-lifetime must be between 5m and 24h, got %s", c.TokenLifetime)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("--tls-cert and --tls-key must be given together")
	}
	return nil
}

func validDomain(d string) error {
	if d == "" || len(d) > 200 {
		return errors.New("must be 1 to 200 characters")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("has an empty or too long label")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("label %q may hold only lower-case letters, digits and '-'", label)
			}
		}
	}
	return nil
}
