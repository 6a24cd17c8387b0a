"""core/export.py, exactly: every field of the Workspace `kaitoctl export` prints, and every dropped setting and
note, for specs built directly (no plan): what a team moving to Kaito reads, word for word."""

from __future__ import annotations

from kaitoctl.core.export import Export, to_kaito_workspace
from kaitoctl.core.spec import (
    Adapter,
    DataDestination,
    DataSource,
    Inference,
    Resource,
    Tuning,
    WorkspaceSpec,
)

A100 = "Standard_NC24ads_A100_v4"
DATASET = "https://example.com/dolly.parquet"
EXPR = {"key": "gpu", "operator": "In", "values": ["a100"]}
PREFERRED_NOTE = (
    "resource.preferredNodes: Kaito v0.12 ignores it and schedules on any node matching labelSelector "
    "(kaitoctl pins the pods to the named nodes); label those nodes and select that label"
)
EMPTY_SELECTOR_NOTE = (
    "resource.labelSelector is empty: in Kaito's bring-your-own-nodes mode it must match your GPU nodes; "
    "label them and add the label"
)


def deploy(**kwargs: object) -> WorkspaceSpec:
    resource = kwargs.pop("resource", Resource())
    inference = kwargs.pop("inference", Inference("phi-3-mini-128k-instruct"))
    return WorkspaceSpec("phi", kwargs.pop("namespace", None), resource, inference=inference, **kwargs)  # type: ignore[arg-type]


def tune(
    source: DataSource, destination: DataDestination, config: str | None = None, **kwargs: object
) -> WorkspaceSpec:
    tuning = Tuning("phi-3-mini-128k-instruct", "lora", source, destination, config=config)
    return WorkspaceSpec("t", "team-a", Resource(instance_type=A100), tuning=tuning, **kwargs)  # type: ignore[arg-type]


def test_an_inference_workspace_with_every_field_on_a_pool() -> None:
    spec = deploy(
        namespace="team-a",
        resource=Resource(
            instance_type=A100,
            count=2,
            match_labels={"apps": "phi"},
            match_expressions=(EXPR,),
            preferred_nodes=("gpu-1", "gpu-2"),
        ),
        inference=Inference(
            "phi-3-mini-128k-instruct",
            runtime="transformers",
            config="my-inference-config",
            adapters=(
                Adapter("a", image="reg.io/a:1", image_pull_secrets=("s1", "s2"), strength="0.5"),
                Adapter("b", volume={"persistentVolumeClaim": {"claimName": "c"}}),
                Adapter("c"),
            ),
        ),
        ignored_image="old/image:1",
        image_pull_secrets=("acr-pull",),
        model_access_secret="hf-token",
        annotations={"kaito.sh/enablelb": "True", "kaito.sh/bypass-resource-checks": "True"},
    )
    out = to_kaito_workspace(spec, provisioned=True)
    assert out == Export(
        workspace={
            "apiVersion": "kaito.sh/v1beta1",
            "kind": "Workspace",
            "metadata": {
                "name": "phi",
                "namespace": "team-a",
                "annotations": {
                    "kaito.sh/bypass-resource-checks": "True",
                    "kaito.sh/enablelb": "True",
                    "kaito.sh/runtime": "transformers",
                },
            },
            "resource": {
                "count": 2,
                "instanceType": A100,
                "labelSelector": {"matchLabels": {"apps": "phi"}, "matchExpressions": [EXPR]},
                "preferredNodes": ["gpu-1", "gpu-2"],
            },
            "inference": {
                "preset": {
                    "name": "phi-3-mini-128k-instruct",
                    "presetOptions": {
                        "image": "old/image:1",
                        "imagePullSecrets": ["acr-pull"],
                        "modelAccessSecret": "hf-token",
                    },
                },
                "config": "my-inference-config",
                "adapters": [
                    {
                        "source": {"name": "a", "image": "reg.io/a:1", "imagePullSecrets": ["s1", "s2"]},
                        "strength": "0.5",
                    },
                    {"source": {"name": "b", "volumeSource": {"persistentVolumeClaim": {"claimName": "c"}}}},
                    {"source": {"name": "c"}},
                ],
            },
        },
        dropped=[],
        notes=[PREFERRED_NOTE],
    )
    assert list(out.workspace["metadata"]["annotations"]) == [
        "kaito.sh/bypass-resource-checks",
        "kaito.sh/enablelb",
        "kaito.sh/runtime",
    ]


