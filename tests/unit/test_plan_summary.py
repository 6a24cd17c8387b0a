"""The plan as `-o json` and the progress header show it (Plan.summary, placement_info, output_location), whole:
every key a script reads, for a deploy on a priced pool and for tuning runs with each kind of input and output."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kaitoctl.core.conditions import PlacementInfo
from kaitoctl.core.plan import Plan, build_plan
from kaitoctl.core.ranking import Market
from kaitoctl.core.spec import DataDestination, DataSource
from tests.unit import helpers

A10 = "Standard_NV36ads_A10_v5"
A100 = "Standard_NC24ads_A100_v4"
ASSUMPTIONS_QLORA = [
    "Kaito's default qlora config: batch size 1, LoRA r=8, bfloat16 compute",
    "sequence length 1024 tokens (trl SFTConfig max_length default)",
    "adapter weights, gradients and AdamW moments in fp32 (16 bytes per trainable parameter)",
    "gradient checkpointing on for qlora (peft prepare_model_for_kbit_training), off for lora",
    "one model copy per GPU (accelerate DDP); CUDA context and allocator ≈ 1.5 GiB",
]


def without(summary: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in keys}


def test_a_deploy_on_a_priced_pool() -> None:
    market = Market("eastus", {A10.lower(): 3.2, A100.lower(): 3.67891}, {"StandardNVADSA10v5Family": (0, 100)})
    spec = helpers.deploy_spec("phi-3", name="phi", namespace="team-a", adapters=["tuned=pvc:adapter-claim"])
    plan = build_plan(spec, helpers.catalog(), placement_mode="pool", market=market)
    summary = plan.summary()
    assert without(summary, "ranking") == {
        "workspace": "phi",
        "namespace": "team-a",
        "action": "deploy",
        "preset": "phi-3-mini-128k-instruct",
        "runtime": "vllm",
        "method": None,
        "instanceType": A10,
        "instanceTypeChoice": "cheapest that fits: pay-as-you-go price × nodes in eastus (Azure retail prices), "
        "within the free vCPU quota",
        "gpusPerNode": 1,
        "nodes": 1,
        "placement": {"mode": "pool", "pool": "kc5790c628bc", "nodeNames": []},
        "spot": False,
        "price": {"usdPerHour": 3.2, "region": "eastus", "spot": False, "source": "Azure retail prices"},
        "fit": {
            "fits": True,
            "nodes": 1,
            "minGPUs": 1,
            "maxModelLen": 2048,
            "explanation": [
                "weights 7.3 GiB (safetensors × 1.02)",
                "usable per GPU 20.2 GiB (24 GiB × 0.84 gpu-memory-utilization)",
                "KV cache for one 2048-token sequence 0.75 GiB per GPU (max-model-len from Kaito's default 2048)",
                "reserve per GPU 3.05 GiB (2.3 GiB runtime + KV cache)",
                "room for weights per GPU 16.3 GiB ⇒ 1 GPU(s) ⇒ 1 node(s) of 1 GPU(s)",
            ],
        },
        "adapters": ["tuned"],
        "warnings": [],
        "notes": [
            "fit assumes max-model-len 2048 (Kaito's default); vLLM sizes the context at start-up — pin it with "
            "--max-model-len"
        ],
        "alternatives": [],
        "blockers": [],
    }
    assert summary["ranking"][:3] == [
        {"instanceType": A10, "nodes": 1, "usdPerHour": 3.2, "quota": "ok"},
        {"instanceType": A100, "nodes": 1, "usdPerHour": 3.6789, "quota": "unknown"},
        {"instanceType": "Standard_NV72ads_A10_v5", "nodes": 1, "usdPerHour": None, "quota": "ok"},
    ]
    assert plan.placement_info() == PlacementInfo(
        mode="pool",
        node_count=1,
        gpus_per_node=1,
        instance_type=A10,
        pool="kc5790c628bc",
        selector={"kaitoctl.io/workspace": "phi", "kaitoctl.io/workspace-namespace": "team-a"},
    )
    assert plan.usd_per_hour == 3.2


def test_a_plan_whose_sku_has_no_price_in_the_market_costs_nothing_known() -> None:
    spec = helpers.deploy_spec("phi-3", name="phi", instance_type=A100)
    plan = build_plan(spec, helpers.catalog(), placement_mode="pool", market=Market("westus", {}, None, spot=True))
    assert plan.usd_per_hour is None
    assert plan.price_summary() == {
        "usdPerHour": None,
        "region": "westus",
        "spot": True,
        "source": "Azure retail prices",
    }
    assert plan.summary()["namespace"] == "default"


def test_a_tuning_run_from_urls_to_a_claim_of_the_user_on_labelled_nodes() -> None:
    spec = helpers.tune_spec(
        "phi-3",
        "lora",
        name="t",
        namespace="ml",
        labels=["apps=gpu"],
        input_urls=["https://u:p@example.com/d.parquet?sig=x"],
        output_pvc="adapters",
        instance_type=A100,
    )
    plan = build_plan(spec, helpers.catalog(), placement_mode="selector")
    assert without(plan.summary(), "fit") == {
        "workspace": "t",
        "namespace": "ml",
        "action": "tune",
        "preset": "phi-3-mini-128k-instruct",
        "runtime": None,
        "method": "lora",
        "instanceType": A100,
        "instanceTypeChoice": "given",
        "gpusPerNode": 1,
        "nodes": 1,
        "placement": {"mode": "selector", "pool": None, "nodeNames": []},
        "spot": False,
        "price": None,
        "ranking": [],
        "input": {
            "urls": ["https://u:REDACTED@example.com/d.parquet?sig=REDACTED"],
            "image": None,
            "volume": None,
            "defaultDataset": False,
        },
        "output": {"volume": "pvc:adapters", "claimName": "adapters", "createdByKaitoctl": False},
        "warnings": [],
        "notes": [],
        "alternatives": [],
        "blockers": [],
    }
    assert plan.placement_info() == PlacementInfo(
        mode="selector", node_count=1, gpus_per_node=1, instance_type=A100, selector={"apps": "gpu"}
    )


def test_a_tuning_run_from_an_image_to_an_image_on_named_nodes() -> None:
    spec = helpers.tune_spec(
        "phi-3",
        name="t2",
        input_image="reg.io/d:1",
        output_image="reg.io/a:1",
        push_secret="push",
        nodes=["n1", "n2"],
        instance_type=A100,
    )
    plan = build_plan(spec, helpers.catalog(), placement_mode="nodes")
    summary = plan.summary()
    est = plan.tuning_estimate
    assert est is not None
    assert summary["fit"] == {
        "fits": True,
        "estimatedGiBPerGPU": round(est.total_gib, 2),
        "parts": {k: round(v, 2) for k, v in est.parts_gib.items()},
        "explanation": est.explain(),
        "assumptions": ASSUMPTIONS_QLORA,
    }
    assert summary["fit"]["estimatedGiBPerGPU"] == 4.36
    assert summary["fit"]["parts"]["cuda+runtime"] == 1.5
    assert summary["placement"] == {"mode": "nodes", "pool": None, "nodeNames": ["n1", "n2"]}
    assert summary["input"] == {"urls": [], "image": "reg.io/d:1", "volume": None, "defaultDataset": False}
    assert summary["output"] == {"image": "reg.io/a:1", "pushSecret": "push", "createdByKaitoctl": False}
    assert plan.placement_info() == PlacementInfo(
        mode="nodes", node_count=1, gpus_per_node=1, instance_type=A100, node_names=("n1", "n2")
    )


def test_a_tuning_run_with_the_default_dataset_into_the_claim_kaitoctl_creates() -> None:
    plan = build_plan(helpers.tune_spec("phi-3", name="t3"), helpers.catalog(), placement_mode="pool")
    summary = plan.summary()
    assert summary["input"]["defaultDataset"] is True
    assert summary["input"]["urls"] == [
        "https://huggingface.co/datasets/philschmid/dolly-15k-oai-style/resolve/main/data/"
        "train-00000-of-00001-54e3756291ca09c6.parquet?download=REDACTED"
    ]
    assert summary["output"] == {"volume": "pvc:t3-adapter", "claimName": "t3-adapter", "createdByKaitoctl": True}
    assert (summary["instanceTypeChoice"], summary["notes"]) == (
        "smallest current SKU that fits",
        ["SKU chosen by GPU memory, not by price"],
    )
    assert summary["ranking"][0] == {"instanceType": A10, "nodes": 1, "usdPerHour": None, "quota": "unknown"}


def with_tuning_data(plan: Plan, source: DataSource, destination: DataDestination) -> Plan:
    assert plan.spec.tuning is not None
    tuning = replace(plan.spec.tuning, input=source, output=destination)
    return replace(plan, spec=replace(plan.spec, tuning=tuning))


def test_volumes_are_named_by_their_claim_or_as_a_volume() -> None:
    plan = build_plan(
        helpers.tune_spec("phi-3", name="t4", instance_type=A100), helpers.catalog(), placement_mode="pool"
    )
    nfs = {"nfs": {"server": "s", "path": "/p"}}
    odd = with_tuning_data(
        plan, DataSource(volume={"persistentVolumeClaim": {"readOnly": True}}), DataDestination(volume=nfs)
    )
    assert odd.summary()["input"]["volume"] == "volume"
    assert odd.output_location() == {"volume": "volume", "claimName": None}
    claimed = with_tuning_data(
        plan,
        DataSource(volume={"persistentVolumeClaim": {"claimName": "data"}}),
        DataDestination(volume={"persistentVolumeClaim": {"claimName": "out"}}),
    )
    assert claimed.summary()["input"]["volume"] == "pvc:data"
    assert claimed.output_location() == {"volume": "pvc:out", "claimName": "out"}
    assert (
        with_tuning_data(plan, DataSource(volume=nfs), DataDestination(image="r/a:1")).summary()["input"]["volume"]
        == "volume"
    )


def test_transformers_offers_run_on_the_count_of_nodes_asked_for() -> None:
    spec = helpers.deploy_spec("phi-3", name="p", runtime="transformers", count=2)
    plan = build_plan(spec, helpers.catalog(), placement_mode="pool")
    assert (plan.sku.name, plan.placement.nodes, plan.runtime) == (A10, 2, "transformers")
    assert plan.summary()["ranking"][:2] == [
        {"instanceType": A10, "nodes": 2, "usdPerHour": None, "quota": "unknown"},
        {"instanceType": "Standard_NV72ads_A10_v5", "nodes": 2, "usdPerHour": None, "quota": "unknown"},
    ]
