package config

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gannet-net/gannet/fwd"
)

func TestParseConfigExample(t *testing.T) {
	data, err := os.ReadFile("testdata/host.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := ParseConfig(data)
	if err != nil {
		t.Fatalf("ParseConfig(testdata/host.yaml) = %v", err)
	}
	if p.Router4 != netip.MustParseAddr("198.18.0.1") || p.Router6 != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("router addresses = %v %v", p.Router4, p.Router6)
	}
	wantEP := []PlanEndpoint{
		{Name: "web-1", Interface: "gw-web1", MAC: [6]byte{2, 0, 0, 0, 1, 0x0a},
			Addrs: []netip.Addr{netip.MustParseAddr("198.18.1.10"), netip.MustParseAddr("2001:db8:1::10")}},
		{Name: "db-1", Interface: "gw-db1", MAC: [6]byte{2, 0, 0, 0, 1, 0x0b},
			Addrs: []netip.Addr{netip.MustParseAddr("198.18.1.11")}},
		{Name: "tenant7-a", Interface: "gw-t7a", MAC: [6]byte{2, 0, 0, 0, 7, 0x0a},
			Addrs: []netip.Addr{netip.MustParseAddr("100.64.0.10")}, Space: 7},
	}
	if diff := cmp.Diff(wantEP, p.Endpoints, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if len(p.Routes) != 3 || p.Routes[0].Via != netip.MustParseAddr("198.18.0.2") || !p.Routes[2].Translate || p.Routes[2].TranslateSpace != 7 {
		t.Errorf("routes = %+v", p.Routes)
	}
	if p.Policy == nil || p.Policy.Endpoint("db-1") == nil {
		t.Errorf("policy not compiled for db-1")
	}
	if p.NAT == nil || len(p.NAT.Floating) != 1 {
		t.Errorf("nat = %+v", p.NAT)
	}
	if p.Translation == nil || p.ConntrackCapacity != 65536 {
		t.Errorf("translation %v, conntrack %d", p.Translation, p.ConntrackCapacity)
	} else if p.Translation.TranslatorIPv6 != "2001:db8::1" || p.Translation.TranslatorIPv4 != "" {
		t.Errorf("translator addresses %q %q, want node.routerIPv6's and none", p.Translation.TranslatorIPv4, p.Translation.TranslatorIPv6)
	}
	if diff := cmp.Diff([]PlanSpace{{ID: 0}, {ID: 7, Translated: true}}, p.Spaces); diff != "" {
		t.Errorf("spaces (-want +got):\n%s", diff)
	}
}

// TestConfigErrors: each bad file is rejected with a message naming the
// field.
// TestHostEndpointPlan: endpointToHost and hostEndpoints reach the Plan;
// an applyOnForward policy gives the host endpoint its forwarding
// programs (from the same compiler as workloads'), a policy without it
// does not, and a direction no such policy selects has no program
// (forwarded traffic passes, as in Calico).
func TestHostEndpointPlan(t *testing.T) {
	_, p, err := ParseConfig([]byte(`
dataplane: {endpointToHost: accept}
ports: [{interface: up0}, {interface: up1}]
workloadEndpoints:
  - {name: a, interface: gw-a, mac: "02:00:00:00:00:01", ipNetworks: [198.18.1.1/32], labels: {app: web}}
hostEndpoints:
  - {name: core, interfaceName: up0, labels: {role: core}, expectedIPs: [192.0.2.1]}
  - {name: other, interfaceName: up1, labels: {role: other}}
policy:
  policies:
    - name: fwd
      selector: role == 'core'
      applyOnForward: true
      ingress: [{action: Allow, source: {nets: [203.0.113.0/24]}, destination: {selector: app == 'web'}}]
    - name: host-only
      selector: role == 'other'
      ingress: [{action: Deny}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !p.EndpointToHost || p.HostInterface != DefaultHostInterface {
		t.Errorf("EndpointToHost %v, HostInterface %q", p.EndpointToHost, p.HostInterface)
	}
	if len(p.HostEndpoints) != 2 {
		t.Fatalf("host endpoints %+v", p.HostEndpoints)
	}
	core, other := p.HostEndpoints[0], p.HostEndpoints[1]
	if core.Interface != "up0" || core.Ingress == nil || !core.Ingress.PoliciesApplied || core.Egress != nil {
		t.Errorf("core: %+v: want an ingress program only", core)
	}
	if other.Ingress != nil || other.Egress != nil {
		t.Errorf("other: %+v: a policy without applyOnForward gave it a forwarding program", other)
	}
	if p.Policy.Endpoint("a") == nil {
		t.Errorf("workload a lost its programs")
	}
	_, p, err = ParseConfig([]byte("ports: [{interface: up0}]\n"))
	if err != nil || p.EndpointToHost || len(p.HostEndpoints) != 0 {
		t.Errorf("defaults: %v, EndpointToHost %v, host endpoints %v", err, p.EndpointToHost, p.HostEndpoints)
	}
}

func TestConfigErrors(t *testing.T) {
	const ep = `
workloadEndpoints:
  - {name: a, interface: gw-a, mac: "02:00:00:00:00:01", ipNetworks: [198.18.1.1/32]}
`
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", "node: {nmae: x}", []string{"field nmae not found"}},
		{"router family", "node: {routerIPv4: 2001:db8::1}", []string{`node.routerIPv4: "2001:db8::1" is not an IPv4 address`}},
		{"core", "dataplane: {cores: [0, 4096]}", []string{"dataplane.cores[1]: CPU 4096 out of range 0-1023"}},
		{"core twice", "dataplane: {cores: [0, 0]}", []string{"dataplane.cores[1]: CPU 0 is listed twice"}},
		{"frame size", "dataplane: {frameSize: 3000}", []string{"dataplane.frameSize: 3000: must be 2048 or 4096"}},
		{"ring size", "dataplane: {ringSize: 1000}", []string{"dataplane.ringSize: 1000"}},
		{"idle", "dataplane: {idle: sleepy}", []string{`dataplane.idle: "sleepy"`}},
		{"xsk mode", "dataplane: {xskMode: fast}", []string{`dataplane.xskMode: "fast": want one of auto, copy, zerocopy`}},
		{"port role", "ports: [{interface: up0, role: workload}]", []string{`ports[0].role: "workload"`}},
		{"port missing", "ports: [{role: uplink}]", []string{"ports[0].interface: missing"}},
		{"port name", "ports: [{interface: a-very-long-interface-name}]", []string{"ports[0].interface"}},
		{"interface twice", "ports: [{interface: up0}]\nworkloadEndpoints: [{name: a, interface: up0, mac: '02:00:00:00:00:01', ipNetworks: [198.18.1.1]}]",
			[]string{`workloadEndpoints[0].interface: interface "up0" is already used by ports[0]`}},
		{"mtu", "ports: [{interface: up0, mtu: 100}]", []string{"ports[0].mtu: 100 out of range"}},
		{"space id", "addressSpaces: [{id: 0}]", []string{"addressSpaces[0].id: 0 out of range"}},
		{"space twice", "addressSpaces: [{id: 3}, {id: 3}]", []string{"addressSpaces[1].id: space 3 is declared twice"}},
		{"mac", "workloadEndpoints: [{name: a, interface: gw-a, mac: zz, ipNetworks: [198.18.1.1]}]", []string{`workloadEndpoints[0].mac: "zz" is not an Ethernet MAC address`}},
		{"multicast mac", "workloadEndpoints: [{name: a, interface: gw-a, mac: '01:00:5e:00:00:01', ipNetworks: [198.18.1.1]}]", []string{"workloadEndpoints[0].mac: 01:00:5e:00:00:01 is a multicast address"}},
		{"no address", "workloadEndpoints: [{name: a, interface: gw-a, mac: '02:00:00:00:00:01'}]", []string{"workloadEndpoints[0].ipNetworks: an endpoint needs at least one address"}},
		{"not a host", "workloadEndpoints: [{name: a, interface: gw-a, mac: '02:00:00:00:00:01', ipNetworks: [198.18.1.0/24]}]", []string{"workloadEndpoints[0].ipNetworks[0]: \"198.18.1.0/24\": is a /24, want a single address (/32)"}},
		{"undeclared space", "workloadEndpoints: [{name: a, interface: gw-a, mac: '02:00:00:00:00:01', ipNetworks: [198.18.1.1], addressSpace: 9}]", []string{"workloadEndpoints[0].addressSpace: address space 9 is not declared"}},
		{"duplicate address", ep + "  - {name: b, interface: gw-b, mac: '02:00:00:00:00:02', ipNetworks: [198.18.1.1]}", []string{"workloadEndpoints[1].ipNetworks[0]: 198.18.1.1 in space 0 is already workloadEndpoints[0]'s"}},
		{"duplicate name", ep + "  - {name: a, interface: gw-b, mac: '02:00:00:00:00:02', ipNetworks: [198.18.1.2]}", []string{`workloadEndpoints[1].name: "a" is used by another endpoint`}},
		{"route prefix", "ports: [{interface: up0}]\nroutes: [{prefix: 198.18.0.1/16, interface: up0}]", []string{"routes[0].prefix: 198.18.0.1/16 has host bits set (want 198.18.0.0/16)"}},
		{"route via family", "ports: [{interface: up0}]\nroutes: [{prefix: '::/0', via: 198.51.100.1, interface: up0}]", []string{"routes[0].via: 198.51.100.1: an IPv6 prefix (::/0) needs an IPv6 gateway"}},
		{"route via zone", "ports: [{interface: up0}]\nroutes: [{prefix: 0.0.0.0/0, via: 'fe80::1%up0', interface: up0}]", []string{`routes[0].via: "fe80::1%up0": drop the zone; interface names the link`}},
		{"route via mapped", "ports: [{interface: up0}]\nroutes: [{prefix: 0.0.0.0/0, via: '::ffff:198.51.100.1', interface: up0}]", []string{"routes[0].via: ::ffff:198.51.100.1: write an IPv4 gateway in IPv4 form"}},
		{"route via multicast", "ports: [{interface: up0}]\nroutes: [{prefix: 0.0.0.0/0, via: 'ff02::2', interface: up0}]", []string{"routes[0].via: ff02::2 is not a unicast address"}},
		{"route interface", "routes: [{prefix: 0.0.0.0/0, interface: up9}]", []string{`routes[0].interface: "up9" is not a port or workload interface`}},
		{"route v6 space", "addressSpaces: [{id: 7}]\nports: [{interface: up0}]\nroutes: [{space: 7, prefix: '::/0', interface: up0}]", []string{"routes[0].prefix: ::/0: IPv6 routes live in space 0"}},
		{"translate route with interface", "addressSpaces: [{id: 7, translated: true}]\nports: [{interface: up0}]\ntranslation: {addressSpaces: {7: }}\nroutes: [{prefix: '64:ff9b:1:7::/96', interface: up0, translateToSpace: 7}]", []string{"routes[0].translateToSpace: a translation route has no interface or via"}},
		{"translate route v4", "addressSpaces: [{id: 7, translated: true}]\ntranslation: {addressSpaces: {7: }}\nroutes: [{prefix: 0.0.0.0/0, translateToSpace: 7}]", []string{"routes[0].translateToSpace: translation routes are IPv6 routes of the core"}},
		{"translate route flat space", "addressSpaces: [{id: 7}]\nroutes: [{prefix: '64:ff9b:1:7::/96', translateToSpace: 7}]", []string{"routes[0].translateToSpace: 7 is not a translated space"}},
		{"policy", ep + "policy: {policies: [{name: p, selector: all(), ingress: [{action: Jump}]}]}", []string{`policy "p": ingress[0]: action: "Jump"`}},
		{"missing profile", ep[:len(ep)-2] + ", profiles: [nope]}\n", []string{`workloadEndpoints[0].profiles: profile "nope" is not defined`}},
		{"endpoint to host", "dataplane: {endpointToHost: allow}", []string{`dataplane.endpointToHost: "allow": want one of drop, accept`}},
		{"host interface", "dataplane: {hostInterface: a-very-long-interface-name}", []string{`dataplane.hostInterface: "a-very-long-interface-name": not an interface name`}},
		{"host endpoint not an uplink", ep + "hostEndpoints: [{name: h, interfaceName: gw-a}]", []string{`hostEndpoints[0].interfaceName: "gw-a" is not an uplink`}},
		{"host endpoint no interface", "hostEndpoints: [{name: h}]", []string{"hostEndpoints[0].interfaceName: empty"}},
		{"host endpoint name", ep + "ports: [{interface: up0}]\nhostEndpoints: [{name: a, interfaceName: up0}]", []string{`hostEndpoints[0].name: "a" is also a workload endpoint's name`}},
		{"host endpoint twice on an uplink", "ports: [{interface: up0}]\nhostEndpoints: [{name: h, interfaceName: up0}, {name: i, interfaceName: up0}]", []string{`hostEndpoints[1].interfaceName: "up0" already has host endpoint hostEndpoints[0]`}},
		{"host endpoint address", "ports: [{interface: up0}]\nhostEndpoints: [{name: h, interfaceName: up0, expectedIPs: [bogus]}]", []string{"hostEndpoints[0].expectedIPs[0]"}},
		{"held fragments", "dataplane: {conntrack: {heldFragments: 5000}}", []string{"dataplane.conntrack.heldFragments: 5000 out of range 0-4096"}},
		{"held fragments negative", "dataplane: {conntrack: {heldFragments: -1}}", []string{"dataplane.conntrack.heldFragments: -1 out of range 0-4096"}},
		{"nat needs conntrack", "nat: {external: [{cidr: 203.0.113.0/28}]}", []string{"nat: needs connection tracking"}},
		{"nat ports", "dataplane: {conntrack: {}}\nnat: {external: [{cidr: 203.0.113.0/28, ports: 9-3}]}", []string{`nat.external[0].ports: "9-3"`}},
		{"nat timeout", "dataplane: {conntrack: {}}\nnat: {timeouts: {udp: soon}}", []string{`nat.timeouts.udp: "soon" is not a positive duration`}},
		{"nat filtering", "dataplane: {conntrack: {}}\nnat: {filtering: strict}", []string{`nat.filtering: "strict"`}},
		{"translated needs translation", "addressSpaces: [{id: 7, translated: true}]", []string{"translation: missing, but address space 7 is translated"}},
		{"translation space not declared", "translation: {addressSpaces: {8: }}", []string{"translation.addressSpaces[8]: space 8 is not declared translated"}},
		{"translation invalid", "addressSpaces: [{id: 7, translated: true}]\ntranslation: {addressSpaces: {7: 2001:db8::/33}}", []string{"translation: "}},
		{"state dir relative", "dataplane: {stateDir: run/gannet}", []string{`dataplane.stateDir: "run/gannet": want an absolute, clean path other than /`}},
		{"state dir unclean", "dataplane: {stateDir: /run/../gannet}", []string{`dataplane.stateDir: "/run/../gannet"`}},
		{"state dir root", "dataplane: {stateDir: /}", []string{`dataplane.stateDir: "/"`}},
		{"clampMSS", "addressSpaces: [{id: 7, translated: true}]\ntranslation: {addressSpaces: {7: }, clampMSS: 100}", []string{`translation: clampMSS: "100" is not auto, off or an MSS in 536-65495`}},
		{"ipv6MTU cap", "addressSpaces: [{id: 7, translated: true}]\ntranslation: {addressSpaces: {7: }, ipv6MTU: 1000}", []string{"translation: ipv6MTU: 1000 out of range 1280-65535"}},
		{"rpf", "dataplane: {rpf: strict}", []string{`dataplane.rpf: "strict": want one of feasible, off`}},
		{"fast path", "dataplane: {fastPath: yes}", []string{`dataplane.fastPath: "yes": want one of off, on`}},
		{"fast path flows", "dataplane: {fastPath: on, fastPathFlows: 5000000}", []string{"dataplane.fastPathFlows: 5000000 out of range 1-4194304"}},
		{"fast path flows while off", "dataplane: {fastPathFlows: 100}", []string{"dataplane.fastPathFlows: set while dataplane.fastPath is off"}},
		{"several at once", "dataplane: {frameSize: 1, ringSize: 3}", []string{"dataplane.frameSize", "dataplane.ringSize"}},
		// Cross-checks: each field is fine alone, together they would
		// hand one workload's traffic to another.
		{"floating IP hijacks a workload", "dataplane: {conntrack: {}}\n" + ep + "  - {name: b, interface: gw-b, mac: '02:00:00:00:00:02', ipNetworks: [198.18.1.2]}\nnat: {floatingIPs: [{public: 198.18.1.2, workload: 198.18.1.1}]}",
			[]string{"nat.floatingIPs[0].public: 198.18.1.2 is workloadEndpoints[1] (b)'s own address"}},
		{"floating IP to nobody", "dataplane: {conntrack: {}}\n" + ep + "nat: {floatingIPs: [{public: 203.0.113.5, workload: 198.18.1.9}]}",
			[]string{"nat.floatingIPs[0].workload: 198.18.1.9 in space 0 is no endpoint's address"}},
		{"overlapping pools", "dataplane: {conntrack: {}}\nnat: {ipPools: [{cidr: 100.64.0.0/10, natOutgoing: true}, {cidr: 100.64.1.0/24}]}",
			[]string{"nat.ipPools[1].cidr: 100.64.1.0/24 overlaps nat.ipPools[0] (100.64.0.0/10) with a different natOutgoing"}},
		{"flat address in a tenant's prefix", "addressSpaces: [{id: 7, translated: true}]\ntranslation: {addressSpaces: {7: }}\nworkloadEndpoints: [{name: a, interface: gw-a, mac: '02:00:00:00:00:01', ipNetworks: ['64:ff9b:1:7::c612:101']}]",
			[]string{"workloadEndpoints[0].ipNetworks[0]: 64:ff9b:1:7::c612:101 is inside translation.addressSpaces[7] (64:ff9b:1:7::/96)"}},
		{"metrics listen", "metrics: {listen: localhost:9641}", []string{`metrics.listen: "localhost:9641": want IP:PORT`}},
		{"metrics listen no port", "metrics: {listen: 127.0.0.1}", []string{`metrics.listen: "127.0.0.1": want IP:PORT`}},
		{"metrics listen port 0", "metrics: {listen: '127.0.0.1:0'}", []string{`metrics.listen: "127.0.0.1:0": port 0`}},
		{"metrics listen zone", "metrics: {listen: '[fe80::1%eth0]:9641'}", []string{`metrics.listen: "[fe80::1%eth0]:9641": a zoned address`}},
		{"metrics unknown field", "metrics: {address: 127.0.0.1:9641}", []string{"field address not found"}},
		{"metrics on the BGP port", "node: {routerIPv4: 198.18.0.1}\nbgp: {asNumber: 65000}\nmetrics: {listen: '127.0.0.1:179'}",
			[]string{"metrics.listen: port 179 is bgp.listenPort"}},
		{"nat names its fields", "dataplane: {conntrack: {}}\nnat: {external: [{cidr: 203.0.113.0/30}, {cidr: 203.0.113.2/31}]}",
			[]string{"nat.external[1]: address 203.0.113.2 listed twice"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, p, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseConfig(%q) = %+v, want an error", tc.yaml, p)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseConfig(%q) error\n%v\nwant it to contain %q", tc.yaml, err, w)
				}
			}
		})
	}
}

