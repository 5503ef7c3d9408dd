#!/usr/bin/env bash
# Lays out the container image's files in DIR from a static gannet binary:
# the Dockerfile's build stage runs it, and the tests run it on a binary
# built here and hand DIR to the Dockerfile's final stage
# (podman build --build-context rootfs=DIR --target image).
# usage: scripts/container-rootfs.sh BINARY DIR
#
# The image runs as user gannet (uid and gid 65532). Its binary carries
# the capabilities gannet needs as permitted file capabilities (gannet makes
# them effective itself, cmd/gannet/caps_linux.go); the container must still
# be given them: --cap-add, docs/OPERATIONS.md.
set -euo pipefail
bin=$1
dir=$2
cd "$(dirname "$0")/.."
uid=65532
caps=cap_net_admin,cap_net_raw,cap_bpf,cap_perfmon,cap_ipc_lock,cap_net_bind_service

mkdir -p "$dir/usr/sbin" "$dir/etc/gannet" "$dir/run/gannet" "$dir/var/lib/gannet/bpf" "$dir/tmp"
install -m 0755 "$bin" "$dir/usr/sbin/gannet"
setcap "$caps+p" "$dir/usr/sbin/gannet"
install -m 0644 deploy/gannet.yaml "$dir/etc/gannet/gannet.yaml"
cat >"$dir/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
gannet:x:$uid:$uid:gannet:/var/lib/gannet:/sbin/nologin
PASSWD
cat >"$dir/etc/group" <<GROUP
root:x:0:
gannet:x:$uid:
GROUP
chmod 1777 "$dir/tmp"
chown "$uid:$uid" "$dir/run/gannet" "$dir/var/lib/gannet" "$dir/var/lib/gannet/bpf"
chmod 0750 "$dir/run/gannet"
chmod 0700 "$dir/var/lib/gannet" "$dir/var/lib/gannet/bpf"
