package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/arm/armhttp"
	"github.com/keyward/keyward/internal/arm/authzarm"
	"github.com/keyward/keyward/internal/arm/deployments"
	"github.com/keyward/keyward/internal/arm/template"
	"github.com/keyward/keyward/internal/authz"
	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/connfile"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/identity/graphhttp"
	"github.com/keyward/keyward/internal/identity/oauthhttp"
	"github.com/keyward/keyward/internal/keybinding"
	"github.com/keyward/keyward/internal/logic"
	"github.com/keyward/keyward/internal/managedidentity"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/tlsca"
	"github.com/keyward/keyward/internal/vault"
	"github.com/keyward/keyward/internal/vault/vaulthttp"
)

// Version is keyward's version, set at build time with -ldflags.
const Version = "0.1.0-dev"

// App is a running keyward: every service, its store and its listeners.
type App struct {
	cfg   Config
	log   *slog.Logger
	clock clock.Clock
	reg   *prometheus.Registry

	st     store.Store
	root   *seal.RootKey
	sysKey *seal.DataKey
	ca     *tlsca.CA

	// Identity is the identity service.
	Identity *identity.Service
	// Authz holds role assignments and evaluates access.
	Authz *authz.Service
	// ARM is the resource manager.
	ARM *arm.Manager
	// MSI is the managed identity provider and identity helper.
	MSI *managedidentity.Service
	// Vault is the key vault service.
	Vault *vault.Service
	// Keys is the customer-managed-key engine.
	Keys *keybinding.Engine
	// Namespaces holds Service Bus namespaces as resources.
	Namespaces *namespaces.Service
	// Broker is the Service Bus broker.
	Broker *servicebus.Broker
	// Logic holds integration service environments and workflows (logic.go).
	Logic *logic.Service

	vaultHTTP *vaulthttp.Handler

	// The server certificate's TLS configuration, shared by HTTPS and AMQP.
	tlsOnce sync.Once
	tlsCfg  *tls.Config
	tlsErr  error

	// AMQP listeners and their serving goroutines (see amqp.go).
	amqp amqpState

	boot bootstrap
	conn connfile.Connection

	httpLn  net.Listener
	httpSrv *http.Server
	ready   atomic.Bool

	closeOnce sync.Once
	closers   []func() error
}

// Option adjusts how New builds an App (tests use them).
type Option func(*App)

// WithClock makes the App read time from c.
func WithClock(c clock.Clock) Option { return func(a *App) { a.clock = c } }

// New opens the data directory, the store and every service, and binds the
// listeners. It serves nothing until Run.
func New(ctx context.Context, cfg Config, log *slog.Logger, opts ...Option) (_ *App, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, log: log, clock: clock.Real{}, reg: prometheus.NewRegistry()}
	for _, o := range opts {
		o(a)
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	a.cfg.DataDir = dataDir
	if err := a.openStore(ctx); err != nil {
		return nil, err
	}
	if err := a.openCA(ctx); err != nil {
		return nil, err
	}
	a.httpLn, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %s: %w", cfg.Addr, err)
	}
	a.closers = append(a.closers, func() error { a.httpLn.Close(); return nil })

	a.Identity, err = identity.New(ctx, a.st, a.sysKey, a.clock, log.With("component", "identity"), identity.Config{
		IssuerBase:    a.loginBase(),
		TokenLifetime: cfg.TokenLifetime,
		Resources:     a.knownResource,
	})
	if err != nil {
		return nil, err
	}
	a.Authz, err = authz.New(ctx, a.st, a.sysKey, a.clock, log.With("component", "authz"))
	if err != nil {
		return nil, err
	}
	a.ARM = arm.NewManager(a.st, a.sysKey, a.clock, log.With("component", "arm"), a.Authz, a.Authz, arm.Config{})
	a.closers = append(a.closers, func() error { a.ARM.Close(); return nil })
	a.MSI = managedidentity.New(a.st, a.sysKey, a.Identity, a.clock.Now)
	a.ARM.Register(authzarm.New(a.Authz, a.Identity))
	a.ARM.Register(a.MSI)
	a.ARM.Register(deployments.New(a.st, a.sysKey, deployments.Config{Environment: template.Environment{
		Name: "keyward", ResourceManager: a.hostURL("management") + "/", LoginEndpoint: a.loginBase() + "/",
		Audiences: []string{"https://management.core.windows.net/", "https://management.azure.com/"},
		Graph:     a.hostURL("graph") + "/", GraphAudience: "https://graph.microsoft.com",
		Suffixes: map[string]string{"keyvaultDns": ".vault." + a.cfg.Domain, "serviceBus": ".servicebus." + a.cfg.Domain, "acrLoginServer": "", "storage": ""},
	}}))
	if err := a.bootstrap(ctx); err != nil {
		return nil, err
	}
	if err := a.openServices(ctx); err != nil {
		return nil, err
	}
	if err := a.openAMQP(ctx); err != nil {
		return nil, err
	}
	if err := a.buildHTTP(); err != nil {
		return nil, err
	}
	return a, nil
}

