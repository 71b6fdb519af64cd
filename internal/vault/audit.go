package vault

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Audit query limits.
const (
	defaultAuditLimit = 1000
	maxAuditLimit     = 10000
)

// auditLog appends sealed audit entries to the store, each durable before
// the operation answers. Concurrent appends are group-committed: one
// committer goroutine writes everything queued as one durable batch, and
// under concurrency paces syncs to at most one per auditSyncInterval, so a
// burst of operations shares one sync instead of each paying (and burning
// CPU on) its own.
type auditLog struct {
	st   store.Store
	t    records.Table[AuditEntry]
	seq  atomic.Uint64
	log  *slog.Logger
	file *os.File

	// inflight counts operations begun (begin) whose entry is not queued
	// yet: while some are, the committer waits for them (up to the pacing
	// interval) so that they share a sync.
	inflight atomic.Int64

	queue chan auditItem
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// auditItem is one queued entry: its store operation, its JSON line for
// the file sink, and where to report the outcome.
type auditItem struct {
	op   store.Op
	line []byte
	done chan error
}

// Group-commit limits.
const (
	auditSyncInterval = 5 * time.Millisecond
	auditMaxBatch     = 4096
	auditQueue        = 8192
)

// errAuditClosed is returned by appends after Close.
var errAuditClosed = errors.New("vault: audit log closed")

// auditKeyLen is the length of an audit record id: 16 hex digits of Unix
// nanoseconds and 16 of a sequence number.
const auditKeyLen = 32

func openAuditLog(ctx context.Context, st store.Store, dk *seal.DataKey, path string, log *slog.Logger) (*auditLog, error) {
	a := &auditLog{st: st, t: records.NewTable[AuditEntry](st, dk, prefixAudit), log: log,
		queue: make(chan auditItem, auditQueue), stop: make(chan struct{}), done: make(chan struct{})}
	// Continue the sequence after the newest entry, so ids stay unique
	// across restarts even when the clock repeats itself.
	it, err := st.Scan(ctx, store.ScanOptions{Lower: []byte(prefixAudit), Upper: store.PrefixEnd([]byte(prefixAudit)), Reverse: true})
	if err != nil {
		return nil, fmt.Errorf("vault: audit log: %w", err)
	}
	if it.Next() {
		id := strings.TrimPrefix(string(it.Key()), prefixAudit)
		if len(id) == auditKeyLen {
			if b, err := hex.DecodeString(id[16:]); err == nil && len(b) == 8 {
				var n uint64
				for _, x := range b {
					n = n<<8 | uint64(x)
				}
				a.seq.Store(n)
			}
		}
	}
	err = it.Err()
	it.Close()
	if err != nil {
		return nil, fmt.Errorf("vault: audit log: %w", err)
	}
	if path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("vault: audit file: %w", err)
		}
		a.file = f
	}
	go a.run()
	return a, nil
}

func auditID(t time.Time, seq uint64) string {
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	return fmt.Sprintf("%016x%016x", uint64(ns), seq)
}

// append writes e durably (and to the file sink, if any). The entry is
// sealed by the caller's goroutine; the committer only writes.
func (a *auditLog) append(ctx context.Context, e AuditEntry, counted bool) error {
	id := auditID(e.Time, a.seq.Add(1))
	b := &store.Batch{}
	err := a.t.Put(b, id, e)
	if err != nil {
		if counted {
			a.inflight.Add(-1)
		}
		return err
	}
	item := auditItem{op: b.Ops[0], done: make(chan error, 1)}
	if a.file != nil {
		if line, err := json.Marshal(e); err == nil {
			item.line = append(line, '\n')
		}
	}
	select {
	case a.queue <- item:
		if counted {
			a.inflight.Add(-1)
		}
	case <-a.stop:
		if counted {
			a.inflight.Add(-1)
		}
		return errAuditClosed
	}
	select {
	case err := <-item.done:
		return err
	case <-a.done:
		// The committer stopped; it answered everything it took.
		select {
		case err := <-item.done:
			return err
		default:
			return errAuditClosed
		}
	}
}

// run is the committer: it takes what is queued, waits until the pacing
// interval since the previous sync has passed (collecting more), and
// writes it all as one durable batch.
func (a *auditLog) run() {
	defer close(a.done)
	var lastSync time.Time
	items := make([]auditItem, 0, 64)
	for {
		var first auditItem
		select {
		case first = <-a.queue:
		case <-a.stop:
			a.drain()
			return
		}
		items = append(items[:0], first)
		// Under concurrency (operations still on their way here), wait up
		// to the pacing interval since the previous sync so that they
		// share this one; a lone caller never waits.
		deadline := lastSync.Add(auditSyncInterval)
		var timer *time.Timer
	collect:
		for len(items) < auditMaxBatch {
			select {
			case it := <-a.queue:
				items = append(items, it)
				continue
			default:
			}
			wait := time.Until(deadline)
			if a.inflight.Load() <= 0 || wait <= 0 {
				break
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			}
			select {
			case it := <-a.queue:
				items = append(items, it)
			case <-timer.C:
				break collect
			}
		}
		if timer != nil {
			timer.Stop()
		}
		a.commit(items)
		lastSync = time.Now()
	}
}

