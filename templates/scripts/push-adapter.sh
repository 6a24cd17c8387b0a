# Waits for the trainer's sentinel, then pushes the adapter as an OCI image whose /data holds
# adapter_config.json and adapter_model.safetensors (the layout Kaito's adapter puller expects).
# Usage: sh -c "$script" pusher IMAGE. The image reference arrives as argv; registry credentials come from
# /root/.docker/config.json (the push secret).
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
tar -czf layer.tar.gz data
diff_id="$(gunzip -c layer.tar.gz | sha256sum | cut -d' ' -f1)"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_id" >config.json
oras push --disable-path-validation \
  --config config.json:application/vnd.oci.image.config.v1+json \
  "$image" layer.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip
echo "pushed adapter to $image"