// TestMetricsConfig: metrics are off unless listen names an address; a
// good one reaches the Plan as it was written.
func TestMetricsConfig(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"", ""},
		{"metrics: {}", ""},
		{"metrics: {listen: '127.0.0.1:9641'}", "127.0.0.1:9641"},
		{"metrics: {listen: '[::1]:9641'}", "[::1]:9641"},
		{"metrics: {listen: '[::ffff:127.0.0.1]:9641'}", "127.0.0.1:9641"},
		{"node: {routerIPv4: 198.18.0.1}\nbgp: {asNumber: 65000, listenPort: 0}\nmetrics: {listen: '127.0.0.1:179'}", "127.0.0.1:179"},
	} {
		_, p, err := ParseConfig([]byte(tc.yaml))
		if err != nil {
			t.Errorf("ParseConfig(%q): %v", tc.yaml, err)
			continue
		}
		got := ""
		if p.MetricsListen.IsValid() {
			got = p.MetricsListen.String()
		}
		if got != tc.want {
			t.Errorf("ParseConfig(%q).MetricsListen = %q, want %q", tc.yaml, got, tc.want)
		}
	}
}

func TestEmptyConfigDefaults(t *testing.T) {
	_, p, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Frames != DefaultFrames || p.FrameSize != DefaultFrameSize || p.RingSize != DefaultRingSize ||
		len(p.Cores) != 1 || p.XSKMode != "auto" || p.XDPMode != "auto" || !p.NoSocketDrop || p.ConntrackCapacity != 0 || p.PinPath != DefaultPinPath || p.StateDir != DefaultStateDir {
		t.Errorf("defaults = %+v", p)
	}
}

