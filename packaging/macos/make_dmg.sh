#!/bin/sh
# Packs "Albert Lens.app" into a compressed .dmg with an /Applications link to drag it onto.
#   sh packaging/macos/make_dmg.sh "dist/Albert Lens.app" dist/albert-lens-0.1.0-macos-arm64.dmg 0.1.0
# (packaging/build.py runs it on macOS.) Needs hdiutil, i.e. macOS.
set -eu
app=$1
out=$2
version=${3:-}
[ -d "$app" ] || { echo "no app bundle at $app" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
# PyInstaller signs ad hoc; re-sign the copy as one unit so Gatekeeper sees a consistent bundle.
if command -v codesign >/dev/null 2>&1; then
    codesign --force --deep --sign - "$stage/$(basename "$app")"
fi
rm -f "$out"
hdiutil create -volname "Albert Lens${version:+ $version}" -srcfolder "$stage" \
    -fs HFS+ -format UDZO -ov "$out"
echo "wrote $out"
