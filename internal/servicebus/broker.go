package servicebus

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// KeySource gives the broker each namespace's data key. The resource manager
// (customer-managed-key bindings) implements it; the broker calls it when a
// namespace is opened, when NamespaceStatusChanged is called and every
// Options.RevalidateInterval, never per message, so implementations should
// answer from their own cache.
type KeySource interface {
	// DataKey returns the namespace's current data key, or an error wrapping
	// ErrRevoked when every customer key is unusable (the namespace's
	// encryption status is Revoked). Any other error is taken as transient:
	// the broker keeps using the key it has.
	DataKey(ctx context.Context, namespace string) (*seal.DataKey, error)
}

// Options configure a Broker.
type Options struct {
	Store  store.Store // required
	Keys   KeySource   // required
	Clock  clock.Clock // default clock.Real{}
	Logger *slog.Logger
	// RevalidateInterval is how often every namespace's key is asked for
	// again, which bounds how late a revocation the broker was not told about
	// (NamespaceStatusChanged) takes effect. Default 1 s; negative disables.
	RevalidateInterval time.Duration
	// MaintenanceInterval is how often duplicate-detection history is
	// pruned, AccessedAt times are persisted and idle entities are
	// auto-deleted. Default 30 s.
	MaintenanceInterval time.Duration
}

// NamespaceOptions are the broker-relevant properties of a namespace, owned
// by the resource manager.
type NamespaceOptions struct {
	Tier Tier // default Standard
	// MaxMessageSizeKB is, for Premium, the maxMessageSizeInKilobytes given to
	// new entities that do not set one (default 1024, at most 102400).
	// Basic and Standard are fixed at 256.
	MaxMessageSizeKB int64
	// MessagingUnits scales Premium's entity quota (1000 per unit); default 1.
	MessagingUnits int
}

// NamespaceStatus is a namespace's availability as the broker sees it.
type NamespaceStatus string

// Namespace statuses.
const (
	NamespaceActive      NamespaceStatus = "Active"      // data key held; every operation works
	NamespaceRevoked     NamespaceStatus = "Revoked"     // no customer key usable; every operation fails with ErrRevoked
	NamespaceUnavailable NamespaceStatus = "Unavailable" // never obtained a key (key source unreachable) or the key does not match the data
)

// Broker is the Service Bus broker: namespaces, entities and messages on an
// encrypted, durable store. It is safe for concurrent use.
type Broker struct {
	st                  store.Store
	keys                KeySource
	clk                 clock.Clock
	log                 *slog.Logger
	revalidateEvery     time.Duration
	maintenanceInterval time.Duration

	mu     sync.Mutex
	nss    map[string]*Namespace // lower-case name
	closed bool

	dueMu           sync.Mutex // serializes runDue
	tmu             sync.Mutex
	wakeups         wakeHeap
	nextMaintenance int64

	nudge chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
}

// dueTarget is something with deadlines the broker's timer loop serves.
type dueTarget interface {
	runDue(ctx context.Context, now time.Time)
}

type wakeup struct {
	at int64
	t  dueTarget
}

type wakeHeap []wakeup

