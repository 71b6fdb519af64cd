package vaulthttp

import (
	"encoding/json"
	"time"

	"github.com/keyward/keyward/internal/keycrypto"
	"github.com/keyward/keyward/internal/vault"
)

// Wire shapes of the Key Vault keys API, as azkeys reads and writes them:
// binary values are unpadded base64url, times are integer Unix seconds.

type wireAttributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         *int64 `json:"created,omitempty"`
	Updated         *int64 `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
	Exportable      *bool  `json:"exportable,omitempty"`
}

type wireKeyBundle struct {
	Key        keycrypto.JSONWebKey `json:"key"`
	Attributes wireAttributes       `json:"attributes"`
	Tags       map[string]string    `json:"tags,omitempty"`
}

type wireDeletedKey struct {
	wireKeyBundle
	RecoveryID         string `json:"recoveryId"`
	DeletedDate        int64  `json:"deletedDate"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate"`
}

type wireKeyItem struct {
	KID        string            `json:"kid"`
	Attributes wireAttributes    `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
}

type wireDeletedKeyItem struct {
	wireKeyItem
	RecoveryID         string `json:"recoveryId"`
	DeletedDate        int64  `json:"deletedDate"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate"`
}

type wireList[T any] struct {
	Value    []T     `json:"value"`
	NextLink *string `json:"nextLink"`
}

type wireOperationResult struct {
	KID   string              `json:"kid"`
	Value keycrypto.Base64URL `json:"value"`
}

type wireVerifyResult struct {
	Value bool `json:"value"`
}

type wireValue struct {
	Value keycrypto.Base64URL `json:"value"`
}

type wireTrigger struct {
	TimeAfterCreate  *string `json:"timeAfterCreate,omitempty"`
	TimeBeforeExpiry *string `json:"timeBeforeExpiry,omitempty"`
}

type wireAction struct {
	Type string `json:"type"`
}

type wireLifetimeAction struct {
	Trigger wireTrigger `json:"trigger"`
	Action  wireAction  `json:"action"`
}

type wirePolicyAttributes struct {
	ExpiryTime *string `json:"expiryTime,omitempty"`
	Created    *int64  `json:"created,omitempty"`
	Updated    *int64  `json:"updated,omitempty"`
}

type wireRotationPolicy struct {
	ID              string               `json:"id,omitempty"`
	LifetimeActions []wireLifetimeAction `json:"lifetimeActions"`
	Attributes      wirePolicyAttributes `json:"attributes"`
}

// Requests.

type wireCreateKey struct {
	Kty            keycrypto.KeyType   `json:"kty"`
	KeySize        *int                `json:"key_size"`
	PublicExponent *int                `json:"public_exponent"`
	Crv            keycrypto.CurveName `json:"crv"`
	KeyOps         []string            `json:"key_ops"`
	Attributes     *wireAttributes     `json:"attributes"`
	Tags           map[string]string   `json:"tags"`
	ReleasePolicy  json.RawMessage     `json:"release_policy"`
}

type wireImportKey struct {
	Key           *keycrypto.JSONWebKey `json:"key"`
	HSM           *bool                 `json:"Hsm"`
	Attributes    *wireAttributes       `json:"attributes"`
	Tags          map[string]string     `json:"tags"`
	ReleasePolicy json.RawMessage       `json:"release_policy"`
}

type wireUpdateKey struct {
	KeyOps        []string          `json:"key_ops"`
	Attributes    *wireAttributes   `json:"attributes"`
	Tags          map[string]string `json:"tags"`
	ReleasePolicy json.RawMessage   `json:"release_policy"`
}

type wireKeyOperation struct {
	Alg   string  `json:"alg"`
	Value *string `json:"value"`
	IV    *string `json:"iv"`
	AAD   *string `json:"aad"`
	Tag   *string `json:"tag"`
}

type wireVerify struct {
	Alg    string  `json:"alg"`
	Digest *string `json:"digest"`
	Value  *string `json:"value"`
}

