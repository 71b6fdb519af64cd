package logic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/keybinding"
	"github.com/keyward/keyward/internal/managedidentity"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// VaultInfo is what the ISE rules need to know about a key vault.
type VaultInfo struct {
	ID              string // resource id
	Name            string
	URI             string // "https://<name>.vault.<domain>:<port>/"
	TenantID        string
	SoftDelete      bool
	PurgeProtection bool
	// RBAC is true for vaults that use the Azure RBAC permission model
	// (access policies are ignored there).
	RBAC bool
}

// Vaults is the service's view of the key vault service.
type Vaults interface {
	// Vault returns a live vault by name, or an error.
	Vault(ctx context.Context, name string) (VaultInfo, error)
	// Subscribe calls fn with the vault's name for every key vault event
	// (keys, access policies, role assignments); cancel stops it.
	Subscribe(fn func(vaultName string)) (cancel func())
}

// ServiceBusConnection is a parsed Service Bus connection string.
type ServiceBusConnection struct {
	// Host is the namespace host, e.g. "ns1.servicebus.keyward.localhost".
	Host       string
	KeyName    string
	Key        string
	EntityPath string
}

// ServiceBusMessage is a message the Service Bus action sends.
type ServiceBusMessage struct {
	Body                 []byte
	ContentType          string
	MessageID            string
	SessionID            string
	CorrelationID        string
	Subject              string
	To                   string
	ReplyTo              string
	TimeToLive           time.Duration
	ScheduledEnqueueTime time.Time
	Properties           map[string]any
}

// ServiceBus sends messages to keyward namespaces.
type ServiceBus interface {
	// Send verifies conn's shared access key for the Send right on entity
	// and sends msg to it.
	Send(ctx context.Context, conn ServiceBusConnection, entity string, msg ServiceBusMessage) error
}

// HTTPRequest is the Http action's request.
type HTTPRequest struct {
	Method  string
	URL     string
	Headers map[string]string
	Body    []byte
}

// HTTPResponse is the Http action's response.
type HTTPResponse struct {
	StatusCode int
	Headers    map[string]string
	Body       []byte
}

// HTTPClient performs the Http action's requests (logichttp.Client).
type HTTPClient interface {
	Do(ctx context.Context, req HTTPRequest) (HTTPResponse, error)
}

// Config configures the Service.
type Config struct {
	// KeyAccessTimeout is how long an ISE waits for access to its key
	// (--ise-key-access-timeout; default 30 minutes).
	KeyAccessTimeout time.Duration
	// AccessPollInterval is how often a provisioning ISE re-checks access
	// besides reacting to key vault events (default 10 seconds).
	AccessPollInterval time.Duration
	// CallbackBase is the base URL of callback and content URLs, e.g.
	// "https://management.keyward.localhost:8443".
	CallbackBase string
	// RunsKept bounds the run history kept per workflow (default 1000).
	RunsKept int
	// ResponseTimeout bounds how long a Request trigger waits for its
	// Response action (default 2 minutes).
	ResponseTimeout time.Duration
	// MaxActions bounds the actions one run executes, loops included
	// (default 100000).
	MaxActions int
}

// Service holds ISEs and workflows and runs them.
type Service struct {
	st     store.Store
	sys    *seal.DataKey
	kb     *keybinding.Engine
	msi    *managedidentity.Service
	m      *arm.Manager
	vaults Vaults
	sb     ServiceBus
	http   HTTPClient
	clock  clock.Clock
	log    *slog.Logger
	cfg    Config

	ises  records.Table[ISE]
	heads records.Table[workflowHead]

	mu       sync.RWMutex
	iseByID  map[string]*ISE          // lower id
	wfByID   map[string]*workflowHead // lower id
	byAccess map[string]string        // access id -> lower workflow id
	prov     map[string]*provisioning // lower ISE id
	sched    map[string]func()        // lower workflow id -> stop its recurrence loops
	runMu    map[string]*sync.Mutex   // lower workflow id -> serializes run record writes
	lastName int64                    // the newest time used in a run or version name

	wmu sync.Mutex // serializes resource writes

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	unsub  func()
}

