#!/usr/bin/env bash
# Runs a command in a private network namespace that holds only loopback and
# one veth pair with a default route, so nothing a test sends can leave the
# machine: browsers' mDNS announcements, STUN checks to non-loopback
# candidates and multicast all stay inside. (Chromium gathers no candidates
# at all without a default route, hence the veth pair.)
#
# Usage: scripts/isolated-net.sh COMMAND [ARGS...]
# Needs root (or CAP_SYS_ADMIN) for unshare; without it the command runs as is,
# with a warning.
set -euo pipefail

if [ "${PARLOR_IN_NETNS:-}" = "1" ]; then
  ip link set lo up
  ip link add parlor0 type veth peer name parlor1
  ip addr add 198.18.0.1/24 dev parlor0
  ip link set parlor0 up
  ip link set parlor1 up
  ip route add default via 198.18.0.2 dev parlor0
  exec "$@"
fi

if unshare --net true 2>/dev/null; then
  exec env PARLOR_IN_NETNS=1 unshare --net "$0" "$@"
fi
echo "[isolated-net] cannot create a network namespace (not root?); running without isolation" >&2
exec "$@"
