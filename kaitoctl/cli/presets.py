"""kaitoctl presets: the model catalog and the GPU SKU table."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import check_output_format, document, print_json, reporting
from kaitoctl.cli.table import print_table

if TYPE_CHECKING:
    from kaitoctl.core.catalog import Catalog, Preset, Sku

HELP = """List model presets (Kaito's catalog); `presets show NAME` for one, `presets skus` for GPU sizes.

Examples:

  # Current presets; with --all also deprecated and dropped ones
  kaitoctl presets

  # How Phi-3 fits on each GPU size at a 128k context
  kaitoctl presets show phi-3 --max-model-len 131072

  # GPU sizes, as JSON
  kaitoctl presets skus -o json
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=False,
    invoke_without_command=True,
)

AllOption = Annotated[bool, typer.Option("--all", help="Include deprecated and dropped presets.")]


def camel(value: Any) -> Any:
    """Field names as JSON/YAML keys in kubectl's style: hf_repo -> hfRepo, gpu_memory_gib -> gpuMemoryGiB."""
    if isinstance(value, dict):
        return {_camel_key(str(k)): camel(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [camel(v) for v in value]
    return value


_ACRONYMS = {"gib": "GiB", "gpus": "GPUs", "gpu": "GPU", "hf": "HF", "kv": "KV", "id": "ID"}


def _camel_key(key: str) -> str:
    head, *rest = key.split("_")
    words = [
        {"gib": "GiB", "gpus": "GPUs", "gpu": "GPU", "hf": "HF", "kv": "KV", "id": "ID"}.get(w, w.capitalize())
        for w in rest
    ]
    return head + "".join(words)


def _emit(data: Any, fmt: str | None) -> None:
    if fmt == "json":
        print_json(data)
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _aliases_of(catalog: Any, name: str) -> list[str]:
    return sorted(a for a, target in catalog.aliases.items() if target == name)


def _preset_dict(catalog: Any, preset: Any) -> dict[str, Any]:
    data: dict[str, Any] = camel(asdict(preset))
    data["aliases"] = _aliases_of(catalog, preset.name)
    return document("Preset", **data)


@app.callback()
@o.verb
def presets(
    ctx: typer.Context,
    output: o.DataOutput = None,
    show_all: AllOption = False,
) -> None:
    """List the presets (the group's help is HELP)."""
    if ctx.invoked_subcommand is not None:
        return
    with reporting():
        from kaitoctl.core.catalog import load_catalog

        fmt = check_output_format(output)
        catalog = load_catalog()
        items = [p for p in catalog.presets.values() if show_all or p.usable]
        if fmt:
            _emit(document("List", items=[_preset_dict(catalog, p) for p in items]), fmt)
            return
        rows = []
        for p in items:
            tuning = ",".join(p.tuning.methods) if p.tuning else "-"
            ctx_len = f"{p.max_context // 1024}k" if p.max_context else "-"
            params = f"{p.params_b:g}B" if p.params_b else "-"
            row = [p.name, params, f"{p.weights_gib:g}", ctx_len, ",".join(p.runtimes) or "-", tuning]
            row.append(",".join(_aliases_of(catalog, p.name)[:2]) or "-")
            if show_all:
                row.append(p.status)
            rows.append(row)
        headers = ["NAME", "PARAMS", "WEIGHTS(GiB)", "CONTEXT", "RUNTIMES", "TUNING", "ALIASES"]
        print_table([*headers, "STATUS"] if show_all else headers, rows)


@app.command("show")
@o.verb
def show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Preset name or alias.", autocompletion=complete.presets)],
    output: o.DataOutput = None,
    max_model_len: Annotated[
        int | None, typer.Option("--max-model-len", metavar="TOKENS", help="Context length for the fit table.")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            metavar="REGION",
            help="Azure region of the $/H column (default: AZURE_DEFAULTS_LOCATION, az's defaults.location, "
            "or the region priced last).",
        ),
    ] = None,
    refresh_prices: Annotated[
        bool,
        typer.Option("--refresh-prices", help="Ask the Azure Retail Prices API for prices the cache lacks."),
    ] = False,
    spot: Annotated[bool, typer.Option("--spot", help="Spot prices instead of pay-as-you-go.")] = False,
) -> None:
    """Show one preset: model facts, runtimes, tuning support, and how it fits on each current GPU SKU.

    The $/H column is the price of the nodes a deployment needs, from the local price cache (filled by runs
    against a cluster, or by --refresh-prices); "unknown" when the cache has none. No network call without
    --refresh-prices.

    Examples:

      kaitoctl presets show phi-3
      kaitoctl presets show phi-3 --region eastus --refresh-prices
      kaitoctl presets show llama-3.1-8b-instruct --max-model-len 32768 -o json
    """
    with reporting():
        from kaitoctl.core.catalog import load_catalog
        from kaitoctl.core.sizing import candidate_skus

        fmt = check_output_format(output)
        catalog = load_catalog()
        preset = catalog.resolve_preset(name, field_name="NAME")
        skus_shown = candidate_skus(catalog.skus.values())
        price_region, prices, price_note = _prices(skus_shown, region, refresh=refresh_prices, spot=spot)
        fits = _fit_entries(preset, skus_shown, prices, max_model_len)
        if fmt:
            pricing = {"region": price_region, "spot": spot, "note": price_note}
            _emit({**_preset_dict(catalog, preset), "fit": fits, "pricing": pricing}, fmt)
            return
        lines = _facts(catalog, preset)
        width = max(len(k) for k, _ in lines)
        for key, value in lines:
            sys.stdout.write(f"{key:<{width}}  {value}\n")
        sys.stdout.write(f"\nfit at max-model-len {max_model_len or 2048} (vLLM):\n")
        _print_fit_table(preset, fits)
        sys.stdout.write(f"\n$/H: {price_note}\n")


