#!/usr/bin/env bash
# Refreshes the dashboard's chart library, uPlot, from the npm registry.
# Development time only: the files it writes are committed and embedded in
# the binary, so neither a build nor a running server reaches the network.
#
#   internal/web/tools/fetch-uplot.sh            # the pinned version
#   UPLOT_VERSION=1.6.33 UPLOT_INTEGRITY=sha512-... internal/web/tools/fetch-uplot.sh
#
# It checks the tarball against the pinned integrity (the registry's
# dist.integrity, a base64 SHA-512) before copying the built IIFE bundle,
# its stylesheet and the license into assets/vendor/uplot/.
set -euo pipefail

version=${UPLOT_VERSION:-1.6.32}
integrity=${UPLOT_INTEGRITY:-sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==}

here=$(cd "$(dirname "$0")/.." && pwd)
dest=$here/assets/vendor/uplot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
npm pack --silent "uplot@$version" >/dev/null
tgz=uplot-$version.tgz
got=sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)
if [ "$got" != "$integrity" ]; then
	echo "fetch-uplot: $tgz has integrity $got, want $integrity" >&2
	exit 1
fi
tar xzf "$tgz"
mkdir -p "$dest"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE "$dest/"
echo "$version" >"$dest/VERSION"
echo "uPlot $version -> $dest"
