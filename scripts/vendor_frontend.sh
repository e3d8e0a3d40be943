#!/usr/bin/env bash
# The web dashboard's front-end files, from their npm packages at pinned versions, checked
# against the registry's sha512 integrity, into src/atelier/web/static/vendor/ with their
# licences. The output is committed; run this only to change a version (then update the
# pins and integrities below). Nothing is fetched at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

site=src/atelier/web/static/vendor
tests=tests/web/vendor  # for the browser tests only: never served
# folder  package@version  sha512 integrity (npm view PACKAGE@VERSION dist.integrity)  files
packages=(
  "$site htmx.org@2.0.11 sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA== dist/htmx.min.js"
  "$site htmx-ext-sse@2.2.4 sha512-LJmxVhykyflBWgh5PvbRidcyuqMHlgfajmmzumvKctv9puvsufeH6OaejSMZTNTnEI8O2wXXn4ZZtBdpEMqmEQ== dist/sse.min.js"
  "$tests axe-core@4.14.1 sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ== axe.min.js"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for entry in "${packages[@]}"; do
  read -r target spec integrity files <<<"$entry"
  mkdir -p "$target"
  name=${spec%@*}
  (cd "$work" && npm pack "$spec" --silent >/dev/null)
  tarball=$(ls "$work"/*.tgz)
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$actual" != "$integrity" ]; then
    echo "integrity mismatch for $spec: $actual" >&2
    exit 1
  fi
  mkdir -p "$work/x" && tar xzf "$tarball" -C "$work/x"
  for file in $files; do
    cp "$work/x/package/$file" "$target/$name-$(basename "$file")"
  done
  cp "$work/x/package/LICENSE" "$target/$name.LICENSE"
  rm -rf "$work/x" "$tarball"
  echo "vendored $spec"
done
