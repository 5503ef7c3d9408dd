// Rules and keys flow through here one by one: the slow twin of the
// classifier, a first-match linear scan that reads Rule fields as written.
// Tests compare the decision tree with it; benchmarks use it as a baseline.

package acl

// Linear is a first-match linear scan over rules: the reference the
// decision tree is tested against.
type Linear struct {
	rules []Rule
}

// NewLinear validates rules exactly as Compile does and keeps a copy.
func NewLinear(rules []Rule) (*Linear, error) {
	for i := range rules {
		if _, _, err := rules[i].check(i); err != nil {
			return nil, err
		}
	}
	return &Linear{rules: append([]Rule(nil), rules...)}, nil
}

// Match returns the index of the first rule matching k.
func (l *Linear) Match(k *Key) (index int, ok bool) {
	if !k.Src.IsValid() || !k.Dst.IsValid() || k.Src.Is4() != k.Dst.Is4() {
		return -1, false
	}
	for i := range l.rules {
		if l.rules[i].Matches(k) {
			return i, true
		}
	}
	return -1, false
}

// Matches reports whether k matches r, read field by field.
func (r *Rule) Matches(k *Key) bool {
	if r.Src.IsValid() && !r.Src.Contains(k.Src) {
		return false
	}
	if r.Dst.IsValid() && !r.Dst.Contains(k.Dst) {
		return false
	}
	return r.SrcPorts.Contains(k.SrcPort) && r.DstPorts.Contains(k.DstPort) &&
		k.Proto&r.ProtoMask == r.Proto&r.ProtoMask
}
