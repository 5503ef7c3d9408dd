// Selector text flows in here and comes out as a parsed Selector that
// decides, from an endpoint's labels, whether the endpoint is selected.
// Control path only: selectors are resolved when policy is compiled.

package acl

import (
	"fmt"
	"slices"
	"strings"
)

// Selector is a parsed Calico label selector. Grammar (Calico's subset):
//
//	expr   = and { "||" and }
//	and    = unary { "&&" unary }
//	unary  = "!" unary | "(" expr ")" | term
//	term   = "all()" | "has(" key ")" | key "==" str | key "!=" str
//	       | key "in" "{" [ str { "," str } ] "}" | key "not" "in" "{" ... "}"
//	       | key "contains" str | key "starts" "with" str | key "ends" "with" str
//	str    = 'text' | "text"
//	key    = letters, digits and "_-./"
//
// As in Calico, `k != "v"` and `k not in {...}` are true when the label
// is absent, and the empty selector selects everything.
type Selector struct {
	root *selNode
	text string
}

type selOp uint8

const (
	selAll selOp = iota
	selHas
	selEq
	selNe
	selIn
	selNotIn
	selContains
	selStarts
	selEnds
	selNot
	selAnd
	selOr
)

type selNode struct {
	op   selOp
	key  string
	vals []string
	a, b *selNode
}

// ParseSelector parses a selector expression.
func ParseSelector(s string) (*Selector, error) {
	p := &selParser{s: s}
	if strings.TrimSpace(s) == "" {
		return &Selector{root: &selNode{op: selAll}, text: s}, nil
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.i < len(p.s) {
		return nil, p.errf("unexpected %q", p.s[p.i:])
	}
	return &Selector{root: n, text: s}, nil
}

// String returns the selector's source text.
func (s *Selector) String() string { return s.text }

// Matches reports whether labels satisfy the selector.
func (s *Selector) Matches(labels map[string]string) bool { return s.root.eval(labels) }

func (n *selNode) eval(l map[string]string) bool {
	v, ok := l[n.key]
	switch n.op {
	case selAll:
		return true
	case selHas:
		return ok
	case selEq:
		return ok && v == n.vals[0]
	case selNe:
		return !ok || v != n.vals[0]
	case selIn:
		return ok && slices.Contains(n.vals, v)
	case selNotIn:
		return !ok || !slices.Contains(n.vals, v)
	case selContains:
		return ok && strings.Contains(v, n.vals[0])
	case selStarts:
		return ok && strings.HasPrefix(v, n.vals[0])
	case selEnds:
		return ok && strings.HasSuffix(v, n.vals[0])
	case selNot:
		return !n.a.eval(l)
	case selAnd:
		return n.a.eval(l) && n.b.eval(l)
	case selOr:
		return n.a.eval(l) || n.b.eval(l)
	}
	return false
}

type selParser struct {
	s     string
	i     int
	depth int
}

func (p *selParser) errf(format string, a ...any) error {
	return fmt.Errorf("at offset %d: %s", p.i, fmt.Sprintf(format, a...))
}

func (p *selParser) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

// eat consumes tok if it comes next.
func (p *selParser) eat(tok string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

// word consumes a whole word w (not a prefix of a longer key).
func (p *selParser) word(w string) bool {
	p.skip()
	if !strings.HasPrefix(p.s[p.i:], w) {
		return false
	}
	if j := p.i + len(w); j < len(p.s) && isKeyByte(p.s[j]) {
		return false
	}
	p.i += len(w)
	return true
}

func (p *selParser) or() (*selNode, error) {
	n, err := p.and()
	for err == nil && p.eat("||") {
		var m *selNode
		if m, err = p.and(); err == nil {
			n = &selNode{op: selOr, a: n, b: m}
		}
	}
	return n, err
}

func (p *selParser) and() (*selNode, error) {
	n, err := p.unary()
	for err == nil && p.eat("&&") {
		var m *selNode
		if m, err = p.unary(); err == nil {
			n = &selNode{op: selAnd, a: n, b: m}
		}
	}
	return n, err
}

func (p *selParser) unary() (*selNode, error) {
	if p.depth++; p.depth > 100 {
		return nil, p.errf("nested too deeply")
	}
	defer func() { p.depth-- }()
	if p.eat("!") {
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &selNode{op: selNot, a: n}, nil
	}
	if p.eat("(") {
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.eat(")") {
			return nil, p.errf("want ')'")
		}
		return n, nil
	}
	return p.term()
}

func (p *selParser) term() (*selNode, error) {
	if p.word("all") {
		if !p.eat("(") || !p.eat(")") {
			return nil, p.errf("want all()")
		}
		return &selNode{op: selAll}, nil
	}
	if p.word("has") {
		if !p.eat("(") {
			return nil, p.errf("want has(key)")
		}
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		if !p.eat(")") {
			return nil, p.errf("want ')' after has(%s", k)
		}
		return &selNode{op: selHas, key: k}, nil
	}
	k, err := p.key()
	if err != nil {
		return nil, err
	}
	n := &selNode{key: k}
	switch {
	case p.eat("=="):
		n.op = selEq
	case p.eat("!="):
		n.op = selNe
	case p.word("in"):
		n.op = selIn
		n.vals, err = p.set()
		return n, err
	case p.word("not"):
		if !p.word("in") {
			return nil, p.errf("want 'in' after 'not'")
		}
		n.op = selNotIn
		n.vals, err = p.set()
		return n, err
	case p.word("contains"):
		n.op = selContains
	case p.word("starts"):
		if !p.word("with") {
			return nil, p.errf("want 'with' after 'starts'")
		}
		n.op = selStarts
	case p.word("ends"):
		if !p.word("with") {
			return nil, p.errf("want 'with' after 'ends'")
		}
		n.op = selEnds
	default:
		return nil, p.errf("want an operator after label %q", k)
	}
	v, err := p.str()
	if err != nil {
		return nil, err
	}
	n.vals = []string{v}
	return n, nil
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == '/'
}

func (p *selParser) key() (string, error) {
	p.skip()
	j := p.i
	for j < len(p.s) && isKeyByte(p.s[j]) {
		j++
	}
	if j == p.i {
		if p.i == len(p.s) {
			return "", p.errf("unexpected end, want a label key")
		}
		return "", p.errf("unexpected %q, want a label key", p.s[p.i:p.i+1])
	}
	k := p.s[p.i:j]
	p.i = j
	return k, nil
}

func (p *selParser) str() (string, error) {
	p.skip()
	if p.i >= len(p.s) || p.s[p.i] != '\'' && p.s[p.i] != '"' {
		return "", p.errf("want a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", p.errf("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *selParser) set() ([]string, error) {
	if !p.eat("{") {
		return nil, p.errf("want '{'")
	}
	vals := []string{}
	if p.eat("}") {
		return vals, nil
	}
	for {
		v, err := p.str()
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		if p.eat("}") {
			return vals, nil
		}
		if !p.eat(",") {
			return nil, p.errf("want ',' or '}'")
		}
	}
}