// New returns the service; Start loads the stored ISEs and workflows.
func New(st store.Store, sys *seal.DataKey, kb *keybinding.Engine, msi *managedidentity.Service, m *arm.Manager,
	vaults Vaults, sb ServiceBus, hc HTTPClient, clk clock.Clock, log *slog.Logger, cfg Config) *Service {
	if cfg.KeyAccessTimeout <= 0 {
		cfg.KeyAccessTimeout = 30 * time.Minute
	}
	if cfg.AccessPollInterval <= 0 {
		cfg.AccessPollInterval = 10 * time.Second
	}
	if cfg.RunsKept <= 0 {
		cfg.RunsKept = 1000
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = 2 * time.Minute
	}
	if cfg.MaxActions <= 0 {
		cfg.MaxActions = 100000
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.CallbackBase = strings.TrimRight(cfg.CallbackBase, "/")
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		st: st, sys: sys, kb: kb, msi: msi, m: m, vaults: vaults, sb: sb, http: hc, clock: clk, log: log, cfg: cfg,
		ises:    records.NewTable[ISE](st, sys, "logic/ise/"),
		heads:   records.NewTable[workflowHead](st, sys, "logic/wf/"),
		iseByID: map[string]*ISE{}, wfByID: map[string]*workflowHead{}, byAccess: map[string]string{},
		prov: map[string]*provisioning{}, sched: map[string]func(){}, runMu: map[string]*sync.Mutex{},
		ctx: ctx, cancel: cancel,
	}
}

// Start loads every ISE and workflow, resumes the access window of ISEs
// that were provisioning, marks runs that a stop interrupted as failed and
// starts the recurrence triggers.
func (s *Service) Start(ctx context.Context) error {
	ises, err := s.ises.List(ctx, "")
	if err != nil {
		return fmt.Errorf("logic: load ISEs: %w", err)
	}
	heads, err := s.heads.List(ctx, "")
	if err != nil {
		return fmt.Errorf("logic: load workflows: %w", err)
	}
	s.mu.Lock()
	for i := range ises {
		x := ises[i]
		s.iseByID[strings.ToLower(x.ID)] = &x
	}
	for i := range heads {
		h := heads[i]
		s.wfByID[strings.ToLower(h.ID)] = &h
		s.byAccess[h.AccessID] = strings.ToLower(h.ID)
	}
	s.mu.Unlock()
	s.unsub = s.vaults.Subscribe(s.onVaultEvent)
	for _, x := range ises {
		if x.ProvisioningState == StateInProgress {
			s.startProvisioning(x)
		}
	}
	for _, h := range heads {
		s.abandonRuns(ctx, h)
		s.reschedule(h.ID)
	}
	return nil
}

// Close stops provisioning, triggers and runs.
func (s *Service) Close() {
	if s.unsub != nil {
		s.unsub()
	}
	s.cancel()
	s.wg.Wait()
}

// ErrRevoked is the cause of every data operation refused because the
// owning ISE's customer-managed key is unusable.
var ErrRevoked = errors.New("logic: the customer-managed key of the integration service environment is unusable (Revoked)")

// dataKey returns the data key that seals a workflow's data: its ISE's, or
// the workflow's own outside an ISE.
func (s *Service) dataKey(owner string) (*seal.DataKey, error) {
	dk, err := s.kb.DataKey(owner)
	switch {
	case errors.Is(err, keybinding.ErrRevoked):
		return nil, ErrRevoked
	case err != nil:
		return nil, fmt.Errorf("logic: data key of %s: %w", owner, err)
	}
	return dk, nil
}

// revokedError is the ARM error for data operations on a Revoked ISE.
func (s *Service) revokedError(owner string) *arm.Error {
	name := owner[strings.LastIndex(owner, "/")+1:]
	if strings.Contains(strings.ToLower(owner), "/integrationserviceenvironments/") {
		return arm.Conflict("IntegrationServiceEnvironmentRevoked", "The integration service environment '%s' is Revoked: its customer-managed key is unusable (disabled, deleted, or the environment's identity lost access). Its data is kept; it works again once the key is usable.", name)
	}
	return arm.Conflict("WorkflowEncryptionKeyUnavailable", "The data key of workflow '%s' is unavailable.", name)
}

// dataErr maps a data key error to an ARM error.
func (s *Service) dataErr(owner string, err error) error {
	if errors.Is(err, ErrRevoked) {
		return s.revokedError(owner)
	}
	return err
}

func (s *Service) apply(ctx context.Context, b *store.Batch) error {
	b.Sync = true
	if err := s.st.Apply(ctx, b); err != nil {
		return fmt.Errorf("logic: store: %w", err)
	}
	return nil
}

func (s *Service) onVaultEvent(vaultName string) {
	s.mu.RLock()
	var kicks []*provisioning
	for _, p := range s.prov {
		if strings.EqualFold(p.vault, vaultName) {
			kicks = append(kicks, p)
		}
	}
	s.mu.RUnlock()
	for _, p := range kicks {
		p.kickNow()
	}
}