def test_the_same_workspace_on_existing_nodes_has_no_instance_type() -> None:
    spec = deploy(resource=Resource(instance_type=A100, count=1, match_labels={"apps": "phi"}))
    out = to_kaito_workspace(spec, provisioned=False)
    assert out == Export(
        workspace={
            "apiVersion": "kaito.sh/v1beta1",
            "kind": "Workspace",
            "metadata": {"name": "phi"},
            "resource": {"count": 1, "labelSelector": {"matchLabels": {"apps": "phi"}}},
            "inference": {"preset": {"name": "phi-3-mini-128k-instruct"}},
        }
    )


def test_existing_nodes_without_a_selector_get_an_empty_one_and_a_note() -> None:
    out = to_kaito_workspace(deploy(), provisioned=False)
    assert out.workspace["resource"] == {"labelSelector": {}}
    assert out.workspace["metadata"] == {"name": "phi"}
    assert (out.dropped, out.notes) == ([], [EMPTY_SELECTOR_NOTE])


def test_existing_nodes_selected_by_expressions_alone_get_no_note() -> None:
    out = to_kaito_workspace(deploy(resource=Resource(match_expressions=(EXPR,))), provisioned=False)
    assert out.workspace["resource"] == {"labelSelector": {"matchExpressions": [EXPR]}}
    assert out.notes == []


def test_a_pool_selected_by_expressions_alone_gets_no_workspace_label() -> None:
    spec = deploy(resource=Resource(instance_type=A100, match_expressions=(EXPR,)))
    out = to_kaito_workspace(spec, provisioned=True)
    assert out.workspace["resource"] == {"instanceType": A100, "labelSelector": {"matchExpressions": [EXPR]}}
    assert out.notes == []


def test_a_pool_without_labels_or_a_sku_selects_the_workspace_label_only() -> None:
    out = to_kaito_workspace(deploy(), provisioned=True)
    assert out.workspace["resource"] == {"labelSelector": {"matchLabels": {"kaitoctl.io/workspace": "phi"}}}
    assert (out.dropped, out.notes) == ([], [])


def test_every_kaitoctl_only_setting_is_dropped_in_order_spot_last() -> None:
    spec = deploy(
        image="reg.io/kaito-base:custom",
        inference=Inference("phi-3-mini-128k-instruct", max_model_len=4096, revision="abc123"),
    )
    out = to_kaito_workspace(spec, provisioned=True, spot=True)
    assert out.dropped == [
        "--image reg.io/kaito-base:custom: Kaito v0.12 runs every preset on its kaito-base image",
        "--max-model-len 4096: set vllm.max-model-len in a ConfigMap's inference_config.yaml and name it in "
        "inference.config",
        "--revision abc123: Kaito loads the weights' Hugging Face main branch",
        "--spot: a Workspace has no Spot setting; Kaito provisions regular (pay-as-you-go) nodes",
    ]
    assert out.workspace["inference"] == {"preset": {"name": "phi-3-mini-128k-instruct"}}
    assert out.workspace["metadata"] == {"name": "phi"}


def test_a_revision_alone_or_a_max_model_len_alone_is_dropped_alone() -> None:
    only_revision = deploy(inference=Inference("phi-3-mini-128k-instruct", revision="main"))
    assert to_kaito_workspace(only_revision, provisioned=True).dropped == [
        "--revision main: Kaito loads the weights' Hugging Face main branch"
    ]
    only_len = deploy(inference=Inference("phi-3-mini-128k-instruct", max_model_len=2048))
    assert to_kaito_workspace(only_len, provisioned=True).dropped == [
        "--max-model-len 2048: set vllm.max-model-len in a ConfigMap's inference_config.yaml and name it in "
        "inference.config"
    ]


