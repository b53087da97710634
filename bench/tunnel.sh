#!/usr/bin/env bash
# wirestack-tunnel as a namespace's gateway, beside the kernel forwarding the same traffic itself (routing +
# MASQUERADE: the ceiling) and beside badvpn's tun2socks (lwIP) and hev-socks5-tunnel where their sources are given,
# all in one run on the same three namespaces:
#
#   client (10.98.0.2) --veth-- gateway (10.98.0.1 | 10.99.0.2) --veth-- internet (10.99.0.1, servers at 203.0.113.10)
#
# In the gateway, the client's packets are policy-routed into the TUN of the tunnel under test (rule iif veth ->
# table 200, default dev TUN); the tunnel's own sockets leave by the main table. The kernel mode routes them
# instead and masquerades. Through a proxy (microsocks at 10.99.0.1:1080) for the tun2socks programs and for
# wirestack-tunnel's socks5 mode; wirestack-tunnel direct uses the gateway's own sockets.
#
# Measures: one TCP stream each way and 8 streams (iperf3, SECONDS each), the highest UDP rate of a ladder with under
# 1 % loss, new connections per second (ab, 2,000 requests, a connection each, 16 at a time), ping round trip
# p50/p99 (200 pings, ms) and a small TCP request/response round trip p50/p99 (sockperf ping-pong with its smallest
# message, 14 bytes, µs). Offloads off on the veths (the TUNs use what each program asks for).
#
# Usage: sudo bench/tunnel.sh [SECONDS]      BADVPN_SRC=dir HEV_SRC=dir add those programs (built here from source).
#        SOCKS=microsocks|dante picks the SOCKS5 server every proxied mode goes through (default microsocks; dante
#        relays in larger pieces, microsocks is the smaller server tun2socks users often run).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
source bench/lib.sh
require_root
require_tools iperf3 ab ping busybox curl microsocks ethtool iptables sockperf
socks=${SOCKS:-microsocks}
tag=$$
client=wsb-tc-$tag gateway=wsb-tg-$tag internet=wsb-ti-$tag
dotnet build src/Wirestack.Tunnel -c Release -v quiet -nologo >/dev/null
tunnel_dll=${TUNNEL_DLL:-src/Wirestack.Tunnel/bin/Release/net10.0/wirestack-tunnel.dll}

# Peers built from source where given (each script's own build, into the benchmark's temporary directory).
badvpn=""
if [ -n "${BADVPN_SRC:-}" ]; then
  mkdir -p "$bench_data/badvpn" && (cd "$bench_data/badvpn" && SRCDIR="$BADVPN_SRC" ENDIAN=little CC=gcc bash "$BADVPN_SRC/compile-tun2socks.sh" >/dev/null 2>&1) \
    && badvpn="$bench_data/badvpn/tun2socks" || echo "badvpn-tun2socks did not build; left out"
fi
hev=""
if [ -n "${HEV_SRC:-}" ]; then
  (make -C "$HEV_SRC" -j2 >/dev/null 2>&1) && hev="$HEV_SRC/bin/hev-socks5-tunnel" || echo "hev-socks5-tunnel did not build; left out"
fi

new_namespace "$client"; new_namespace "$gateway"; new_namespace "$internet"
ip link add wsb-c netns "$client" type veth peer name wsb-gc netns "$gateway"
ip link add wsb-gi netns "$gateway" type veth peer name wsb-i netns "$internet"
ip -n "$client" addr add 10.98.0.2/24 dev wsb-c; ip -n "$client" link set wsb-c up
ip -n "$gateway" addr add 10.98.0.1/24 dev wsb-gc; ip -n "$gateway" link set wsb-gc up
ip -n "$gateway" addr add 10.99.0.2/24 dev wsb-gi; ip -n "$gateway" link set wsb-gi up
ip -n "$internet" addr add 10.99.0.1/24 dev wsb-i; ip -n "$internet" link set wsb-i up
ip -n "$internet" addr add 203.0.113.10/32 dev lo
ip -n "$client" route add default via 10.98.0.1
ip -n "$gateway" route add default via 10.99.0.1
for pair in "$client wsb-c" "$gateway wsb-gc" "$gateway wsb-gi" "$internet wsb-i"; do
  set -- $pair
  ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
