package wire

// MaxBreakpoints is the number of cache_control breakpoints the API accepts in one request.
const MaxBreakpoints = 4

// AddCacheControl inserts prompt-cache breakpoints, {"type":"ephemeral"} (with "ttl":"1h" when ttl
// is "1h"; ttl "" or "5m" is the default five minutes, any other ttl adds nothing), at up to three
// places, in this order of priority: the last content block of the last user message, the last
// system block, the last tool definition. A string system prompt or string content becomes one
// text block to carry it; empty text gets none. Breakpoints the request already has (on tools,
// system blocks, message blocks and blocks inside tool results) count toward maxBreakpoints, which
// is capped at MaxBreakpoints; a place that already has cache_control (even null) is left alone.
// A breakpoint is not added where it would break the API's rule that longer-lived entries come
// first (a 1h breakpoint after a 5m one). It returns the number added; Marshal writes them.
func (r *Request) AddCacheControl(ttl string, maxBreakpoints int) (added int) {
	hour := false
	switch ttl {
	case "", "5m":
	case "1h":
		hour = true
	default:
		return 0
	}
	budget := min(maxBreakpoints, MaxBreakpoints)

	// Existing breakpoints in prompt order (seq), and the candidate places.
	type bp struct {
		seq  int
		hour bool
	}
	var existing []bp
	seq := 0
	var scratch []byte
	visit := func(f *blockFields) {
		seq++
		if f.cacheControl != nil && !isNull(f.cacheControl) {
			existing = append(existing, bp{seq, ccHour(f.cacheControl)})
		}
	}
	type place struct {
		seq   int
		where int // 0 tools, 1 system, 2 message
	}
	var places []place
	lastUser := -1
	for i := range r.Messages {
		if r.Messages[i].Role == "user" {
			lastUser = i
		}
	}
	// visitList visits the blocks of a list and returns the seq of its last block, or 0 when the
	// last block cannot take a breakpoint.
	var visitList func(raw []byte, depth int) int
	visitList = func(raw []byte, depth int) int {
		s := trusted(raw)
		if s.peek() != '[' {
			return 0
		}
		s.i++
		last := 0
		for first := true; ; first = false {
			more, err := s.arrayNext(first)
			if err != nil || !more {
				return last
			}
			v, err := s.value()
			if err != nil {
				return 0
			}
			f, ok := readBlock(v, &scratch)
			if !ok {
				last = 0
				continue
			}
			if depth < 8 && f.content != nil && isToolResult(f.typeName()) {
				visitList(f.content, depth+1) // inside the block: before its own breakpoint
			}
			visit(&f)
			last = seq
			t := string(f.typeName())
			if f.cacheControl != nil || t == "thinking" || t == "redacted_thinking" || emptyObject(v) {
				last = 0
			}
		}
	}
	if t := visitList(r.Tools, 0); t > 0 {
		places = append(places, place{t, 0})
	}
	switch {
	case isString(r.System):
		seq++
		if !emptyString(r.System) {
			places = append(places, place{seq, 1})
		}
	default:
		if t := visitList(r.System, 0); t > 0 {
			places = append(places, place{t, 1})
		}
	}
	for i := range r.Messages {
		c := r.Messages[i].Content
		if isString(c) {
			seq++
			if i == lastUser && !emptyString(c) {
				places = append(places, place{seq, 2})
			}
			continue
		}
		if t := visitList(c, 0); t > 0 && i == lastUser {
			places = append(places, place{t, 2})
		}
	}
	budget -= len(existing)
	if budget <= 0 || len(places) == 0 {
		return 0
	}
	cc := `{"type":"ephemeral"}`
	if hour {
		cc = `{"type":"ephemeral","ttl":"1h"}`
	}
	for i := len(places) - 1; i >= 0 && budget > 0; i-- { // messages first, then system, then tools
		p := places[i]
		fits := true
		for _, e := range existing {
			if (e.seq < p.seq && hour && !e.hour) || (e.seq > p.seq && !hour && e.hour) {
				fits = false
			}
		}
		if !fits {
			continue
		}
		switch p.where {
		case 0:
			r.Tools = withCacheControl(r.Tools, cc)
		case 1:
			r.System = withCacheControl(r.System, cc)
		case 2:
			m := &r.Messages[lastUser]
			m.Content = withCacheControl(m.Content, cc)
		}
		budget--
		added++
	}
	return added
}

// ccHour reports whether a cache_control value asks for the one-hour TTL.
func ccHour(raw []byte) bool {
	s := trusted(raw)
	if s.peek() != '{' {
		return false
	}
	s.i++
	var scratch []byte
	for first := true; ; first = false {
		key, more, err := s.objectNext(first, &scratch)
		if err != nil || !more {
			return false
		}
		v, err := s.value()
		if err != nil {
			return false
		}
		if string(key) == "ttl" && string(v) == `"1h"` {
			return true
		}
	}
}

func isString(raw []byte) bool {
	s := trusted(raw)
	return s.peek() == '"'
}

func emptyString(raw []byte) bool {
	s := trusted(raw)
	s.peek()
	v, _, err := s.str()
	return err != nil || len(v) == 0
}

func emptyObject(raw []byte) bool {
	s := trusted(raw)
	if s.peek() != '{' {
		return true
	}
	s.i++
	return s.peek() == '}'
}

// withCacheControl returns a new content value with cache_control cc on its last block: a string
// becomes one text block; an array gets cc on its last element (an object).
func withCacheControl(raw []byte, cc string) []byte {
	s := trusted(raw)
	if s.peek() == '"' {
		v, err := s.value()
		if err != nil {
			return raw
		}
		out := make([]byte, 0, len(v)+len(cc)+48)
		out = append(out, `[{"type":"text","text":`...)
		out = append(out, v...)
		out = append(out, `,"cache_control":`...)
		out = append(out, cc...)
		return append(out, "}]"...)
	}
	if s.peek() != '[' {
		return raw
	}
	s.i++
	end := -1
	for first := true; ; first = false {
		more, err := s.arrayNext(first)
		if err != nil {
			return raw
		}
		if !more {
			break
		}
		s.ws()
		if _, err := s.value(); err != nil {
			return raw
		}
		end = s.i // just after the element's closing '}'
	}
	if end < 1 || raw[end-1] != '}' {
		return raw
	}
	out := make([]byte, 0, len(raw)+len(cc)+20)
	out = append(out, raw[:end-1]...)
	out = append(out, `,"cache_control":`...)
	out = append(out, cc...)
	return append(out, raw[end-1:]...)
}
