#!/usr/bin/env bash
# End-to-end ping round-trip time: the Linux kernel pinging wirestack-device over a TAP interface (IPv4 and IPv6), beside the
# kernel pinging another kernel over a veth pair, measured in the same run. Everything happens inside network
# namespaces this script creates and deletes; the flood is bounded in count (COUNT) and time (timeout).
# Reports avg, p50, p99 and max of the individual samples and how many took over 1 ms. DEVICE_EXTRA passes options
# to the device (e.g. --no-offloads). "steal ms": time the hypervisor took this machine's CPUs away meanwhile
# (a host stall shows as samples over 1 ms that no program on the guest can avoid).
# Usage: sudo bench/ping-rtt.sh [COUNT] [PAYLOAD_BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-2000}
size=${2:-56}
source bench/lib.sh
require_root
require_tools ping ethtool
tag=$$
tapns=wsb-tap-$tag k1=wsb-k1-$tag k2=wsb-k2-$tag
build_device

# Wirestack over TAP.
new_namespace "$tapns"
ip netns exec "$tapns" dotnet "$device_dll" -i tap0 --data-dir "$bench_data/ping" --ip 192.168.77.2/24 --host-address 192.168.77.1/24 --ip6 fd00:77::2/64 --http-port 0 --https-port 0 -v 1 ${DEVICE_EXTRA:-} &
bench_pids+=($!)
for _ in $(seq 1 60); do
  ip netns exec "$tapns" ping -c 1 -W 1 192.168.77.2 >/dev/null 2>&1 && break
  sleep 0.5
done

ip -n "$tapns" -6 addr add fd00:77::1/64 dev tap0 nodad
for _ in $(seq 1 60); do
  ip netns exec "$tapns" ping -6 -c 1 -W 1 fd00:77::2 >/dev/null 2>&1 && break
  sleep 0.5
done

# Kernel to kernel over veth.
kernel_pair "$k1" "$k2"
ip netns exec "$k1" ping -c 1 -W 2 10.77.0.2 >/dev/null

measure() { # namespace address -> "avg p50 p99 max over-1ms loss steal-ms"
  local out steal
  steal=$(steal_ms)
  out=$(timeout 120 ip netns exec "$1" ping -n -c "$count" -i 0.001 -s "$size" "$2")
  steal=$(( $(steal_ms) - steal ))
  local loss
  loss=$(echo "$out" | sed -n 's|.* \([0-9.]*\)% packet loss.*|\1|p')
  echo "$out" | sed -n 's|.*time=\([0-9.]*\) ms.*|\1|p' | sort -g | awk -v loss="$loss" -v steal="$steal" '
    { t[NR] = $1; sum += $1; if ($1 > 1) over++ }
    END { n = NR; printf "%.3f %.3f %.3f %.3f %d %s %d\n", sum / n, t[int(n * 0.50) + 1], t[int(n * 0.99) + 1], t[n], over, loss, steal }'
}

# Warm the JIT (both families), then measure.
measure "$tapns" 192.168.77.2 >/dev/null
measure "$tapns" fd00:77::2 >/dev/null
read -r ws_avg ws_p50 ws_p99 ws_max ws_over ws_loss ws_steal < <(measure "$tapns" 192.168.77.2)
read -r ws6_avg ws6_p50 ws6_p99 ws6_max ws6_over ws6_loss ws6_steal < <(measure "$tapns" fd00:77::2)
read -r k_avg k_p50 k_p99 k_max k_over k_loss k_steal < <(measure "$k1" 10.77.0.2)

printf '%-28s %9s %9s %9s %9s %8s %7s %9s\n' "ping, $count x $size B" "avg ms" "p50 ms" "p99 ms" "max ms" ">1 ms" "loss %" "steal ms"
printf '%-28s %9s %9s %9s %9s %8s %7s %9s\n' "kernel -> wirestack (TAP)" "$ws_avg" "$ws_p50" "$ws_p99" "$ws_max" "$ws_over" "$ws_loss" "$ws_steal"
printf '%-28s %9s %9s %9s %9s %8s %7s %9s\n' "kernel -> wirestack (IPv6)" "$ws6_avg" "$ws6_p50" "$ws6_p99" "$ws6_max" "$ws6_over" "$ws6_loss" "$ws6_steal"
printf '%-28s %9s %9s %9s %9s %8s %7s %9s\n' "kernel -> kernel (veth)" "$k_avg" "$k_p50" "$k_p99" "$k_max" "$k_over" "$k_loss" "$k_steal"
awk -v a="$ws_avg" -v b="$ws6_avg" 'BEGIN { printf "ratio avg (IPv6/IPv4): %.2f\n", b / a }'
awk -v a="$ws_avg" -v b="$k_avg" -v p="$ws_p99" -v q="$k_p99" 'BEGIN { printf "ratio wirestack/kernel: avg %.2f, p99 %.2f\n", a / b, p / q }'
