#!/usr/bin/env bash
# Fetch DuckDB's official prebuilt libduckdb.so (1.5.6) from its npm package into DIR.
# npm verifies the package's sha512 integrity against the registry; we also pin the tarball.
set -euo pipefail
dir=${1:?usage: fetch-libduckdb.sh DIR}
version=1.5.6-r.1
case "$(uname -m)" in
  x86_64) arch=x64; sha=1b9f82478539bb9a1d1df44bd103121a12ae52142c07158dc52b97d2ec1d69ff ;;
  aarch64|arm64) arch=arm64; sha= ;;
  *) echo "fetch-libduckdb: unsupported machine $(uname -m); build with --features bundled" >&2; exit 2 ;;
esac
[ -f "$dir/libduckdb.so" ] && exit 0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "fetching libduckdb.so ($version, linux-$arch) from the npm registry…" >&2
(cd "$tmp" && npm pack --silent "@duckdb/node-bindings-linux-$arch@$version" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
if [ -n "$sha" ]; then
  echo "$sha  $tgz" | sha256sum -c --quiet - || { echo "fetch-libduckdb: checksum mismatch for $tgz" >&2; exit 1; }
fi
tar -xzf "$tgz" -C "$tmp" package/libduckdb.so
mkdir -p "$dir"
mv "$tmp/package/libduckdb.so" "$dir/libduckdb.so.partial" && mv "$dir/libduckdb.so.partial" "$dir/libduckdb.so"
echo "libduckdb.so → $dir" >&2
