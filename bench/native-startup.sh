#!/usr/bin/env bash
# wirestack-device as NativeAOT beside the JIT build: time from process start to the first answered ping and to the
# first HTTP 200 (the dashboard page), static address, and resident memory when idle 5 s after that. Each run
# starts the device in a fresh namespace (it creates the TAP and its host side); the data directory is made by a
# first, uncounted run, so runs measure a restart, not key generation. Prints every run and the medians.
# Usage: sudo bench/native-startup.sh [RUNS]
# NATIVE_BASELINE=/path/to/an/older/wirestack-device adds that build to the same run, for a before-and-after.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
require_root
require_tools ping curl
runs=${1:-7}

build_device
./scripts/publish-native.sh >/dev/null
native=artifacts/native/wirestack-device

# one_run NAME COMMAND...: prints "ping_ms http_ms rss_mb"
one_run() {
  local name=$1; shift
  local ns=wsb-native-$$-$name
  new_namespace "$ns"
  local start end_ping end_http
  start=$(date +%s%N)
  ip netns exec "$ns" "$@" --ip 192.168.0.2/24 --host-address 192.168.0.1/24 \
    --data-dir "$bench_data/$name" --no-mdns > "$bench_data/$name.log" 2>&1 &
  local pid=$!
  until ip netns exec "$ns" ping -c 1 -W 0.05 192.168.0.2 >/dev/null 2>&1; do
    kill -0 $pid 2>/dev/null || { cat "$bench_data/$name.log"; exit 1; }
  done
  end_ping=$(date +%s%N)
  until [ "$(ip netns exec "$ns" curl -s -o /dev/null -m 0.5 -w '%{http_code}' http://192.168.0.2/ 2>/dev/null)" = 200 ]; do
    kill -0 $pid 2>/dev/null || { cat "$bench_data/$name.log"; exit 1; }
  done
  end_http=$(date +%s%N)
  sleep 5
  local device_pid rss
  device_pid=$(pgrep -f -- "--data-dir $bench_data/$name" | head -1)
  rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$device_pid/status")
  kill -TERM $pid; wait $pid 2>/dev/null || true
  ip netns del "$ns"
  echo "$(( (end_ping - start) / 1000000 )) $(( (end_http - start) / 1000000 )) $rss"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

builds=(jit native)
[ -n "${NATIVE_BASELINE:-}" ] && builds+=(baseline)
for build in "${builds[@]}"; do
  case $build in
    jit) command=(dotnet "$device_dll") ;;
    native) command=("$native") ;;
    baseline) command=("$NATIVE_BASELINE") ;;
  esac
  one_run "$build" "${command[@]}" >/dev/null   # creates the data directory (password hash, certificate)
  pings=(); https=(); rsss=()
  for run in $(seq 1 "$runs"); do
    read -r p h r < <(one_run "$build" "${command[@]}")
    echo "$build run $run: first ping ${p} ms, first HTTP 200 ${h} ms, idle RSS ${r} MB"
    pings+=("$p"); https+=("$h"); rsss+=("$r")
  done
  echo "$build median: first ping $(median "${pings[@]}") ms, first HTTP 200 $(median "${https[@]}") ms, idle RSS $(median "${rsss[@]}") MB"
done
