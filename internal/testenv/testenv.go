// Package testenv starts a real keyward in-process for tests: every listener
// on 127.0.0.1 with an ephemeral port, a fresh data directory, and clients
// (plain HTTP and Azure SDK options) that trust its CA and reach every
// keyward host name without DNS.
package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/connfile"
)

// Env is a running keyward.
type Env struct {
	App     *app.App
	Config  app.Config
	Conn    connfile.Connection
	DataDir string
	Pool    *x509.CertPool
	// HTTP dials keyward's HTTPS listener for every host and trusts its CA.
	HTTP *http.Client

	opts   []app.Option
	cancel context.CancelFunc
	done   chan error
}

// Start runs keyward with a fresh data directory; mod may adjust the
// configuration. The server stops when the test ends.
func Start(t testing.TB, mod func(*app.Config), opts ...app.Option) *Env {
	t.Helper()
	cfg := app.Defaults()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Addr = "127.0.0.1:0"
	cfg.AMQPAddr = "127.0.0.1:0"
	cfg.AMQPPlainAddr = "127.0.0.1:0"
	if mod != nil {
		mod(&cfg)
	}
	e := &Env{Config: cfg, DataDir: cfg.DataDir, opts: opts}
	if err := e.start(t); err != nil {
		t.Fatalf("start keyward: %v", err)
	}
	t.Cleanup(func() { e.Stop(t) })
	return e
}

// Logger returns the log destination of test servers: discarded unless
// KEYWARD_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("KEYWARD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Env) start(t testing.TB) error {
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, e.Config, Logger(), e.opts...)
	if err != nil {
		cancel()
		return err
	}
	e.App = a
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- a.Run(ctx) }()
	// Later starts reuse the same ports so that URLs stay valid.
	e.Config.Addr = a.HTTPSAddr()
	e.Conn = a.Connection()
	e.Pool = x509.NewCertPool()
	e.Pool.AppendCertsFromPEM(a.CAPEM())
	e.HTTP = e.NewHTTPClient()
	return e.waitHealthy()
}

func (e *Env) waitHealthy() error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := e.HTTP.Get("https://login." + e.Config.Domain + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("keyward did not become healthy")
}

// Stop stops the server (idempotent).
func (e *Env) Stop(t testing.TB) {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("keyward run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("keyward did not stop within 30s")
	}
	e.cancel = nil
	if tr, ok := e.HTTP.Transport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// Restart stops the server and starts it again on the same data directory
// and ports, with mod applied to the configuration.
func (e *Env) Restart(t testing.TB, mod func(*app.Config)) error {
	t.Helper()
	e.Stop(t)
	if mod != nil {
		mod(&e.Config)
	}
	return e.start(t)
}

// NewHTTPClient returns a client that dials keyward for every host name.
func (e *Env) NewHTTPClient() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	addr := e.Config.Addr
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: e.Pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, host string) (net.Conn, error) {
			h, _, _ := net.SplitHostPort(host)
			if h == "localhost" || h == "127.0.0.1" || strings.HasSuffix(h, "."+e.Config.Domain) {
				return d.DialContext(ctx, network, addr)
			}
			return nil, errors.New("testenv: refusing to dial " + host + " (not a keyward host)")
		},
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// ClientOptions are azcore options that reach keyward.
func (e *Env) ClientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: e.HTTP,
		Cloud:     e.Cloud(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

// Cloud is the cloud.Configuration of this keyward.
func (e *Env) Cloud() cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: e.Conn.AuthorityHost,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: e.Conn.ResourceManagerEndpoint, Audience: e.Conn.ResourceManagerAudience},
		},
	}
}

// ARMOptions are ARM client options that reach keyward.
func (e *Env) ARMOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: e.ClientOptions()}
}

// Credential returns a ClientSecretCredential for clientID/secret in the
// bootstrap tenant.
func (e *Env) Credential(t testing.TB, clientID, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(e.Conn.TenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Transport: e.HTTP, Cloud: e.Cloud()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatalf("credential: %v", err)
	}
	return cred
}

// Bootstrap returns the bootstrap principal's credential (Owner of the
// subscription).
func (e *Env) Bootstrap(t testing.TB) azcore.TokenCredential {
	return e.Credential(t, e.Conn.ClientID, e.Conn.ClientSecret)
}

// URL returns "https://<label>.<domain>:<port><path>".
func (e *Env) URL(label, path string) string {
	_, port, _ := net.SplitHostPort(e.Config.Addr)
	return "https://" + label + "." + e.Config.Domain + ":" + port + path
}