type wireRestore struct {
	Value *string `json:"value"`
}

type wireRandom struct {
	Count *int `json:"count"`
}

// Conversions.

func unix(t time.Time) *int64 {
	v := t.Unix()
	return &v
}

func unixPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	return unix(*t)
}

func toWireAttributes(a vault.KeyAttributes) wireAttributes {
	enabled, exportable, days := a.Enabled, a.Exportable, a.RecoverableDays
	return wireAttributes{
		Enabled: &enabled, NotBefore: unixPtr(a.NotBefore), Expires: unixPtr(a.Expires),
		Created: unix(a.Created), Updated: unix(a.Updated), RecoveryLevel: a.RecoveryLevel,
		RecoverableDays: &days, Exportable: &exportable,
	}
}

func toWireBundle(kb vault.KeyBundle) wireKeyBundle {
	return wireKeyBundle{Key: kb.Key, Attributes: toWireAttributes(kb.Attributes), Tags: kb.Tags}
}

func toWireDeleted(dk vault.DeletedKey) wireDeletedKey {
	return wireDeletedKey{
		wireKeyBundle: toWireBundle(dk.KeyBundle), RecoveryID: dk.RecoveryID,
		DeletedDate: dk.DeletedDate.Unix(), ScheduledPurgeDate: dk.ScheduledPurgeDate.Unix(),
	}
}

func toWireItem(it vault.KeyItem) wireKeyItem {
	return wireKeyItem{KID: it.KID, Attributes: toWireAttributes(it.Attributes), Tags: it.Tags}
}

func toWirePolicy(p vault.RotationPolicy) wireRotationPolicy {
	out := wireRotationPolicy{ID: p.ID, LifetimeActions: []wireLifetimeAction{}}
	for _, a := range p.LifetimeActions {
		la := wireLifetimeAction{Action: wireAction{Type: a.Type}}
		if a.TimeAfterCreate != "" {
			v := a.TimeAfterCreate
			la.Trigger.TimeAfterCreate = &v
		}
		if a.TimeBeforeExpiry != "" {
			v := a.TimeBeforeExpiry
			la.Trigger.TimeBeforeExpiry = &v
		}
		out.LifetimeActions = append(out.LifetimeActions, la)
	}
	if p.ExpiryTime != "" {
		v := p.ExpiryTime
		out.Attributes.ExpiryTime = &v
	}
	if !p.Created.IsZero() {
		out.Attributes.Created = unix(p.Created)
		out.Attributes.Updated = unix(p.Updated)
	}
	return out
}

func fromWirePolicy(w wireRotationPolicy) vault.RotationPolicy {
	p := vault.RotationPolicy{}
	for _, a := range w.LifetimeActions {
		la := vault.LifetimeAction{Type: a.Action.Type}
		if a.Trigger.TimeAfterCreate != nil {
			la.TimeAfterCreate = *a.Trigger.TimeAfterCreate
		}
		if a.Trigger.TimeBeforeExpiry != nil {
			la.TimeBeforeExpiry = *a.Trigger.TimeBeforeExpiry
		}
		p.LifetimeActions = append(p.LifetimeActions, la)
	}
	if w.Attributes.ExpiryTime != nil {
		p.ExpiryTime = *w.Attributes.ExpiryTime
	}
	return p
}

// fromWireAttributes converts request attributes; created, updated and the
// recovery fields are read-only and ignored.
func fromWireAttributes(w *wireAttributes) vault.AttributesUpdate {
	var u vault.AttributesUpdate
	if w == nil {
		return u
	}
	u.Enabled = w.Enabled
	u.Exportable = w.Exportable
	if w.NotBefore != nil {
		t := time.Unix(*w.NotBefore, 0).UTC()
		u.NotBefore = &t
	}
	if w.Expires != nil {
		t := time.Unix(*w.Expires, 0).UTC()
		u.Expires = &t
	}
	return u
}
