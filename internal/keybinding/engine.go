package keybinding

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// KeyState is what the engine last learned about one customer key.
type KeyState struct {
	Ref       KeyRef    `json:"ref"`
	Version   string    `json:"version,omitempty"` // the version the data key is wrapped under
	Usable    bool      `json:"usable"`
	Reason    string    `json:"reason,omitempty"` // why it is not usable
	CheckedAt time.Time `json:"checkedAt"`
	LastGood  time.Time `json:"lastGood,omitempty"`
}

// record is a binding as stored.
type record struct {
	ResourceID string               `json:"resourceId"`
	TenantID   string               `json:"tenantId"`
	Keys       []KeyRef             `json:"keys,omitempty"`
	Principals map[string]Principal `json:"principals,omitempty"` // by KeyRef.Identity ("" = system-assigned)
	Envelope   []byte               `json:"envelope"`
	Status     Status               `json:"status"`
	States     []KeyState           `json:"states,omitempty"`
	Pin        bool                 `json:"pin,omitempty"`
	UpdatedAt  time.Time            `json:"updatedAt"`
}

// Info is a binding's public state.
type Info struct {
	ResourceID string
	Status     Status
	Keys       []KeyState
	// CustomerManaged is false for root-wrapped bindings.
	CustomerManaged bool
	UpdatedAt       time.Time
}

type binding struct {
	mu       sync.Mutex // serializes checks and updates; guards rec and watchers
	rec      record
	dk       atomic.Pointer[seal.DataKey]
	refs     atomic.Pointer[[]KeyRef] // a copy of rec.Keys for lock-free readers
	watchers []func(Status)
}

// setKeys replaces the binding's key list (b.mu held).
func (b *binding) setKeys(keys []KeyRef) {
	b.rec.Keys = keys
	cp := append([]KeyRef(nil), keys...)
	b.refs.Store(&cp)
}

// keys returns the binding's key list without locking.
func (b *binding) keys() []KeyRef {
	if p := b.refs.Load(); p != nil {
		return *p
	}
	return nil
}

// Config configures an Engine.
type Config struct {
	// PollInterval is how often every binding re-reads its keys (default 5m).
	PollInterval time.Duration
	// UnreachableGrace is how long a binding keeps serving from its cache
	// while its vaults cannot be reached (default 15m).
	UnreachableGrace time.Duration
	// Registerer receives the engine's metrics (optional).
	Registerer prometheus.Registerer
}

// Engine holds every key binding.
type Engine struct {
	st    store.Store
	root  seal.KEK
	vault Vault
	clock clock.Clock
	log   *slog.Logger
	cfg   Config
	tab   records.Table[record]

	mu       sync.RWMutex
	bindings map[string]*binding // lower resource id

	transitions *prometheus.CounterVec
	revoked     prometheus.Gauge

	kick    chan string // resource ids to check now
	stop    context.CancelFunc
	done    sync.WaitGroup
	cancelS func()
}

// New returns an engine; Start loads the bindings and begins polling.
func New(st store.Store, dk *seal.DataKey, root seal.KEK, v Vault, clk clock.Clock, log *slog.Logger, cfg Config) *Engine {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Minute
	}
	if cfg.UnreachableGrace < 0 {
		cfg.UnreachableGrace = 0
	}
	e := &Engine{
		st: st, root: root, vault: v, clock: clk, log: log, cfg: cfg,
		tab:      records.NewTable[record](st, dk, "kb/"),
		bindings: map[string]*binding{},
		kick:     make(chan string, 1024),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_keybinding_events_total",
			Help: "Customer-managed key binding state changes: key_added, key_rotated, key_dropped, key_restored, active, revoked.",
		}, []string{"event"}),
		revoked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keyward_keybinding_revoked", Help: "Resources whose encryption status is Revoked.",
		}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(e.transitions, e.revoked)
	}
	return e
}