// rootKeyFile is the file a generated root key lives in.
const rootKeyFile = "root.key"

// openStore opens the root key and the store, and the system data key
// sealed under the root key. A data directory with a store and no root key
// never gets a new root key.
func (a *App) openStore(ctx context.Context) error {
	storeDir := filepath.Join(a.cfg.DataDir, "store")
	existing := dirHasEntries(storeDir)
	switch {
	case a.cfg.RootKey != "":
		k, err := seal.ParseRootKey(a.cfg.RootKey)
		if err != nil {
			return fmt.Errorf("KEYWARD_ROOT_KEY: %w", err)
		}
		a.root = k
	case a.cfg.RootKeyFile != "":
		k, _, err := seal.LoadOrCreateRootKey(a.cfg.RootKeyFile, false)
		if err != nil {
			return fmt.Errorf("--root-key-file: %w", err)
		}
		a.root = k
	default:
		k, created, err := seal.LoadOrCreateRootKey(filepath.Join(a.cfg.DataDir, rootKeyFile), !existing)
		if err != nil {
			if existing {
				return fmt.Errorf("the data directory %s holds a store but no %s: supply its root key with --root-key-file or KEYWARD_ROOT_KEY (keyward never makes a new root key over existing data): %w", a.cfg.DataDir, rootKeyFile, err)
			}
			return fmt.Errorf("root key: %w", err)
		}
		if created {
			a.log.Info("generated a new root key", "file", filepath.Join(a.cfg.DataDir, rootKeyFile), "fingerprint", k.Fingerprint())
		}
		a.root = k
	}
	st, err := store.Open(storeDir, a.log)
	if err != nil {
		return err
	}
	a.st = st
	a.closers = append(a.closers, st.Close)

	raw, err := st.Get(ctx, []byte(sysDataKey))
	switch {
	case errors.Is(err, store.ErrNotFound):
		if existing && storeHasData(ctx, st) {
			return errors.New("the store has data but no system data key: it is damaged or not a keyward store")
		}
		dk, err := seal.NewDataKey()
		if err != nil {
			return err
		}
		env, err := seal.Wrap(ctx, dk, a.root)
		if err != nil {
			return fmt.Errorf("wrap system data key: %w", err)
		}
		b, err := env.MarshalBinary()
		if err != nil {
			return err
		}
		batch := &store.Batch{Sync: true}
		batch.Set([]byte(sysDataKey), b)
		if err := st.Apply(ctx, batch); err != nil {
			return err
		}
		a.sysKey = dk
	case err != nil:
		return err
	default:
		var env seal.Envelope
		if err := env.UnmarshalBinary(raw); err != nil {
			return fmt.Errorf("system data key: %w", err)
		}
		dk, _, err := seal.Open(ctx, env, seal.ResolveByID(a.root))
		if err != nil {
			if errors.Is(err, seal.ErrWrongRootKey) {
				want := ""
				for _, w := range env.Wraps {
					if w.KEKID == seal.RootKEKID {
						want = w.KEKVersion
					}
				}
				return fmt.Errorf("wrong root key: this data directory is sealed under root key %s, but the key given has fingerprint %s", want, a.root.Fingerprint())
			}
			return fmt.Errorf("open system data key: %w", err)
		}
		a.sysKey = dk
	}
	a.closers = append(a.closers, func() error { a.sysKey.Destroy(); return nil })
	return nil
}

// Store keys of the app's own records.
const (
	sysDataKey   = "sys/datakey"
	sysPrefix    = "sys/rec/"
	recCA        = "ca"
	recBootstrap = "bootstrap"
)

