#!/usr/bin/env bash
# Runs every fuzz target of the given packages for a fixed time each.
# usage: scripts/fuzz.sh DURATION [PACKAGES...]
set -euo pipefail
go=${GO:-go}
fuzztime=${1:-10s}
shift || true
[ $# -gt 0 ] || set -- ./...
for pkg in $("$go" list "$@"); do
	for target in $("$go" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $target ($fuzztime)"
		"$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
	done
done
