package namespaces

import (
	"context"
	"errors"
	"strings"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/servicebus"
)

// Pair makes primary and the partner namespace (by resource id) a
// geo-disaster-recovery pair under alias: the secondary gets the primary's
// entity metadata and, if the primary uses customer-managed keys, the same
// keys, which the secondary's identity must be able to use already.
func (s *Service) Pair(ctx context.Context, primary, alias, partnerID, alternateName string) (Namespace, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	p, ok := s.lookup(primary)
	if !ok {
		return Namespace{}, errNamespace(primary)
	}
	t, err := arm.ParseTarget(partnerID)
	if err != nil || t.Kind != arm.KindProviderResource || !strings.EqualFold(t.ResourceType(), "Microsoft.ServiceBus/namespaces") {
		return Namespace{}, arm.BadRequest("InvalidPartnerNamespace", "partnerNamespace must be the resource id of a Service Bus namespace, not '%s'.", partnerID)
	}
	sec, ok := s.lookup(t.Name())
	if !ok || !strings.EqualFold(sec.ID, partnerID) {
		return Namespace{}, arm.BadRequest("InvalidPartnerNamespace", "The partner namespace '%s' was not found.", partnerID)
	}
	if strings.EqualFold(sec.Name, p.Name) {
		return Namespace{}, arm.BadRequest("InvalidPartnerNamespace", "A namespace cannot be paired with itself.")
	}
	if p.DR != nil {
		if strings.EqualFold(p.DR.Alias, alias) && strings.EqualFold(p.DR.Partner, sec.ID) {
			return p, nil
		}
		return Namespace{}, arm.Conflict("GeoDRPairingExists", "Namespace '%s' is already paired (alias '%s').", p.Name, p.DR.Alias)
	}
	if sec.DR != nil {
		return Namespace{}, arm.Conflict("GeoDRPairingExists", "The partner namespace '%s' is already paired (alias '%s').", sec.Name, sec.DR.Alias)
	}
	if p.SKU.Tier != "Premium" || sec.SKU.Tier != "Premium" {
		return Namespace{}, arm.BadRequest("GeoDRRequiresPremium", "Geo-disaster recovery pairs two Premium namespaces; '%s' is %s and '%s' is %s.", p.Name, p.SKU.Tier, sec.Name, sec.SKU.Tier)
	}
	if n, err := s.entityCount(ctx, sec.Name); err != nil {
		return Namespace{}, err
	} else if n > 0 {
		return Namespace{}, arm.BadRequest("SecondaryNotEmpty", "The secondary namespace '%s' must have no queues or topics before pairing; it has %d.", sec.Name, n)
	}
	if alias == "" || !ValidName(alias) {
		return Namespace{}, arm.BadRequest("InvalidAlias", "The alias '%s' is not a valid namespace name.", alias)
	}
	if _, taken := s.lookup(alias); taken || s.aliasTaken(alias) {
		return Namespace{}, arm.Conflict("AliasAlreadyExists", "The alias '%s' is already in use by a namespace or another pairing.", alias)
	}
	if p.Encryption != nil {
		if sec.Encryption != nil && !sameKeys(sec.Encryption.KeyVaultProperties, p.Encryption.KeyVaultProperties) {
			return Namespace{}, arm.BadRequest("EncryptionMismatch", "The secondary namespace '%s' uses other customer-managed keys than the primary.", sec.Name)
		}
		for _, k := range keyRefs(p.Encryption) {
			pr, err := principalFor(sec)(k.Identity)
			if err != nil {
				return Namespace{}, arm.BadRequest("SecondaryIdentityRequired", "The secondary namespace '%s' needs the identity its primary uses for key '%s' (%v). Set up the access policy for the secondary's managed identity on the key vault, then pair.", sec.Name, k.KeyName, err)
			}
			if err := s.kb.VerifyAccess(ctx, pr, k); err != nil {
				return Namespace{}, arm.BadRequest("SecondaryKeyAccessDenied", "The secondary namespace '%s' cannot use the primary's key '%s' in '%s': grant its managed identity get, wrapKey and unwrapKey on the key vault, then pair. (%v)", sec.Name, k.KeyName, k.VaultURI, err)
			}
		}
		if sec.Encryption == nil {
			if err := s.applyKeys(ctx, sec, p.Encryption); err != nil {
				return Namespace{}, err
			}
			enc := *p.Encryption
			sec.Encryption = &enc
		}
	}
	p.DR = &DRConfig{Alias: alias, Role: "Primary", Partner: sec.ID, AlternateName: alternateName}
	sec.DR = &DRConfig{Alias: alias, Role: "Secondary", Partner: p.ID, AlternateName: alternateName}
	now := s.clock.Now().UTC()
	p.UpdatedAt, sec.UpdatedAt = now, now
	if err := s.put(ctx, p); err != nil {
		return Namespace{}, err
	}
	if err := s.put(ctx, sec); err != nil {
		return Namespace{}, err
	}
	if err := s.replicate(ctx, p.Name, sec.Name); err != nil {
		return Namespace{}, err
	}
	return p, nil
}

// BreakPairing ends a pairing, from the primary: both namespaces stand alone
// with their entities.
func (s *Service) BreakPairing(ctx context.Context, name, alias string) error {
	return s.endPairing(ctx, name, alias, "Primary", "Break the pairing from the primary namespace; '%s' is the secondary (use failover to promote it).")
}

// Failover promotes the secondary: the pairing ends and the secondary
// becomes a standalone primary holding the replicated entities.
func (s *Service) Failover(ctx context.Context, name, alias string) error {
	return s.endPairing(ctx, name, alias, "Secondary", "Fail over from the secondary namespace; '%s' is the primary.")
}

