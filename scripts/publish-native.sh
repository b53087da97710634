#!/usr/bin/env bash
# Publishes wirestack-device as one NativeAOT executable: artifacts/native/wirestack-device.
# Installs what the native linker needs (clang, zlib) when missing and run as root. Trimming and AOT warnings fail it.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v clang >/dev/null 2>&1 || missing+=(clang)
[ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing the native toolchain: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "NativeAOT needs ${missing[*]}; install them (as root) and run again." >&2
    exit 1
  fi
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet publish src/Wirestack.Device/Wirestack.Device.csproj -c Release -r linux-x64 -p:PublishAot=true \
  -warnaserror -o artifacts/native -v quiet -nologo "$@"
rm -f artifacts/native/*.pdb artifacts/native/*.xml
echo "artifacts/native/wirestack-device: $(du -h artifacts/native/wirestack-device | cut -f1)"
