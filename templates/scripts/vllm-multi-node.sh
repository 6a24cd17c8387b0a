# Multi-node vLLM (Kaito's layout): pod 0 leads the Ray cluster and serves; the others join as workers.
# vLLM flags arrive as argv ("$@"); addresses and sizes come from the environment.
if [ "${POD_INDEX}" = "0" ]; then
  /workspace/vllm/multi-node-serving.sh leader --ray_cluster_size="${RAY_CLUSTER_SIZE}" --ray_port=6379
  exec python3 /workspace/vllm/inference_api.py "$@"
else
  exec /workspace/vllm/multi-node-serving.sh worker --ray_address="${LEADER_ADDRESS}" --ray_port=6379
fi
