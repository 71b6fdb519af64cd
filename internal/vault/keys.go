package vault

import (
	"context"
	"crypto/rsa"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/keycrypto"
	"github.com/keyward/keyward/internal/store"
)

// Tag limits of Key Vault objects.
const (
	maxTags        = 15
	maxTagNameLen  = 512
	maxTagValueLen = 256
	maxPageSize    = 25
)

func validateTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return errBadParameter("A key can have at most %d tags, got %d.", maxTags, len(tags))
	}
	for k, v := range tags {
		if k == "" || len(k) > maxTagNameLen {
			return errBadParameter("Tag names must be 1 to %d characters.", maxTagNameLen)
		}
		if len(v) > maxTagValueLen {
			return errBadParameter("The value of tag '%s' is longer than %d characters.", clip(k), maxTagValueLen)
		}
	}
	return nil
}

// validKeyOps checks a key_ops list for a key type.
func validKeyOps(kty keycrypto.KeyType, ops []string) ([]string, error) {
	parsed, err := keycrypto.ParseKeyOps(ops)
	if err != nil {
		return nil, errBadParameter("key_ops: %s", clientMessage(err))
	}
	ec := kty == keycrypto.KeyTypeEC || kty == keycrypto.KeyTypeECHSM
	out := make([]string, 0, len(parsed))
	for _, o := range parsed {
		switch o {
		case keycrypto.OpSign, keycrypto.OpVerify:
		case keycrypto.OpEncrypt, keycrypto.OpDecrypt, keycrypto.OpWrapKey, keycrypto.OpUnwrapKey:
			if ec {
				return nil, errBadParameter("key_ops: operation %s is not valid for %s keys; EC keys support sign and verify.", o, kty)
			}
		default:
			return nil, errBadParameter("key_ops: operation %s is not supported (no key release or key import by operation).", o)
		}
		out = append(out, string(o))
	}
	return out, nil
}

func defaultKeyOps(kty keycrypto.KeyType) []string {
	var out []string
	for _, o := range keycrypto.DefaultKeyOps(kty) {
		out = append(out, string(o))
	}
	return out
}

func unixSeconds(t time.Time) time.Time { return time.Unix(t.Unix(), 0).UTC() }

// applyAttributes merges an attribute update into a version record.
func applyAttributes(rec versionRecord, u AttributesUpdate) (versionRecord, error) {
	if u.Enabled != nil {
		rec.Enabled = *u.Enabled
	}
	if u.NotBefore != nil {
		t := unixSeconds(*u.NotBefore)
		rec.NotBefore = &t
	}
	if u.Expires != nil {
		t := unixSeconds(*u.Expires)
		rec.Expires = &t
	}
	if u.Exportable != nil && *u.Exportable {
		return rec, errBadParameter("attributes.exportable: exportable keys need a release policy, which keyward does not support.")
	}
	if rec.NotBefore != nil && rec.Expires != nil && !rec.NotBefore.Before(*rec.Expires) {
		return rec, errBadParameter("attributes: the activation date nbf (%d) must be before the expiry date exp (%d).", rec.NotBefore.Unix(), rec.Expires.Unix())
	}
	return rec, nil
}

func (s *Service) attributes(a *vaultAuth, rec versionRecord) KeyAttributes {
	return KeyAttributes{
		Enabled: rec.Enabled, NotBefore: cloneTime(rec.NotBefore), Expires: cloneTime(rec.Expires),
		Created: rec.Created, Updated: rec.Updated, Exportable: rec.Exportable,
		RecoveryLevel: a.recoveryLevel(), RecoverableDays: a.retentionDays,
	}
}

func (s *Service) bundle(a *vaultAuth, ks *keyState, v *versionState) KeyBundle {
	jwk := v.key.PublicJWK()
	jwk.Kid = s.KeyID(a.name, ks.rec.Name, v.rec.Version)
	for _, o := range v.rec.KeyOps {
		jwk.KeyOps = append(jwk.KeyOps, keycrypto.KeyOp(o))
	}
	if jwk.KeyOps == nil {
		jwk.KeyOps = keycrypto.KeyOps{}
	}
	return KeyBundle{Key: jwk, Attributes: s.attributes(a, v.rec), Tags: cloneTags(v.rec.Tags)}
}