func dirHasEntries(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) > 0
}

func storeHasData(ctx context.Context, st store.Store) bool {
	it, err := st.Scan(ctx, store.ScanOptions{})
	if err != nil {
		return true
	}
	defer it.Close()
	return it.Next()
}

type caRecord struct {
	CertPEM []byte `json:"certPEM"`
	KeyDER  []byte `json:"keyDER"`
}

// openCA loads the local CA (creating it on first start) and writes ca.pem.
func (a *App) openCA(ctx context.Context) error {
	t := records.NewTable[caRecord](a.st, a.sysKey, sysPrefix)
	rec, err := t.Get(ctx, recCA)
	switch {
	case errors.Is(err, store.ErrNotFound):
		ca, err := tlsca.New(a.clock.Now())
		if err != nil {
			return err
		}
		der, err := ca.MarshalKey()
		if err != nil {
			return err
		}
		b := &store.Batch{Sync: true}
		if err := t.Put(b, recCA, caRecord{CertPEM: ca.CertPEM(), KeyDER: der}); err != nil {
			return err
		}
		clear(der)
		if err := a.st.Apply(ctx, b); err != nil {
			return err
		}
		a.ca = ca
	case err != nil:
		return fmt.Errorf("load CA: %w", err)
	default:
		ca, err := tlsca.Parse(rec.CertPEM, rec.KeyDER)
		clear(rec.KeyDER)
		if err != nil {
			return err
		}
		a.ca = ca
	}
	return writeFileAtomic(filepath.Join(a.cfg.DataDir, "ca.pem"), a.ca.CertPEM(), 0o644)
}

// writeFileAtomic writes data to path through a temporary file, fsync and
// rename, so a crash leaves the old or the new file, never a torn one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
			return nil
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// port returns the HTTPS listener's port as a string.
func (a *App) port() string {
	_, p, _ := net.SplitHostPort(a.httpLn.Addr().String())
	return p
}

// hostURL returns "https://<label>.<domain>:<port>".
func (a *App) hostURL(label string) string {
	return "https://" + label + "." + a.cfg.Domain + ":" + a.port()
}

func (a *App) loginBase() string { return a.hostURL("login") }

// Audiences of each keyward service: Azure's own resource URIs, so that
// unmodified clients ask for them, and keyward's host names.
func (a *App) armAudiences() []string {
	return []string{"https://management.core.windows.net/", "https://management.azure.com/", a.hostURL("management"), "https://management." + a.cfg.Domain}
}

func (a *App) graphAudiences() []string {
	return []string{"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000", a.hostURL("graph"), "https://graph." + a.cfg.Domain}
}

func (a *App) vaultAudiences() []string {
	return []string{"https://vault.azure.net", a.hostURL("vault"), "https://vault." + a.cfg.Domain}
}

func (a *App) serviceBusAudiences() []string {
	return []string{"https://servicebus.azure.net", a.hostURL("servicebus"), "https://servicebus." + a.cfg.Domain}
}

// knownResource reports whether keyward serves resource (a token audience).
func (a *App) knownResource(resource string) bool {
	for _, set := range [][]string{a.armAudiences(), a.graphAudiences(), a.vaultAudiences(), a.serviceBusAudiences()} {
		for _, r := range set {
			if identity.SameResource(r, resource) {
				return true
			}
		}
	}
	return false
}

// serverNames are the DNS names the server certificate covers.
func (a *App) serverNames() []string {
	d := a.cfg.Domain
	return []string{
		"login." + d, "management." + d, "graph." + d,
		"vault." + d, "*.vault." + d, "servicebus." + d, "*.servicebus." + d,
		d, "localhost",
	}
}

// tlsConfig returns the server certificate's TLS configuration (made once,
// shared by every TLS listener).
func (a *App) tlsConfig() (*tls.Config, error) {
	a.tlsOnce.Do(func() { a.tlsCfg, a.tlsErr = a.makeTLSConfig() })
	return a.tlsCfg, a.tlsErr
}

