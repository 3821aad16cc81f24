package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Set applies assignments of the form PATH=VALUE to c, in order, and validates the result. PATH is
// a dotted JSON path with list indices, such as strategies.router.bands[1].max; VALUE is JSON (a
// number, true, false, null, a quoted string, an array or an object) or else taken as a string, so
// that --set strategies.router.bands[0].model=claude-3-5-haiku needs no quotes. A key that does not
// exist is created, and then rejected by validation unless the configuration has a place for it
// (a new model under upstream.models); an index may address an element or append one at the end.
// On error c is unchanged.
func (c *Config) Set(assignments ...string) error {
	if len(assignments) == 0 {
		return nil
	}
	b, err := c.JSON()
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return err
	}
	for _, a := range assignments {
		path, raw, ok := strings.Cut(a, "=")
		if !ok || path == "" {
			return fmt.Errorf("--set %q: want PATH=VALUE", a)
		}
		steps, err := parsePath(path)
		if err != nil {
			return fmt.Errorf("--set %s: %w", path, err)
		}
		var val any
		vd := json.NewDecoder(strings.NewReader(raw))
		vd.UseNumber()
		if err := vd.Decode(&val); err != nil || vd.More() {
			val = raw
		}
		if tree, err = assign(tree, steps, val, ""); err != nil {
			return fmt.Errorf("--set %s: %w", path, err)
		}
	}
	out, err := json.Marshal(tree)
	if err != nil {
		return err
	}
	d := &Config{}
	if err := d.parse(out, "--set"); err != nil {
		return err
	}
	*c = *d
	return nil
}

// step is one element of a path: a key, or an index when key is "".
type step struct {
	key   string
	index int
}

func parsePath(p string) ([]step, error) {
	var out []step
	for _, part := range strings.Split(p, ".") {
		name, rest, hasIndex := strings.Cut(part, "[")
		if name == "" {
			return nil, fmt.Errorf("empty key in path %q", p)
		}
		out = append(out, step{key: name})
		if !hasIndex {
			continue
		}
		rest = "[" + rest
		for rest != "" {
			end := strings.IndexByte(rest, ']')
			if rest[0] != '[' || end < 0 {
				return nil, fmt.Errorf("bad index syntax in %q: want key[N]", part)
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 {
				return nil, fmt.Errorf("bad index %q in %q", rest[1:end], part)
			}
			out = append(out, step{index: i})
			rest = rest[end+1:]
		}
	}
	return out, nil
}

// assign sets the value at steps under node, creating missing object keys, and returns the node.
func assign(node any, steps []step, val any, at string) (any, error) {
	if len(steps) == 0 {
		return val, nil
	}
	s := steps[0]
	if s.key != "" {
		m, ok := node.(map[string]any)
		if node == nil {
			m, ok = map[string]any{}, true
		}
		if !ok {
			return nil, fmt.Errorf("%s is not an object", orRoot(at))
		}
		child, err := assign(m[s.key], steps[1:], val, joinKey(at, s.key))
		if err != nil {
			return nil, err
		}
		m[s.key] = child
		return m, nil
	}
	a, ok := node.([]any)
	if !ok && node != nil {
		return nil, fmt.Errorf("%s is not a list", orRoot(at))
	}
	here := fmt.Sprintf("%s[%d]", at, s.index)
	switch {
	case s.index < len(a):
		child, err := assign(a[s.index], steps[1:], val, here)
		if err != nil {
			return nil, err
		}
		a[s.index] = child
	case s.index == len(a):
		child, err := assign(nil, steps[1:], val, here)
		if err != nil {
			return nil, err
		}
		a = append(a, child)
	default:
		return nil, fmt.Errorf("%s: index out of range (the list has %d elements; an index equal to its length appends)", here, len(a))
	}
	return a, nil
}

func joinKey(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

func orRoot(at string) string {
	if at == "" {
		return "the configuration"
	}
	return at
}
