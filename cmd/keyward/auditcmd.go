package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/client"
	"github.com/keyward/keyward/internal/isoduration"
)

// auditEntry is one audit record: its JSON as the vault sent it, and its
// time for merging the logs of several vaults.
type auditEntry struct {
	raw  json.RawMessage
	time time.Time
}

func newAuditCmd() *cobra.Command {
	var vaultName, key, caller, operation, since, until string
	var limit int
	cmd := azCommand("audit", "Read the key vault audit log (JSON lines, oldest first)", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		now := time.Now()
		q := url.Values{}
		for _, f := range []struct{ name, v string }{{"key", key}, {"caller", caller}, {"operation", operation}} {
			if f.v != "" {
				q.Set(f.name, f.v)
			}
		}
		for _, f := range []struct{ name, v string }{{"since", since}, {"until", until}} {
			if f.v == "" {
				continue
			}
			t, err := auditTime(f.name, f.v, now)
			if err != nil {
				return err
			}
			q.Set(f.name, t.Format(time.RFC3339Nano))
		}
		if cmd.Flags().Changed("limit") {
			if limit < 1 {
				return fmt.Errorf("--limit must be a positive number, got %d", limit)
			}
			q.Set("limit", strconv.Itoa(limit))
		}
		vaults := []string{vaultName}
		if vaultName == "" {
			all, err := listAll(ctx, c, vaultsPath(c, ""), keyVaultARMAPI)
			if err != nil {
				return err
			}
			vaults = vaults[:0]
			for _, v := range all {
				if n := str(obj(v)["name"]); n != "" {
					vaults = append(vaults, n)
				}
			}
		}
		var entries []auditEntry
		var firstErr error
		for _, v := range vaults {
			got, err := readAudit(ctx, c, v, q)
			if err != nil {
				if vaultName != "" {
					return err
				}
				// Reading every vault: report the ones this principal
				// may not read, and go on.
				fmt.Fprintf(cmd.ErrOrStderr(), "keyward: audit of vault %s: %s\n", v, oneLine(err.Error()))
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			entries = append(entries, got...)
		}
		if len(entries) == 0 && firstErr != nil && len(vaults) > 0 {
			return firstErr
		}
		sort.SliceStable(entries, func(i, j int) bool { return entries[i].time.Before(entries[j].time) })
		if limit > 0 && len(entries) > limit {
			entries = entries[:limit]
		}
		w := cmd.OutOrStdout()
		for _, e := range entries {
			if _, err := fmt.Fprintf(w, "%s\n", e.raw); err != nil {
				return err
			}
		}
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&vaultName, "vault", "", "vault name (default: every vault of the subscription)")
	f.StringVar(&key, "key", "", "only operations on this key")
	f.StringVar(&caller, "caller", "", "only this caller (object id or application id)")
	f.StringVar(&operation, "operation", "", "only this operation (e.g. KeyWrap, KeyUnwrap, KeyRotate, VaultPut)")
	f.StringVar(&since, "since", "", "from this time on: RFC 3339, or a duration back from now (90m, 24h, 7d, PT1H)")
	f.StringVar(&until, "until", "", "before this time: RFC 3339, or a duration back from now")
	f.IntVar(&limit, "limit", 0, "at most this many entries (default: the server's, 1000)")
	return cmd
}

// readAudit reads one vault's audit log.
func readAudit(ctx context.Context, c *client.Client, vault string, q url.Values) ([]auditEntry, error) {
	var page struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := vaultDo(ctx, c, "GET", vault, "/keyward/audit", q, nil, &page); err != nil {
		return nil, err
	}
	out := make([]auditEntry, 0, len(page.Value))
	for _, raw := range page.Value {
		var e struct {
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("audit of vault %s: %w", vault, err)
		}
		out = append(out, auditEntry{raw: compactJSON(raw), time: e.Time})
	}
	return out, nil
}

// compactJSON returns raw on one line.
func compactJSON(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// auditTime reads --since/--until: an RFC 3339 time or date, or a
// duration back from now (Go's 90m or 24h, days as 7d, or ISO 8601 PT1H).
func auditTime(flag, v string, now time.Time) (time.Time, error) {
	if t, err := parseTime(flag, v); err == nil {
		return t, nil
	}
	var d time.Duration
	var err error
	switch {
	case strings.HasPrefix(strings.ToUpper(v), "P"):
		d, err = isoduration.Parse(strings.ToUpper(v))
	case strings.HasSuffix(v, "d"):
		var n int
		n, err = strconv.Atoi(strings.TrimSuffix(v, "d"))
		if err == nil && (n < 0 || n > 100000) {
			err = fmt.Errorf("out of range")
		}
		d = time.Duration(n) * 24 * time.Hour
	default:
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("--%s %q: use an RFC 3339 time (2030-01-31T00:00:00Z) or a duration back from now (90m, 24h, 7d)", flag, v)
	}
	return now.Add(-d).UTC(), nil
}