def test_a_tuning_workspace_from_everything_to_an_image() -> None:
    source = DataSource(
        name="dolly",
        urls=("https://acct.blob.core.windows.net/d?sig=REDACTED", "https://example.com/b.parquet"),
        image="reg.io/data:1",
        image_pull_secrets=("pull",),
        volume={"persistentVolumeClaim": {"claimName": "in"}},
        managed_pvc="t-input",
    )
    destination = DataDestination(image="reg.io/adapter:1", image_push_secret="push")
    spec = tune(source, destination, config="train-config", model_access_secret="hf")
    out = to_kaito_workspace(spec, provisioned=True, default_dataset_url=DATASET)
    assert out == Export(
        workspace={
            "apiVersion": "kaito.sh/v1beta1",
            "kind": "Workspace",
            "metadata": {"name": "t", "namespace": "team-a"},
            "resource": {
                "instanceType": A100,
                "labelSelector": {"matchLabels": {"kaitoctl.io/workspace": "t"}},
            },
            "tuning": {
                "preset": {"name": "phi-3-mini-128k-instruct", "presetOptions": {"modelAccessSecret": "hf"}},
                "method": "lora",
                "config": "train-config",
                "input": {
                    "name": "dolly",
                    "urls": ["https://acct.blob.core.windows.net/d?sig=REDACTED", "https://example.com/b.parquet"],
                    "image": "reg.io/data:1",
                    "imagePullSecrets": ["pull"],
                    "volumeSource": {"persistentVolumeClaim": {"claimName": "in"}},
                },
                "output": {"image": "reg.io/adapter:1", "imagePushSecret": "push"},
            },
        },
        dropped=[],
        notes=[
            "tuning.input.urls: kaitoctl stores URLs with their secrets (password, query values) replaced by "
            "REDACTED; put the real URLs back before applying",
            "tuning.input: claim t-input holds the files `--input-file` uploaded under data/, with kaitoctl's "
            "manifest beside them; Kaito mounts a claim's root as /mnt/data: copy the files to the root of a claim "
            "of their own",
        ],
    )
    assert list(out.workspace["tuning"]) == ["preset", "method", "config", "input", "output"]


def test_urls_without_a_redacted_secret_get_no_note() -> None:
    spec = tune(DataSource(urls=("https://example.com/a.parquet",)), DataDestination(image="reg.io/a:1"))
    out = to_kaito_workspace(spec, provisioned=True)
    assert out.workspace["tuning"]["input"] == {"urls": ["https://example.com/a.parquet"]}
    assert out.workspace["tuning"]["output"] == {"image": "reg.io/a:1"}
    assert out.notes == []


def test_the_default_dataset_is_written_as_the_catalog_url() -> None:
    spec = tune(DataSource(default_dataset=True), DataDestination(managed_pvc="t-adapter"))
    out = to_kaito_workspace(spec, provisioned=True, default_dataset_url=DATASET)
    assert out.workspace["tuning"] == {
        "preset": {"name": "phi-3-mini-128k-instruct"},
        "method": "lora",
        "input": {"urls": [DATASET]},
        "output": {"volumeSource": {"persistentVolumeClaim": {"claimName": "t-adapter"}}},
    }
    assert out.notes == [
        "tuning.output: claim t-adapter was created by kaitoctl (Kaito creates none) and `kaitoctl delete t` "
        "deletes it; keep it, or create one of that name first"
    ]
    # Without the catalog's URL the default dataset has nothing to name.
    bare = to_kaito_workspace(spec, provisioned=True)
    assert bare.workspace["tuning"]["input"] == {}


def test_the_default_dataset_url_is_ignored_when_the_input_has_its_own() -> None:
    spec = tune(DataSource(urls=("https://example.com/own.parquet",)), DataDestination(image="reg.io/a:1"))
    out = to_kaito_workspace(spec, provisioned=True, default_dataset_url=DATASET)
    assert out.workspace["tuning"]["input"] == {"urls": ["https://example.com/own.parquet"]}


def test_an_output_volume_of_its_own_wins_over_the_managed_claim_and_gets_no_note() -> None:
    destination = DataDestination(volume={"persistentVolumeClaim": {"claimName": "mine"}}, managed_pvc="t-adapter")
    out = to_kaito_workspace(tune(DataSource(image="reg.io/d:1"), destination), provisioned=True)
    assert out.workspace["tuning"]["output"] == {"volumeSource": {"persistentVolumeClaim": {"claimName": "mine"}}}
    assert out.workspace["tuning"]["input"] == {"image": "reg.io/d:1"}
    assert out.notes == []
