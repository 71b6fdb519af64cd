package vault

import (
	"context"
	"sort"
	"strings"
	"time"
)

// schedulerRetry is how long a failed scheduled task waits before it is
// tried again.
const schedulerRetry = time.Minute

// taskKind is a kind of scheduled work.
type taskKind int

const (
	taskRotate taskKind = iota + 1
	taskNearExpiry
	taskExpired
	taskPurgeKey
	taskPurgeVault
)

// task is one piece of due or future scheduled work.
type task struct {
	kind    taskKind
	vault   string // lower case
	key     string
	version string
	at      time.Time
}

func (t task) id() string {
	return string(rune('0'+t.kind)) + "/" + t.vault + "/" + strings.ToLower(t.key) + "/" + t.version
}

// schedulerLoop runs due work, then sleeps until the next task is due, a
// change wakes it, or SchedulerMaxWait passes. Time comes from the Clock, so
// tests drive it with clock.Manual.
func (s *Service) schedulerLoop(ctx context.Context) {
	for {
		next := s.runDue(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := s.cfg.SchedulerMaxWait
		if !next.IsZero() {
			if d := next.Sub(s.clk.Now()); d < wait {
				wait = d
			}
		}
		if wait < time.Millisecond {
			wait = time.Millisecond
		}
		t := s.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
			t.Stop()
		case <-t.C():
		}
	}
}

// collectTasks lists every scheduled task, due or not.
func (s *Service) collectTasks() []task {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []task
	for lname, vs := range s.vaults {
		if vs.rec.Deleted != nil {
			out = append(out, task{kind: taskPurgeVault, vault: lname, at: vs.rec.Deleted.ScheduledPurge})
			continue
		}
		for _, ks := range vs.keys {
			if ks.rec.Deleted != nil {
				out = append(out, task{kind: taskPurgeKey, vault: lname, key: ks.rec.Name, at: ks.rec.Deleted.ScheduledPurge})
				continue
			}
			cur := ks.current()
			if cur == nil {
				continue
			}
			policy := defaultRotationPolicy()
			if ks.rec.Policy != nil {
				policy = *ks.rec.Policy
			}
			if a, ok := policyAction(policy, ActionRotate); ok {
				if at, ok := triggerTime(a, cur.rec.Created, cur.rec.Expires); ok {
					out = append(out, task{kind: taskRotate, vault: lname, key: ks.rec.Name, version: cur.rec.Version, at: at})
				}
			}
			if cur.rec.Expires == nil {
				continue
			}
			if a, ok := policyAction(policy, ActionNotify); ok && ks.rec.NearExpiryNotified != cur.rec.Version {
				if at, ok := triggerTime(a, cur.rec.Created, cur.rec.Expires); ok {
					out = append(out, task{kind: taskNearExpiry, vault: lname, key: ks.rec.Name, version: cur.rec.Version, at: at})
				}
			}
			if ks.rec.ExpiredNotified != cur.rec.Version {
				out = append(out, task{kind: taskExpired, vault: lname, key: ks.rec.Name, version: cur.rec.Version, at: *cur.rec.Expires})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// runDue carries out every due task and returns when the next one is due
// (zero if none).
func (s *Service) runDue(ctx context.Context) time.Time {
	s.runMu.Lock()
	backoff := s.backoff
	s.runMu.Unlock()
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	now := s.clk.Now()
	for _, t := range s.collectTasks() {
		if ctx.Err() != nil {
			return next
		}
		s.runMu.Lock()
		retry, waiting := backoff[t.id()]
		s.runMu.Unlock()
		if waiting && now.Before(retry) {
			later(retry)
			continue
		}
		if now.Before(t.at) {
			later(t.at)
			continue
		}
		if err := s.runTask(ctx, t); err != nil {
			if ctx.Err() != nil {
				return next
			}
			s.log.Warn("vault: scheduled task failed", "vault", t.vault, "key", t.key, "kind", int(t.kind), "err", err)
			s.runMu.Lock()
			backoff[t.id()] = now.Add(schedulerRetry)
			s.runMu.Unlock()
			later(now.Add(schedulerRetry))
			continue
		}
		s.runMu.Lock()
		delete(backoff, t.id())
		s.runMu.Unlock()
	}
	return next
}

func (s *Service) runTask(ctx context.Context, t task) error {
	start := time.Now()
	c := systemCaller()
	switch t.kind {
	case taskPurgeVault:
		err := s.purgeVault(ctx, "", "", t.vault, true)
		return s.mgmtFinish(ctx, c, opVaultPurge, t.vault, ignoreNotFound(err), start)
	}
	s.mu.RLock()
	vs := s.vaults[t.vault]
	s.mu.RUnlock()
	if vs == nil {
		return nil
	}
	a := vs.auth
	switch t.kind {
	case taskPurgeKey:
		s.audit.begin()
		err := s.purgeKey(ctx, a, t.key, true)
		return s.finish(ctx, c, opKeyPurge, a, t.vault, t.key, "", ignoreNotFound(err), start)
	case taskRotate:
		if !s.isCurrent(a, t.key, t.version) {
			return nil
		}
		s.audit.begin()
		kb, err := s.rotateKey(ctx, a, t.key)
		return s.finish(ctx, c, opKeyRotate, a, t.vault, t.key, versionOf(kb), ignoreNotFound(err), start)
	case taskNearExpiry, taskExpired:
		return s.notifyExpiry(ctx, a, t)
	}
	return nil
}

func ignoreNotFound(err error) error {
	if e, ok := AsError(err); ok && e.Status == StatusNotFound {
		return nil
	}
	return err
}

func (s *Service) isCurrent(a *vaultAuth, key, version string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ks, err := s.liveKey(a, key)
	return err == nil && ks.current().rec.Version == version
}

// notifyExpiry publishes KeyNearExpiry or KeyExpired for a current version
// once, remembering that it did.
func (s *Service) notifyExpiry(ctx context.Context, a *vaultAuth, t task) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	vs, ks, err := s.liveKey(a, t.key)
	if err != nil || ks.current().rec.Version != t.version {
		return nil
	}
	if (t.kind == taskExpired && ks.rec.ExpiredNotified == t.version) || (t.kind == taskNearExpiry && ks.rec.NearExpiryNotified == t.version) {
		return nil
	}
	a = vs.auth
	krec := ks.rec
	typ := EventKeyNearExpiry
	if t.kind == taskExpired {
		krec.ExpiredNotified = t.version
		typ = EventKeyExpired
		krec.NearExpiryNotified = t.version
	} else {
		krec.NearExpiryNotified = t.version
	}
	if err := s.writeKeyRecord(ctx, a, krec); err != nil {
		return err
	}
	cur := ks.current().rec
	s.mu.Lock()
	ks.rec = krec
	s.mu.Unlock()
	s.events.publish(Event{Type: typ, Time: s.clk.Now(), VaultName: a.name, VaultID: a.id, KeyName: krec.Name,
		KeyVersion: t.version, KeyID: s.KeyID(a.name, krec.Name, t.version), NotBefore: cloneTime(cur.NotBefore), Expires: cloneTime(cur.Expires)})
	return nil
}
