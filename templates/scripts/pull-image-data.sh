# Copies /data out of an OCI image into a directory (kaitoctl puller).
# Usage: sh -c "$script" puller IMAGE TARGET_DIR [AUTH_DIR]. Arguments arrive as argv, never in this text.
# Tries anonymous access first, then every credential file in AUTH_DIR (projected docker config secrets).
set -eu
image="$1"
target="$2"
auth_dir="${3:-}"
work="$(mktemp -d)"
pulled=""
if skopeo copy --dest-decompress "docker://$image" "dir:$work/image" 2>"$work/err"; then
  pulled="yes"
elif [ -n "$auth_dir" ] && [ -d "$auth_dir" ]; then
  for auth in "$auth_dir"/*; do
    [ -f "$auth" ] || continue
    if skopeo copy --authfile "$auth" --dest-decompress "docker://$image" "dir:$work/image" 2>>"$work/err"; then
      pulled="yes"
      break
    fi
  done
fi
if [ -z "$pulled" ]; then
  cat "$work/err" >&2
  echo "could not pull $image" >&2
  exit 1
fi
mkdir -p "$work/rootfs"
# Layers in manifest order, as Kaito's puller does (pkg/workspace/image/puller.sh, v0.12.0): a later layer
# overwrites an earlier one. `dir:` stores each blob under its hex digest; slice 7 drops the "sha256:" prefix.
layers="$(skopeo inspect --format '{{ range .Layers }}{{ slice . 7 }} {{ end }}' "dir:$work/image")"
for digest in $layers; do
  layer="$work/image/$digest"
  if tar -tf "$layer" >/dev/null 2>&1; then
    tar -xf "$layer" -C "$work/rootfs"
  fi
done
if [ ! -d "$work/rootfs/data" ]; then
  echo "$image has no /data directory" >&2
  exit 1
fi
mkdir -p "$target"
cp -R "$work/rootfs/data/." "$target/"
echo "copied /data of $image to $target"