func (h *wakeHeap) push(w wakeup) {
	*h = append(*h, w)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].at <= s[i].at {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *wakeHeap) pop() wakeup {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = wakeup{}
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].at < s[l].at {
			m = r
		}
		if s[i].at <= s[m].at {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// New returns a broker on opts.Store. Namespaces are not loaded until
// OpenNamespace is called for them.
func New(opts Options) (*Broker, error) {
	if opts.Store == nil || opts.Keys == nil {
		return nil, errors.New("servicebus: New needs a Store and a KeySource")
	}
	b := &Broker{
		st:                  opts.Store,
		keys:                opts.Keys,
		clk:                 opts.Clock,
		log:                 opts.Logger,
		revalidateEvery:     opts.RevalidateInterval,
		maintenanceInterval: opts.MaintenanceInterval,
		nss:                 map[string]*Namespace{},
		nudge:               make(chan struct{}, 1),
		done:                make(chan struct{}),
	}
	if b.clk == nil {
		b.clk = clock.Real{}
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.revalidateEvery == 0 {
		b.revalidateEvery = time.Second
	}
	if b.maintenanceInterval <= 0 {
		b.maintenanceInterval = 30 * time.Second
	}
	b.nextMaintenance = b.clk.Now().Add(b.maintenanceInterval).UnixNano()
	b.wg.Add(1)
	go b.loop()
	if b.revalidateEvery > 0 {
		b.wg.Add(1)
		go b.revalidateLoop()
	}
	return b, nil
}

// Close stops the broker's background work and fails blocked receives. It
// does not close the store. Every acknowledged operation is already durable,
// so Close is not needed for durability.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	nss := make([]*Namespace, 0, len(b.nss))
	for _, n := range b.nss {
		nss = append(nss, n)
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range nss {
		n.persistAccessed(ctx)
	}
	close(b.done)
	b.wg.Wait()
	return nil
}

// OpenNamespace makes a namespace known to the broker (creating its store
// records on first use) and loads its entities once its data key is
// available. It is idempotent; calling it again updates the options. It
// must be called for every namespace at startup. A namespace whose key is
// revoked opens in status Revoked and loads when the key comes back.
func (b *Broker) OpenNamespace(ctx context.Context, name string, opts NamespaceOptions) (*Namespace, error) {
	if err := ValidateNamespaceName(name); err != nil {
		return nil, err
	}
	if err := checkNamespaceOptions(&opts); err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, &Error{Code: CodeServiceUnavailable, Message: "broker closed", Err: errClosed}
	}
	key := strings.ToLower(name)
	n := b.nss[key]
	if n == nil {
		n = newNamespace(b, name, opts)
		b.nss[key] = n
	} else {
		n.setOptions(opts)
	}
	b.mu.Unlock()
	if err := n.refreshKey(ctx); err != nil && !errors.Is(err, ErrRevoked) {
		return n, err
	}
	return n, nil
}

func checkNamespaceOptions(o *NamespaceOptions) error {
	switch o.Tier {
	case "":
		o.Tier = Standard
	case Basic, Standard, Premium:
	default:
		return newErr(CodeBadRequest, "unknown tier %q", o.Tier)
	}
	if o.MaxMessageSizeKB != 0 && (o.MaxMessageSizeKB < PremiumDefaultMessageKB || o.MaxMessageSizeKB > PremiumMaxMessageSizeKB) && o.Tier == Premium {
		return newErr(CodeBadRequest, "maxMessageSizeInKilobytes must be %d to %d", PremiumDefaultMessageKB, PremiumMaxMessageSizeKB)
	}
	if o.MessagingUnits <= 0 {
		o.MessagingUnits = 1
	}
	return nil
}

// Namespace returns an opened namespace.
func (b *Broker) Namespace(name string) (*Namespace, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.nss[strings.ToLower(name)]
	if n == nil {
		return nil, notFound("namespace", name)
	}
	return n, nil
}

// Namespaces returns the names of the opened namespaces.
func (b *Broker) Namespaces() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.nss))
	for _, n := range b.nss {
		out = append(out, n.name)
	}
	return out
}

// DeleteNamespace removes every entity and message of a namespace from the
// store (durably) and forgets it. It works while the namespace is revoked:
// it needs no key. Deleting a namespace that was never opened removes
// whatever the store holds under its name.
func (b *Broker) DeleteNamespace(ctx context.Context, name string) error {
	b.mu.Lock()
	n := b.nss[strings.ToLower(name)]
	delete(b.nss, strings.ToLower(name))
	b.mu.Unlock()
	prefix := nsPrefix(name)
	if n != nil {
		n.opMu.Lock()
		defer n.opMu.Unlock()
		n.closeAllLocked()
	}
	batch := &store.Batch{Sync: true}
	batch.DeleteRange(prefix, store.PrefixEnd(prefix))
	if err := b.st.Apply(ctx, batch); err != nil {
		return internalErr(name, "delete namespace", err)
	}
	return nil
}

