#!/usr/bin/env bash
# Time from process start to Ready with a DHCP lease from dnsmasq: wirestack-device started RUNS times, each in a
# fresh namespace with dnsmasq on the TAP's host side; prints every run and the median.
# Usage: sudo bench/startup.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces and TAP devices)"; exit 1; }
command -v dnsmasq >/dev/null || { echo "needs dnsmasq (apt-get install dnsmasq-base)"; exit 1; }
dotnet build src/Wirestack.Device -c Release -v quiet -nologo >/dev/null
device_dll=src/Wirestack.Device/bin/Release/net10.0/wirestack-device.dll
ns=wsb-start-$$
dir=$(mktemp -d)
cleanup() { pkill -f "dnsmasq.*$dir" 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

times=()
for run in $(seq 1 "$runs"); do
  ip netns add "$ns"
  ip netns exec "$ns" ip tuntap add dev tap0 mode tap
  ip netns exec "$ns" ip addr add 192.168.0.1/24 dev tap0
  ip netns exec "$ns" ip link set tap0 up
  ip netns exec "$ns" dnsmasq --conf-file=/dev/null --interface=tap0 --bind-interfaces --port=0 \
    --dhcp-range=192.168.0.50,192.168.0.99,255.255.255.0,2m --dhcp-leasefile="$dir/leases" --pid-file="$dir/pid" --user=root ${DNSMASQ_EXTRA:-}
  start=$(date +%s%N)
  ip netns exec "$ns" timeout 60 dotnet "$device_dll" -i tap0 --data-dir "$dir/data" -v 2 > "$dir/log" 2>&1 &
  device=$!
  until grep -q -- "-> Ready" "$dir/log"; do
    sleep 0.005
    kill -0 $device 2>/dev/null || { cat "$dir/log"; exit 1; }
  done
  end=$(date +%s%N)
  kill -TERM $device; wait $device 2>/dev/null || true
  kill "$(cat "$dir/pid")" 2>/dev/null || true
  ip netns del "$ns"
  ms=$(( (end - start) / 1000000 ))
  times+=("$ms")
  echo "run $run: ${ms} ms to Ready"
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
echo "median: ${sorted[$(( runs / 2 ))]} ms (process start to Ready with a dnsmasq lease; includes the 300 ms RFC 5227 probe and, unless DNSMASQ_EXTRA=--no-ping, dnsmasq's own ~3 s ping check before it offers)"
