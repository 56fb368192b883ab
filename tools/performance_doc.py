"""Regenerate docs/performance.md's tables from the benchmarks' JSON output (docs/performance/*.json).

    python tools/performance_doc.py            # rewrite the tables in place
    python tools/performance_doc.py --check    # exit 1 when a table differs from its JSON (the lint env)

A table sits between ``<!-- table: NAME -->`` and ``<!-- /table -->`` and is rendered from
``docs/performance/NAME.json``, written by ``benchmarks/NAME.py --json``: the peer-ratio table of
``neuronkit.bench`` (with each row's ratio to the best peer at its precision and batch, and for
int8 rows to the best fp32 peer too), or the compile cache's rounds. The prose around the tables
is written by hand from them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
DATA = ROOT / "docs" / "performance"
BLOCK = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def render(data: dict) -> str:
    if "median_warm_over_cold" in data:
        return _cache(data)
    return _peers(data)


def _peers(data: dict) -> str:
    best: dict = {}
    for row in data["rows"]:
        if row["kind"] == "peer":
            key = (row["precision"], row["batch"])
            best[key] = max(best.get(key, 0), row["items_per_s"])
    fp32 = any(r["precision"] != "fp32" for r in data["rows"]) and any(p == "fp32" for p, _ in best)
    lines = [f"{data['title']}; CPU: {data['cpu']}; {data['rounds']} rounds of {data['seconds']:g} s per "
             f"configuration and batch", "",
             "| precision | batch | configuration | img/s | min-max | p50 ms | p99 ms | vs best peer |"
             + (" vs best fp32 peer |" if fp32 else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if fp32 else "")]
    for row in sorted(data["rows"], key=lambda r: (r["precision"], r["batch"])):
        peer = best.get((row["precision"], row["batch"]))
        rounds = row["items_per_s_per_round"]
        cells = [row["precision"], str(row["batch"]),
                 ("**" + row["configuration"] + "**") if row["kind"] == "neuronkit" else row["configuration"],
                 f"{row['items_per_s']:.1f}", f"{min(rounds):.1f}-{max(rounds):.1f}", f"{row['latency_ms_p50']:.1f}",
                 f"{row['latency_ms_p99']:.1f}", f"{row['items_per_s'] / peer:.2f}x" if peer else "-"]
        if fp32:
            base = best.get(("fp32", row["batch"]))
            cells.append(f"{row['items_per_s'] / base:.2f}x" if base else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\nFailed (listed, not measured): {f['precision']} {f['configuration']}: {f['error']}"
              for f in data.get("failed", ())]
    return "\n".join(lines) + "\n"


def _cache(data: dict) -> str:
    lines = [f"{data['title']}; CPU: {data['cpu']}", "",
             "| round | cold compile s | warm (cache hit) s | warm / cold |", "|---|---|---|---|"]
    for i, r in enumerate(data["rounds"], 1):
        lines.append(f"| {i} | {r['cold_s']:.2f} | {r['warm_s']:.3f} | {r['warm_s'] / r['cold_s']:.1%} |")
    lines.append(f"\nMedian warm / cold: {data['median_warm_over_cold']:.1%}")
    return "\n".join(lines) + "\n"


def regenerate(text: str) -> str:
    def table(match):
        source = DATA / f"{match['name']}.json"
        if not source.is_file():
            raise SystemExit(f"{DOC.name} has a table {match['name']!r} but {source} does not exist: run "
                             f"benchmarks/{match['name']}.py --json {source.relative_to(ROOT)}")
        return match.group(1) + render(json.loads(source.read_text())) + match.group(4)

    return BLOCK.sub(table, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when a table differs from its JSON")
    args = parser.parse_args(argv)
    text = DOC.read_text()
    new = regenerate(text)
    if args.check:
        if new != text:
            print(f"{DOC.relative_to(ROOT)}: a table differs from its JSON; run python tools/performance_doc.py")
            return 1
        print(f"{DOC.relative_to(ROOT)}: every table matches its JSON")
        return 0
    DOC.write_text(new)
    print(f"rewrote the tables of {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
