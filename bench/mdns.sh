#!/usr/bin/env bash
# Time from process start until avahi (on the TAP's host side) can resolve wirestack.local: wirestack-device started
# RUNS times with a static address, each in a fresh namespace with avahi-daemon on a private D-Bus. Prints for every
# run when the device claimed the name (probing done, first announcement out) and when avahi-resolve first answered,
# and the medians.
# Usage: sudo bench/mdns.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
source bench/lib.sh
require_root
require_tools avahi-daemon avahi-resolve dbus-daemon
build_device
ns=wsb-mdns-$$
dir=$(mktemp -d)
cat > "$dir/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=$dir/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/><allow send_destination="*"/><allow receive_sender="*"/></policy></busconfig>
CONF
printf '[server]\nhost-name=kernelside\nallow-interfaces=tap0\nratelimit-interval-usec=0\n[publish]\npublish-hinfo=no\npublish-workstation=no\n' > "$dir/avahi.conf"
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$dir/bus
dbus-daemon --config-file="$dir/bus.conf" --fork --print-pid > "$dir/bus.pid"
avahi=
# avahi-daemon renames its process ("avahi-daemon: running [...]"), so it is stopped by its PID, not by name.
cleanup() { kill "$(cat "$dir/bus.pid")" 2>/dev/null || true; [ -z "$avahi" ] || kill "$avahi" 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$dir"; bench_cleanup; }
trap cleanup EXIT

claimed=() resolved=()
for run in $(seq 1 "$runs"); do
  ip netns add "$ns"
  ip netns exec "$ns" ip tuntap add dev tap0 mode tap
  ip netns exec "$ns" ip addr add 192.168.0.1/24 dev tap0
  ip netns exec "$ns" ip link set tap0 up
  ip netns exec "$ns" avahi-daemon -f "$dir/avahi.conf" --no-drop-root --no-chroot --no-rlimits > "$dir/avahi.log" 2>&1 &
  avahi=$!
  until grep -q "Server startup complete" "$dir/avahi.log"; do sleep 0.02; done
  rm -f "$dir/log"; : > "$dir/log"   # the last run's lines must not count for this one
  start=$(date +%s%N)
  ip netns exec "$ns" timeout 60 dotnet "$device_dll" -i tap0 --ip 192.168.0.2/24 --data-dir "$dir/data" --https-port 0 -v 2 > "$dir/log" 2>&1 &
  device=$!
  until grep -q "mDNS: wirestack.local is ours" "$dir/log"; do sleep 0.005; kill -0 $device 2>/dev/null || { cat "$dir/log"; exit 1; }; done
  claim=$(date +%s%N)
  until ip netns exec "$ns" avahi-resolve -4 -n wirestack.local 2>/dev/null | grep -q 192.168.0.2; do sleep 0.005; done
  answer=$(date +%s%N)
  kill -TERM $device; wait $device 2>/dev/null || true
  kill "$avahi"; wait "$avahi" 2>/dev/null || true; avahi=
  ip netns del "$ns"
  claimed+=($(( (claim - start) / 1000000 ))); resolved+=($(( (answer - start) / 1000000 )))
  echo "run $run: name claimed ${claimed[-1]} ms, avahi resolves it ${resolved[-1]} ms after process start"
done
median() { local sorted=($(printf '%s\n' "$@" | sort -n)); echo "${sorted[$(( $# / 2 ))]}"; }
echo "median: claimed $(median "${claimed[@]}") ms, resolvable by avahi $(median "${resolved[@]}") ms after process start (probing alone takes 0-250 ms + 3 x 250 ms, RFC 6762 8.1)"
