package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/keycrypto"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Key backup blob format, version 1:
//
//	"KWKB" | 0x01 | seal record (DataKey.Seal) of the JSON backupDoc
//
// sealed under the vault service's data key with the context
// seal.Context("keyward key backup", "v1"), so only a keyward holding the
// same root key (and so the same data key) can restore it.
const (
	backupMagic   = "KWKB"
	backupVersion = 1
	backupFormat  = "keyward-key-backup/1"
	// maxBackupVersions bounds what one restore creates.
	maxBackupVersions = 10000
)

func backupContext() []byte { return seal.Context("keyward key backup", "v1") }

// backupDoc is the sealed content of a backup: a key with every version,
// private parts included.
type backupDoc struct {
	Format   string          `json:"format"`
	Name     string          `json:"name"`
	Created  time.Time       `json:"created"`
	Policy   *RotationPolicy `json:"policy,omitempty"`
	Versions []versionRecord `json:"versions"`
}

// BackupKey returns a sealed backup of a key with all its versions.
func (s *Service) BackupKey(ctx context.Context, c Caller, vault, name string) ([]byte, error) {
	var blob []byte
	err := s.dataOp(ctx, c, vault, opKeyBackup, name, func(a *vaultAuth) (string, error) {
		var err error
		blob, err = s.backupKey(a, name)
		return "", err
	})
	return blob, err
}

func (s *Service) backupKey(a *vaultAuth, name string) ([]byte, error) {
	s.mu.RLock()
	_, ks, err := s.liveKey(a, name)
	if err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	doc := backupDoc{Format: backupFormat, Name: ks.rec.Name, Created: s.clk.Now()}
	if ks.rec.Policy != nil {
		p := *ks.rec.Policy
		p.LifetimeActions = slices.Clone(p.LifetimeActions)
		doc.Policy = &p
	}
	keys := make([]*keycrypto.Key, 0, len(ks.rec.Versions))
	for _, ver := range ks.rec.Versions {
		v := ks.versions[ver]
		rec := v.rec
		rec.KeyOps = slices.Clone(rec.KeyOps)
		rec.Tags = cloneTags(rec.Tags)
		doc.Versions = append(doc.Versions, rec)
		keys = append(keys, v.key)
	}
	s.mu.RUnlock()
	defer func() {
		for i := range doc.Versions {
			clear(doc.Versions[i].Private)
		}
	}()
	for i, k := range keys {
		priv, err := keycrypto.MarshalPrivate(k)
		if err != nil {
			return nil, err
		}
		doc.Versions[i].Private = priv
	}
	plain, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	sealed, err := s.dk.Seal(backupContext(), plain)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(backupMagic)+1+len(sealed))
	out = append(out, backupMagic...)
	out = append(out, backupVersion)
	return append(out, sealed...), nil
}

// openBackup authenticates and decodes a backup blob. Every failure is a
// BadParameter that reveals nothing about the content.
func (s *Service) openBackup(blob []byte) (backupDoc, error) {
	var doc backupDoc
	bad := errBadParameter("Backup blob is corrupt or was not made by this keyward installation (it must hold the same root key).")
	if len(blob) < len(backupMagic)+1 || !bytes.HasPrefix(blob, []byte(backupMagic)) || blob[len(backupMagic)] != backupVersion {
		return doc, bad
	}
	plain, err := s.dk.Open(backupContext(), blob[len(backupMagic)+1:])
	if err != nil {
		return doc, bad
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, &doc); err != nil || doc.Format != backupFormat || !ValidKeyName(doc.Name) ||
		len(doc.Versions) == 0 || len(doc.Versions) > maxBackupVersions {
		return backupDoc{}, bad
	}
	return doc, nil
}

// RestoreKey restores a key with all its versions from a backup made by
// BackupKey in any vault of this installation. A key of the same name
// (live or deleted) is a Conflict.
func (s *Service) RestoreKey(ctx context.Context, c Caller, vault string, blob []byte) (KeyBundle, error) {
	var kb KeyBundle
	name := ""
	start := time.Now()
	s.audit.begin()
	a, err := s.vaultFor(vault)
	if err == nil {
		err = s.authorize(ctx, c, a, opKeyRestore, "")
	}
	if err == nil {
		kb, name, err = s.restoreKey(ctx, a, blob)
	}
	return kb, s.finish(ctx, c, opKeyRestore, a, vault, name, versionOf(kb), err, start)
}

func (s *Service) restoreKey(ctx context.Context, a *vaultAuth, blob []byte) (KeyBundle, string, error) {
	doc, err := s.openBackup(blob)
	if err != nil {
		return KeyBundle{}, "", err
	}
	defer func() {
		for i := range doc.Versions {
			clear(doc.Versions[i].Private)
		}
	}()
	versions := map[string]*versionState{}
	order := make([]string, 0, len(doc.Versions))
	for _, rec := range doc.Versions {
		if len(rec.Version) != 32 || versions[rec.Version] != nil {
			return KeyBundle{}, doc.Name, errBadParameter("Backup blob is corrupt: bad or repeated version id.")
		}
		k, err := keycrypto.ParsePrivate(rec.Private)
		if err != nil {
			return KeyBundle{}, doc.Name, errBadParameter("Backup blob is corrupt: a key version does not parse.")
		}
		if rec.Kty.IsHSM() && !a.hsm {
			return KeyBundle{}, doc.Name, errBadParameter("The backup holds %s keys, which need a premium vault; vault '%s' is standard.", rec.Kty, a.name)
		}
		rec.Private = nil
		versions[rec.Version] = &versionState{rec: rec, key: k}
		order = append(order, rec.Version)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	vs := s.vaults[a.name]
	if vs == nil || vs.rec.Deleted != nil {
		return KeyBundle{}, doc.Name, errVaultNotFound(a.name)
	}
	a = vs.auth
	if ks := vs.keys[strings.ToLower(doc.Name)]; ks != nil {
		if ks.rec.Deleted != nil {
			return KeyBundle{}, doc.Name, errKeyDeleted(ks.rec.Name)
		}
		return KeyBundle{}, doc.Name, newError(StatusConflict, "Conflict", "", "Key %s already exists in vault '%s'; restore needs a free name.", ks.rec.Name, a.name)
	}
	krec := keyRecord{Name: doc.Name, Versions: order, Policy: doc.Policy}
	b := &store.Batch{}
	if err := s.keysT.Put(b, keyStoreID(a.name, doc.Name), krec); err != nil {
		return KeyBundle{}, doc.Name, err
	}
	for _, ver := range order {
		v := versions[ver]
		if err := s.putVersion(b, a.name, doc.Name, v.rec, v.key); err != nil {
			return KeyBundle{}, doc.Name, err
		}
	}
	if err := s.apply(ctx, b); err != nil {
		return KeyBundle{}, doc.Name, err
	}
	ks := &keyState{rec: krec, versions: versions}
	s.mu.Lock()
	vs.keys[strings.ToLower(doc.Name)] = ks
	kb := s.bundle(a, ks, ks.current())
	s.mu.Unlock()
	cur := ks.current().rec
	s.events.publish(Event{Type: EventKeyNewVersionCreated, Time: s.clk.Now(), VaultName: a.name, VaultID: a.id, KeyName: doc.Name,
		KeyVersion: cur.Version, KeyID: kb.Key.Kid, NotBefore: cloneTime(cur.NotBefore), Expires: cloneTime(cur.Expires)})
	s.poke()
	return kb, doc.Name, nil
}
