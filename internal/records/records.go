// Package records keeps JSON documents in the store, each sealed under a data
// key with its own store key bound as additional data, so a record copied to
// another key or another installation does not open.
package records

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Table is a set of records of type T under one key prefix.
type Table[T any] struct {
	st     store.Store
	dk     *seal.DataKey
	prefix string
}

// NewTable returns the table of records under prefix (e.g. "id/app/"),
// sealed under dk.
func NewTable[T any](st store.Store, dk *seal.DataKey, prefix string) Table[T] {
	return Table[T]{st: st, dk: dk, prefix: prefix}
}

// Key returns the store key of record id.
func (t Table[T]) Key(id string) []byte { return []byte(t.prefix + id) }

// Get returns record id, or an error wrapping store.ErrNotFound.
func (t Table[T]) Get(ctx context.Context, id string) (T, error) {
	var v T
	key := t.Key(id)
	raw, err := t.st.Get(ctx, key)
	if err != nil {
		return v, fmt.Errorf("records: get %s: %w", key, err)
	}
	return t.decode(key, raw)
}

func (t Table[T]) decode(key, raw []byte) (T, error) {
	var v T
	plain, err := t.dk.Open(seal.Context("record", string(key)), raw)
	if err != nil {
		return v, fmt.Errorf("records: open %s: %w", key, err)
	}
	if err := json.Unmarshal(plain, &v); err != nil {
		return v, fmt.Errorf("records: decode %s: %w", key, err)
	}
	return v, nil
}

// Put adds the sealed record to b.
func (t Table[T]) Put(b *store.Batch, id string, v T) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("records: encode %s%s: %w", t.prefix, id, err)
	}
	key := t.Key(id)
	sealed, err := t.dk.Seal(seal.Context("record", string(key)), plain)
	clear(plain)
	if err != nil {
		return fmt.Errorf("records: seal %s: %w", key, err)
	}
	b.Set(key, sealed)
	return nil
}

// Delete adds the deletion of record id to b.
func (t Table[T]) Delete(b *store.Batch, id string) { b.Delete(t.Key(id)) }

// List returns every record whose id starts with idPrefix, in key order.
func (t Table[T]) List(ctx context.Context, idPrefix string) ([]T, error) {
	var out []T
	err := t.Each(ctx, idPrefix, func(id string, v T) error {
		out = append(out, v)
		return nil
	})
	return out, err
}

// Each calls fn for every record whose id starts with idPrefix, in key order.
func (t Table[T]) Each(ctx context.Context, idPrefix string, fn func(id string, v T) error) error {
	return store.ForEach(ctx, t.st, []byte(t.prefix+idPrefix), func(k, raw []byte) error {
		v, err := t.decode(k, raw)
		if err != nil {
			return err
		}
		return fn(string(k[len(t.prefix):]), v)
	})
}