func (s *Service) deletedBundle(a *vaultAuth, ks *keyState) DeletedKey {
	return DeletedKey{
		KeyBundle:   s.bundle(a, ks, ks.current()),
		RecoveryID:  s.vaultBase(a.name) + "/deletedkeys/" + ks.rec.Name,
		DeletedDate: ks.rec.Deleted.Date, ScheduledPurgeDate: ks.rec.Deleted.ScheduledPurge,
	}
}

// liveKey returns a key that exists and is not deleted (under s.mu or s.wmu).
func (s *Service) liveKey(a *vaultAuth, name string) (*vaultState, *keyState, error) {
	vs := s.vaults[a.name]
	if vs == nil || vs.rec.Deleted != nil {
		return nil, nil, errVaultNotFound(a.name)
	}
	ks := vs.keys[strings.ToLower(name)]
	if ks == nil || ks.rec.Deleted != nil || ks.current() == nil {
		return vs, nil, errKeyNotFound(name, "")
	}
	return vs, ks, nil
}

// deletedKey returns a soft-deleted key (under s.mu or s.wmu).
func (s *Service) deletedKey(a *vaultAuth, name string) (*vaultState, *keyState, error) {
	vs := s.vaults[a.name]
	if vs == nil || vs.rec.Deleted != nil {
		return nil, nil, errVaultNotFound(a.name)
	}
	ks := vs.keys[strings.ToLower(name)]
	if ks == nil || ks.rec.Deleted == nil || ks.current() == nil {
		return vs, nil, errDeletedKeyNotFound(name)
	}
	return vs, ks, nil
}

// putVersion adds a version record, with the key's private part, to b.
func (s *Service) putVersion(b *store.Batch, vault, key string, rec versionRecord, k *keycrypto.Key) error {
	priv, err := keycrypto.MarshalPrivate(k)
	if err != nil {
		return err
	}
	rec.Private = priv
	err = s.versT.Put(b, versionStoreID(vault, key, rec.Version), rec)
	clear(priv)
	return err
}

// dataOp runs the common frame of a data-plane operation: vault lookup,
// authorization, the operation, the audit entry.
func (s *Service) dataOp(ctx context.Context, c Caller, vault string, o op, key string, fn func(a *vaultAuth) (version string, err error)) error {
	start := time.Now()
	s.audit.begin()
	a, err := s.vaultFor(vault)
	version := ""
	if err == nil {
		err = s.authorize(ctx, c, a, o, key)
	}
	if err == nil {
		version, err = fn(a)
	}
	return s.finish(ctx, c, o, a, vault, key, version, err, start)
}

// CreateKey creates a key, or a new version of an existing key.
func (s *Service) CreateKey(ctx context.Context, c Caller, vault, name string, p CreateKeyParams) (KeyBundle, error) {
	var kb KeyBundle
	err := s.dataOp(ctx, c, vault, opKeyCreate, name, func(a *vaultAuth) (string, error) {
		var err error
		kb, err = s.createKey(ctx, a, name, p)
		return versionOf(kb), err
	})
	return kb, err
}

func versionOf(kb KeyBundle) string {
	if i := strings.LastIndexByte(kb.Key.Kid, '/'); i >= 0 {
		return kb.Key.Kid[i+1:]
	}
	return ""
}

// checkNameFree fails when the key name is held by a deleted key.
func (s *Service) checkNameFree(a *vaultAuth, name string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if vs := s.vaults[a.name]; vs != nil {
		if ks := vs.keys[strings.ToLower(name)]; ks != nil && ks.rec.Deleted != nil {
			return errKeyDeleted(ks.rec.Name)
		}
	}
	return nil
}

