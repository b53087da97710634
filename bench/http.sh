#!/usr/bin/env bash
# The dashboard over Wirestack (kernel client -> TAP -> wirestack-device) beside the same dashboard app served by
# Kestrel's socket transport on the kernel stack (client -> veth -> kernel; veth offloads off, and on), measured in
# the same run: requests/s keep-alive (wrk -t1 -c1 with its latency p50/p99, -t2 -c50), new connections/s
# (Connection: close, 1 and 10 clients), 100 MiB download and 64 MiB upload (1 MiB chunks through an upload session) over HTTP and HTTPS.
# DEVICE_EXTRA passes options to the Wirestack device (e.g. --no-offloads).
# Everything runs in namespaces this script creates and deletes; every load is bounded in time.
# Usage: sudo bench/http.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
source bench/lib.sh
require_root
require_tools wrk curl bc ethtool
tag=$$
wsns=wsb-http-$tag k1=wsb-hk1-$tag k2=wsb-hk2-$tag k3=wsb-hk3-$tag k4=wsb-hk4-$tag
dir=$(mktemp -d)
chmod 755 "$dir"   # the device serves the web root as nobody once the TAP is open
trap 'bench_cleanup; rm -rf "$dir"' EXIT
build_device
dll=$device_dll
mkdir -p "$dir/web"
head -c $((100 << 20)) /dev/urandom > "$dir/web/big.bin"
head -c $((1 << 20)) /dev/urandom > "$dir/chunk.bin"
auth="Authorization: Basic $(printf admin:secret | base64)"

# Wirestack: the device on a TAP, the client on the host side.
new_namespace "$wsns"
ip netns exec "$wsns" dotnet "$dll" -i tap0 --ip 192.168.77.2/24 --host-address 192.168.77.1/24 --user admin:secret \
  --data-dir "$dir/ws" --web-root "$dir/web" -v 1 ${DEVICE_EXTRA:-} &
bench_pids+=($!)
# Kernel: the same program, dashboard on Kestrel's sockets in k2, client in k1 over a veth pair with offloads off.
kernel_pair "$k1" "$k2"
ip netns exec "$k2" dotnet "$dll" -i tap0 --ip 192.168.78.2/24 --host-address 192.168.78.1/24 --user admin:secret \
  --data-dir "$dir/k" --web-root "$dir/web" --kernel-listen 10.77.0.2 --run-as root -v 1 &
bench_pids+=($!)
kernel_pair "$k3" "$k4" on
ip netns exec "$k4" dotnet "$dll" -i tap0 --ip 192.168.78.2/24 --host-address 192.168.78.1/24 --user admin:secret \
  --data-dir "$dir/k4" --web-root "$dir/web" --kernel-listen 10.77.0.2 --run-as root -v 1 &
bench_pids+=($!)

wait_up() { for _ in $(seq 1 100); do ip netns exec "$1" curl -s -f -m 2 -H "$auth" "http://$2/api/stats/get" >/dev/null 2>&1 && return; sleep 0.2; done; echo "$2 did not come up"; exit 1; }
# The clients may reuse their own TIME-WAIT ports (RFC 6191 with timestamps): a Connection: close load of several
# thousand connections a second otherwise runs out of ephemeral ports within seconds, whichever side closes first,
# and then measures the client kernel's port search instead of the server (namespaced setting, these namespaces only).
for ns in "$wsns" "$k1" "$k3"; do ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1; done
wait_up "$wsns" 192.168.77.2
wait_up "$k1" 10.77.0.2
wait_up "$k3" 10.77.0.2

