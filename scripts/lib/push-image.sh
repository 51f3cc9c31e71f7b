#!/usr/bin/env bash
# Pushes a tiny, byte-reproducible OCI image through the registry API (config blob, layer blob,
# manifest) and prints its manifest digest. The same BUILD string always gives the same bytes,
# so the same digest, on any machine.
#
#   scripts/lib/push-image.sh HOST:PORT REPO TAG BUILD
#
# Needs curl, sha256sum and GNU tar. Plain HTTP, no authentication (a loopback registry).
set -euo pipefail

if [ "$#" -ne 4 ]; then
  echo "usage: $0 HOST:PORT REPO TAG BUILD" >&2
  exit 2
fi
registry=$1 repo=$2 tag=$3 build=$4
base="http://$registry/v2/$repo"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The layer: one directory and one file, fixed owner, mode and time, sorted, ustar format.
mkdir -p "$work/rootfs/etc/heavylifter"
printf 'heavylifter %s\n' "$build" >"$work/rootfs/etc/heavylifter/release"
tar --create --file "$work/layer.tar" --directory "$work/rootfs" \
  --format=ustar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  --mode='u=rwX,go=rX' etc
layer_digest="sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
layer_size=$(stat -c %s "$work/layer.tar")

printf '{"architecture":"amd64","os":"linux","config":{"Labels":{"org.opencontainers.image.version":"%s"}},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
  "$build" "$layer_digest" >"$work/config.json"
config_digest="sha256:$(sha256sum "$work/config.json" | cut -d' ' -f1)"
config_size=$(stat -c %s "$work/config.json")

push_blob() { # FILE DIGEST
  local file=$1 digest=$2 location
  if curl -fsS -o /dev/null --head "$base/blobs/$digest" 2>/dev/null; then
    return 0
  fi
  location=$(curl -fsS -X POST -o /dev/null -D - "$base/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case $location in
    http*) ;;
    *) location="http://$registry$location" ;;
  esac
  case $location in
    *\?*) location="$location&digest=$digest" ;;
    *) location="$location?digest=$digest" ;;
  esac
  curl -fsS -X PUT -o /dev/null -H 'Content-Type: application/octet-stream' \
    --data-binary "@$file" "$location"
}

push_blob "$work/layer.tar" "$layer_digest"
push_blob "$work/config.json" "$config_digest"

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
  "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest.json"
curl -fsS -X PUT -o /dev/null -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$work/manifest.json" "$base/manifests/$tag"
echo "sha256:$(sha256sum "$work/manifest.json" | cut -d' ' -f1)"