done
ip netns exec "$gateway" sysctl -qw net.ipv4.ip_forward=1
www="$bench_data/www"; mkdir -p "$www"; echo "hello from the internet" > "$www/index.html"
ip netns exec "$internet" busybox httpd -f -p 203.0.113.10:80 -h "$www" & bench_pids+=($!)
ip netns exec "$internet" iperf3 -s -B 203.0.113.10 >/dev/null 2>&1 & bench_pids+=($!)
ip netns exec "$internet" sockperf server --tcp -i 203.0.113.10 -p 11111 >/dev/null 2>&1 & bench_pids+=($!)
if [ "$socks" = dante ]; then
  require_tools danted
  cat > "$bench_data/danted.conf" <<EOF
logoutput: /dev/null
internal: 10.99.0.1 port = 1080
external: wsb-i
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0/0 to: 0/0 }
socks pass { from: 0/0 to: 0/0 command: connect udpassociate udpreply }
EOF
  ip netns exec "$internet" danted -f "$bench_data/danted.conf" >/dev/null 2>&1 & bench_pids+=($!)
else
  ip netns exec "$internet" microsocks -i 10.99.0.1 -p 1080 >/dev/null 2>&1 & bench_pids+=($!)
fi
sleep 1

# The client's packets into TUN (or, with no argument, routed by the kernel with MASQUERADE).
route_into() {
  ip netns exec "$gateway" ip rule del iif wsb-gc lookup 200 2>/dev/null || true
  ip netns exec "$gateway" ip route flush table 200 2>/dev/null || true
  ip netns exec "$gateway" iptables -t nat -F POSTROUTING
  if [ -z "${1:-}" ]; then
    ip netns exec "$gateway" iptables -t nat -A POSTROUTING -o wsb-gi -j MASQUERADE
  else
    ip netns exec "$gateway" ip route add default dev "$1" table 200
    ip netns exec "$gateway" ip rule add iif wsb-gc lookup 200
  fi
}

wait_for_path() {
  for _ in $(seq 1 60); do
    ip netns exec "$client" curl -s -m 2 -o /dev/null http://203.0.113.10/ && return 0
    sleep 0.5
  done
  echo "no path through $1"; return 1
}

mbits() { # iperf3 JSON on stdin -> receiver Mbit/s (the sum_received block's rate)
  tr -d '\n\t ' | grep -oE '"sum_received":\{[^}]*' | grep -oE '"bits_per_second":[0-9.e+]+' | awk -F: '{printf "%d\n", $2/1e6}'
}

udp_ceiling() { # highest offered Mbit/s with < 1 % loss
  local best=0 rate lost
  for rate in 50 100 200 400 800 1600; do
    lost=$(ip netns exec "$client" iperf3 -c 203.0.113.10 -u -b "${rate}M" -l 1400 -t 2 --json 2>/dev/null \
      | grep -oE '"lost_percent":[[:space:]]*[0-9.e+-]+' | tail -1 | awk -F: '{print $2}')
    [ -z "$lost" ] && break
    awk -v l="$lost" 'BEGIN { exit !(l < 1) }' || break
    best=$rate
  done
  echo "$best"
}

ping_percentiles() { # "- -" where no ping comes back (through a proxy, which carries no ICMP)
  local -
  set +o pipefail
  ip netns exec "$client" ping -c 200 -i 0.01 -q -W 1 203.0.113.10 >/dev/null 2>&1 || true
  ip netns exec "$client" ping -c 200 -i 0.01 -W 1 203.0.113.10 2>/dev/null | grep -o 'time=[0-9.]*' | cut -d= -f2 | sort -n \
    | awk '{ v[NR] = $1 } END { if (NR == 0) { print "- -"; exit } i = int(NR * 0.5); if (i < 1) i = 1; j = int(NR * 0.99); if (j < 1) j = 1; printf "%.3f %.3f\n", v[i], v[j] }'
}