// TestRPFConfig: the reverse-path check of translated sources is on
// unless the file turns it off.
func TestRPFConfig(t *testing.T) {
	tests := []struct {
		yaml string
		want fwd.RPFMode
	}{
		{"", fwd.RPFFeasible},
		{"dataplane: {rpf: feasible}", fwd.RPFFeasible},
		{"dataplane: {rpf: off}", fwd.RPFOff},
		{"dataplane: {rpf: \"off\"}", fwd.RPFOff},
	}
	for _, tc := range tests {
		t.Run(tc.yaml, func(t *testing.T) {
			_, p, err := ParseConfig([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("ParseConfig(%q) = %v", tc.yaml, err)
			}
			if p.RPF != tc.want {
				t.Errorf("ParseConfig(%q).RPF = %v, want %v", tc.yaml, p.RPF, tc.want)
			}
		})
	}
}

// TestFastPathConfig: the kernel fast path is off unless asked for, and
// has a default capacity when on.
func TestFastPathConfig(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want int
	}{
		{"", 0},
		{"dataplane: {fastPath: off}", 0},
		{"dataplane: {fastPath: on}", DefaultFastPathFlows},
		{"dataplane: {fastPath: on, fastPathFlows: 1000}", 1000},
	} {
		_, p, err := ParseConfig([]byte(tc.yaml))
		if err != nil {
			t.Fatalf("ParseConfig(%q) = %v", tc.yaml, err)
		}
		if p.FastPathFlows != tc.want {
			t.Errorf("ParseConfig(%q).FastPathFlows = %d, want %d", tc.yaml, p.FastPathFlows, tc.want)
		}
	}
}

