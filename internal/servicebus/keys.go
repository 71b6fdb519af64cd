package servicebus

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/seal"
)

// Store layout. Every key of a namespace starts with its prefix
// "sb/" + SHA-256(lower-case name)[:16] + "/". No key contains user data:
// entities, sessions and duplicate-detection entries are named by internal
// numbers or keyed hashes, and every value holding user data is sealed.
//
//	<ns> "k"                       plaintext JSON: data key id (not secret)
//	<ns> "h"                       sealed: the duplicate-detection hash key
//	<ns> "c"                       next entity id (8 bytes)
//	<ns> "e" eid                   sealed JSON entity record (queue, topic, subscription, rule)
//	<ns> "r" eid                   highest reserved sequence number (8 bytes)
//	<ns> "i" eid code seq          sealed index entry (size, expiry, session number, schedule time)
//	<ns> "m" eid seq               sealed message record
//	<ns> "u" eid hmac16            duplicate-detection entry: first-seen time (8 bytes)
//	<ns> "s" eid sess              sealed session identity (the session id)
//	<ns> "w" eid sess              sealed session state
//
// eid, seq and sess are big-endian uint64. code is one byte: see the code*
// constants.
const keyRoot = "sb/"

// Index codes: which sub-queue a message's index entry is in.
const (
	codeActive       = 'a' // main queue: available or locked
	codeDeferred     = 'd' // main queue: deferred
	codeScheduled    = 's' // queue or topic: scheduled
	codeDLQ          = 'x' // dead-letter queue
	codeDLQDeferred  = 'y' // dead-letter queue: deferred
	codeTDLQ         = 't' // transfer dead-letter queue
	codeTDLQDeferred = 'v' // transfer dead-letter queue: deferred
)

func nsPrefix(name string) []byte {
	h := sha256.Sum256([]byte(strings.ToLower(name)))
	p := make([]byte, 0, len(keyRoot)+17)
	p = append(p, keyRoot...)
	p = append(p, h[:16]...)
	return append(p, '/')
}

type keyer struct {
	prefix []byte
	ctxNS  string // lower-case namespace name, bound into every seal context
}

func newKeyer(name string) keyer {
	return keyer{prefix: nsPrefix(name), ctxNS: strings.ToLower(name)}
}

func (k keyer) key(kind byte, parts ...uint64) []byte {
	b := make([]byte, 0, len(k.prefix)+1+8*len(parts)+1)
	b = append(b, k.prefix...)
	b = append(b, kind)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint64(b, p)
	}
	return b
}

func (k keyer) metaKey() []byte                    { return k.key('k') }
func (k keyer) dedupSecretKey() []byte             { return k.key('h') }
func (k keyer) counterKey() []byte                 { return k.key('c') }
func (k keyer) entityKey(eid uint64) []byte        { return k.key('e', eid) }
func (k keyer) reserveKey(eid uint64) []byte       { return k.key('r', eid) }
func (k keyer) dataKey(eid, seq uint64) []byte     { return k.key('m', eid, seq) }
func (k keyer) sessionKey(eid, sess uint64) []byte { return k.key('s', eid, sess) }
func (k keyer) stateKey(eid, sess uint64) []byte   { return k.key('w', eid, sess) }

func (k keyer) indexKey(eid uint64, code byte, seq uint64) []byte {
	b := k.key('i', eid)
	b = append(b, code)
	return binary.BigEndian.AppendUint64(b, seq)
}

func (k keyer) indexCodePrefix(eid uint64, code byte) []byte {
	return append(k.key('i', eid), code)
}

func (k keyer) dedupKey(eid uint64, h []byte) []byte {
	return append(k.key('u', eid), h...)
}

// Seal contexts. Each binds the namespace, the entity and the record's place.
func (k keyer) ctxData(eid, seq uint64) []byte {
	return seal.Context("sb.msg", k.ctxNS, u64s(eid), u64s(seq))
}

func (k keyer) ctxIndex(eid uint64, code byte, seq uint64) []byte {
	return seal.Context("sb.idx", k.ctxNS, u64s(eid), string(code), u64s(seq))
}

func (k keyer) ctxEntity(eid uint64) []byte {
	return seal.Context("sb.entity", k.ctxNS, u64s(eid))
}

func (k keyer) ctxSession(eid, sess uint64) []byte {
	return seal.Context("sb.session", k.ctxNS, u64s(eid), u64s(sess))
}

func (k keyer) ctxState(eid, sess uint64) []byte {
	return seal.Context("sb.state", k.ctxNS, u64s(eid), u64s(sess))
}

func (k keyer) ctxDedupSecret() []byte { return seal.Context("sb.dedup", k.ctxNS) }

func u64s(v uint64) string { return strconv.FormatUint(v, 10) }

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
