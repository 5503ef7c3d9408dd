#!/usr/bin/env bash
# onehost-lab.sh up|down — the namespaces examples/onehost.yaml expects:
# a host namespace (gannet-host) holding the host sides gw-web and gw-db,
# and two workload namespaces (gannet-web, gannet-db) addressed the Calico
# way: one /32 and one /128 each, default routes via 169.254.1.1 / fe80::1.
# Everything stays inside these namespaces. Needs root, iproute2, ethtool.
set -euo pipefail

up() {
	ip netns add gannet-host
	ip netns exec gannet-host ip link set lo up
	for wl in web:0a:10 db:0b:11; do
		IFS=: read -r name octet host <<<"$wl"
		ns=gannet-$name
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
	done
	echo "lab up: ip netns exec gannet-host bin/gannet run --config examples/onehost.yaml"
}

down() {
	for ns in gannet-host gannet-web gannet-db; do
		ip netns del "$ns" 2>/dev/null || true
	done
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
