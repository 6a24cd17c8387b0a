# Waits for the trainer's sentinel, then pushes the adapter as an OCI image whose /data holds
# adapter_config.json and adapter_model.safetensors, the way Kaito's pusher does (pkg/workspace/image/pusher.sh,
# v0.12.0): one tar+gzip layer, a config that lists its diff_id, the manifest annotations from $ANNOTATIONS
# (sh.kaito.model.name), pushed into an OCI layout and copied from there to the registry, so Kaito and kaitoctl
# read each other's adapters. Usage: sh -c "$script" pusher IMAGE. The image reference arrives as argv;
# registry credentials come from /root/.docker/config.json (the push secret).
set -eu
image="$1"
dir="${OUTPUT_DIR:-/mnt/results}"
while [ ! -f "$dir/fine_tuning_completed.txt" ]; do
  if [ -f "$dir/fine_tuning_failed.txt" ]; then
    echo "training failed: nothing to push" >&2
    exit 1
  fi
  sleep 5
done
work="$(mktemp -d)"
mkdir -p "$work/data"
cp "$dir/adapter_config.json" "$dir/adapter_model.safetensors" "$work/data/"
cd "$work"
tar -cf layer.tar data
diff_id="$(sha256sum layer.tar | cut -d' ' -f1)"
gzip -9 layer.tar
printf '{"rootfs":{"diff_ids":["sha256:%s"]}}' "$diff_id" >"$work/config.json"
annotations="${ANNOTATIONS:-}"
[ -n "$annotations" ] || annotations='{}'
printf '%s' "$annotations" >"$work/annotations.json"
oras push --disable-path-validation \
  --annotation-file "$work/annotations.json" \
  --config "$work/config.json:application/vnd.oci.image.config.v1+json" \
  --oci-layout "$work/layout:latest" \
  layer.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip
oras cp --from-oci-layout -- "$work/layout:latest" "$image"  # `--`: the image is never read as an option
echo "pushed adapter to $image"
