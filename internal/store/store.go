// Package store is keyward's persistence interface: ordered byte keys, range
// scans and atomic batches, small enough that a networked transactional engine
// can implement it. The embedded implementation (Open) uses Pebble.
//
// The store knows nothing of vaults or queues and never sees plaintext of
// anything sensitive: callers seal values before they write them.
package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get when a key does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("store: closed")

// Store is an ordered key-value store with atomic batches.
type Store interface {
	// Get returns a copy of the value stored under key, or ErrNotFound.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// Scan returns an iterator over the keys in [opts.Lower, opts.Upper).
	// The caller must Close it.
	Scan(ctx context.Context, opts ScanOptions) (Iterator, error)
	// Apply writes every operation of b atomically. With b.Sync set, Apply
	// returns only once the batch is durable; concurrent durable batches
	// share one sync (group commit).
	Apply(ctx context.Context, b *Batch) error
	// Close flushes and closes the store.
	Close() error
}

// ScanOptions bound a scan. A nil bound is open.
type ScanOptions struct {
	Lower   []byte // inclusive
	Upper   []byte // exclusive
	Reverse bool   // iterate from the last key down
}

// Iterator walks keys in order. Key and Value are valid until the next call
// to Next; copy them to keep them.
type Iterator interface {
	Next() bool
	Key() []byte
	Value() []byte
	Err() error
	Close() error
}

// OpKind is the kind of a batch operation.
type OpKind uint8

// Batch operation kinds.
const (
	OpSet OpKind = iota + 1
	OpDelete
	OpDeleteRange
)

// Op is one operation of a batch.
type Op struct {
	Kind  OpKind
	Key   []byte
	Value []byte // OpSet: the value; OpDeleteRange: the exclusive end key
}

// Batch is an ordered list of writes applied atomically by Store.Apply.
type Batch struct {
	Ops  []Op
	Sync bool // durable before Apply returns
}

// Set adds a write of value under key.
func (b *Batch) Set(key, value []byte) {
	b.Ops = append(b.Ops, Op{Kind: OpSet, Key: key, Value: value})
}

// Delete adds a deletion of key.
func (b *Batch) Delete(key []byte) { b.Ops = append(b.Ops, Op{Kind: OpDelete, Key: key}) }

// DeleteRange adds a deletion of every key in [start, end).
func (b *Batch) DeleteRange(start, end []byte) {
	b.Ops = append(b.Ops, Op{Kind: OpDeleteRange, Key: start, Value: end})
}

// Len returns the number of operations in b.
func (b *Batch) Len() int { return len(b.Ops) }

// PrefixEnd returns the smallest key greater than every key with the given
// prefix, for use as an exclusive upper bound; nil if there is none.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// ForEach scans a prefix and calls fn for each key and value.
// It stops at the first error fn returns.
func ForEach(ctx context.Context, s Store, prefix []byte, fn func(key, value []byte) error) error {
	it, err := s.Scan(ctx, ScanOptions{Lower: prefix, Upper: PrefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	return it.Err()
}
