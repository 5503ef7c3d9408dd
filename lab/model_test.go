package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The lab under the default directory keeps the gl- names the issue asks
// for; a lab under any other directory gets names of its own, so two labs
// (an operator's and a test's, or two tests') never share a namespace,
// and the names follow from --dir alone.
func TestNamespacePrefix(t *testing.T) {
	if got := NamespacePrefix(DefaultDir); got != Prefix {
		t.Errorf("NamespacePrefix(%s) = %q, want %q", DefaultDir, got, Prefix)
	}
	a, b := t.TempDir(), t.TempDir()
	pa, pb := NamespacePrefix(a), NamespacePrefix(b)
	if pa == pb || pa == Prefix || pb == Prefix || !strings.HasPrefix(pa, Prefix) {
		t.Errorf("NamespacePrefix(%s) = %q, NamespacePrefix(%s) = %q: want two distinct gl-... prefixes, neither the default", a, pa, b, pb)
	}
	// The same directory, however it is spelled, is the same lab.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, a)
	if err == nil && NamespacePrefix(rel) != pa {
		t.Errorf("NamespacePrefix(%s) = %q, NamespacePrefix(%s) = %q: one directory, two names", rel, NamespacePrefix(rel), a, pa)
	}
	if got := NamespacePrefix(a + "/"); got != pa {
		t.Errorf("NamespacePrefix(%s/) = %q, want %q", a, got, pa)
	}

	def, other := DataCenter().WithPrefix(Prefix), DataCenter().WithPrefix(pa)
	seen := map[string]bool{}
	for _, ns := range def.Namespaces() {
		seen[ns] = true
	}
	for _, ns := range other.Namespaces() {
		if seen[ns] {
			t.Errorf("namespace %s is in both the default lab and the lab under %s", ns, a)
		}
		if !strings.HasPrefix(ns, pa) {
			t.Errorf("namespace %s of the lab under %s does not start with %s", ns, a, pa)
		}
	}
	if ns, _ := other.Namespace("web"); ns != pa+"web" {
		t.Errorf("Namespace(web) = %q, want %q", ns, pa+"web")
	}
	// A topology nobody named is the default lab's.
	if ns, _ := DataCenter().Namespace("h1"); ns != "gl-h1" {
		t.Errorf("DataCenter().Namespace(h1) = %q, want gl-h1", ns)
	}
}
