#!/usr/bin/env bash
# A virtualenv with real dbt-core + dbt-duckdb, for the compatibility test of transform/.
# dbt-core 1.12 pulls a parser whose build downloads from outside the registries: stay below it.
set -euo pipefail
venv=${1:?usage: dbt-venv.sh DIR}
pins='dbt-core<1.12 dbt-duckdb==1.11.1 duckdb==1.5.5'
stamp="$venv/.landfall-pins"
if [ -x "$venv/bin/dbt" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pins" ]; then exit 0; fi
echo "creating the dbt virtualenv in $venv…" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check $pins
echo "$pins" > "$stamp"
