package analysis

import (
	"strings"

	"github.com/tarsopt/tarsopt/internal/hash64"
)

// seenSet is the oracle's perfect cache: the (tenant, fingerprint) pairs seen so far, exactly. It
// holds one open-addressing table of fingerprints per tenant, filled up to three quarters before
// it doubles, so a pair costs 8 bytes of table at 37.5 to 75% load (11 to 21 bytes), where a Go
// map of (tenant, fingerprint) keys took about 34 and kept every record's tenant string alive.
// The oracle needs every distinct request of the trace, so this is the one part of a replay whose
// memory grows with the trace (see docs/replay.md). The zero seenSet is empty and ready to use.
type seenSet struct {
	tenants map[string]*fpSet
	last    string // the tenant of the latest add (the set's own copy), and its set: most traces have one tenant
	lastSet *fpSet
}

// add records (tenant, fp) and reports whether it was new.
func (s *seenSet) add(tenant string, fp uint64) bool {
	if s.lastSet == nil || tenant != s.last {
		set, ok := s.tenants[tenant]
		if !ok {
			if s.tenants == nil {
				s.tenants = map[string]*fpSet{}
			}
			// Not the caller's string: a reader may reuse the record's memory.
			set = &fpSet{tenant: strings.Clone(tenant)}
			s.tenants[set.tenant] = set
		}
		s.last, s.lastSet = set.tenant, set
	}
	return s.lastSet.add(fp)
}

// len returns the number of pairs held.
func (s *seenSet) len() int {
	n := 0
	for _, set := range s.tenants {
		n += set.n
	}
	return n
}

// fpSet is a set of 64-bit fingerprints: linear probing in a power-of-two table whose empty slots
// hold 0, with fingerprint 0 kept apart.
type fpSet struct {
	tenant  string // whose fingerprints these are
	slots   []uint64
	n       int // fingerprints held, 0 included
	hasZero bool
}

// add inserts fp and reports whether it was new.
func (s *fpSet) add(fp uint64) bool {
	if fp == 0 {
		if s.hasZero {
			return false
		}
		s.hasZero = true
		s.n++
		return true
	}
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := hash64.Mix(fp) & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = fp
			s.n++
			return true
		case fp:
			return false
		}
	}
}

// grow doubles the table (64 slots at first) and reinserts every fingerprint.
func (s *fpSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(64, 2*len(old)))
	mask := uint64(len(s.slots) - 1)
	for _, fp := range old {
		if fp == 0 {
			continue
		}
		i := hash64.Mix(fp) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = fp
	}
}
