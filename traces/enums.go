package traces

// QueryType is the kind of work a call does. The zero value means absent; Unknown is an explicit
// "the source did not say".
type QueryType uint8

// Query types: the four the seed plan caches, plus chat, tool and heartbeat calls.
const (
	QueryUnknown     QueryType = iota + 1 // the source could not tell
	QueryResearch                         // open-ended research
	QueryFactLookup                       // a short factual question
	QueryCodePattern                      // a request for a code pattern or snippet
	QueryTemplate                         // filling a known template
	QueryChat                             // a conversational turn
	QueryTool                             // a turn that carries tool results back to the model
	QueryHeartbeat                        // a periodic checklist turn (OpenClaw HEARTBEAT.md)
)

var queryTypeNames = [...]string{"", "unknown", "research", "fact_lookup", "code_pattern", "template", "chat", "tool", "heartbeat"}

// QueryTypes lists every query type in order.
var QueryTypes = []QueryType{QueryUnknown, QueryResearch, QueryFactLookup, QueryCodePattern, QueryTemplate, QueryChat, QueryTool, QueryHeartbeat}

// String returns the snake_case name of q, or "" for the zero value.
func (q QueryType) String() string {
	if int(q) < len(queryTypeNames) {
		return queryTypeNames[q]
	}
	return "invalid"
}

// ParseQueryType returns the query type named s; ok is false for an unknown name.
func ParseQueryType[S ~string | ~[]byte](s S) (q QueryType, ok bool) {
	for i := 1; i < len(queryTypeNames); i++ {
		if string(s) == queryTypeNames[i] {
			return QueryType(i), true
		}
	}
	return 0, false
}

// Priority is how urgent a call is. The zero value means absent.
type Priority uint8

// Priorities.
const (
	PriorityUrgent Priority = iota + 1 // must run now
	PriorityNormal                     // may wait within its MaxDelay
	PriorityLow                        // background work
)

var priorityNames = [...]string{"", "urgent", "normal", "low"}

// Priorities lists every priority in order.
var Priorities = []Priority{PriorityUrgent, PriorityNormal, PriorityLow}

// String returns the name of p, or "" for the zero value.
func (p Priority) String() string {
	if int(p) < len(priorityNames) {
		return priorityNames[p]
	}
	return "invalid"
}

// ParsePriority returns the priority named s; ok is false for an unknown name.
func ParsePriority[S ~string | ~[]byte](s S) (p Priority, ok bool) {
	for i := 1; i < len(priorityNames); i++ {
		if string(s) == priorityNames[i] {
			return Priority(i), true
		}
	}
	return 0, false
}

// ServiceTier is the provider tier a call was billed at. The zero value means absent.
type ServiceTier uint8

// Service tiers.
const (
	TierStandard ServiceTier = iota + 1 // on-demand list prices
	TierBatch                           // asynchronous Batch API, usually half price
	TierPriority                        // priority capacity at a premium
	TierFlex                            // best-effort capacity at a discount
)

var tierNames = [...]string{"", "standard", "batch", "priority", "flex"}

// ServiceTiers lists every tier in order.
var ServiceTiers = []ServiceTier{TierStandard, TierBatch, TierPriority, TierFlex}

// String returns the name of t, or "" for the zero value.
func (t ServiceTier) String() string {
	if int(t) < len(tierNames) {
		return tierNames[t]
	}
	return "invalid"
}

// ParseServiceTier returns the tier named s; ok is false for an unknown name.
func ParseServiceTier[S ~string | ~[]byte](s S) (t ServiceTier, ok bool) {
	for i := 1; i < len(tierNames); i++ {
		if string(s) == tierNames[i] {
			return ServiceTier(i), true
		}
	}
	return 0, false
}

// Speed is the generation speed a call asked for (Anthropic's fast mode bills a multiple of the
// standard price). The zero value means absent.
type Speed uint8

// Speeds.
const (
	SpeedStandard Speed = iota + 1 // the default speed
	SpeedFast                      // fast mode, at the price book's "fast" multiplier
)

var speedNames = [...]string{"", "standard", "fast"}

// Speeds lists every speed in order.
var Speeds = []Speed{SpeedStandard, SpeedFast}

// String returns the name of s, or "" for the zero value.
func (s Speed) String() string {
	if int(s) < len(speedNames) {
		return speedNames[s]
	}
	return "invalid"
}

// ParseSpeed returns the speed named s; ok is false for an unknown name.
func ParseSpeed[S ~string | ~[]byte](s S) (v Speed, ok bool) {
	for i := 1; i < len(speedNames); i++ {
		if string(s) == speedNames[i] {
			return Speed(i), true
		}
	}
	return 0, false
}