func (a *App) makeTLSConfig() (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	if a.cfg.TLSCertFile != "" {
		cert, err = tls.LoadX509KeyPair(a.cfg.TLSCertFile, a.cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	} else {
		cert, err = a.ca.Issue(a.serverNames(), []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, a.clock.Now())
		if err != nil {
			return nil, err
		}
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}, nil
}

func (a *App) buildHTTP() error {
	tlsCfg, err := a.tlsConfig()
	if err != nil {
		return err
	}
	m := httpx.NewMetrics(a.reg)
	hl := a.log.With("component", "http")
	fallback := http.NewServeMux()
	fallback.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	fallback.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "HostNotFound", "message": fmt.Sprintf("keyward serves no host named %q; hosts end in .%s", httpx.HostName(r.Host), a.cfg.Domain)}})
	})
	router := httpx.NewHostRouter(a.cfg.Domain, httpx.Wrap("default", fallback, hl, m))
	login := oauthhttp.New(a.Identity, a.loginBase(), a.clock.Now)
	login.ServeADFS(a.boot.TenantID)
	loginHTTP := httpx.Wrap("login", login, hl, m)
	router.Handle("login", loginHTTP)
	// The managed identity endpoint also answers on the loopback names, as
	// App Service's does (IDENTITY_ENDPOINT=http://localhost:.../msi/token):
	// https://127.0.0.1:<port>/msi/token needs no DNS name.
	router.HandleLoopback("/msi/token", loginHTTP)
	router.Handle("graph", httpx.Wrap("graph", graphhttp.New(a.Identity, a.hostURL("graph"), a.graphAudiences()), hl, m))
	router.HandleWildcard("vault", func(name string) http.Handler {
		return httpx.Wrap("vault", a.vaultHTTP.Handler(name), hl, m)
	})
	router.HandleWildcard("servicebus", func(name string) http.Handler {
		return httpx.Wrap("servicebus", a.serviceBusHTTP(name), hl, m)
	})
	router.Handle("management", httpx.Wrap("management", a.logicCallbacks(armhttp.New(a.ARM, a.Identity, a.armAudiences(), a.hostURL("management"), a.loginBase(), a.boot.TenantID)), hl, m))

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !a.ready.Load() {
			httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": Version})
	})
	if a.amqp.wsLn != nil {
		ws := httpx.Wrap("amqp-websocket", a.amqp.wsLn, hl, m)
		root.Handle("GET /$servicebus/websocket", ws)
		root.Handle("GET /$servicebus/websocket/{$}", ws)
	}
	root.Handle("/", router)
	a.httpSrv = &http.Server{
		Handler:           root,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(hl.Handler(), slog.LevelDebug),
	}
	return nil
}

// Run serves until ctx is cancelled, then shuts down: listeners stop
// accepting, in-flight requests finish (up to a bound), the store closes.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, 4)
	go func() {
		err := a.httpSrv.ServeTLS(a.httpLn, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	a.serveAMQP(ctx, errc)
	a.ready.Store(true)
	a.log.Info("keyward is ready", "https", a.httpLn.Addr().String(), "domain", a.cfg.Domain, "data_dir", a.cfg.DataDir)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	a.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.httpSrv.Shutdown(sctx); err != nil {
		a.log.Warn("http shutdown", "err", err)
	}
	a.Close()
	a.log.Info("keyward stopped")
	return runErr
}

// Close releases everything New opened, in reverse order.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		for i := len(a.closers) - 1; i >= 0; i-- {
			if err := a.closers[i](); err != nil {
				a.log.Warn("close", "err", err)
			}
		}
	})
}

// HTTPSAddr is the address the HTTPS listener is bound to.
func (a *App) HTTPSAddr() string { return a.httpLn.Addr().String() }

// CAPEM returns the local CA certificate.
func (a *App) CAPEM() []byte { return a.ca.CertPEM() }

// Connection returns what connection.json holds.
func (a *App) Connection() connfile.Connection { return a.conn }

// Registry is the app's Prometheus registry.
func (a *App) Registry() *prometheus.Registry { return a.reg }

// bootstrap is the record of what first start created.
type bootstrap struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	AppObjectID    string `json:"appObjectId"`
	ClientID       string `json:"clientId"`
	PrincipalID    string `json:"principalId"`
}

