#!/usr/bin/env bash
# A long fuzzing campaign: bench/fuzz.sh [SECONDS] [TARGET...] (default an hour on every target, one after the
# other). The same runner as CI's burst (scripts/fuzz.sh); new corpus entries afl-fuzz kept are in
# artifacts/fuzz/findings/TARGET/default/queue, worth adding to fuzz/corpus/TARGET when they reach new code.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3600}
shift || true
exec scripts/fuzz.sh --seconds "$seconds" "$@"
