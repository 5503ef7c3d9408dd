package lpm

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// decodeOps turns fuzz input into route operations: per op one flag byte
// (bit 0 delete, bit 1 IPv6), one length byte (taken modulo the address
// length plus one), the address bytes and one next-hop byte. Short input
// ends the list.
func decodeOps(data []byte) (ops []fuzzOp) {
	for len(data) >= 2 && len(ops) < 256 {
		flags, n := data[0], 4
		if flags&2 != 0 {
			n = 16
		}
		if len(data) < 3+n {
			break
		}
		a, _ := netip.AddrFromSlice(data[2 : 2+n])
		bitsLen := int(data[1]) % (n*8 + 1)
		ops = append(ops, fuzzOp{del: flags&1 != 0, p: netip.PrefixFrom(a, bitsLen), nh: uint32(data[2+n])})
		data = data[3+n:]
	}
	return ops
}

type fuzzOp struct {
	del bool
	p   netip.Prefix
	nh  uint32
}

// FuzzTable applies arbitrary insert/delete sequences to a Table and the
// slow twin and requires identical answers at the edges of every prefix
// touched, identical Get results, and intact trie invariants.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 24, 198, 18, 0, 0, 7, 0, 32, 198, 18, 0, 1, 9, 1, 24, 198, 18, 0, 0, 0})
	f.Add([]byte{2, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 128, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 30, 100, 64, 0, 0, 1, 0, 31, 100, 64, 0, 2, 2, 0, 29, 100, 64, 0, 4, 3, 1, 30, 100, 64, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Every form of a family on the same operations: the plain trie,
		// the top level, and switching between them.
		for _, form := range forms {
			withForm(t, form.min)
			fuzzTable(t, data)
		}
	})
}

func fuzzTable(t *testing.T, data []byte) {
	{
		tbl, w := New(), newTwin()
		ops := decodeOps(data)
		for _, op := range ops {
			if op.del {
				err := tbl.Delete(op.p)
				if wok := w.delete(op.p); (err == nil) != wok {
					t.Fatalf("Delete(%v) = %v, twin had it: %v", op.p, err, wok)
				}
				continue
			}
			if err := tbl.Insert(op.p, op.nh); err != nil {
				t.Fatalf("Insert(%v, %d) = %v", op.p, op.nh, err)
			}
			w.insert(op.p, op.nh)
		}
		r := rand.New(rand.NewPCG(uint64(len(data)), 1))
		var addrs []netip.Addr
		for _, op := range ops {
			addrs = append(addrs, probes(r, op.p.Masked())...)
			wnh, wok := w.get(op.p)
			if nh, ok := tbl.Get(op.p); nh != wnh || ok != wok {
				t.Fatalf("Get(%v) = %d, %v, want %d, %v", op.p, nh, ok, wnh, wok)
			}
		}
		if err := compare(tbl, w, addrs); err != nil {
			t.Fatal(err)
		}
		for _, fam := range []*family{&tbl.v4, &tbl.v6} {
			if msg := checkInvariants(fam); msg != "" {
				t.Fatalf("directMin %d: %d-bit trie: %s", directMin, fam.bits, msg)
			}
		}
	}
}
