#!/usr/bin/env bash
# Connection scale beside the kernel, same run: N concurrent idle connections (time to open them, memory per
# connection above the idle process) and connections per second (connect, 1-byte echo, close), against
# wirestack-device over TAP and against a kernel echo server over a veth pair.
# Everything runs in namespaces this script creates and deletes; loads are bounded in count and time.
# Usage: sudo bench/connections.sh [N]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
source bench/lib.sh
require_root
require_tools python3 bc
tag=$$
tapns=wsc-tap-$tag k1=wsc-k1-$tag k2=wsc-k2-$tag
build_device
ulimit -n "$(ulimit -Hn)"   # as many descriptors as allowed
# Each process holds at most this many sockets (the descriptor limit may be low); the load is spread over several.
per_process=$(( $(ulimit -n) - 1000 ))
processes=$(( (count + per_process - 1) / per_process ))

client=$(mktemp --suffix=.py)
trap 'rm -f "$client"; bench_cleanup' EXIT
cat > "$client" <<'PY'
# Opens N connections (non-blocking, from several source addresses), checks each echoes one byte, holds them,
# prints the seconds it took; or, with "rate", connects/echoes/closes for a few seconds and prints the rate.
import os, selectors, socket, sys, time
mode, server, port, n, sources = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split(",")
if mode == "rate":
    done, end = 0, time.monotonic() + 3
    while time.monotonic() < end:
        s = socket.create_connection((server, port), timeout=5)
        s.sendall(b"x"); s.recv(1); s.close(); done += 1
    print(f"{done / 3:.0f}")
    sys.exit(0)
sel = selectors.DefaultSelector()
start = time.monotonic()
pending, opened, socks = 0, 0, []
i = 0
while opened < n:
    while i < n and pending < 2000:
        s = socket.socket(); s.setblocking(False)
        s.bind((sources[i % len(sources)], 0))
        s.connect_ex((server, port))
        sel.register(s, selectors.EVENT_WRITE); pending += 1; i += 1
    for key, _ in sel.select(timeout=10):
        s = key.fileobj
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            sys.exit(f"connect failed: {os.strerror(err)} after {opened}")
        sel.unregister(s); pending -= 1; opened += 1; socks.append(s)
    if time.monotonic() - start > 600:
        sys.exit(f"only {opened} connections in 600 s")