// bootstrap creates the bootstrap tenant, subscription and service principal
// on first start, and writes connection.json on every start.
func (a *App) bootstrap(ctx context.Context) error {
	t := records.NewTable[bootstrap](a.st, a.sysKey, sysPrefix)
	bs, err := t.Get(ctx, recBootstrap)
	if errors.Is(err, store.ErrNotFound) {
		ten, err := a.Identity.CreateTenant(ctx, "keyward")
		if err != nil {
			return err
		}
		app, err := a.Identity.CreateApplication(ctx, ten.ID, "keyward-bootstrap")
		if err != nil {
			return err
		}
		sp, err := a.Identity.CreateServicePrincipal(ctx, ten.ID, app.AppID)
		if err != nil {
			return err
		}
		if err := a.Identity.SetDirectoryRoles(ctx, ten.ID, sp.ObjectID, []string{identity.RoleGlobalAdministrator}); err != nil {
			return err
		}
		bs = bootstrap{TenantID: ten.ID, SubscriptionID: uuid.NewString(), AppObjectID: app.ObjectID, ClientID: app.AppID, PrincipalID: sp.ObjectID}
		b := &store.Batch{Sync: true}
		if err := t.Put(b, recBootstrap, bs); err != nil {
			return err
		}
		if err := a.st.Apply(ctx, b); err != nil {
			return err
		}
		a.log.Info("bootstrap tenant created", "tenant", bs.TenantID, "subscription", bs.SubscriptionID, "client_id", bs.ClientID)
	} else if err != nil {
		return fmt.Errorf("load bootstrap record: %w", err)
	}
	a.boot = bs
	if err := a.ARM.EnsureSubscription(ctx, bs.SubscriptionID, bs.TenantID, "keyward"); err != nil {
		return fmt.Errorf("bootstrap subscription: %w", err)
	}
	ownerName := uuid.NewSHA1(uuid.NameSpaceOID, []byte("keyward bootstrap owner "+bs.PrincipalID)).String()
	if _, err := a.Authz.Get(ownerName); err != nil {
		if _, err := a.Authz.Create(ctx, authz.Assignment{
			Name: ownerName, Scope: "/subscriptions/" + bs.SubscriptionID, RoleDefinitionID: authz.RoleOwner,
			PrincipalID: bs.PrincipalID, PrincipalType: "ServicePrincipal", Description: "keyward bootstrap principal",
		}); err != nil {
			return fmt.Errorf("bootstrap owner role: %w", err)
		}
	}

	path := filepath.Join(a.cfg.DataDir, connfile.Name)
	secret := ""
	if old, err := connfile.Read(path); err == nil && strings.EqualFold(old.ClientID, bs.ClientID) && old.ClientSecret != "" {
		app, err := a.Identity.Application(ctx, bs.TenantID, bs.AppObjectID)
		if err == nil && a.Identity.CheckClientSecret(app, old.ClientSecret) {
			secret = old.ClientSecret
		}
	}
	if secret == "" {
		ns, err := a.Identity.AddPassword(ctx, bs.TenantID, bs.AppObjectID, "connection.json", time.Time{})
		if err != nil {
			return fmt.Errorf("bootstrap secret: %w", err)
		}
		secret = ns.SecretText
	}
	amqpPlain := ""
	if a.cfg.AMQPPlainAddr != "" {
		amqpPlain = a.cfg.AMQPPlainAddr
	}
	a.conn = connfile.Connection{
		TenantID: bs.TenantID, SubscriptionID: bs.SubscriptionID, ClientID: bs.ClientID, ClientSecret: secret, ObjectID: bs.PrincipalID,
		AuthorityHost:           a.loginBase() + "/",
		ResourceManagerEndpoint: a.hostURL("management") + "/",
		ResourceManagerAudience: "https://management.core.windows.net/",
		GraphEndpoint:           a.hostURL("graph") + "/",
		KeyVaultDNSSuffix:       "vault." + a.cfg.Domain,
		ServiceBusDNSSuffix:     "servicebus." + a.cfg.Domain,
		HTTPSAddr:               a.httpLn.Addr().String(),
		AMQPAddr:                a.cfg.AMQPAddr,
		AMQPPlainAddr:           amqpPlain,
		CAFile:                  filepath.Join(a.cfg.DataDir, "ca.pem"),
	}
	return a.writeConnection()
}

// writeConnection writes connection.json from a.conn.
func (a *App) writeConnection() error {
	b, err := json.MarshalIndent(a.conn, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(a.cfg.DataDir, connfile.Name), append(b, '\n'), 0o600)
}