// Start loads every stored binding, checks it, subscribes to key vault
// events and starts the poll loop.
func (e *Engine) Start(ctx context.Context) error {
	recs, err := e.tab.List(ctx, "")
	if err != nil {
		return fmt.Errorf("keybinding: load: %w", err)
	}
	for _, r := range recs {
		b := &binding{rec: r}
		b.setKeys(r.Keys)
		e.mu.Lock()
		e.bindings[strings.ToLower(r.ResourceID)] = b
		e.mu.Unlock()
		if len(r.Keys) == 0 {
			if err := e.openRoot(ctx, b); err != nil {
				return err
			}
			continue
		}
		e.check(ctx, b, "start")
	}
	lctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	e.cancelS = e.vault.Subscribe(e.onEvent)
	e.done.Add(2)
	go e.pollLoop(lctx)
	go e.kickLoop(lctx)
	return nil
}

// Close stops polling and drops every data key from memory.
func (e *Engine) Close() {
	if e.stop != nil {
		e.stop()
		e.cancelS()
		e.done.Wait()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.bindings {
		if dk := b.dk.Swap(nil); dk != nil {
			dk.Destroy()
		}
	}
}

func (e *Engine) openRoot(ctx context.Context, b *binding) error {
	var env seal.Envelope
	if err := env.UnmarshalBinary(b.rec.Envelope); err != nil {
		return fmt.Errorf("keybinding: %s: %w", b.rec.ResourceID, err)
	}
	dk, _, err := seal.Open(ctx, env, seal.ResolveByID(e.root))
	if err != nil {
		return fmt.Errorf("keybinding: %s: open root-wrapped data key: %w", b.rec.ResourceID, err)
	}
	b.dk.Store(dk)
	return nil
}

func (e *Engine) get(resourceID string) (*binding, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	b, ok := e.bindings[strings.ToLower(resourceID)]
	return b, ok
}

// Create gives resourceID a new data key wrapped by the root key. It is a
// no-op if the resource already has a binding.
func (e *Engine) Create(ctx context.Context, resourceID, tenantID string) error {
	e.mu.Lock()
	if _, ok := e.bindings[strings.ToLower(resourceID)]; ok {
		e.mu.Unlock()
		return nil
	}
	b := &binding{}
	b.mu.Lock()
	defer b.mu.Unlock()
	e.bindings[strings.ToLower(resourceID)] = b
	e.mu.Unlock()
	dk, err := seal.NewDataKey()
	if err != nil {
		e.remove(resourceID)
		return err
	}
	env, err := seal.Wrap(ctx, dk, e.root)
	if err != nil {
		e.remove(resourceID)
		return fmt.Errorf("keybinding: wrap data key: %w", err)
	}
	raw, err := env.MarshalBinary()
	if err != nil {
		e.remove(resourceID)
		return err
	}
	b.rec = record{ResourceID: resourceID, TenantID: tenantID, Envelope: raw, Status: StatusActive, UpdatedAt: e.clock.Now().UTC()}
	if err := e.persist(ctx, b); err != nil {
		e.remove(resourceID)
		return err
	}
	b.dk.Store(dk)
	return nil
}

func (e *Engine) remove(resourceID string) {
	e.mu.Lock()
	delete(e.bindings, strings.ToLower(resourceID))
	e.mu.Unlock()
}

// Delete removes a resource's binding and its wrapped data key for good.
func (e *Engine) Delete(ctx context.Context, resourceID string) error {
	b, ok := e.get(resourceID)
	if !ok {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bt := &store.Batch{Sync: true}
	e.tab.Delete(bt, strings.ToLower(resourceID))
	if err := e.st.Apply(ctx, bt); err != nil {
		return err
	}
	if dk := b.dk.Swap(nil); dk != nil {
		dk.Destroy()
	}
	if b.rec.Status == StatusRevoked {
		e.revoked.Dec()
	}
	e.remove(resourceID)
	return nil
}

// DataKey returns the resource's data key, ErrRevoked while every customer
// key is unusable, or ErrNotFound.
func (e *Engine) DataKey(resourceID string) (*seal.DataKey, error) {
	b, ok := e.get(resourceID)
	if !ok {
		return nil, ErrNotFound
	}
	if dk := b.dk.Load(); dk != nil {
		return dk, nil
	}
	return nil, ErrRevoked
}

// Info returns a resource's binding state.
func (e *Engine) Info(resourceID string) (Info, error) {
	b, ok := e.get(resourceID)
	if !ok {
		return Info{}, ErrNotFound
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return Info{ResourceID: b.rec.ResourceID, Status: b.rec.Status, Keys: append([]KeyState(nil), b.rec.States...),
		CustomerManaged: len(b.rec.Keys) > 0, UpdatedAt: b.rec.UpdatedAt}, nil
}

// Watch calls fn (asynchronously) on every status change of the resource.
func (e *Engine) Watch(resourceID string, fn func(Status)) {
	b, ok := e.get(resourceID)
	if !ok {
		return
	}
	b.mu.Lock()
	b.watchers = append(b.watchers, fn)
	b.mu.Unlock()
}

// Options adjust SetKeys.
type Options struct {
	// Pin resolves versionless references to the version current at this
	// update and never follows rotations (integration service environments).
	Pin bool
}

// SetKeys makes keys the resource's customer keys (1 to MaxKeys): the data
// key is wrapped under each of them as its identity, and each identity's
// get, wrapKey and unwrapKey access is checked now. It fails without any
// change if a key is unusable. principal maps a KeyRef.Identity to the
// identity's principal.
func (e *Engine) SetKeys(ctx context.Context, resourceID string, keys []KeyRef, principal func(identity string) (Principal, error), opts Options) error {
	if len(keys) == 0 || len(keys) > MaxKeys {
		return fmt.Errorf("keybinding: a resource has 1 to %d customer-managed keys, not %d", MaxKeys, len(keys))
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[i].Same(keys[j]) {
				return fmt.Errorf("keybinding: the key %s is listed twice", keys[i].ID())
			}
		}
	}
	b, ok := e.get(resourceID)
	if !ok {
		return ErrNotFound
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	dk := b.dk.Load()
	if dk == nil {
		return ErrRevoked
	}
	principals := map[string]Principal{}
	for _, k := range keys {
		if _, ok := principals[k.Identity]; ok {
			continue
		}
		p, err := principal(k.Identity)
		if err != nil {
			return err
		}
		principals[k.Identity] = p
	}
	now := e.clock.Now()
	var wraps []seal.WrappedKey
	var states []KeyState
	for i, k := range keys {
		p := principals[k.Identity]
		info, err := e.vault.GetKey(ctx, p, k.VaultName(), k.KeyName, k.KeyVersion)
		if err != nil {
			return &KeyError{Key: k, Err: err}
		}
		if err := info.Usable(now); err != nil {
			return &KeyError{Key: k, Err: err}
		}
		if !strings.HasPrefix(strings.ToUpper(info.Kty), "RSA") || info.Size < 2048 {
			return &KeyError{Key: k, Err: fmt.Errorf("the key must be an RSA key of 2048 bits or more, not %s %d", info.Kty, info.Size)}
		}
		if opts.Pin && k.KeyVersion == "" {
			keys[i].KeyVersion = info.Version
			k = keys[i]
		}
		w, err := e.wrapUnder(ctx, dk, p, k, info.Version)
		if err != nil {
			return &KeyError{Key: k, Err: err}
		}
		wraps = append(wraps, w)
		states = append(states, KeyState{Ref: k, Version: w.KEKVersion, Usable: true, CheckedAt: now, LastGood: now})
	}
	env, err := e.envelope(dk, wraps)
	if err != nil {
		return err
	}
	old := b.rec
	b.setKeys(keys)
	b.rec.Principals = principals
	b.rec.Envelope = env
	b.rec.States = states
	b.rec.Pin = opts.Pin
	b.rec.Status = StatusActive
	b.rec.UpdatedAt = now.UTC()
	if err := e.persist(ctx, b); err != nil {
		b.rec = old
		b.setKeys(old.Keys)
		return err
	}
	for _, k := range keys {
		added := true
		for _, o := range old.Keys {
			if o.Same(k) {
				added = false
			}
		}
		if added {
			e.event(b, "key_added", "customer-managed key added", "key", k.ID())
		}
	}
	for _, o := range old.Keys {
		kept := false
		for _, k := range keys {
			if o.Same(k) {
				kept = true
			}
		}
		if !kept {
			e.event(b, "key_dropped", "customer-managed key removed", "key", o.ID())
		}
	}
	return nil
}

// KeyError names the customer key an update failed on.
type KeyError struct {
	Key KeyRef
	Err error
}

// Error implements error.
func (k *KeyError) Error() string {
	return fmt.Sprintf("key '%s' in vault '%s': %v", k.Key.KeyName, k.Key.VaultURI, k.Err)
}

// Unwrap returns the cause.
func (k *KeyError) Unwrap() error { return k.Err }

// VerifyAccess checks that principal p can get, wrap and unwrap with key k
// now (for geo-disaster-recovery pairing and similar checks).
func (e *Engine) VerifyAccess(ctx context.Context, p Principal, k KeyRef) error {
	info, err := e.vault.GetKey(ctx, p, k.VaultName(), k.KeyName, k.KeyVersion)
	if err != nil {
		return &KeyError{Key: k, Err: err}
	}
	if err := info.Usable(e.clock.Now()); err != nil {
		return &KeyError{Key: k, Err: err}
	}
	probe := make([]byte, seal.DataKeySize)
	if _, err := rand.Read(probe); err != nil {
		return err
	}
	ver, ct, err := e.vault.WrapKey(ctx, p, k.VaultName(), k.KeyName, info.Version, WrapAlgorithm, probe)
	if err != nil {
		return &KeyError{Key: k, Err: err}
	}
	back, err := e.vault.UnwrapKey(ctx, p, k.VaultName(), k.KeyName, ver, WrapAlgorithm, ct)
	if err != nil {
		return &KeyError{Key: k, Err: err}
	}
	if subtle.ConstantTimeCompare(back, probe) != 1 {
		return &KeyError{Key: k, Err: errors.New("unwrap returned another value")}
	}
	return nil
}

// wrapUnder wraps dk under one key version and proves the wrap unwraps.
func (e *Engine) wrapUnder(ctx context.Context, dk *seal.DataKey, p Principal, k KeyRef, version string) (seal.WrappedKey, error) {
	kek := &vaultKEK{v: e.vault, p: p, ref: k, version: version}
	env, err := seal.Wrap(ctx, dk, kek)
	if err != nil {
		return seal.WrappedKey{}, err
	}
	got, _, err := seal.Open(ctx, env, seal.ResolveByID(kek))
	if err != nil {
		return seal.WrappedKey{}, err
	}
	same := got.ID() == dk.ID()
	got.Destroy()
	if !same {
		return seal.WrappedKey{}, errors.New("unwrap returned another data key")
	}
	return env.Wraps[0], nil
}

// envelope builds the marshaled envelope of dk with exactly these wraps. It
// borrows a local root wrap only to obtain the envelope's key check, and
// discards that wrap: a customer-managed data key is never root-wrapped.
func (e *Engine) envelope(dk *seal.DataKey, wraps []seal.WrappedKey) ([]byte, error) {
	env, err := seal.Wrap(context.Background(), dk, e.root)
	if err != nil {
		return nil, err
	}
	env.Wraps = wraps
	return env.MarshalBinary()
}

func (e *Engine) persist(ctx context.Context, b *binding) error {
	bt := &store.Batch{Sync: true}
	if err := e.tab.Put(bt, strings.ToLower(b.rec.ResourceID), b.rec); err != nil {
		return err
	}
	if err := e.st.Apply(ctx, bt); err != nil {
		return fmt.Errorf("keybinding: store %s: %w", b.rec.ResourceID, err)
	}
	return nil
}

func (e *Engine) event(b *binding, event, msg string, attrs ...any) {
	e.transitions.WithLabelValues(event).Inc()
	if e.log != nil {
		e.log.Info(msg, append([]any{"resource", b.rec.ResourceID, "event", event}, attrs...)...)
	}
}

// Check re-reads a resource's keys now.
func (e *Engine) Check(ctx context.Context, resourceID string) error {
	b, ok := e.get(resourceID)
	if !ok {
		return ErrNotFound
	}
	e.check(ctx, b, "request")
	return nil
}

// check re-reads every key of b: it re-wraps the data key under a rotated
// key's new version, drops unusable keys from the active set, revokes when
// none is left and restores when one comes back.
func (e *Engine) check(ctx context.Context, b *binding, why string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.rec.Keys) == 0 {
		return
	}
	var env seal.Envelope
	if err := env.UnmarshalBinary(b.rec.Envelope); err != nil {
		e.log.Error("key binding envelope is damaged", "resource", b.rec.ResourceID, "err", err)
		return
	}
	now := e.clock.Now()
	dk := b.dk.Load()
	changed := false
	states := make([]KeyState, len(b.rec.Keys))
	latest := make([]string, len(b.rec.Keys))
	metaOK := make([]bool, len(b.rec.Keys))
	transientErr := make([]bool, len(b.rec.Keys))
	for i, k := range b.rec.Keys {
		prev := stateFor(b.rec.States, k)
		states[i] = KeyState{Ref: k, Version: wrapVersion(env, k), CheckedAt: now, LastGood: prev.LastGood}
		p := b.rec.Principals[k.Identity]
		version := k.KeyVersion
		info, err := e.vault.GetKey(ctx, p, k.VaultName(), k.KeyName, version)
		if err == nil {
			err = info.Usable(now)
		}
		if err != nil {
			states[i].Reason = err.Error()
			transientErr[i] = transient(err)
			continue
		}
		latest[i] = info.Version
		metaOK[i] = true
	}
	// Unwrap with each usable key's current wrap: proves unwrap access and
	// recovers the data key after a revocation.
	unwrapOK := make([]bool, len(b.rec.Keys))
	for i, k := range b.rec.Keys {
		if !metaOK[i] {
			continue
		}
		idx := wrapIndex(env, k)
		if idx < 0 {
			continue
		}
		kek := &vaultKEK{v: e.vault, p: b.rec.Principals[k.Identity], ref: k}
		one := env
		one.Wraps = []seal.WrappedKey{env.Wraps[idx]}
		got, _, err := seal.Open(ctx, one, seal.ResolveByID(kek))
		if err != nil {
			if states[i].Version == latest[i] || k.KeyVersion != "" || b.rec.Pin {
				states[i].Reason = err.Error()
				transientErr[i] = transient(err)
			}
			continue
		}
		unwrapOK[i] = true
		if dk == nil {
			dk = got
		} else {
			got.Destroy()
		}
	}
	// Follow rotations of versionless keys.
	for i, k := range b.rec.Keys {
		if !metaOK[i] || k.KeyVersion != "" || b.rec.Pin || states[i].Version == latest[i] {
			if metaOK[i] && unwrapOK[i] {
				states[i].Usable = true
			}
			continue
		}
		if dk == nil {
			continue
		}
		w, err := e.wrapUnder(ctx, dk, b.rec.Principals[k.Identity], k, latest[i])
		if err != nil {
			states[i].Reason = err.Error()
			transientErr[i] = transient(err)
			continue
		}
		from := states[i].Version
		if idx := wrapIndex(env, k); idx >= 0 {
			env.Wraps[idx] = w
		} else {
			env.Wraps = append(env.Wraps, w)
		}
		states[i].Version, states[i].Usable, states[i].Reason = w.KEKVersion, true, ""
		changed = true
		e.event(b, "key_rotated", "customer-managed key rotated: data key re-wrapped under the new version", "key", k.ID(), "from_version", from, "to_version", w.KEKVersion)
	}
	usable := 0
	for i := range states {
		if states[i].Usable {
			states[i].LastGood = now
			usable++
		}
		prev := stateFor(b.rec.States, b.rec.Keys[i])
		if prev.Usable && !states[i].Usable && !transientErr[i] {
			e.event(b, "key_dropped", "customer-managed key is unusable and left the active set", "key", b.rec.Keys[i].ID(), "reason", states[i].Reason)
		}
		if !prev.Usable && states[i].Usable && b.rec.Status == StatusActive {
			e.event(b, "key_restored", "customer-managed key is usable again", "key", b.rec.Keys[i].ID())
		}
	}
	status := StatusActive
	if usable == 0 {
		status = StatusRevoked
		// A vault that cannot be reached keeps the resource on its cache
		// for the grace period after the last good check.
		if dk != nil && b.dk.Load() != nil && e.cfg.UnreachableGrace > 0 {
			coast := true
			for i := range states {
				if !transientErr[i] || states[i].LastGood.IsZero() || now.Sub(states[i].LastGood) > e.cfg.UnreachableGrace {
					coast = false
				}
			}
			if coast {
				status = StatusActive
			}
		}
	}
	if status != b.rec.Status {
		changed = true
	}
	if !statesEqual(states, b.rec.States) {
		changed = true
	}
	if status == StatusRevoked {
		if old := b.dk.Swap(nil); old != nil {
			old.Destroy()
		}
		if dk != nil && dk != b.dk.Load() {
			dk.Destroy()
		}
	} else if b.dk.Load() == nil && dk != nil {
		b.dk.Store(dk)
	}
	if !changed {
		return
	}
	prevStatus := b.rec.Status
	raw, err := env.MarshalBinary()
	if err != nil {
		e.log.Error("key binding: marshal envelope", "resource", b.rec.ResourceID, "err", err)
		return
	}
	b.rec.Envelope, b.rec.States, b.rec.Status, b.rec.UpdatedAt = raw, states, status, now.UTC()
	if err := e.persist(ctx, b); err != nil {
		e.log.Error("key binding: persist", "resource", b.rec.ResourceID, "err", err)
	}
	if status != prevStatus {
		if status == StatusRevoked {
			e.revoked.Inc()
			e.event(b, "revoked", "encryption status Revoked: no customer-managed key is usable; the data key is dropped from memory", "trigger", why)
		} else {
			e.revoked.Dec()
			e.event(b, "active", "encryption status Active: a customer-managed key is usable again", "trigger", why)
		}
		for _, w := range b.watchers {
			go w(status)
		}
	}
}

func stateFor(states []KeyState, k KeyRef) KeyState {
	for _, s := range states {
		if s.Ref.Same(k) {
			return s
		}
	}
	return KeyState{}
}

func statesEqual(a, b []KeyState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Usable != b[i].Usable || a[i].Version != b[i].Version || a[i].Reason != b[i].Reason {
			return false
		}
	}
	return true
}

func wrapIndex(env seal.Envelope, k KeyRef) int {
	for i, w := range env.Wraps {
		if w.KEKID == k.ID() {
			return i
		}
	}
	return -1
}

func wrapVersion(env seal.Envelope, k KeyRef) string {
	if i := wrapIndex(env, k); i >= 0 {
		return env.Wraps[i].KEKVersion
	}
	return ""
}

func (e *Engine) pollLoop(ctx context.Context) {
	defer e.done.Done()
	for {
		t := e.clock.NewTimer(e.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		e.mu.RLock()
		ids := make([]string, 0, len(e.bindings))
		for id, b := range e.bindings {
			if len(b.keys()) > 0 {
				ids = append(ids, id)
			}
		}
		e.mu.RUnlock()
		sort.Strings(ids)
		for _, id := range ids {
			if b, ok := e.get(id); ok {
				e.check(ctx, b, "poll")
			}
		}
	}
}

// onEvent queues a check of every binding that uses the event's vault (and key).
func (e *Engine) onEvent(ev Event) {
	e.mu.RLock()
	var ids []string
	for id, b := range e.bindings {
		for _, k := range b.keys() {
			if strings.EqualFold(k.VaultName(), ev.VaultName) && (ev.KeyName == "" || strings.EqualFold(k.KeyName, ev.KeyName)) {
				ids = append(ids, id)
				break
			}
		}
	}
	e.mu.RUnlock()
	for _, id := range ids {
		select {
		case e.kick <- id:
		default:
			// The queue is full: the next poll catches up.
		}
	}
}

func (e *Engine) kickLoop(ctx context.Context) {
	defer e.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-e.kick:
			if b, ok := e.get(id); ok {
				e.check(ctx, b, "event")
			}
		}
	}
}

// vaultKEK adapts one customer key, used as one identity, to seal.KEK.
type vaultKEK struct {
	v       Vault
	p       Principal
	ref     KeyRef
	version string
}

func (k *vaultKEK) ID() string { return k.ref.ID() }

func (k *vaultKEK) Wrap(ctx context.Context, dataKey []byte) (seal.WrappedKey, error) {
	ver, ct, err := k.v.WrapKey(ctx, k.p, k.ref.VaultName(), k.ref.KeyName, k.version, WrapAlgorithm, dataKey)
	if err != nil {
		return seal.WrappedKey{}, err
	}
	return seal.WrappedKey{KEKID: k.ref.ID(), KEKVersion: ver, Algorithm: seal.AlgRSAOAEP, Ciphertext: ct}, nil
}

func (k *vaultKEK) Unwrap(ctx context.Context, w seal.WrappedKey) ([]byte, error) {
	return k.v.UnwrapKey(ctx, k.p, k.ref.VaultName(), k.ref.KeyName, w.KEKVersion, w.Algorithm, w.Ciphertext)
}
