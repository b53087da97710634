#!/usr/bin/env bash
# Bulk TCP throughput, kernel <-> wirestack-device over TAP (MTU 1500) in both directions, over IPv4 and IPv6, beside
# kernel <-> kernel over veth pairs with offloads off and on, in the same run. Also the device's CPU seconds per GiB.
# Everything runs in namespaces this script creates and deletes; each transfer is bounded in size and time.
# Usage: sudo bench/tcp-throughput.sh [MIB]   (default 1024 MiB per transfer; DEVICE_EXTRA="--no-offloads" passes options to the device)
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
bytes=$((mib * 1024 * 1024))
source bench/lib.sh
require_root
require_tools socat ethtool bc
tag=$$
tapns=wsb-tap-$tag k1=wsb-k1-$tag k2=wsb-k2-$tag k3=wsb-k3-$tag k4=wsb-k4-$tag
build_device

new_namespace "$tapns"
ip netns exec "$tapns" dotnet "$device_dll" -i tap0 --data-dir "$bench_data/tcp" --ip 192.168.77.2/24 --host-address 192.168.77.1/24 --ip6 fd00:77::2/64 --test-services --http-port 0 --https-port 0 -v 1 ${DEVICE_EXTRA:-} &
device_pid=$!
bench_pids+=($device_pid)
for _ in $(seq 1 60); do
  ip netns exec "$tapns" bash -c 'echo | socat - TCP:192.168.77.2:7,connect-timeout=1' >/dev/null 2>&1 && break
  sleep 0.5
done

ip -n "$tapns" -6 addr add fd00:77::1/64 dev tap0 nodad
for _ in $(seq 1 60); do
  ip netns exec "$tapns" bash -c 'echo | socat - TCP6:[fd00:77::2]:7,connect-timeout=1' >/dev/null 2>&1 && break
  sleep 0.5
done

kernel_pair "$k1" "$k2"
kernel_pair "$k3" "$k4" on

cpu_ticks() { awk '{print $14 + $15}' "/proc/$device_pid/stat"; }
ticks_per_second=$(getconf CLK_TCK)

timed() { # prints seconds for the command
  local start end
  start=$(date +%s.%N)
  timeout 300 "$@" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

gbits() { echo "scale=2; $bytes * 8 / $1 / 1000000000" | bc -l; }

# Warm-up (JIT, caches; both families).
ip netns exec "$tapns" bash -c "head -c 67108864 /dev/zero | socat -b 262144 -u - TCP:192.168.77.2:9"
ip netns exec "$tapns" bash -c "head -c 67108864 /dev/zero | socat -b 262144 -u - TCP6:[fd00:77::2]:9"

c0=$(cpu_ticks)
rx=$(timed ip netns exec "$tapns" bash -c "head -c $bytes /dev/zero | socat -b 262144 -u - TCP:192.168.77.2:9")
c1=$(cpu_ticks)
tx=$(timed ip netns exec "$tapns" bash -c "socat -b 262144 -u TCP:192.168.77.2:19 - | head -c $bytes")
c2=$(cpu_ticks)
rx6=$(timed ip netns exec "$tapns" bash -c "head -c $bytes /dev/zero | socat -b 262144 -u - TCP6:[fd00:77::2]:9")
tx6=$(timed ip netns exec "$tapns" bash -c "socat -b 262144 -u TCP6:[fd00:77::2]:19 - | head -c $bytes")

ip netns exec "$k2" socat -b 262144 -u TCP-LISTEN:5001,reuseaddr - >/dev/null &
bench_pids+=($!)
sleep 0.3
kk=$(timed ip netns exec "$k1" bash -c "head -c $bytes /dev/zero | socat -b 262144 -u - TCP:10.77.0.2:5001")
ip netns exec "$k2" socat -b 262144 -u TCP6-LISTEN:5002,reuseaddr - >/dev/null &
bench_pids+=($!)
sleep 0.3
kk6=$(timed ip netns exec "$k1" bash -c "head -c $bytes /dev/zero | socat -b 262144 -u - TCP6:[fd00:78::2]:5002")
ip netns exec "$k4" socat -b 262144 -u TCP-LISTEN:5001,reuseaddr - >/dev/null &
bench_pids+=($!)
sleep 0.3
ko=$(timed ip netns exec "$k3" bash -c "head -c $bytes /dev/zero | socat -b 262144 -u - TCP:10.77.0.2:5001")

rx_cpu=$(echo "scale=2; ($c1 - $c0) / $ticks_per_second / ($mib / 1024)" | bc -l)
tx_cpu=$(echo "scale=2; ($c2 - $c1) / $ticks_per_second / ($mib / 1024)" | bc -l)
printf '%-40s %10s %14s\n' "TCP bulk, $mib MiB, MTU 1500" "Gbit/s" "device CPU s/GiB"
printf '%-40s %10s %14s\n' "kernel -> wirestack (TAP, discard)" "$(gbits "$rx")" "$rx_cpu"
printf '%-40s %10s %14s\n' "wirestack -> kernel (TAP, chargen)" "$(gbits "$tx")" "$tx_cpu"
printf '%-40s %10s\n' "kernel -> wirestack over IPv6" "$(gbits "$rx6")"
printf '%-40s %10s\n' "wirestack -> kernel over IPv6" "$(gbits "$tx6")"
printf '%-40s %10s\n' "kernel -> kernel (veth, offloads off)" "$(gbits "$kk")"
printf '%-40s %10s\n' "kernel -> kernel over IPv6 (veth)" "$(gbits "$kk6")"
printf '%-40s %10s\n' "kernel -> kernel (veth, offloads on)" "$(gbits "$ko")"
awk -v r="$rx" -v t="$tx" -v k="$kk" -v o="$ko" \
  'BEGIN { printf "ratio to kernel veth offloads off / on: receive %.2f / %.2f, send %.2f / %.2f\n", k / r, o / r, k / t, o / t }'
awk -v r4="$rx" -v r6="$rx6" -v t4="$tx" -v t6="$tx6" -v k4="$kk" -v k6="$kk6" \
  'BEGIN { printf "IPv6/IPv4 throughput: wirestack receive %.2f, send %.2f; kernel %.2f\n", r4 / r6, t4 / t6, k4 / k6 }'