// endPairing ends the pairing alias of namespace name, which must hold role.
func (s *Service) endPairing(ctx context.Context, name, alias, role, wrongRole string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, ok := s.lookup(name)
	if !ok {
		return errNamespace(name)
	}
	if n.DR == nil || !strings.EqualFold(n.DR.Alias, alias) {
		return arm.Errorf(404, "ResourceNotFound", "Namespace '%s' has no pairing with alias '%s'.", name, alias)
	}
	if n.DR.Role != role {
		return arm.BadRequest("Not"+role, wrongRole, name)
	}
	return s.unpair(ctx, n)
}

func (s *Service) unpair(ctx context.Context, n Namespace) error {
	partner, ok := s.byID(n.DR.Partner)
	n.DR = nil
	n.UpdatedAt = s.clock.Now().UTC()
	if err := s.put(ctx, n); err != nil {
		return err
	}
	if ok {
		partner.DR = nil
		partner.UpdatedAt = n.UpdatedAt
		return s.put(ctx, partner)
	}
	return nil
}

func (s *Service) byID(id string) (Namespace, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, n := range s.byKey {
		if strings.EqualFold(n.ID, id) {
			return *n, true
		}
	}
	return Namespace{}, false
}

// ReplicateFrom copies the entity metadata of a primary namespace to its
// secondary (callers invoke it after entity changes on a primary).
func (s *Service) ReplicateFrom(ctx context.Context, name string) error {
	n, ok := s.lookup(name)
	if !ok || n.DR == nil || n.DR.Role != "Primary" {
		return nil
	}
	sec, ok := s.byID(n.DR.Partner)
	if !ok {
		return nil
	}
	return s.replicate(ctx, n.Name, sec.Name)
}

// replicate makes the secondary's queues, topics, subscriptions and rules
// equal to the primary's (metadata only; messages are not replicated).
func (s *Service) replicate(ctx context.Context, from, to string) error {
	src, err := s.broker.Namespace(from)
	if err != nil {
		return err
	}
	dst, err := s.broker.Namespace(to)
	if err != nil {
		return err
	}
	qs, err := src.ListQueues(ctx)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, q := range qs {
		want[strings.ToLower(q.Name)] = true
		if _, err := dst.GetQueue(ctx, q.Name); err == nil {
			_, err = dst.UpdateQueue(ctx, q.Name, q.Properties)
			if err != nil {
				return err
			}
		} else if _, err := dst.CreateQueue(ctx, q.Name, q.Properties); err != nil {
			return err
		}
	}
	dq, _ := dst.ListQueues(ctx)
	for _, q := range dq {
		if !want[strings.ToLower(q.Name)] {
			_ = dst.DeleteQueue(ctx, q.Name)
		}
	}
	ts, err := src.ListTopics(ctx)
	if err != nil {
		return err
	}
	want = map[string]bool{}
	for _, t := range ts {
		want[strings.ToLower(t.Name)] = true
		if _, err := dst.GetTopic(ctx, t.Name); err == nil {
			if _, err := dst.UpdateTopic(ctx, t.Name, t.Properties); err != nil {
				return err
			}
		} else if _, err := dst.CreateTopic(ctx, t.Name, t.Properties); err != nil {
			return err
		}
		subs, err := src.ListSubscriptions(ctx, t.Name)
		if err != nil {
			return err
		}
		for _, sb := range subs {
			if _, err := dst.GetSubscription(ctx, t.Name, sb.Name); err != nil {
				if _, err := dst.CreateSubscription(ctx, t.Name, sb.Name, sb.Properties, nil); err != nil && !isExists(err) {
					return err
				}
			} else if _, err := dst.UpdateSubscription(ctx, t.Name, sb.Name, sb.Properties); err != nil {
				return err
			}
			rules, err := src.ListRules(ctx, t.Name, sb.Name)
			if err != nil {
				return err
			}
			have, _ := dst.ListRules(ctx, t.Name, sb.Name)
			keep := map[string]bool{}
			for _, r := range rules {
				keep[strings.ToLower(r.Name)] = true
				if _, err := dst.GetRule(ctx, t.Name, sb.Name, r.Name); err == nil {
					_, err = dst.UpdateRule(ctx, t.Name, sb.Name, r.Name, r.Properties)
					if err != nil {
						return err
					}
				} else if _, err := dst.CreateRule(ctx, t.Name, sb.Name, r.Name, r.Properties); err != nil && !isExists(err) {
					return err
				}
			}
			for _, r := range have {
				if !keep[strings.ToLower(r.Name)] {
					_ = dst.DeleteRule(ctx, t.Name, sb.Name, r.Name)
				}
			}
		}
	}
	dt, _ := dst.ListTopics(ctx)
	for _, t := range dt {
		if !want[strings.ToLower(t.Name)] {
			_ = dst.DeleteTopic(ctx, t.Name)
		}
	}
	return nil
}

func isExists(err error) bool {
	var se *servicebus.Error
	return errors.As(err, &se) && se.Code == servicebus.CodeEntityAlreadyExists
}

// RequireKeyAccess checks that a namespace's identity can use every key of
// enc (used before pairing and by callers that want an early answer).
func (s *Service) RequireKeyAccess(ctx context.Context, n Namespace, enc *Encryption) error {
	for _, k := range keyRefs(enc) {
		p, err := principalFor(n)(k.Identity)
		if err != nil {
			return err
		}
		if err := s.kb.VerifyAccess(ctx, p, k); err != nil {
			return err
		}
	}
	return nil
}