func (s *Service) createKey(ctx context.Context, a *vaultAuth, name string, p CreateKeyParams) (KeyBundle, error) {
	if !ValidKeyName(name) {
		return KeyBundle{}, errKeyName(name)
	}
	if p.Kty.IsHSM() && !a.hsm {
		return KeyBundle{}, errBadParameter("Keys of type %s need a premium vault; vault '%s' is standard.", p.Kty, a.name)
	}
	ops := defaultKeyOps(p.Kty)
	if p.KeyOps != nil {
		var err error
		if ops, err = validKeyOps(p.Kty, p.KeyOps); err != nil {
			return KeyBundle{}, err
		}
	}
	if err := validateTags(p.Tags); err != nil {
		return KeyBundle{}, err
	}
	now := s.clk.Now()
	rec, err := applyAttributes(versionRecord{Enabled: true, Created: now, Updated: now, KeyOps: ops, Tags: cloneTags(p.Tags)}, p.Attributes)
	if err != nil {
		return KeyBundle{}, err
	}
	if err := s.checkNameFree(a, name); err != nil {
		return KeyBundle{}, err
	}
	k, err := keycrypto.Generate(ctx, keycrypto.KeySpec{Kty: p.Kty, Size: p.Size, PublicExponent: p.PublicExponent, Curve: p.Curve})
	if err != nil {
		return KeyBundle{}, cryptoError(err)
	}
	rec.Kty = k.Kty()
	if ops == nil {
		rec.KeyOps = defaultKeyOps(k.Kty())
	}
	return s.addVersion(ctx, a, name, k, rec)
}

// ImportKey imports a private key as a new key or a new version.
func (s *Service) ImportKey(ctx context.Context, c Caller, vault, name string, p ImportKeyParams) (KeyBundle, error) {
	var kb KeyBundle
	err := s.dataOp(ctx, c, vault, opKeyImport, name, func(a *vaultAuth) (string, error) {
		var err error
		kb, err = s.importKey(ctx, a, name, p)
		return versionOf(kb), err
	})
	return kb, err
}

func (s *Service) importKey(ctx context.Context, a *vaultAuth, name string, p ImportKeyParams) (KeyBundle, error) {
	if !ValidKeyName(name) {
		return KeyBundle{}, errKeyName(name)
	}
	jwk := p.Key
	if p.HSM && !jwk.Kty.IsHSM() && jwk.Kty != "" {
		jwk.Kty += "-HSM"
	}
	if jwk.Kty.IsHSM() && !a.hsm {
		return KeyBundle{}, errBadParameter("Keys of type %s need a premium vault; vault '%s' is standard.", jwk.Kty, a.name)
	}
	k, err := keycrypto.ParseJWK(jwk)
	if err != nil {
		return KeyBundle{}, cryptoError(err)
	}
	if !k.HasPrivate() {
		return KeyBundle{}, errBadParameter("key: the key to import must include its private part (d, p and q for RSA; d for EC).")
	}
	ops := defaultKeyOps(k.Kty())
	if len(jwk.KeyOps) > 0 {
		raw := make([]string, len(jwk.KeyOps))
		for i, o := range jwk.KeyOps {
			raw[i] = string(o)
		}
		if ops, err = validKeyOps(k.Kty(), raw); err != nil {
			return KeyBundle{}, err
		}
	}
	if err := validateTags(p.Tags); err != nil {
		return KeyBundle{}, err
	}
	now := s.clk.Now()
	rec, err := applyAttributes(versionRecord{Kty: k.Kty(), Enabled: true, Created: now, Updated: now, KeyOps: ops, Tags: cloneTags(p.Tags)}, p.Attributes)
	if err != nil {
		return KeyBundle{}, err
	}
	return s.addVersion(ctx, a, name, k, rec)
}

