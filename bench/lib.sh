# Shared by the end-to-end benchmark scripts: root check, building the device, namespaces that are always
# deleted, and kernel-to-kernel veth pairs (offloads off, and on) for the baseline. Source it; do not run it.

require_root() {
  [ "$(id -u)" = 0 ] || { echo "run as root (network namespaces and TAP devices)"; exit 1; }
}

require_tools() {
  for tool in "$@"; do command -v "$tool" >/dev/null || { echo "needs $tool"; exit 1; }; done
}

# Builds wirestack-device in Release and sets device_dll; DEVICE_DLL=path runs another build instead (to compare
# two versions in the same conditions).
build_device() {
  if [ -n "${DEVICE_DLL:-}" ]; then device_dll=$DEVICE_DLL; return; fi
  dotnet build src/Wirestack.Device -c Release -v quiet -nologo >/dev/null
  device_dll=src/Wirestack.Device/bin/Release/net10.0/wirestack-device.dll
}

bench_namespaces=()
bench_pids=()
# Each device keeps its state in a directory of its own under this one (not the host's /var/lib), removed on exit.
bench_data=$(mktemp -d /tmp/wirestack-bench.XXXXXX)
bench_cleanup() {
  for pid in "${bench_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in "${bench_namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$bench_data"
}
trap bench_cleanup EXIT

# new_namespace NAME: creates a namespace that is deleted on exit.
new_namespace() {
  ip netns add "$1"
  ip -n "$1" link set lo up
  bench_namespaces+=("$1")
}

# kernel_pair NS1 NS2 [on]: a veth pair 10.77.0.1 / fd00:78::1 (NS1) <-> 10.77.0.2 / fd00:78::2 (NS2) with offloads
# off, or as veth comes (TSO, GSO, GRO, checksum offload on) when the third argument is "on".
kernel_pair() {
  new_namespace "$1"; new_namespace "$2"
  ip link add wsb-a netns "$1" type veth peer name wsb-b netns "$2"
  ip -n "$1" addr add 10.77.0.1/24 dev wsb-a; ip -n "$1" link set wsb-a up
  ip -n "$2" addr add 10.77.0.2/24 dev wsb-b; ip -n "$2" link set wsb-b up
  ip -n "$1" -6 addr add fd00:78::1/64 dev wsb-a nodad; ip -n "$2" -6 addr add fd00:78::2/64 dev wsb-b nodad
  if [ "${3:-off}" != on ]; then
    ip netns exec "$1" ethtool -K wsb-a tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    ip netns exec "$2" ethtool -K wsb-b tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
  fi
}

# steal_ms: milliseconds the hypervisor has taken all CPUs of this virtual machine away since boot (/proc/stat);
# take the difference around a measurement to tell the host's stalls from the program's own.
steal_ms() {
  awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%d\n", $9 * 1000 / hz; exit }' /proc/stat
}
