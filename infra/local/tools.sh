#!/usr/bin/env bash
# Test tools from the package registries, pinned, installed once into the cache:
#   - moto[server] (a real AWS API emulator, and Step Functions' ASL parser) in a virtualenv;
#   - fakesnow in server mode (a Snowflake wire-protocol server over DuckDB) in its own
#     virtualenv (it needs snowflake-connector-python<5 and its own duckdb);
#   - aws-sam-cli and cfn-lint, for the offline template checks; checkov, the policy scan;
#   - asl-validator (npm), the static check of statemachine.asl.json;
#   - Debian's chromium (apt), the headless browser the run-report test renders in.
set -euo pipefail
cache=${1:?usage: tools.sh CACHE_DIR}
# A virtualenv DIR with the pinned packages, (re)created when BIN is missing or the pins changed.
venv() {
  local dir=$1 bin=$2 what=$3; shift 3
  local pins="$*"
  if ! [ -x "$dir/bin/$bin" ] || [ "$(cat "$dir/.landfall-pins" 2>/dev/null)" != "$pins" ]; then
    echo "creating the $what virtualenv in $dir…" >&2
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$pins" > "$dir/.landfall-pins"
  fi
}
venv "$cache/venv-tools" moto_server tools 'moto[server]==5.2.5'
venv "$cache/venv-snow" fakesnow fakesnow 'fakesnow[server]==0.12.1' 'snowflake-connector-python<5'
# The template checks: cfn-lint after the SAM transform, and `sam validate --lint`. Its own
# virtualenv: aws-sam-cli pins a click that breaks dbt-core.
venv "$cache/venv-sam" sam SAM/cfn-lint 'aws-sam-cli==1.170.0' 'cfn-lint==1.58.0' 'aws-sam-translator==1.115.0'
# checkov, the policy scan of template.yaml (its findings are fixed or listed in docs/decisions.md).
venv "$cache/venv-checkov" checkov checkov 'checkov==3.3.30'
node="$cache/node-tools"
if ! [ -x "$node/node_modules/.bin/asl-validator" ]; then
  echo "installing asl-validator into $node…" >&2
  mkdir -p "$node"
  (cd "$node" && npm install --silent --no-audit --no-fund --prefix . asl-validator@4.0.0 >/dev/null)
fi
if ! command -v "${LANDFALL_CHROMIUM:-chromium}" >/dev/null 2>&1; then
  echo "installing chromium (apt) for the run-report browser test…" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "chromium is missing and this user cannot apt-get install it: install Debian's chromium package" >&2; exit 1; }
    sudo="sudo -n"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends chromium >/dev/null; }
fi
