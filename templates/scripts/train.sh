# Kaito's tuning entrypoint (metrics server + accelerate launch of fine_tuning.py), plus a failure marker so the
# pusher sidecar stops waiting when training fails. Settings come from the environment.
cd /workspace/tfs/ && python3 metrics_server.py &
cd /workspace/tfs/ && accelerate launch --num_processes="${NUM_PROCESSES:-1}" /workspace/tfs/fine_tuning.py
status=$?
if [ "$status" -ne 0 ]; then
  mkdir -p "${OUTPUT_DIR:-/mnt/results}"
  touch "${OUTPUT_DIR:-/mnt/results}/fine_tuning_failed.txt"
fi
exit "$status"
