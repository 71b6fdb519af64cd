package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// Pebble is the embedded Store, a Pebble database in one directory.
type Pebble struct {
	db     *pebble.DB
	closed atomic.Bool
}

// Open opens (creating if needed) the Pebble store in dir.
func Open(dir string, log *slog.Logger) (*Pebble, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := &pebble.Options{
		Logger: pebbleLogger{log.With("component", "pebble")},
		// A larger memtable: fewer flushes for write-then-delete workloads
		// (a queue whose messages are completed soon after they arrive).
		MemTableSize: 32 << 20,
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return &Pebble{db: db}, nil
}

// Get implements Store.
func (p *Pebble) Get(ctx context.Context, key []byte) ([]byte, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

// Scan implements Store.
func (p *Pebble) Scan(ctx context.Context, opts ScanOptions) (Iterator, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	it, err := p.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: opts.Lower, UpperBound: opts.Upper})
	if err != nil {
		return nil, fmt.Errorf("store: scan: %w", err)
	}
	return &pebbleIter{it: it, reverse: opts.Reverse}, nil
}

// Apply implements Store. Pebble's commit pipeline groups the WAL syncs of
// concurrent durable batches, which is the group commit Store promises.
func (p *Pebble) Apply(ctx context.Context, b *Batch) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	pb := p.db.NewBatch()
	defer pb.Close()
	for _, op := range b.Ops {
		var err error
		switch op.Kind {
		case OpSet:
			err = pb.Set(op.Key, op.Value, nil)
		case OpDelete:
			err = pb.Delete(op.Key, nil)
		case OpDeleteRange:
			err = pb.DeleteRange(op.Key, op.Value, nil)
		default:
			err = fmt.Errorf("unknown operation %d", op.Kind)
		}
		if err != nil {
			return fmt.Errorf("store: apply: %w", err)
		}
	}
	wo := pebble.NoSync
	if b.Sync {
		wo = pebble.Sync
	}
	if err := pb.Commit(wo); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Close implements Store.
func (p *Pebble) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	if err := p.db.Flush(); err != nil {
		p.db.Close()
		return fmt.Errorf("store: flush: %w", err)
	}
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

type pebbleIter struct {
	it      *pebble.Iterator
	reverse bool
	started bool
}

func (i *pebbleIter) Next() bool {
	if !i.started {
		i.started = true
		if i.reverse {
			return i.it.Last()
		}
		return i.it.First()
	}
	if i.reverse {
		return i.it.Prev()
	}
	return i.it.Next()
}

func (i *pebbleIter) Key() []byte   { return i.it.Key() }
func (i *pebbleIter) Value() []byte { return i.it.Value() }
func (i *pebbleIter) Err() error    { return i.it.Error() }
func (i *pebbleIter) Close() error  { return i.it.Close() }

type pebbleLogger struct{ l *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.l.Debug(fmt.Sprintf(format, args...))
}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.l.Error(fmt.Sprintf(format, args...))
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.l.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
