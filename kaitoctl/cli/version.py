"""kaitoctl version: this tool's version and the Kaito release its catalog and templates follow."""

from __future__ import annotations

import sys

from kaitoctl import __version__
from kaitoctl.cli import options as o
from kaitoctl.cli.output import check_output_format, document, print_json, reporting


def _kaito_release() -> str:
    """The catalog's `kaito_version:` line, read without parsing the catalog (no YAML parser on this path)."""
    import re

    from kaitoctl.core.data import presets_path

    with open(presets_path(), encoding="utf-8") as f:
        for line in f:
            match = re.match(r"kaito_version:\s*([^\s#]+)", line)
            if match:
                return match.group(1).strip("'\"")
    return "unknown"


def print_version(fmt: str | None) -> None:
    kaito = _kaito_release()
    if fmt == "json":
        print_json(document("Version", kaitoctl=__version__, kaito=kaito))
    else:
        sys.stdout.write(f"kaitoctl {__version__} (follows Kaito {kaito})\n")


@o.verb
def version(output: o.JsonOutput = None) -> None:
    """Print kaitoctl's version and the Kaito release whose presets and manifests it follows.

    Examples:

      kaitoctl version
      kaitoctl version -o json
    """
    with reporting():
        print_version(check_output_format(output, ("json",)))