// NamespaceStatusChanged tells the broker that a namespace's key status may
// have changed (revoked or restored): it asks the KeySource at once.
// Revocation fails every operation, including blocked receives, with
// ErrRevoked; restoration makes every message readable again.
func (b *Broker) NamespaceStatusChanged(ctx context.Context, name string) error {
	n, err := b.Namespace(name)
	if err != nil {
		return err
	}
	return n.refreshKey(ctx)
}

// wakeAt asks the timer loop to call t.runDue at or after at (unix nanoseconds).
func (b *Broker) wakeAt(at int64, t dueTarget) {
	b.tmu.Lock()
	first := len(b.wakeups) == 0 || at < b.wakeups[0].at
	b.wakeups.push(wakeup{at: at, t: t})
	b.tmu.Unlock()
	if first {
		select {
		case b.nudge <- struct{}{}:
		default:
		}
	}
}

func (b *Broker) loop() {
	defer b.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-b.done
		cancel()
	}()
	for {
		b.tmu.Lock()
		next := b.nextMaintenance
		if len(b.wakeups) > 0 && b.wakeups[0].at < next {
			next = b.wakeups[0].at
		}
		b.tmu.Unlock()
		d := time.Duration(next - b.clk.Now().UnixNano())
		if next == math.MaxInt64 {
			d = time.Hour
		}
		t := b.clk.NewTimer(d)
		select {
		case <-t.C():
		case <-b.nudge:
		case <-b.done:
			t.Stop()
			return
		}
		t.Stop()
		b.runDue(ctx)
	}
}

// runDue serves every deadline that is due: lock and session-lock expiry,
// TTL expiry, scheduled activation, and the periodic maintenance.
func (b *Broker) runDue(ctx context.Context) {
	b.dueMu.Lock()
	defer b.dueMu.Unlock()
	now := b.clk.Now()
	nowNS := now.UnixNano()
	var due []dueTarget
	seen := map[dueTarget]bool{}
	b.tmu.Lock()
	for len(b.wakeups) > 0 && b.wakeups[0].at <= nowNS {
		w := b.wakeups.pop()
		if !seen[w.t] {
			seen[w.t] = true
			due = append(due, w.t)
		}
	}
	maintenance := nowNS >= b.nextMaintenance
	if maintenance {
		b.nextMaintenance = now.Add(b.maintenanceInterval).UnixNano()
	}
	b.tmu.Unlock()
	for _, t := range due {
		if ctx.Err() != nil {
			return
		}
		t.runDue(ctx, now)
	}
	if maintenance {
		b.maintain(ctx, now)
	}
}

func (b *Broker) snapshot() []*Namespace {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*Namespace, 0, len(b.nss))
	for _, n := range b.nss {
		out = append(out, n)
	}
	return out
}

func (b *Broker) maintain(ctx context.Context, now time.Time) {
	for _, n := range b.snapshot() {
		n.maintain(ctx, now)
	}
}

func (b *Broker) revalidateLoop() {
	defer b.wg.Done()
	for {
		t := b.clk.NewTimer(b.revalidateEvery)
		select {
		case <-t.C():
		case <-b.done:
			t.Stop()
			return
		}
		for _, n := range b.snapshot() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := n.refreshKey(ctx); err != nil && !errors.Is(err, ErrRevoked) {
				b.log.Warn("servicebus: namespace key check failed", "namespace", n.name, "err", err)
			}
			cancel()
		}
	}
}

func (b *Broker) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func closedErr() error {
	return &Error{Code: CodeServiceUnavailable, Message: "broker closed", Err: errClosed}
}
