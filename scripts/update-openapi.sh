#!/usr/bin/env bash
# Rewrites docs/openapi/v1.json, the OpenAPI document the device embeds and serves, from what ASP.NET Core's
# generator makes of the dashboard's routes (after an API change; review the difference before committing).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build tests/Wirestack.Tests -c Release -warnaserror -v quiet -nologo
WIRESTACK_UPDATE_OPENAPI=1 dotnet test tests/Wirestack.Tests -c Release --no-build --filter "DisplayName~the document cannot drift" >/dev/null || true
dotnet build tests/Wirestack.Tests -c Release -warnaserror -v quiet -nologo
dotnet test tests/Wirestack.Tests -c Release --no-build --filter "DisplayName~the document cannot drift" | tail -1
git diff --stat -- docs/openapi/v1.json
