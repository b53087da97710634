#!/usr/bin/env bash
# The dashboard under the firmware stall of issue 27: one logged-in client trickles a firmware chunk at 800 B/s
# while 40 clients ask to commit and roll back at once; a prober asks for GET / every 100 ms. Prints the probes'
# latency (p50, p99, max) and how many got no answer, and how long the 40 commits and rollbacks took. DEVICE_DLL
# names another build for a before-and-after (lib.sh). Bounded: 30 s of trickle, 40 requests, 200 probes.
# Usage: sudo bench/dashboard-stall.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
require_root
require_tools curl python3

build_device
ns=wsb-stall-$$
new_namespace "$ns"
ip netns exec "$ns" dotnet "$device_dll" --ip 192.168.0.2/24 --host-address 192.168.0.1/24 --user admin:adminadmin \
  --https-port 0 --no-mdns --data-dir "$bench_data/device" > "$bench_data/device.log" 2>&1 &
bench_pids+=($!)
in_ns() { ip netns exec "$ns" "$@"; }
until in_ns curl -s -o /dev/null -m 1 http://192.168.0.2/; do sleep 0.2; done

auth=(-u admin:adminadmin)
upload=http://192.168.0.2/api/firmware/upload
# A staged image for commit and rollback to act on, then a new upload whose second chunk will trickle.
head -c 4096 /dev/urandom > "$bench_data/image"
id=$(in_ns curl -s "${auth[@]}" -D - -o /dev/null --data-binary @"$bench_data/image" "$upload?name=a.bin&offset=0&total=4096" \
  | tr -d '\r' | sed -n 's/^[Uu]pload-[Ii]d: *//p')
# (An older build without upload sessions gives no id and needs none.)
in_ns curl -s -f "${auth[@]}" -X POST "$upload?name=a.bin&offset=4096&total=4096${id:+&id=$id}" >/dev/null
new_id=$(in_ns curl -s "${auth[@]}" -D - -o /dev/null --data-binary @"$bench_data/image" "$upload?name=b.bin&offset=0&total=100000" \
  | tr -d '\r' | sed -n 's/^[Uu]pload-[Ii]d: *//p')
# The trickle: 800 B/s for 30 s of a 96 KB chunk (an older build without sessions ignores the id).
in_ns python3 - "$new_id" <<'PY' &
import socket, sys, time, base64
s = socket.create_connection(("192.168.0.2", 80))
auth = base64.b64encode(b"admin:adminadmin").decode()
query = f"name=b.bin&offset=4096&total=100000" + (f"&id={sys.argv[1]}" if sys.argv[1] else "")
s.sendall(f"POST /api/firmware/upload?{query} HTTP/1.1\r\nHost: 192.168.0.2\r\nAuthorization: Basic {auth}\r\n"
          f"Content-Type: application/octet-stream\r\nContent-Length: 95904\r\n\r\n".encode())
end = time.time() + 30
while time.time() < end:
    s.sendall(b"x" * 80)
    time.sleep(0.1)
s.close()
PY
bench_pids+=($!)
sleep 1

start=$(date +%s%N)
(
  for i in $(seq 1 40); do
    action=$([ $((i % 2)) = 0 ] && echo commit || echo rollback)
    in_ns curl -s -o /dev/null -m 60 -w '%{http_code}\n' "${auth[@]}" -X POST "http://192.168.0.2/api/firmware/$action" >> "$bench_data/answers" &
  done
  wait
  date +%s%N > "$bench_data/answered"
) &
probes=()
failed=0
for i in $(seq 1 200); do
  t=$(in_ns curl -s -o /dev/null -m 2 -w '%{time_total} %{http_code}' http://192.168.0.2/ || true)
  if [ "${t#* }" = 200 ]; then probes+=("${t% *}"); else failed=$((failed + 1)); fi
  sleep 0.1
done
for i in $(seq 1 300); do [ -s "$bench_data/answered" ] && break; sleep 0.2; done
answered_ms=$(( ($(cat "$bench_data/answered" 2>/dev/null || date +%s%N) - start) / 1000000 ))

printf '%s\n' "${probes[@]}" | sort -n | awk -v failed="$failed" '
  { a[NR] = $1 * 1000 }
  END { printf "GET / during the stall: %d answered, %d without answer; p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
        NR, failed, a[int(NR * 0.5) + 1], a[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))], a[NR] }'
echo "40 commits and rollbacks: $(sort "$bench_data/answers" | uniq -c | tr '\n' ' ')(the last ${answered_ms} ms after they were sent)"