elapsed = time.monotonic() - start
for s in socks[:: max(1, n // 1000)]:   # a sample echoes: the connections work, not just exist
    s.setblocking(True); s.settimeout(5); s.sendall(b"e")
    assert s.recv(1) == b"e"
print(f"{elapsed:.2f}", flush=True)
sys.stdin.readline()   # hold them until told
PY

# The device, with its echo service, over TAP; two more kernel-side source addresses for enough ports.
new_namespace "$tapns"
ip netns exec "$tapns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
ip netns exec "$tapns" dotnet "$device_dll" -i tap0 --data-dir "$bench_data/conn" --ip 192.168.77.2/24 --host-address 192.168.77.1/24 --test-services --http-port 0 --https-port 0 -v 1 &
bench_pids+=($!)
for _ in $(seq 1 60); do
  ip netns exec "$tapns" python3 -c 'import socket; socket.create_connection(("192.168.77.2", 7), timeout=1)' 2>/dev/null && break
  sleep 0.5
done
ip -n "$tapns" addr add 192.168.77.11/24 dev tap0
ip -n "$tapns" addr add 192.168.77.12/24 dev tap0
device_pid=$(pgrep -f "wirestack-device.dll -i tap0 --data-dir $bench_data/conn --ip 192.168.77.2" | head -1)
rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
sleep 2
idle=$(rss "$device_pid")

# The kernel baseline: an epoll echo server over veth.
kernel_pair "$k1" "$k2"
ip netns exec "$k1" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
ip netns exec "$k2" sysctl -qw net.core.somaxconn=65535
ip -n "$k1" addr add 10.77.0.11/24 dev wsb-a
ip -n "$k1" addr add 10.77.0.12/24 dev wsb-a
kernel_echo() {
ip netns exec "$k2" python3 -c '
import selectors, socket
sel = selectors.DefaultSelector(); l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
l.bind(("10.77.0.2", 7)); l.listen(65535); l.setblocking(False); sel.register(l, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is l:
            c, _ = l.accept(); c.setblocking(False); sel.register(c, selectors.EVENT_READ)
        else:
            try: d = s.recv(65536)
            except OSError: d = b""
            if d: s.send(d)
            else: sel.unregister(s); s.close()
'
}
for _ in $(seq 1 "$processes"); do kernel_echo & bench_pids+=($!); done
sleep 1

slab() { awk '/^Slab:/ {print $2 * 1024}' /proc/meminfo; }

# open_all NAMESPACE SERVER SOURCES: opens $count connections from $processes clients in parallel, holds them, and
# prints the seconds the slowest client took; release_all lets them go.
open_all() {
  holders=()
  for p in $(seq 1 "$processes"); do
    share=$(( count / processes + (p <= count % processes ? 1 : 0) ))
    fifo=$(mktemp -u); mkfifo "$fifo"
    out=$(mktemp)
    ( ip netns exec "$1" python3 "$client" open "$2" 7 "$share" "$3" < "$fifo" > "$out" ) &
    exec {fd}>"$fifo"
    holders+=("$!:$fd:$out:$fifo")
  done
  slowest=0
  for h in "${holders[@]}"; do
    out=$(echo "$h" | cut -d: -f3)
    for _ in $(seq 1 1200); do [ -s "$out" ] && break; sleep 0.5; done
    seconds=$(cat "$out"); [ -n "$seconds" ] || { echo "a client failed" >&2; exit 1; }
    slowest=$(echo "if ($seconds > $slowest) $seconds else $slowest" | bc -l)
  done
  echo "$slowest"
}
release_all() {
  for h in "${holders[@]}"; do
    IFS=: read -r pid fd out fifo <<<"$h"
    echo >&"$fd"; exec {fd}>&-; wait "$pid" || true; rm -f "$out" "$fifo"
  done
}

open_all "$tapns" 192.168.77.2 192.168.77.1,192.168.77.11,192.168.77.12 > /tmp/wsc-$tag.ws
ws_seconds=$(cat /tmp/wsc-$tag.ws)
sleep 2
held=$(rss "$device_pid")
release_all

slab0=$(slab)
open_all "$k1" 10.77.0.2 10.77.0.1,10.77.0.11,10.77.0.12 > /tmp/wsc-$tag.k
k_seconds=$(cat /tmp/wsc-$tag.k)
sleep 2
slab1=$(slab)
release_all
rm -f /tmp/wsc-$tag.ws /tmp/wsc-$tag.k

sleep 3
ws_rate=$(ip netns exec "$tapns" python3 "$client" rate 192.168.77.2 7 0 x)
k_rate=$(ip netns exec "$k1" python3 "$client" rate 10.77.0.2 7 0 x)

per_ws=$(( (held - idle) / count ))
# Both ends of each kernel connection live in the same kernel: half the slab growth is one end's socket.
per_k=$(( (slab1 - slab0) / count / 2 ))
printf '%-52s %14s %14s\n' "$count concurrent idle connections, 1-byte echo" "Wirestack/TAP" "kernel/veth"
printf '%-52s %14s %14s\n' "seconds to open them all" "$ws_seconds" "$k_seconds"
printf '%-52s %14s %14s\n' "memory per connection (bytes; RSS / kernel slab)" "$per_ws" "$per_k"
printf '%-52s %14s %14s\n' "device RSS idle -> holding them (MiB)" "$((idle >> 20)) -> $((held >> 20))" ""
printf '%-52s %14s %14s\n' "connections per second (connect, echo, close)" "$ws_rate" "$k_rate"
