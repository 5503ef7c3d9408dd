#!/usr/bin/env bash
# onehost-lab.sh up|add NAME OCTET|down — the namespaces examples/onehost.yaml
# expects: a host namespace (gannet-host) holding the host sides gw-web and
# gw-db, and two workload namespaces (gannet-web, gannet-db) addressed the
# Calico way: one /32 and one /128 each, default routes via 169.254.1.1 /
# fe80::1. `add cache 12` plugs in one more workload (gannet-cache, gw-cache,
# 198.18.1.12, MAC 02:00:00:00:01:0c) for an endpoint made through the API.
# Everything stays inside these namespaces. Needs root, iproute2, ethtool.
set -euo pipefail

# workload NAME MAC-OCTET HOST-OCTET
workload() {
	local name=$1 octet=$2 host=$3
	local ns=gannet-$name
	ip netns add "$ns"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0
	ip link add eth0 netns "$ns" type veth peer name "gw-$name" netns gannet-host
	ip -n gannet-host link set "gw-$name" up
	# Frames leave the workload with complete checksums: gannet, not
	# the kernel, forwards them.
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
	ip -n "$ns" link set eth0 address "02:00:00:00:01:$octet" up
	ip -n "$ns" link set lo up
	v4=198.18.1.$host
	v6=2001:db8:1::$host
	ip -n "$ns" addr add "$v4/32" dev eth0
	ip -n "$ns" route add 169.254.1.1 dev eth0 scope link
	ip -n "$ns" route add default via 169.254.1.1 dev eth0
	ip -n "$ns" -6 addr add "$v6/128" dev eth0 nodad
	ip -n "$ns" -6 route add default via fe80::1 dev eth0
}

up() {
	ip netns add gannet-host
	ip netns exec gannet-host ip link set lo up
	workload web 0a 10
	workload db 0b 11
	echo "lab up: ip netns exec gannet-host bin/gannet run --config examples/onehost.yaml"
}

down() {
	for ns in gannet-host gannet-web gannet-db gannet-cache; do
		ip netns del "$ns" 2>/dev/null || true
	done
}

case "${1:-}" in
up) up ;;
add) workload "$2" "$(printf %02x "$3")" "$3" ;;
down) down ;;
*) echo "usage: $0 up|add NAME HOST-OCTET|down" >&2; exit 2 ;;
esac
