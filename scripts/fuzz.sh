#!/usr/bin/env bash
# Coverage-guided fuzzing of Wirestack's input paths: afl++ driving the targets of fuzz/Wirestack.Fuzz through
# SharpFuzz (Wirestack.dll instrumented for edge coverage, a fork server in the .NET process).
#
#   scripts/fuzz.sh                       every target for 20 s
#   scripts/fuzz.sh --seconds 3600 frames one target for an hour (bench/fuzz.sh runs long campaigns)
#   scripts/fuzz.sh --burst               CI's burst: the frame target 60 s, each parser target 10 s
#
# Each target starts from fuzz/corpus/TARGET; what afl-fuzz finds goes to artifacts/fuzz/findings/TARGET. Prints one
# line a target (executions, speed, edges, crashes, hangs) and replays every crash and hang with its reason; exits 1
# when any target saved one. Runs no network traffic at all: the targets are in-memory links on a virtual clock.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=20
burst=false
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --burst) burst=true; shift ;;
    -*) echo "usage: scripts/fuzz.sh [--seconds N | --burst] [TARGET...]"; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if ! command -v afl-fuzz >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends afl++ >/dev/null
  fi
  command -v afl-fuzz >/dev/null || { echo "afl-fuzz is needed (Debian package afl++)"; exit 1; }
fi

out=artifacts/fuzz
rm -rf "$out/bin"
# The harness as built for the solution (Release), copied out and instrumented there: the build's own Wirestack.dll
# stays as it was.
dotnet build fuzz/Wirestack.Fuzz -c Release -v quiet -nologo >/dev/null || { echo "building the fuzz harness failed"; exit 1; }
cp -r fuzz/Wirestack.Fuzz/bin/Release/net10.0 "$out/bin" 2>/dev/null || { mkdir -p "$out" && cp -r fuzz/Wirestack.Fuzz/bin/Release/net10.0 "$out/bin"; }
dotnet tool run sharpfuzz "$out/bin/Wirestack.dll" >/dev/null || { echo "instrumenting Wirestack.dll failed"; exit 1; }
harness=(dotnet "$out/bin/Wirestack.Fuzz.dll")
# Findings replay on the build as it was: instrumented code writes coverage to afl's shared memory, which only
# exists under afl-fuzz.
replay=(dotnet fuzz/Wirestack.Fuzz/bin/Release/net10.0/Wirestack.Fuzz.dll)

[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls fuzz/corpus)

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
found=0
for target in "${targets[@]}"; do
  limit=$seconds
  if $burst; then [ "$target" = frames ] && limit=60 || limit=10; fi
  findings="$out/findings/$target"
  rm -rf "$findings"
  mkdir -p "$findings"
  # -t: a frame input runs half an hour of virtual time; 10 s of real time for one input is a hang.
  afl-fuzz -V "$limit" -i "fuzz/corpus/$target" -o "$findings" -t 10000 -m none -- "${harness[@]}" "$target" > "$findings/afl.log" 2>&1
  stats="$findings/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    echo "$target: afl-fuzz did not run"; tail -20 "$findings/afl.log"; found=1; continue
  fi
  value() { grep "^$1 " "$stats" | sed 's/.*: //'; }
  crashes=$(value saved_crashes) hangs=$(value saved_hangs)
  echo "$target: $(value execs_done) executions in ${limit} s ($(value execs_per_sec)/s), $(value edges_found) edges, corpus $(value corpus_count), $crashes crashes, $hangs hangs"
  if [ "$crashes" != 0 ] || [ "$hangs" != 0 ]; then
    found=1
    for input in "$findings"/default/crashes/id* "$findings"/default/hangs/id*; do
      [ -f "$input" ] || continue
      echo "  $input:"
      { timeout 60 "${replay[@]}" "$target" "$input" 2>&1 || true; } | grep -a -v "^   at System\." | head -8 | sed 's/^/    /'
    done
  fi
done
exit $found
