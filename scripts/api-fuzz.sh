#!/usr/bin/env bash
# A longer schema-driven run of the dashboard API against its OpenAPI document than the test command's (150 requests
# an operation, seed 27): the same test with more examples per operation. Runs over in-memory stacks, no network.
# Usage: scripts/api-fuzz.sh [EXAMPLES_PER_OPERATION]   (default 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export WIRESTACK_API_FUZZ_EXAMPLES=${1:-5000}
dotnet build tests/Wirestack.Tests -c Release -warnaserror -v quiet -nologo
start=$(date +%s)
dotnet test tests/Wirestack.Tests -c Release --no-build --filter "DisplayName~schema-driven" --logger "console;verbosity=detailed" \
  | grep -E '^\s*(GET|POST) |Test Run|Passed:|Failed:|broke the contract|^\s+(GET|POST) /'
echo "$WIRESTACK_API_FUZZ_EXAMPLES requests per operation in $(( $(date +%s) - start )) s"