// drain commits whatever is still queued at close.
func (a *auditLog) drain() {
	for {
		var items []auditItem
		for len(items) < auditMaxBatch {
			select {
			case it := <-a.queue:
				items = append(items, it)
				continue
			default:
			}
			break
		}
		if len(items) == 0 {
			return
		}
		a.commit(items)
	}
}

func (a *auditLog) commit(items []auditItem) {
	b := &store.Batch{Sync: true, Ops: make([]store.Op, 0, len(items))}
	for _, it := range items {
		b.Ops = append(b.Ops, it.op)
	}
	err := a.st.Apply(context.Background(), b)
	if err != nil {
		err = fmt.Errorf("vault: audit append: %w", err)
	} else if a.file != nil {
		var buf []byte
		for _, it := range items {
			buf = append(buf, it.line...)
		}
		if _, ferr := a.file.Write(buf); ferr != nil {
			a.log.Warn("vault: audit file write failed", "err", ferr)
		}
	}
	for _, it := range items {
		it.done <- err
	}
}

// begin counts an operation whose audit entry will follow.
func (a *auditLog) begin() { a.inflight.Add(1) }

func (a *auditLog) close() error {
	var err error
	a.once.Do(func() {
		close(a.stop)
		<-a.done
		if a.file != nil {
			err = a.file.Close()
		}
	})
	return err
}

// query returns the entries matching q, oldest first.
func (a *auditLog) query(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	if limit > maxAuditLimit {
		limit = maxAuditLimit
	}
	opts := store.ScanOptions{Lower: []byte(prefixAudit), Upper: store.PrefixEnd([]byte(prefixAudit))}
	if !q.Since.IsZero() {
		opts.Lower = []byte(prefixAudit + auditID(q.Since, 0))
	}
	if !q.Until.IsZero() {
		opts.Upper = []byte(prefixAudit + auditID(q.Until, 0))
	}
	it, err := a.st.Scan(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("vault: audit query: %w", err)
	}
	defer it.Close()
	out := []AuditEntry{}
	for it.Next() && len(out) < limit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id := strings.TrimPrefix(string(it.Key()), prefixAudit)
		e, err := a.t.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if q.Vault != "" && !strings.EqualFold(e.VaultName, q.Vault) {
			continue
		}
		if q.Key != "" && !strings.EqualFold(e.KeyName, q.Key) {
			continue
		}
		if q.Caller != "" && !strings.EqualFold(e.ObjectID, q.Caller) && !strings.EqualFold(e.AppID, q.Caller) {
			continue
		}
		if q.Operation != "" && !strings.EqualFold(e.Operation, q.Operation) {
			continue
		}
		out = append(out, e)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("vault: audit query: %w", err)
	}
	return out, nil
}

// record audits one operation. A failed audit write fails the operation:
// nothing answers without its audit entry on disk.
func (s *Service) record(ctx context.Context, c Caller, opName, vault, vaultID, key, version string, opErr error, start time.Time, counted bool) error {
	now := s.clk.Now()
	e := AuditEntry{
		Time: now, Operation: opName, ResultCode: StatusOf(opErr), ResultType: "Success",
		VaultName: strings.ToLower(vault), VaultID: vaultID, KeyName: key, KeyVersion: version,
		TenantID: c.TenantID, ObjectID: c.ObjectID, AppID: c.AppID,
		ClientIP: c.ClientIP, CorrelationID: c.CorrelationID, RequestID: c.RequestID,
		DurationMS: float64(time.Since(start).Microseconds()) / 1000,
	}
	if opErr != nil {
		if ve, ok := AsError(opErr); ok {
			e.ResultType = ve.Code
		} else {
			e.ResultType = "InternalError"
		}
	}
	// Audit even when the caller has gone away.
	if err := s.audit.append(context.WithoutCancel(ctx), e, counted); err != nil {
		s.log.Error("vault: audit write failed", "op", opName, "err", err)
		return err
	}
	return nil
}

// finish audits an operation begun with s.audit.begin() and returns its
// error (or the audit failure).
func (s *Service) finish(ctx context.Context, c Caller, o op, a *vaultAuth, vaultName, key, version string, opErr error, start time.Time) error {
	vaultID := ""
	if a != nil {
		vaultID = a.id
		vaultName = a.name
	}
	if err := s.record(ctx, c, o.name, vaultName, vaultID, key, version, opErr, start, true); err != nil && opErr == nil {
		return err
	}
	return opErr
}

// Audit returns audit entries matching q (trusted callers: the CLI, other
// services). Data-plane clients use QueryAudit.
func (s *Service) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	return s.audit.query(ctx, q)
}

// QueryAudit returns the audit entries of one vault for a caller holding
// keys get permission (access policies) or a role with
// DataActionAuditRead (RBAC). The query itself is audited.
func (s *Service) QueryAudit(ctx context.Context, c Caller, vault string, q AuditQuery) ([]AuditEntry, error) {
	start := time.Now()
	s.audit.begin()
	a, err := s.vaultFor(vault)
	if err == nil {
		err = s.authorize(ctx, c, a, opAuditRead, "")
	}
	var out []AuditEntry
	if err == nil {
		q.Vault = a.name
		out, err = s.audit.query(ctx, q)
	}
	return out, s.finish(ctx, c, opAuditRead, a, vault, q.Key, "", err, start)
}
