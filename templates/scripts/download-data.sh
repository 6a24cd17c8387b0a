# Downloads each URL given as an argument into $DATA_VOLUME_PATH (kaitoctl data-downloader).
# URLs arrive as argv ("$@"), never inside this script's text. Same rules as Kaito's downloader: http(s) only,
# the file name is the URL's last path segment without query or fragment, 3 attempts, HTTP 200 and a non-empty
# file required.
set -u
dir="${DATA_VOLUME_PATH:-/mnt/data}"
mkdir -p "$dir"
for url in "$@"; do
  name="${url%%#*}"
  name="${name%%\?*}"
  name="${name##*/}"
  case "$name" in ""|.|..) name="data" ;; esac
  attempt=1
  while :; do
    # redirects: https only, at most 3 (a public URL must not bounce the pod to an internal address over http)
    code=$(curl -sSL --proto =http,https --proto-redir =https --max-redirs 3 -w '%{http_code}' -o "$dir/$name" "$url")
    status=$?
    if [ "$status" -eq 0 ] && [ "$code" = "200" ] && [ -s "$dir/$name" ]; then
      echo "downloaded $name"
      break
    fi
    if [ "$attempt" -ge 3 ]; then
      echo "download failed after $attempt attempts (curl exit $status, HTTP $code): $name" >&2
      exit 1
    fi
    attempt=$((attempt + 1))
    sleep 2
  done
done