tcp_round_trip() { # p50 p99 in µs of sockperf's TCP ping-pong
  ip netns exec "$client" sockperf ping-pong --tcp -i 203.0.113.10 -p 11111 -m 14 -t "$seconds" 2>/dev/null \
    | awk '/percentile 50.000/ { p50 = $NF } /percentile 99.000/ { p99 = $NF } END { if (p50 == "") print "- -"; else printf "%.0f %.0f\n", p50, p99 }'
}

measure() { # name
  local up down up8 down8 udp setups rtt rr
  up=$(ip netns exec "$client" iperf3 -c 203.0.113.10 -t "$seconds" --json 2>/dev/null | mbits || echo 0)
  down=$(ip netns exec "$client" iperf3 -c 203.0.113.10 -t "$seconds" -R --json 2>/dev/null | mbits || echo 0)
  up8=$(ip netns exec "$client" iperf3 -c 203.0.113.10 -t "$seconds" -P 8 --json 2>/dev/null | mbits || echo 0)
  down8=$(ip netns exec "$client" iperf3 -c 203.0.113.10 -t "$seconds" -P 8 -R --json 2>/dev/null | mbits || echo 0)
  udp=$(udp_ceiling)
  setups=$(ip netns exec "$client" ab -q -n 2000 -c 16 http://203.0.113.10/ 2>/dev/null | awk '/Requests per second/ { printf "%d", $4 }')
  rtt=$(ping_percentiles)
  rr=$(tcp_round_trip)
  printf "%-28s %8s %8s %8s %8s %8s %8s %14s %12s\n" "$1" "$up" "$down" "$up8" "$down8" "$udp" "${setups:-0}" "$rtt" "$rr"
}

echo "SOCKS5 server: $socks"
printf "%-28s %8s %8s %8s %8s %8s %8s %14s %12s\n" "Mbit/s, conn/s" "up" "down" "8 up" "8 down" "udp<1%" "conn/s" "ping ms p50 p99" "tcp rr µs p50 p99"

route_into
wait_for_path kernel
measure "kernel (route + MASQUERADE)"

run_tunnel() { # name tun command...
  local name=$1 tun=$2
  shift 2
  ip netns exec "$gateway" "$@" >"$bench_data/$tun.log" 2>&1 &
  local pid=$!
  bench_pids+=($pid)
  for _ in $(seq 1 60); do ip -n "$gateway" link show "$tun" >/dev/null 2>&1 && break; sleep 0.5; done
  ip -n "$gateway" link set "$tun" up 2>/dev/null || true
  route_into "$tun"
  if wait_for_path "$name"; then measure "$name"; fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

run_tunnel "wirestack-tunnel direct" wst0 dotnet "$tunnel_dll" --device wst0 --verbosity 1
run_tunnel "wirestack-tunnel socks5" wst1 dotnet "$tunnel_dll" --device wst1 --proxy socks5://10.99.0.1:1080 --verbosity 1
if [ -n "$badvpn" ]; then
  ip -n "$gateway" tuntap add dev bvt0 mode tun
  ip -n "$gateway" addr add 198.19.0.1/24 dev bvt0
  run_tunnel "badvpn-tun2socks socks5" bvt0 "$badvpn" --tundev bvt0 --netif-ipaddr 198.19.0.2 --netif-netmask 255.255.255.0 \
    --socks-server-addr 10.99.0.1:1080 --loglevel 1
fi
if [ -n "$hev" ]; then
  cat > "$bench_data/hev.yml" <<EOF
tunnel:
  name: hevt0
  mtu: 8500
  ipv4: 198.18.0.1
socks5:
  port: 1080
  address: 10.99.0.1
  udp: 'udp'
EOF
  run_tunnel "hev-socks5-tunnel socks5" hevt0 "$hev" "$bench_data/hev.yml"
fi