latency() { # ns url -> "p50 p99" in microseconds, keep-alive wrk -t1 -c1
  ip netns exec "$1" wrk -t1 -c1 -d"${seconds}s" --latency -H "$auth" "$2" 2>&1 | awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
    $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) } END { printf "%.0f %.0f\n", p50, p99 }'
}
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
  local id="" headers
  start=$(date +%s.%N)
  # 1 MiB chunks, the most the upload route takes (WebSurface.MaxFirmwareChunk).
  for i in $(seq 0 63); do
    # The first chunk's answer names the upload session (Upload-Id) that the later chunks give as id= (a build from
    # before upload sessions answers without one and takes chunks by offset alone). A refused chunk fails the run
    # instead of timing a refusal.
    headers=$(ip netns exec "$ns" curl -s -f -m 60 "$@" -H "$auth" --data-binary @"$dir/chunk.bin" -D - -o /dev/null \
      "$base/api/firmware/upload?name=u.bin&offset=$((i << 20))&total=$total${id:+&id=$id}") || { echo "upload failed" >&2; echo 0; return; }
    [ -n "$id" ] || id=$(printf '%s' "$headers" | sed -n 's/^Upload-Id: *//Ip' | tr -d '\r')
  done
  # An empty chunk at the end stages the image and closes the session (the seed's protocol).
  ip netns exec "$ns" curl -s -f -m 60 "$@" -H "$auth" -X POST \
    "$base/api/firmware/upload?name=u.bin&offset=$total&total=$total${id:+&id=$id}" >/dev/null || { echo "upload failed" >&2; echo 0; return; }
  end=$(date +%s.%N)
  # The next upload (the other scheme) starts clean: a staged image is rolled back.
  ip netns exec "$ns" curl -s -m 10 "$@" -H "$auth" -X POST "$base/api/firmware/rollback" >/dev/null || true
  echo "scale=0; $total * 8 / ($end - $start) / 1000000" | bc -l
}

# Warm up both (JIT, connections).
rps "$wsns" http://192.168.77.2/api/stats/get 1 4 >/dev/null
rps "$k1" http://10.77.0.2/api/stats/get 1 4 >/dev/null
rps "$k3" http://10.77.0.2/api/stats/get 1 4 >/dev/null

printf '%-44s %12s %12s %12s %9s %9s\n' "dashboard, ${seconds} s per load" "Wirestack" "kernel off" "kernel on" "/off" "/on"
row() { printf '%-44s %12s %12s %12s %9s %9s\n' "$1" "$2" "$3" "$4" "$(echo "scale=2; $2 / $3" | bc -l)" "$(echo "scale=2; $2 / $4" | bc -l)"; }
compare() { # label command-taking-NS-and-ADDRESS: runs it for Wirestack, kernel (offloads off), kernel (offloads on)
  local label=$1; shift
  row "$label" "$("$@" "$wsns" 192.168.77.2)" "$("$@" "$k1" 10.77.0.2)" "$("$@" "$k3" 10.77.0.2)"
}
keepalive() { rps "$1" "http://$2/api/stats/get" 1 1; }
keepalive50() { rps "$1" "http://$2/api/stats/get" 2 50; }
close1() { rps "$1" "http://$2/api/stats/get" 1 1 'Connection: close'; }
close10() { rps "$1" "http://$2/api/stats/get" 2 10 'Connection: close'; }
download() { mbps "$1" "http://$2/big.bin"; }
downloadTls() { mbps "$1" -k "https://$2/big.bin"; }
uploadHttp() { upload "$1" "http://$2"; }
uploadTls() { upload "$1" "https://$2" -k; }
p50() { latency "$1" "http://$2/api/stats/get" | cut -d' ' -f1; }
p99() { latency "$1" "http://$2/api/stats/get" | cut -d' ' -f2; }
compare "requests/s keep-alive, wrk -t1 -c1" keepalive
compare "latency p50 us, keep-alive wrk -t1 -c1" p50
compare "latency p99 us, keep-alive wrk -t1 -c1" p99
compare "requests/s keep-alive, wrk -t2 -c50" keepalive50
compare "new connections/s, Connection: close, 1" close1
compare "new connections/s, Connection: close, 10" close10
compare "100 MiB download, HTTP, Mbit/s" download
compare "100 MiB download, HTTPS, Mbit/s" downloadTls
compare "64 MiB upload, HTTP, Mbit/s" uploadHttp
compare "64 MiB upload, HTTPS, Mbit/s" uploadTls
