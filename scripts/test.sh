#!/usr/bin/env bash
# Runs every Wirestack test project and prints one summary line: "N passed, N failed, N skipped".
# Installs the Debian packages the integration tests drive (when run as root and they are missing).
# With CI=true, integration tests must not skip: a missing prerequisite fails them.
set -uo pipefail
cd "$(dirname "$0")/.."

packages=(microsocks:microsocks dante-server:danted tinyproxy:tinyproxy chromium:chromium iptables:iptables procps:sysctl curl:curl apache2-utils:ab busybox:busybox dnsmasq-base:dnsmasq hping3:hping3 coreutils:sha256sum bash:bash util-linux:setpriv iproute2:ip iputils-ping:ping iputils-arping:arping socat:socat tshark:tshark testssl.sh:testssl openssl:openssl avahi-daemon:avahi-daemon avahi-utils:avahi-resolve dbus:dbus-daemon netcat-openbsd:nc procps:pgrep afl++:afl-fuzz iperf3:iperf3 bind9-dnsutils:dig)
missing=()
for entry in "${packages[@]}"; do
  command -v "${entry#*:}" >/dev/null 2>&1 || missing+=("${entry%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing test prerequisites: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Not root: cannot install ${missing[*]}; the integration tests that need them will skip (or fail with CI=true)."
  fi
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "The .NET 10 SDK is needed (dotnet on PATH)."
  echo "0 passed, 1 failed"
  exit 1
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# The repository's .NET tools (dotnet-tools.json): docfx for the documentation, dotnet-counters for a test.
if ! dotnet tool restore >/dev/null; then
  echo "dotnet tool restore failed"
  echo "0 passed, 1 failed"
  exit 1
fi

results=artifacts/test-results
rm -rf "$results"
mkdir -p "$results"

if ! dotnet build Wirestack.slnx -c Release -warnaserror 2>&1 | tail -n 3; then
  echo "0 passed, 1 failed"
  exit 1
fi

# The NuGet packages (and their symbol packages) users install, from the build just made: the libraries and the
# device and the tunnel as .NET tools.
for project in src/Wirestack/Wirestack.csproj src/Wirestack.AspNetCore/Wirestack.AspNetCore.csproj src/Wirestack.Device/Wirestack.Device.csproj src/Wirestack.Tunnel/Wirestack.Tunnel.csproj; do
  if ! dotnet pack "$project" -c Release --no-build -o artifacts/packages -v quiet -nologo; then
    echo "0 passed, 1 failed"
    exit 1
  fi
done

# The documentation site (API reference from the XML comments, and the guides), warnings as errors.
if ! dotnet docfx docs/docfx.json --warningsAsErrors --logLevel warning; then
  echo "docfx failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# wirestack-device as one native executable (NativeAOT); the device tests run against it as well as the JIT build.
if ! ./scripts/publish-native.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi

status=0
# run_tests RESULTS-NAME PROJECT [dotnet test options...]: one test run, its results in RESULTS-NAME.trx; a run
# that leaves no results counts as one failure.
run_tests() {
  local name=$1 project=$2
  shift 2
  dotnet test "$project" -c Release --no-build "$@" \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
    --results-directory "$results" || status=1
  if [ ! -f "$results/$name.trx" ]; then
    echo "$name produced no results: counting it as one failure."
    echo 'failed="1"' > "$results/$name.missing"
    status=1
  fi
}
for project in tests/*/*.csproj; do
  run_tests "$(basename "$project" .csproj)" "$project"
done
# The same device tests, against the native executable.
WIRESTACK_DEVICE_BINARY="$PWD/artifacts/native/wirestack-device" \
  run_tests Wirestack.IntegrationTests.Native tests/Wirestack.IntegrationTests/Wirestack.IntegrationTests.csproj --filter "Category=Device"

passed=$(grep -ho '<Counters [^>]*' "$results"/*.trx 2>/dev/null | grep -o ' passed="[0-9]*"' | grep -o '[0-9]*' | awk '{s+=$1} END {print s+0}')
failed=$(( $(grep -ho '<Counters [^>]*' "$results"/*.trx 2>/dev/null | grep -oE ' (failed|error|timeout|aborted)="[0-9]*"' | grep -o '[0-9]*' | awk '{s+=$1} END {print s+0}') + $(cat "$results"/*.missing 2>/dev/null | grep -c failed) ))
skipped=$(grep -ho '<Counters [^>]*' "$results"/*.trx 2>/dev/null | grep -o ' notExecuted="[0-9]*"' | grep -o '[0-9]*' | awk '{s+=$1} END {print s+0}')
[ "$failed" -gt 0 ] && status=1
# The failures again, last, where a reader of only the output's tail (a CI summary) sees them: each test's name and the
# message (its first and last lines).
if [ "$failed" -gt 0 ]; then
  echo "Failed tests:"
  for trx in "$results"/*.trx; do
    awk -v run="$(basename "$trx" .trx)" '
      /<UnitTestResult / && /outcome="Failed"/ { match($0, /testName="[^"]*"/); name = substr($0, RSTART + 10, RLENGTH - 11); failing = 1; n = 0 }
      failing && /<Message>/ { inMessage = 1; sub(/.*<Message>/, "") }
      failing && inMessage { done = sub(/<\/Message>.*/, ""); message[++n] = $0
        if (done) {
          print "  [" run "] " name
          for (i = 1; i <= n; i++) if (i <= 4 || i > n - 10) print "      " message[i]; else if (i == 5) print "      ..."
          inMessage = 0; failing = 0
        } }
    ' "$trx"
  done
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