def _fit_entries(
    preset: Preset, skus: list[Sku], prices: dict[str, float], max_model_len: int | None
) -> list[dict[str, Any]]:
    """Per SKU: whether vLLM fits and on how many nodes, the tuning memory per method, one node's price."""
    from kaitoctl.core.sizing import estimate_inference, estimate_tuning

    fits = []
    for sku in skus:
        fit = estimate_inference(preset, sku, max_model_len=max_model_len)
        entry: dict[str, Any] = {
            "sku": sku.name,
            "vllm": {"fits": fit.fits, "nodes": fit.nodes},
            # USD per hour of one node (None: unknown); the table shows nodes × this.
            "usdPerHour": prices.get(sku.name.lower()),
        }
        if preset.tuning:
            entry["tuning"] = {
                m: {"fits": (t := estimate_tuning(preset, sku, m)).fits, "gibPerGPU": round(t.total_gib, 1)}
                for m in preset.tuning.methods
            }
        fits.append(entry)
    return fits


def _facts(catalog: Catalog, preset: Preset) -> list[tuple[str, str]]:
    """The preset's model facts, one (key, value) per line."""
    arch = preset.architecture
    lines = [
        ("name", preset.name),
        ("status", preset.status + (f" ({preset.note})" if preset.note else "")),
        ("aliases", ", ".join(_aliases_of(catalog, preset.name)) or "-"),
        ("model", f"{preset.hf_repo} @ {preset.revision}"),
        ("served as", preset.served_name),
        ("size", f"{preset.params_b or '?'}B parameters, {preset.weights_gib:g} GiB weights ({preset.weights_dtype})"),
        ("context", str(preset.max_context)),
        (
            "architecture",
            f"{arch.layers} layers, {arch.kv_heads} KV heads × {arch.head_dim}, KV cache "
            f"{preset.bytes_per_token or '?'} bytes/token",
        ),
        ("runtimes", ", ".join(preset.runtimes) or "-"),
        ("tuning", ", ".join(preset.tuning.methods) if preset.tuning else "not supported"),
        ("disk", f"{preset.disk_gib} GiB"),
    ]
    if preset.download_auth_required:
        lines.append(("access", "gated on Hugging Face: needs --model-access-secret (HF_TOKEN)"))
    return lines


def _print_fit_table(preset: Preset, fits: list[dict[str, Any]]) -> None:
    """One row per SKU: vLLM nodes, tuning GiB per GPU per method, and the deployment's $/h (nodes × one node)."""
    rows = []
    for entry in fits:
        vllm = entry["vllm"]
        row = [entry["sku"], f"{vllm['nodes']} node(s)" if vllm["fits"] else "no"]
        if preset.tuning:
            row += [f"{t['gibPerGPU']} GiB" + ("" if t["fits"] else " (no)") for t in entry["tuning"].values()]
        price = entry["usdPerHour"]
        nodes = max(1, vllm["nodes"])
        row.append("unknown" if price is None else f"{price * nodes:.2f}")
        rows.append(row)
    headers = ["SKU", "VLLM"] + [m.upper() for m in (preset.tuning.methods if preset.tuning else ())] + ["$/H"]
    print_table(headers, rows)


def _prices(
    skus: list[Any], region: str | None, *, refresh: bool, spot: bool
) -> tuple[str | None, dict[str, float], str]:
    """(region, SKU -> USD per node-hour, a line saying where the prices come from). The cache only, unless
    `refresh`."""
    from kaitoctl.ops.market import cached_market, default_region, fetch_prices

    source = "--region"
    if region is None:
        region, source = default_region()
    kind = "Spot" if spot else "pay-as-you-go"
    if region is None:
        return None, {}, "unknown: no region (pass --region, or set AZURE_DEFAULTS_LOCATION)"
    region = region.strip().lower()
    if refresh:
        prices, answered = fetch_prices(region, skus, spot=spot)
        got = "Azure Retail Prices API" + ("" if answered else ", partly unreachable")
        return region, prices, f"{kind} retail prices × nodes in {region} ({source}; {got})"
    prices = cached_market(region, skus, spot=spot).prices
    tail = "" if len(prices) == len(skus) else "; unknown: not cached, --refresh-prices asks Azure"
    return region, prices, f"{kind} retail prices × nodes in {region} ({source}; cached{tail})"


@app.command("skus")
@o.verb
def skus(
    output: o.DataOutput = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include dropped and retired SKUs.")] = False,
) -> None:
    """List Azure GPU SKUs: GPUs, GPU memory, vCPUs, NVMe, and whether Kaito still supports them.

    Examples:

      kaitoctl presets skus
      kaitoctl presets skus --all
    """
    with reporting():
        from kaitoctl.core.catalog import load_catalog

        fmt = check_output_format(output)
        items = [s for s in load_catalog().skus.values() if show_all or s.current]
        if fmt:
            _emit(document("List", items=[document("Sku", **camel(asdict(s))) for s in items]), fmt)
            return
        rows = [
            [
                s.name,
                s.gpus,
                s.gpu_model,
                f"{s.gpu_memory_gib:g}",
                s.vcpus,
                f"{s.memory_gib:g}",
                "yes" if s.nvme else "no",
                s.status + (f": {s.note}" if s.note and show_all else ""),
            ]
            for s in items
        ]
        print_table(["NAME", "GPUS", "GPU", "GPU-MEM(GiB)", "VCPUS", "MEM(GiB)", "NVME", "STATUS"], rows)
