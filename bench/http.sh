#!/usr/bin/env bash
# The dashboard over Wirestack (kernel client -> TAP -> wirestack-device) beside the same dashboard app served by
# Kestrel's socket transport on the kernel stack (client -> veth -> kernel), measured in the same run:
# requests/s keep-alive (wrk -t1 -c1, -t2 -c50), new connections/s (Connection: close, 1 and 10 clients),
# 100 MiB download and 64 MiB upload over HTTP and HTTPS.
# Everything runs in namespaces this script creates and deletes; every load is bounded in time.
# Usage: sudo bench/http.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
source bench/lib.sh
require_root
require_tools wrk curl bc ethtool
tag=$$
wsns=wsb-http-$tag k1=wsb-hk1-$tag k2=wsb-hk2-$tag
dir=$(mktemp -d)
chmod 755 "$dir"   # the device serves the web root as nobody once the TAP is open
trap 'bench_cleanup; rm -rf "$dir"' EXIT
build_device
dll=$device_dll
mkdir -p "$dir/web"
head -c $((100 << 20)) /dev/urandom > "$dir/web/big.bin"
head -c $((16 << 20)) /dev/urandom > "$dir/chunk.bin"
auth="Authorization: Basic $(printf admin:secret | base64)"

# Wirestack: the device on a TAP, the client on the host side.
new_namespace "$wsns"
ip netns exec "$wsns" dotnet "$dll" -i tap0 --ip 192.168.77.2/24 --host-address 192.168.77.1/24 --user admin:secret \
  --data-dir "$dir/ws" --web-root "$dir/web" -v 1 &
bench_pids+=($!)
# Kernel: the same program, dashboard on Kestrel's sockets in k2, client in k1 over a veth pair with offloads off.
kernel_pair "$k1" "$k2"
ip netns exec "$k2" dotnet "$dll" -i tap0 --ip 192.168.78.2/24 --host-address 192.168.78.1/24 --user admin:secret \
  --data-dir "$dir/k" --web-root "$dir/web" --kernel-listen 10.77.0.2 --run-as root -v 1 &
bench_pids+=($!)

wait_up() { for _ in $(seq 1 100); do ip netns exec "$1" curl -s -f -m 2 -H "$auth" "http://$2/api/stats/get" >/dev/null 2>&1 && return; sleep 0.2; done; echo "$2 did not come up"; exit 1; }
wait_up "$wsns" 192.168.77.2
wait_up "$k1" 10.77.0.2

rps() { # ns url threads connections [extra header]
  local out
  out=$(ip netns exec "$1" wrk -t"$3" -c"$4" -d"${seconds}s" -H "$auth" ${5:+-H "$5"} "$2" 2>&1)
  echo "$out" | awk '/Requests\/sec/ {print $2}'
}
mbps() { # ns curl-args...
  local ns=$1; shift
  ip netns exec "$ns" curl -s -f -o /dev/null -w '%{speed_download} %{speed_upload}' -m 120 "$@" | awk '{ s = ($1 > $2 ? $1 : $2); printf "%.0f", s * 8 / 1000000 }'
}
upload() { # ns base-url scheme-args
  local ns=$1 base=$2; shift 2
  local start end total=$((64 << 20))
  start=$(date +%s.%N)
  for i in 0 1 2 3; do
    ip netns exec "$ns" curl -s -f -m 60 "$@" -H "$auth" --data-binary @"$dir/chunk.bin" \
      "$base/api/firmware/upload?name=u.bin&offset=$((i << 24))&total=$total" >/dev/null
  done
  end=$(date +%s.%N)
  echo "scale=0; $total * 8 / ($end - $start) / 1000000" | bc -l
}

# Warm up both (JIT, connections).
rps "$wsns" http://192.168.77.2/api/stats/get 1 4 >/dev/null
rps "$k1" http://10.77.0.2/api/stats/get 1 4 >/dev/null

printf '%-46s %14s %14s %8s\n' "dashboard, ${seconds} s per load" "Wirestack/TAP" "kernel/veth" "ratio"
row() { printf '%-46s %14s %14s %8s\n' "$1" "$2" "$3" "$(echo "scale=2; $2 / $3" | bc -l)"; }
row "requests/s keep-alive, wrk -t1 -c1" "$(rps "$wsns" http://192.168.77.2/api/stats/get 1 1)" "$(rps "$k1" http://10.77.0.2/api/stats/get 1 1)"
row "requests/s keep-alive, wrk -t2 -c50" "$(rps "$wsns" http://192.168.77.2/api/stats/get 2 50)" "$(rps "$k1" http://10.77.0.2/api/stats/get 2 50)"
row "new connections/s, Connection: close, 1" "$(rps "$wsns" http://192.168.77.2/api/stats/get 1 1 'Connection: close')" "$(rps "$k1" http://10.77.0.2/api/stats/get 1 1 'Connection: close')"
row "new connections/s, Connection: close, 10" "$(rps "$wsns" http://192.168.77.2/api/stats/get 2 10 'Connection: close')" "$(rps "$k1" http://10.77.0.2/api/stats/get 2 10 'Connection: close')"
row "100 MiB download, HTTP, Mbit/s" "$(mbps "$wsns" http://192.168.77.2/big.bin)" "$(mbps "$k1" http://10.77.0.2/big.bin)"
row "100 MiB download, HTTPS, Mbit/s" "$(mbps "$wsns" -k https://192.168.77.2/big.bin)" "$(mbps "$k1" -k https://10.77.0.2/big.bin)"
row "64 MiB upload, HTTP, Mbit/s" "$(upload "$wsns" http://192.168.77.2)" "$(upload "$k1" http://10.77.0.2)"
row "64 MiB upload, HTTPS, Mbit/s" "$(upload "$wsns" https://192.168.77.2 -k)" "$(upload "$k1" https://10.77.0.2 -k)"