// TestHeldFragmentsConfig: out-of-order fragments are held by default
// with conntrack; 0 turns holding off.
func TestHeldFragmentsConfig(t *testing.T) {
	tests := []struct {
		yaml string
		want int
	}{
		{"", 0},
		{"dataplane: {conntrack: {}}", DefaultHeldFragments},
		{"dataplane: {conntrack: {heldFragments: 0}}", 0},
		{"dataplane: {conntrack: {heldFragments: 4096}}", 4096},
	}
	for _, tc := range tests {
		t.Run(tc.yaml, func(t *testing.T) {
			_, p, err := ParseConfig([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("ParseConfig(%q) = %v", tc.yaml, err)
			}
			if p.HeldFragments != tc.want {
				t.Errorf("ParseConfig(%q).HeldFragments = %d, want %d", tc.yaml, p.HeldFragments, tc.want)
			}
		})
	}
}

// FuzzParseConfig: any input is either a Plan or an error naming fields;
// never a panic, and a Plan's values are in range.
func FuzzParseConfig(f *testing.F) {
	if data, err := os.ReadFile("testdata/host.yaml"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"", "node: {nmae: x}", "dataplane: {cores: [0, 0], frameSize: 3000}",
		"workloadEndpoints: [{name: a, interface: gw-a, mac: '02:00:00:00:00:01', ipNetworks: [198.18.1.1/32, '2001:db8::1']}]",
		"addressSpaces: [{id: 7, translated: true}]\ntranslation: {addressSpaces: {7: }}\nroutes: [{prefix: '64:ff9b:1:7::/96', translateToSpace: 7}]",
		"dataplane: {conntrack: {}}\nnat: {external: [{cidr: 203.0.113.0/28, ports: 1024-2047}], ipPools: [{cidr: 100.64.0.0/10, natOutgoing: true}]}",
		"api: {socket: relative, group: 'a b'}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, p, err := ParseConfig(data)
		if err != nil {
			var fe Errors
			if !errors.As(err, &fe) || len(fe) == 0 {
				t.Fatalf("ParseConfig error %v is not a list of field errors", err)
			}
			return
		}
		if p.FrameSize != 2048 && p.FrameSize != 4096 || p.APISocket == "" || len(p.Cores) == 0 {
			t.Fatalf("ParseConfig accepted %+v", p)
		}
		for _, ep := range p.Endpoints {
			if len(ep.Addrs) == 0 || ep.Name == "" {
				t.Fatalf("ParseConfig accepted endpoint %+v", ep)
			}
		}
		if p.BGP != nil {
			for _, b := range p.BGP.Blocks {
				// A flat block is its own route; a translated space's is
				// its RFC 6052 /(96+n), the block's address the last 32 bits.
				want := b.Block
				if b.Space != 0 {
					a := b.Route.Addr().As16()
					want = netip.PrefixFrom(netip.AddrFrom4([4]byte(a[12:])), b.Route.Bits()-96)
				}
				if !b.Block.IsValid() || b.Block.Masked() != b.Block || want != b.Block || b.Space != 0 && !b.Route.Addr().Is6() {
					t.Fatalf("ParseConfig accepted block %+v", b)
				}
			}
		}
		if m := p.MetricsListen; m.IsValid() && (m.Port() == 0 || m.Addr().Zone() != "" || m.Addr().Is4In6()) {
			t.Fatalf("ParseConfig accepted metrics.listen %v", m)
		}
	})
}

// TestRouteViaIPv6: an IPv4 prefix may name an IPv6 gateway, global or
// link-local (RFC 8950: IPv4 over an IPv6-only core); the plan keeps it
// as IPv6.
func TestRouteViaIPv6(t *testing.T) {
	for _, via := range []string{"2001:db8:200::2", "fe80::20"} {
		_, p, err := ParseConfig([]byte("ports: [{interface: up0}]\nroutes: [{prefix: 0.0.0.0/0, via: '" + via + "', interface: up0}]"))
		if err != nil {
			t.Fatalf("ParseConfig(route 0.0.0.0/0 via %s): %v", via, err)
		}
		if len(p.Routes) != 1 || p.Routes[0].Via != netip.MustParseAddr(via) || !p.Routes[0].Prefix.Addr().Is4() {
			t.Errorf("plan routes %+v, want 0.0.0.0/0 via %s", p.Routes, via)
		}
	}
}
