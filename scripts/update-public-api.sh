#!/usr/bin/env bash
# Brings PublicAPI.Unshipped.txt of the packable projects in line with the code: symbols the public-API analyzer
# reports as new (RS0016) are added, ones it no longer finds (RS0017) are removed. Review the diff: it is the change
# to the public surface. PublicAPI.Shipped.txt holds the 1.0 surface and is never rewritten here: a symbol it lists
# that the code no longer has (RS0017) is a breaking change, and the build fails until someone decides.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/Wirestack.AspNetCore/Wirestack.AspNetCore.csproj -c Release --no-incremental -p:TreatWarningsAsErrors=false -v quiet -nologo 2>&1 \
  | grep -E "warning RS001[67]" > /tmp/wirestack-public-api.txt || true
python3 - /tmp/wirestack-public-api.txt <<'PY'
import re, sys, collections
added, removed = collections.defaultdict(set), collections.defaultdict(set)
for line in open(sys.argv[1]):
    m = re.search(r"warning (RS001[67]): Symbol '(.*)' is .*\[(.*?)\]\s*$", line)
    if m:
        (added if m.group(1) == "RS0016" else removed)[m.group(3).rsplit('/', 1)[0]].add(m.group(2))
for directory in set(added) | set(removed):
    path = directory + "/PublicAPI.Unshipped.txt"
    lines = [l.rstrip("\n") for l in open(path)][1:]
    kept = sorted((set(lines) - removed[directory]) | added[directory], key=str.lower)
    open(path, "w").write("#nullable enable\n" + "".join(l + "\n" for l in kept if l))
    print(f"{path}: +{len(added[directory])} -{len(removed[directory])}")
PY