// addVersion stores a new current version of key name.
func (s *Service) addVersion(ctx context.Context, a *vaultAuth, name string, k *keycrypto.Key, rec versionRecord) (KeyBundle, error) {
	version, err := newVersion()
	if err != nil {
		return KeyBundle{}, err
	}
	rec.Version = version
	s.wmu.Lock()
	defer s.wmu.Unlock()
	vs := s.vaults[a.name]
	if vs == nil || vs.rec.Deleted != nil {
		return KeyBundle{}, errVaultNotFound(a.name)
	}
	a = vs.auth
	ks := vs.keys[strings.ToLower(name)]
	krec := keyRecord{Name: name}
	if ks != nil {
		if ks.rec.Deleted != nil {
			return KeyBundle{}, errKeyDeleted(ks.rec.Name)
		}
		krec = ks.rec
		krec.Versions = slices.Clone(ks.rec.Versions)
	}
	krec.Versions = append(krec.Versions, version)
	b := &store.Batch{}
	if err := s.keysT.Put(b, keyStoreID(a.name, name), krec); err != nil {
		return KeyBundle{}, err
	}
	if err := s.putVersion(b, a.name, name, rec, k); err != nil {
		return KeyBundle{}, err
	}
	if err := s.apply(ctx, b); err != nil {
		return KeyBundle{}, err
	}
	s.mu.Lock()
	if ks == nil {
		ks = &keyState{versions: map[string]*versionState{}}
		vs.keys[strings.ToLower(name)] = ks
	}
	ks.rec = krec
	v := &versionState{rec: rec, key: k}
	ks.versions[version] = v
	kb := s.bundle(a, ks, v)
	s.mu.Unlock()
	s.events.publish(Event{Type: EventKeyNewVersionCreated, Time: s.clk.Now(), VaultName: a.name, VaultID: a.id,
		KeyName: krec.Name, KeyVersion: version, KeyID: kb.Key.Kid, NotBefore: cloneTime(rec.NotBefore), Expires: cloneTime(rec.Expires)})
	s.poke()
	return kb, nil
}

// GetKey returns a key version (the current one when version is "").
// Disabled versions are returned too, with enabled false.
func (s *Service) GetKey(ctx context.Context, c Caller, vault, name, version string) (KeyBundle, error) {
	var kb KeyBundle
	err := s.dataOp(ctx, c, vault, opKeyGet, name, func(a *vaultAuth) (string, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		_, ks, err := s.liveKey(a, name)
		if err != nil {
			return version, err
		}
		v := ks.current()
		if version != "" {
			if v = ks.versions[version]; v == nil {
				return version, errKeyNotFound(name, version)
			}
		}
		kb = s.bundle(a, ks, v)
		return v.rec.Version, nil
	})
	return kb, err
}

func pageSize(p Page) (int, error) {
	switch {
	case p.MaxResults == 0:
		return maxPageSize, nil
	case p.MaxResults < 1 || p.MaxResults > maxPageSize:
		return 0, errBadParameter("maxresults must be between 1 and %d, got %d.", maxPageSize, p.MaxResults)
	}
	return p.MaxResults, nil
}

