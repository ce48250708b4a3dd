"""`python -m bench NAME [ARGS...]` runs `bench/NAME`; without a name, lists what there is."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(info.name for info in pkgutil.iter_modules([str(here)]) if info.ispkg)


def main(argv: list[str]) -> int:
    names = available()
    if not argv or argv[0] not in names:
        print("usage: python -m bench NAME [ARGS...]; benchmarks: " + ", ".join(names), file=sys.stderr)
        return 2
    # Each benchmark package exposes `main(argv) -> int` in its __init__ or its __main__.
    module = importlib.import_module(f"bench.{argv[0]}")
    runner = getattr(module, "main", None) or importlib.import_module(f"bench.{argv[0]}.__main__").main
    return int(runner(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
