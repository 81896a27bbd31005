"""What the numbers were measured on: CPU, cores, RAM, load, Python and packages.

Benchmarks on a shared 2-core machine are only comparable with this context
printed next to them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from evals.bench.stats import load_average

log = logging.getLogger(__name__)

KEY_PACKAGES = (
    "torch",
    "sentence-transformers",
    "chromadb",
    "bm25s",
    "xllamacpp",
    "langchain-core",
    "langchain-chroma",
    "langchain-text-splitters",
    "gradio",
    "pyinstrument",
)


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (platform.processor() is often empty)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine_info() -> dict[str, Any]:
    """A JSON-ready description of the machine and software, with the load right now."""
    import psutil

    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "ram_available_gib": round(psutil.virtual_memory().available / 2**30, 1),
        "load_average": load_average(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
    }