// sortedKeys returns the vault's keys (deleted or live) sorted by name,
// starting after the skip token.
func sortedKeys(vs *vaultState, deleted bool, skip string) ([]*keyState, error) {
	after := ""
	if skip != "" {
		name, ok := strings.CutPrefix(skip, "k:")
		if !ok || !ValidKeyName(name) {
			return nil, errBadParameter("The skip token is not valid.")
		}
		after = strings.ToLower(name)
	}
	var names []string
	for n, ks := range vs.keys {
		if (ks.rec.Deleted != nil) == deleted && ks.current() != nil && n > after {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := make([]*keyState, len(names))
	for i, n := range names {
		out[i] = vs.keys[n]
	}
	return out, nil
}

// ListKeys lists the vault's keys (current versions, no deleted keys),
// by name, one page at a time.
func (s *Service) ListKeys(ctx context.Context, c Caller, vault string, p Page) (KeyList, error) {
	var out KeyList
	err := s.dataOp(ctx, c, vault, opKeyList, "", func(a *vaultAuth) (string, error) {
		n, err := pageSize(p)
		if err != nil {
			return "", err
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		vs := s.vaults[a.name]
		keys, err := sortedKeys(vs, false, p.Skip)
		if err != nil {
			return "", err
		}
		out.Items = []KeyItem{}
		for i, ks := range keys {
			if i == n {
				out.Next = "k:" + strings.ToLower(keys[i-1].rec.Name)
				break
			}
			v := ks.current()
			out.Items = append(out.Items, KeyItem{KID: s.KeyID(a.name, ks.rec.Name, ""), Attributes: s.attributes(a, v.rec), Tags: cloneTags(v.rec.Tags)})
		}
		return "", nil
	})
	return out, err
}

// ListKeyVersions lists a key's versions, oldest first, one page at a time.
func (s *Service) ListKeyVersions(ctx context.Context, c Caller, vault, name string, p Page) (KeyList, error) {
	var out KeyList
	err := s.dataOp(ctx, c, vault, opKeyListVer, name, func(a *vaultAuth) (string, error) {
		n, err := pageSize(p)
		if err != nil {
			return "", err
		}
		from := 0
		if p.Skip != "" {
			idx, ok := strings.CutPrefix(p.Skip, "v:")
			if from, err = strconv.Atoi(idx); !ok || err != nil || from < 0 {
				return "", errBadParameter("The skip token is not valid.")
			}
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		_, ks, err := s.liveKey(a, name)
		if err != nil {
			return "", err
		}
		out.Items = []KeyItem{}
		for i := from; i < len(ks.rec.Versions); i++ {
			if len(out.Items) == n {
				out.Next = "v:" + strconv.Itoa(i)
				break
			}
			v := ks.versions[ks.rec.Versions[i]]
			out.Items = append(out.Items, KeyItem{KID: s.KeyID(a.name, ks.rec.Name, v.rec.Version), Attributes: s.attributes(a, v.rec), Tags: cloneTags(v.rec.Tags)})
		}
		return "", nil
	})
	return out, err
}

// UpdateKey changes a version's attributes, key_ops or tags (the current
// version when version is "").
func (s *Service) UpdateKey(ctx context.Context, c Caller, vault, name, version string, u KeyUpdate) (KeyBundle, error) {
	var kb KeyBundle
	err := s.dataOp(ctx, c, vault, opKeyUpdate, name, func(a *vaultAuth) (string, error) {
		var err error
		kb, err = s.updateKey(ctx, a, name, version, u)
		if err != nil {
			return version, err
		}
		return versionOf(kb), nil
	})
	return kb, err
}

func (s *Service) updateKey(ctx context.Context, a *vaultAuth, name, version string, u KeyUpdate) (KeyBundle, error) {
	if u.Tags != nil {
		if err := validateTags(u.Tags); err != nil {
			return KeyBundle{}, err
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	vs, ks, err := s.liveKey(a, name)
	if err != nil {
		return KeyBundle{}, err
	}
	a = vs.auth
	v := ks.current()
	if version != "" {
		if v = ks.versions[version]; v == nil {
			return KeyBundle{}, errKeyNotFound(name, version)
		}
	}
	rec := v.rec
	rec.KeyOps = slices.Clone(v.rec.KeyOps)
	if u.KeyOps != nil {
		if rec.KeyOps, err = validKeyOps(rec.Kty, u.KeyOps); err != nil {
			return KeyBundle{}, err
		}
	}
	if rec, err = applyAttributes(rec, u.Attributes); err != nil {
		return KeyBundle{}, err
	}
	if u.Tags != nil {
		rec.Tags = cloneTags(u.Tags)
	}
	now := s.clk.Now()
	rec.Updated = now
	krec := ks.rec
	if !timesEqual(rec.Expires, v.rec.Expires) {
		// A new expiry gets fresh near-expiry and expiry notices.
		if krec.NearExpiryNotified == rec.Version {
			krec.NearExpiryNotified = ""
		}
		if krec.ExpiredNotified == rec.Version {
			krec.ExpiredNotified = ""
		}
	}
	b := &store.Batch{}
	if err := s.putVersion(b, a.name, ks.rec.Name, rec, v.key); err != nil {
		return KeyBundle{}, err
	}
	if krec.NearExpiryNotified != ks.rec.NearExpiryNotified || krec.ExpiredNotified != ks.rec.ExpiredNotified {
		if err := s.keysT.Put(b, keyStoreID(a.name, name), krec); err != nil {
			return KeyBundle{}, err
		}
	}
	if err := s.apply(ctx, b); err != nil {
		return KeyBundle{}, err
	}
	wasEnabled := v.rec.Enabled
	s.mu.Lock()
	nv := &versionState{rec: rec, key: v.key}
	ks.versions[rec.Version] = nv
	ks.rec = krec
	kb := s.bundle(a, ks, nv)
	s.mu.Unlock()
	typ := EventKeyUpdated
	switch {
	case wasEnabled && !rec.Enabled:
		typ = EventKeyDisabled
	case !wasEnabled && rec.Enabled:
		typ = EventKeyEnabled
	}
	s.events.publish(Event{Type: typ, Time: now, VaultName: a.name, VaultID: a.id, KeyName: ks.rec.Name, KeyVersion: rec.Version,
		KeyID: kb.Key.Kid, NotBefore: cloneTime(rec.NotBefore), Expires: cloneTime(rec.Expires)})
	s.poke()
	return kb, nil
}

func timesEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// DeleteKey soft-deletes a key with all its versions. Its name stays taken
// until it is recovered or purged (by a caller, or after the vault's
// retention period).
func (s *Service) DeleteKey(ctx context.Context, c Caller, vault, name string) (DeletedKey, error) {
	var dk DeletedKey
	err := s.dataOp(ctx, c, vault, opKeyDelete, name, func(a *vaultAuth) (string, error) {
		var err error
		dk, err = s.deleteKey(ctx, a, name)
		return versionOf(dk.KeyBundle), err
	})
	return dk, err
}

func (s *Service) deleteKey(ctx context.Context, a *vaultAuth, name string) (DeletedKey, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	vs, ks, err := s.liveKey(a, name)
	if err != nil {
		return DeletedKey{}, err
	}
	a = vs.auth
	now := s.clk.Now()
	krec := ks.rec
	krec.Deleted = &deletion{Date: now, ScheduledPurge: now.AddDate(0, 0, a.retentionDays)}
	if err := s.writeKeyRecord(ctx, a, krec); err != nil {
		return DeletedKey{}, err
	}
	s.mu.Lock()
	ks.rec = krec
	dk := s.deletedBundle(a, ks)
	s.mu.Unlock()
	s.events.publish(Event{Type: EventKeyDeleted, Time: now, VaultName: a.name, VaultID: a.id, KeyName: krec.Name,
		KeyVersion: versionOf(dk.KeyBundle), KeyID: dk.Key.Kid})
	s.poke()
	return dk, nil
}

func (s *Service) writeKeyRecord(ctx context.Context, a *vaultAuth, krec keyRecord) error {
	b := &store.Batch{}
	if err := s.keysT.Put(b, keyStoreID(a.name, krec.Name), krec); err != nil {
		return err
	}
	return s.apply(ctx, b)
}

// GetDeletedKey returns a soft-deleted key.
func (s *Service) GetDeletedKey(ctx context.Context, c Caller, vault, name string) (DeletedKey, error) {
	var dk DeletedKey
	err := s.dataOp(ctx, c, vault, opKeyGetDeleted, name, func(a *vaultAuth) (string, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		_, ks, err := s.deletedKey(a, name)
		if err != nil {
			return "", err
		}
		dk = s.deletedBundle(a, ks)
		return "", nil
	})
	return dk, err
}

// ListDeletedKeys lists soft-deleted keys by name, one page at a time.
func (s *Service) ListDeletedKeys(ctx context.Context, c Caller, vault string, p Page) (DeletedKeyList, error) {
	var out DeletedKeyList
	err := s.dataOp(ctx, c, vault, opKeyListDeleted, "", func(a *vaultAuth) (string, error) {
		n, err := pageSize(p)
		if err != nil {
			return "", err
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		keys, err := sortedKeys(s.vaults[a.name], true, p.Skip)
		if err != nil {
			return "", err
		}
		out.Items = []DeletedKeyItem{}
		for i, ks := range keys {
			if i == n {
				out.Next = "k:" + strings.ToLower(keys[i-1].rec.Name)
				break
			}
			dk := s.deletedBundle(a, ks)
			out.Items = append(out.Items, DeletedKeyItem{
				KeyItem:    KeyItem{KID: s.KeyID(a.name, ks.rec.Name, ""), Attributes: dk.Attributes, Tags: dk.Tags},
				RecoveryID: dk.RecoveryID, DeletedDate: dk.DeletedDate, ScheduledPurgeDate: dk.ScheduledPurgeDate,
			})
		}
		return "", nil
	})
	return out, err
}

// RecoverDeletedKey recovers a soft-deleted key with all its versions.
func (s *Service) RecoverDeletedKey(ctx context.Context, c Caller, vault, name string) (KeyBundle, error) {
	var kb KeyBundle
	err := s.dataOp(ctx, c, vault, opKeyRecover, name, func(a *vaultAuth) (string, error) {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		vs, ks, err := s.deletedKey(a, name)
		if err != nil {
			return "", err
		}
		a = vs.auth
		krec := ks.rec
		krec.Deleted = nil
		if err := s.writeKeyRecord(ctx, a, krec); err != nil {
			return "", err
		}
		s.mu.Lock()
		ks.rec = krec
		kb = s.bundle(a, ks, ks.current())
		s.mu.Unlock()
		s.events.publish(Event{Type: EventKeyRecovered, Time: s.clk.Now(), VaultName: a.name, VaultID: a.id, KeyName: krec.Name,
			KeyVersion: versionOf(kb), KeyID: kb.Key.Kid})
		s.poke()
		return versionOf(kb), nil
	})
	return kb, err
}

// PurgeDeletedKey permanently deletes a soft-deleted key. Under purge
// protection it is refused (Forbidden): the key is purged automatically
// when its retention period ends.
func (s *Service) PurgeDeletedKey(ctx context.Context, c Caller, vault, name string) error {
	return s.dataOp(ctx, c, vault, opKeyPurge, name, func(a *vaultAuth) (string, error) {
		return "", s.purgeKey(ctx, a, name, false)
	})
}

func (s *Service) purgeKey(ctx context.Context, a *vaultAuth, name string, system bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	vs, ks, err := s.deletedKey(a, name)
	if err != nil {
		return err
	}
	a = vs.auth
	if a.purgeProtection && !system {
		return newError(StatusForbidden, "Forbidden", "",
			"Operation \"purge\" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.")
	}
	id := keyStoreID(a.name, ks.rec.Name)
	b := &store.Batch{}
	s.keysT.Delete(b, id)
	b.DeleteRange([]byte(prefixVer+id+"/"), store.PrefixEnd([]byte(prefixVer+id+"/")))
	if err := s.apply(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	delete(vs.keys, strings.ToLower(ks.rec.Name))
	s.mu.Unlock()
	s.events.publish(Event{Type: EventKeyPurged, Time: s.clk.Now(), VaultName: a.name, VaultID: a.id, KeyName: ks.rec.Name})
	return nil
}

// RotateKey makes a new current version with the same key type, size or
// curve, key_ops and tags; its expiry comes from the rotation policy's
// expiryTime (none without one).
func (s *Service) RotateKey(ctx context.Context, c Caller, vault, name string) (KeyBundle, error) {
	var kb KeyBundle
	err := s.dataOp(ctx, c, vault, opKeyRotate, name, func(a *vaultAuth) (string, error) {
		var err error
		kb, err = s.rotateKey(ctx, a, name)
		return versionOf(kb), err
	})
	return kb, err
}

func (s *Service) rotateKey(ctx context.Context, a *vaultAuth, name string) (KeyBundle, error) {
	s.mu.RLock()
	_, ks, err := s.liveKey(a, name)
	if err != nil {
		s.mu.RUnlock()
		return KeyBundle{}, err
	}
	cur := ks.current()
	spec := keycrypto.KeySpec{Kty: cur.key.Kty(), Curve: cur.key.Curve()}
	if pub, ok := cur.key.Public().(*rsa.PublicKey); ok {
		spec.Size = cur.key.Size()
		if pub.E == 3 || pub.E == keycrypto.DefaultRSAPublicExponent {
			spec.PublicExponent = pub.E
		}
	}
	policy := ks.rec.Policy
	name = ks.rec.Name
	now := s.clk.Now()
	rec := versionRecord{Enabled: true, Created: now, Updated: now, KeyOps: slices.Clone(cur.rec.KeyOps), Tags: cloneTags(cur.rec.Tags)}
	s.mu.RUnlock()
	if policy != nil && policy.ExpiryTime != "" {
		if d, err := parseISODuration(policy.ExpiryTime); err == nil {
			exp := unixSeconds(d.addTo(now))
			rec.Expires = &exp
		}
	}
	k, err := keycrypto.Generate(ctx, spec)
	if err != nil {
		return KeyBundle{}, cryptoError(err)
	}
	rec.Kty = k.Kty()
	return s.addVersion(ctx, a, name, k, rec)
}

// GetRotationPolicy returns a key's rotation policy (Azure's default,
// notify 30 days before expiry, when none was set).
func (s *Service) GetRotationPolicy(ctx context.Context, c Caller, vault, name string) (RotationPolicy, error) {
	var p RotationPolicy
	err := s.dataOp(ctx, c, vault, opPolicyGet, name, func(a *vaultAuth) (string, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		_, ks, err := s.liveKey(a, name)
		if err != nil {
			return "", err
		}
		if ks.rec.Policy != nil {
			p = *ks.rec.Policy
			p.LifetimeActions = slices.Clone(p.LifetimeActions)
		} else {
			p = defaultRotationPolicy()
		}
		p.ID = s.KeyID(a.name, ks.rec.Name, "") + "/rotationpolicy"
		return "", nil
	})
	return p, err
}

// UpdateRotationPolicy validates and sets a key's rotation policy, which
// the scheduler then carries out.
func (s *Service) UpdateRotationPolicy(ctx context.Context, c Caller, vault, name string, p RotationPolicy) (RotationPolicy, error) {
	var out RotationPolicy
	err := s.dataOp(ctx, c, vault, opPolicySet, name, func(a *vaultAuth) (string, error) {
		np, err := normalizePolicy(p)
		if err != nil {
			return "", err
		}
		s.wmu.Lock()
		defer s.wmu.Unlock()
		vs, ks, err := s.liveKey(a, name)
		if err != nil {
			return "", err
		}
		a = vs.auth
		now := s.clk.Now()
		np.Created, np.Updated = now, now
		if ks.rec.Policy != nil && !ks.rec.Policy.Created.IsZero() {
			np.Created = ks.rec.Policy.Created
		}
		krec := ks.rec
		krec.Policy = &np
		if err := s.writeKeyRecord(ctx, a, krec); err != nil {
			return "", err
		}
		s.mu.Lock()
		ks.rec = krec
		s.mu.Unlock()
		out = np
		out.LifetimeActions = slices.Clone(np.LifetimeActions)
		out.ID = s.KeyID(a.name, krec.Name, "") + "/rotationpolicy"
		s.poke()
		return "", nil
	})
	return out, err
}
