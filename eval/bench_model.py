"""Benchmark: model-path throughput, library CPU per call and request shape, on a scripted server.

    python eval/bench_model.py                    # concurrency 1 × 200, 8/32/64 × 1,000 conversations
    python eval/bench_model.py --quick            # a smoke run (1 × 8, 8 × 64, 64 × 256)
    python eval/bench_model.py --concurrency 64 --conversations 1000 --latency 0.3
    python eval/bench_model.py --strategy all     # every judging strategy the grader offers
    python eval/bench_model.py --concurrency 64 --conversations 1000 --profile model.pyisession
    python eval/bench_model.py --strategy all --concurrency 64 --conversations 100 --repeat 3 \
        --profile model.prof                      # medians of 3 runs; cProfile's top ten

Grades N conversations (the 14 in examples/conversations.jsonl, cycled, each with a unique
id and a ``BENCH-<n>`` marker in its last turn so the server can tell them apart) with the
flagship rubric through the real openai SDK and instructor, against
``llm_grader.testing.FakeOpenAIServer`` running **in another process** (its CPU is not
counted) with a fixed latency per request; see ``eval/_bench_server.py`` for how it answers
and counts tokens. Results are written to a temporary JSONL file, as a real run does.

Per run: model calls (sum of the scorecards' usage.calls), wall time, conv/min, the ideal
conv/min = C / (calls per conversation × latency) × 60, its share, and the library's CPU per
call = this process's user+sys CPU time while grading / calls. Beside each run, the **raw floor**:
the very request bodies the server received from the library, posted again from this
process with one pooled ``aiohttp`` session (keep-alive, ``limit`` = the concurrency,
``json.dumps`` of the body, ``json.loads`` of the answer) at the same concurrency: its CPU
per call, its share of ideal, and the library's CPU per call over it. ``--repeat N`` runs
each row N times and reports the medians. Per strategy: calls, prompt and
cached tokens per conversation (from the scorecards' usage), the cached-prefix ratio (from the
requests the server saw) and the estimated cost (when the library's Usage carries one).

``--profile PATH`` re-runs the last row of each strategy under a profiler and prints where
the CPU goes, scaled to the unprofiled CPU per call: with cProfile (PATH ending in ``.prof``,
or pyinstrument not installed) the top ten functions by self time and by cumulative time,
stats saved to PATH (``python -m pstats PATH``); with pyinstrument the CPU per call by
component, by our innermost function and the top hotspots, session saved to PATH
(``pyinstrument --load PATH``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import gc
import json
import multiprocessing
import os
import platform
import pstats
import re
import resource
import statistics
import sys
import tempfile
import time
import typing
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_server import CACHE_BLOCK, CACHE_MIN_TOKENS, CHARS_PER_TOKEN, serve

from llm_grader import Grader, GraderConfig, ModelSettings, load_conversations, load_rubric
from llm_grader.scoring import Scorecard
from llm_grader.types import Usage

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MATRIX = [(1, 200), (8, 1000), (32, 1000), (64, 1000)]
QUICK_MATRIX = [(1, 8), (8, 64), (64, 256)]
COST_FIELDS = [name for name in Usage.model_fields if "cost" in name]


@dataclasses.dataclass
class Row:
    strategy: str
    concurrency: int
    conversations: int
    calls: int
    wall: float
    cpu: float
    usage: Usage
    cost: float | None
    failed_items: int
    server: dict[str, Any]
    latency: float
    raw_calls: int = 0
    raw_wall: float = 0.0
    raw_cpu: float = 0.0

    @property
    def calls_per_conversation(self) -> float:
        return self.calls / self.conversations

    @property
    def conv_per_min(self) -> float:
        return self.conversations / self.wall * 60

    @property
    def ideal(self) -> float:
        return self.concurrency / (self.calls_per_conversation * self.latency) * 60

    @property
    def cpu_per_call_ms(self) -> float:
        return self.cpu / max(1, self.calls) * 1000

    @property
    def raw_cpu_per_call_ms(self) -> float:
        return self.raw_cpu / max(1, self.raw_calls) * 1000

    @property
    def share(self) -> float:
        """The library's share of ideal throughput (calls per second over concurrency / latency)."""
        return self.calls / self.wall / (self.concurrency / self.latency)

    @property
    def raw_share(self) -> float:
        """The raw floor's share of ideal throughput."""
        return self.raw_calls / max(self.raw_wall, 1e-9) / (self.concurrency / self.latency)


def strategies() -> list[str] | None:
    """The grader's judging strategies, or None when this version has no ``strategy`` option."""
    if "strategy" not in {f.name for f in dataclasses.fields(GraderConfig)}:
        return None
    hint = typing.get_type_hints(GraderConfig).get("strategy")
    found: list[str] = []
    pending = [hint]
    while pending:
        for arg in typing.get_args(pending.pop()):
            if isinstance(arg, str):
                found.append(arg)
            else:
                pending.append(arg)
    return found or ["item", "category", "conversation"]


def make_conversations(n: int) -> list[Any]:
    seeds = [json.loads(line) for line in (ROOT / "examples" / "conversations.jsonl").open(encoding="utf-8")]
    records = []
    for i in range(n):
        record = json.loads(json.dumps(seeds[i % len(seeds)]))
        record["id"] = f"bench{i:06d}"
        record["turns"][-1]["text"] += f" BENCH-{i:06d}"
        records.append(record)
    return list(load_conversations(records, strict=True))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def grade(
    args: argparse.Namespace,
    base_url: str,
    strategy: str | None,
    concurrency: int,
    batch: list[Any],
    profiler: Any = None,
) -> tuple[list[Scorecard], float, float]:
    options: dict[str, Any] = {"concurrency": concurrency, "cache": None}
    if strategy is not None:
        options["strategy"] = strategy
    settings = ModelSettings(model=args.model, base_url=base_url, api_key=SecretStr("sk-test"))
    grader = Grader(load_rubric(args.rubric), model=settings, **options)
    with tempfile.TemporaryDirectory() as tmp:
        gc.collect()
        wall, cpu = time.perf_counter(), cpu_seconds()
        if profiler is not None:
            profiler.start()
        cards = grader.grade_many(batch, output=Path(tmp) / "cards.jsonl")
        if profiler is not None:
            profiler.stop()
        return cards, time.perf_counter() - wall, cpu_seconds() - cpu


async def _raw_posts(url: str, bodies: list[dict[str, Any]], concurrency: int) -> int:
    """Post every body at ``concurrency`` through one pooled aiohttp session; answers read as JSON."""
    import aiohttp

    headers = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
    pending = iter(bodies)
    answered = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal answered
            for body in pending:
                data = json.dumps(body, ensure_ascii=False).encode()
                async with session.post(url, data=data) as response:
                    answer = json.loads(await response.read())
                answered += "choices" in answer

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answered


def raw_floor(base_url: str, bodies: list[dict[str, Any]], concurrency: int) -> tuple[int, float, float]:
    """The raw HTTP floor: (calls answered, wall seconds, CPU seconds) for posting ``bodies``."""
    url = base_url.rstrip("/") + "/chat/completions"
    gc.collect()
    wall, cpu = time.perf_counter(), cpu_seconds()
    answered = asyncio.run(_raw_posts(url, bodies, concurrency))
    return answered, time.perf_counter() - wall, cpu_seconds() - cpu


def run(
    args: argparse.Namespace,
    conn: Any,
    base_url: str,
    strategy: str | None,
    concurrency: int,
    batch: list[Any],
) -> Row:
    conn.send("reset")
    conn.recv()
    cards, wall, cpu = grade(args, base_url, strategy, concurrency, batch)
    conn.send("stats")
    server = conn.recv()
    conn.send("bodies")
    bodies = conn.recv()
    conn.send("reset")
    conn.recv()
    raw_calls, raw_wall, raw_cpu = raw_floor(base_url, bodies, concurrency)
    if raw_calls != len(bodies):
        raise SystemExit(f"the raw floor got {raw_calls} answers to {len(bodies)} requests")
    usage = sum((c.usage for c in cards), Usage())
    cost = None
    if COST_FIELDS:
        values = [getattr(c.usage, COST_FIELDS[0]) for c in cards]
        cost = None if any(v is None for v in values) else float(sum(values))
    failed = sum(1 for c in cards for i in c.items if i.unscored) + sum(1 for c in cards if c.errors)
    label = strategy or next(
        (f.default for f in dataclasses.fields(GraderConfig) if f.name == "strategy"), "item"
    )
    return Row(
        str(label),
        concurrency,
        len(cards),
        usage.calls,
        wall,
        cpu,
        usage,
        cost,
        failed,
        server,
        args.latency,
        raw_calls,
        raw_wall,
        raw_cpu,
    )


def median_row(rows: list[Row]) -> Row:
    """One row of repeated runs: the median run by library CPU per call, with the raw floor's medians."""
    middle = sorted(rows, key=lambda r: r.cpu_per_call_ms)[len(rows) // 2]
    by_raw = sorted(rows, key=lambda r: r.raw_cpu_per_call_ms)[len(rows) // 2]
    return dataclasses.replace(
        middle,
        wall=statistics.median(r.wall for r in rows),
        raw_calls=by_raw.raw_calls,
        raw_wall=statistics.median(r.raw_wall for r in rows),
        raw_cpu=by_raw.raw_cpu,
    )


def throughput_table(rows: list[Row]) -> list[str]:
    lines = [
        "| strategy | concurrency | conversations | model calls | calls/conv | wall s | conv/min "
        "| ideal conv/min | % of ideal | library CPU per call | raw floor CPU per call | library / raw "
        "| raw % of ideal | max in flight | failed items |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.strategy} | {r.concurrency} | {r.conversations:,} | {r.calls:,} | "
            f"{r.calls_per_conversation:.2f} | {r.wall:.1f} | {r.conv_per_min:,.1f} | {r.ideal:,.0f} | "
            f"{r.share:.0%} | {r.cpu_per_call_ms:.2f} ms | {r.raw_cpu_per_call_ms:.2f} ms | "
            f"{r.cpu_per_call_ms / max(r.raw_cpu_per_call_ms, 1e-9):.2f}× | {r.raw_share:.0%} | "
            f"{r.server['max_in_flight']} | {r.failed_items} |"
        )
    return lines


def strategy_table(rows: list[Row]) -> list[str]:
    lines = [
        "| strategy | calls/conv | prompt tokens/conv | cached tokens/conv | cached-prefix ratio "
        "| mean request chars | est. cost/conv |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    by: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by[r.strategy].append(r)
    for name, group in by.items():
        n = sum(r.conversations for r in group)
        ratios = [
            (r.server["prefix_ratio"], r.conversations) for r in group if r.server["prefix_ratio"] is not None
        ]
        ratio = (
            f"{sum(x * w for x, w in ratios) / sum(w for _, w in ratios):.1%}" if ratios else "n/a (1 call)"
        )
        costs = [r.cost for r in group]
        cost = "n/a" if None in costs else f"{sum(c for c in costs if c is not None) / n:.6f}"
        chars = sum(r.server["mean_request_chars"] * r.calls for r in group) / max(
            1, sum(r.calls for r in group)
        )
        lines.append(
            f"| {name} | {sum(r.calls for r in group) / n:.2f} | "
            f"{sum(r.usage.prompt_tokens for r in group) / n:,.0f} | "
            f"{sum(r.usage.cached_tokens for r in group) / n:,.0f} | {ratio} | {chars:,.0f} | {cost} |"
        )
    return lines


def notes(args: argparse.Namespace, rows: list[Row]) -> list[str]:
    mismatch = [r for r in rows if r.server["prompt_tokens"] != r.usage.prompt_tokens]
    versions = ", ".join(f"{p} {version(p)}" for p in ("openai", "instructor", "pydantic"))
    return [
        f"Scripted server in its own process, {args.latency * 1000:.0f} ms per request; "
        f"rubric {args.rubric}; {os.cpu_count()} CPUs; Python {platform.python_version()}, {versions}.",
        "Ideal conv/min = concurrency / (calls per conversation × latency) × 60. Library CPU per call = "
        "user+sys CPU of the grading process during grade_many (results written to JSONL) / model calls.",
        "Raw floor: the same request bodies posted again from this process through one aiohttp session "
        "(limit = concurrency), json.dumps of the body and json.loads of the answer; its CPU per call "
        "is this process's CPU during those posts / calls."
        + (f" Medians of {args.repeat} runs per row." if args.repeat > 1 else ""),
        f"Prompt tokens are estimated by the server: characters of tools + response_format + messages "
        f"(compact JSON) / {CHARS_PER_TOKEN:g}. Cached tokens: the prefix shared with the previous "
        f"request of the same conversation, 0 below {CACHE_MIN_TOKENS:,} tokens, else whole "
        f"{CACHE_BLOCK}-token blocks (OpenAI's rule). Cached-prefix ratio: the common prefix of all "
        "of one conversation's requests (that text, in API order) / their mean length, averaged "
        "over conversations.",
        "Estimated cost per conversation: the scorecards' usage."
        + (
            f"{COST_FIELDS[0]} (the library's price table at model {args.model!r}; n/a: unpriced)."
            if COST_FIELDS
            else " n/a: this version's Usage has no cost field."
        ),
        "Load average (1 min) at start / end: "
        + f"{args.load[0]:.2f} / {os.getloadavg()[0]:.2f} — other processes on the machine slow the "
        "wall-clock figures; CPU per call is this process's own time.",
        *(
            [
                "Server-counted prompt tokens differ from the scorecards' in: "
                + ", ".join(f"{r.strategy}/C{r.concurrency}" for r in mismatch)
            ]
            if mismatch
            else []
        ),
    ]


# ---------------------------------------------------------------------------- profile

Stack = tuple[tuple[str, str], ...]
"""(function, file) from the outermost frame to the innermost."""

_GROUPS = [
    ("openai SDK", ("/openai/",)),
    ("HTTP client (httpx2, httpcore2, h11, anyio)", ("/httpx", "/httpcore", "/h11/", "/anyio/", "/sniffio/")),
    ("instructor", ("/instructor/",)),
    ("tenacity (instructor's retry loop)", ("/tenacity/",)),
    ("pydantic", ("/pydantic/", "/pydantic_core/", "/typing_inspection/", "/annotated_types/")),
    ("jiter, docstring_parser", ("/jiter/", "/docstring_parser/")),
    ("opentelemetry (no-op tracer)", ("/opentelemetry/",)),
    ("asyncio event loop, selectors, ssl/socket", ("/asyncio/", "/selectors.py", "/ssl.py", "/socket.py")),
    ("profiler / bench", ("/pyinstrument/", "bench_model.py")),
]
OTHER = "stdlib / builtins with no library frame above"


def group_of(filename: str) -> str | None:
    """The component a source file belongs to; None for builtins and the rest of the stdlib."""
    if "/llm_grader/" in filename:
        return "ours: " + filename.split("/llm_grader/", 1)[1].removesuffix(".py").replace("/", ".")
    for name, parts in _GROUPS:
        if any(p in filename for p in parts):
            return name
    return None


_IDLE = {"epoll.poll", "poll.poll", "select.select", "select"}


def pyinstrument_samples(root: Any) -> list[tuple[Stack, float]]:
    """Every frame's self time with its stack, from a pyinstrument session's root frame."""
    out: list[tuple[Stack, float]] = []
    pending: list[tuple[Any, Stack]] = [(root, ())]
    while pending:
        frame, above = pending.pop()
        if frame.identifier == "[self]" or frame.identifier.startswith("[await]"):
            out.append((above, frame.time))
            continue
        stack = (*above, (frame.function or "", frame.file_path or ""))
        children = frame.children
        if not children and frame.function not in _IDLE:  # the event loop waiting is not CPU
            out.append((stack, frame.time))
        pending.extend((child, stack) for child in children)
    return out


_PYSPY_FRAME = re.compile(r"^(.*) \((.*):\d+\)$")


def pyspy_samples(path: Path) -> list[tuple[Stack, float]]:
    """Stacks of the measured runs from ``py-spy record --format raw`` (idle samples are not recorded)."""
    out: list[tuple[Stack, float]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        frames, _, count = line.rpartition(" ")
        stack = tuple(
            (m.group(1), "/" + m.group(2)) for f in frames.split(";") if (m := _PYSPY_FRAME.match(f))
        )
        if any(fn == "run" and f.endswith("bench_model.py") for fn, f in stack):  # not the warm-up
            out.append((stack, float(count)))
    return out


def _short(path: str) -> str:
    return path.split("site-packages/")[-1].split("/lib/python3.")[-1].split("/llm_grader/")[-1].lstrip("/")


def tables(samples: list[tuple[Stack, float]], header: str, ms_per_call: float) -> list[str]:
    """CPU per model call by component, by our innermost function, by entry into each component,
    and the top functions by self time."""
    total = sum(w for _, w in samples) or 1.0
    scale = ms_per_call / total  # ms per model call for one unit of sample weight
    component: dict[str, float] = defaultdict(float)
    ours: dict[str, float] = defaultdict(float)
    entry: dict[str, float] = defaultdict(float)
    leaf: dict[str, float] = defaultdict(float)
    for stack, weight in samples:
        groups = [group_of(f) for _, f in stack]
        named = [g for g in groups if g is not None]
        comp = named[-1] if named else OTHER
        component[comp] += weight
        mine = [i for i, (_, f) in enumerate(stack) if "/llm_grader/" in f]
        where = f"{_short(stack[mine[-1]][1])}:{stack[mine[-1]][0]}" if mine else "(no llm_grader frame)"
        ours[where] += weight
        start = mine[-1] + 1 if mine else 0
        j = next((i for i in range(start, len(stack)) if groups[i] == comp), None)
        if j is not None and j > 0 and not comp.startswith("ours"):
            via, into = stack[j - 1], stack[j]
            entry[f"{comp}: {_short(via[1])}:{via[0]} → {_short(into[1])}:{into[0]}"] += weight
        if stack:
            leaf[f"{_short(stack[-1][1])}:{stack[-1][0]}"] += weight

    def table(title: str, head: str, data: dict[str, float], limit: int) -> list[str]:
        rows = sorted(data.items(), key=lambda kv: -kv[1])[:limit]
        return [
            "",
            f"### {title}",
            "",
            f"| {head} | share | ms per call |",
            "|---|---:|---:|",
            *(f"| {k} | {v / total:.1%} | {v * scale:.2f} |" for k, v in rows if v / total >= 0.003),
        ]

    return [
        f"{header}; shares of the grading process's samples, scaled to {ms_per_call:.2f} ms CPU per call.",
        *table(
            "By component (self time; stdlib and builtins charged to the nearest library frame above)",
            "component",
            component,
            40,
        ),
        *table(
            "By our innermost function on the stack (inclusive of the libraries it calls)",
            "llm_grader function",
            ours,
            20,
        ),
        *table("Where each library is entered (caller → first frame in it)", "entry", entry, 20),
        *table("Top functions by self time", "function", leaf, 20),
    ]


class _CProfiler:
    """cProfile behind the start/stop interface of ``grade``'s profiler."""

    def __init__(self) -> None:
        self.profile = cProfile.Profile()

    def start(self) -> None:
        self.profile.enable()

    def stop(self) -> None:
        self.profile.disable()


def _function(key: tuple[str, int, str]) -> str:
    file, line, name = key
    return f"{name}" if file == "~" else f"{_short(file)}:{line}:{name}"


def cprofile_tables(stats: pstats.Stats, header: str, ms_per_call: float, limit: int = 10) -> list[str]:
    """The top functions by self time and by cumulative time, in ms of CPU per model call."""
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in entries.values()) or 1.0
    scale = ms_per_call / total

    def table(title: str, index: int) -> list[str]:
        rows = sorted(entries.items(), key=lambda kv: -kv[1][index])[:limit]
        return [
            "",
            f"### {title}",
            "",
            "| function | ms per call | share | entries per model call (an await resumed counts) |",
            "|---|---:|---:|---:|",
            *(
                f"| {_function(k)} | {v[index] * scale:.3f} | {v[index] / total:.1%} | {v[1] / calls:.1f} |"
                for k, v in rows
            ),
        ]

    calls = max(1, int(header.split(" model calls")[0].split()[-1].replace(",", "")))
    return [
        f"{header}; cProfile, scaled so that all self time = {ms_per_call:.2f} ms CPU per call.",
        *table(f"Top {limit} functions by self time", 2),
        *table(f"Top {limit} functions by cumulative time", 3),
    ]


def profile(args: argparse.Namespace, base_url: str, row: Row, batch: list[Any]) -> None:
    """Re-run ``row`` under a profiler; save its data and print where the CPU goes."""
    strategy = row.strategy if strategies() is not None else None
    path = Path(str(args.profile))
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(args.strategies) > 1:
        path = path.with_name(f"{path.stem}-{row.strategy}{path.suffix}")
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None
    if Profiler is None or path.suffix in (".prof", ".pstats"):
        profiler = _CProfiler()
        cards, _, _ = grade(args, base_url, strategy, row.concurrency, batch[: row.conversations], profiler)
        profiler.profile.dump_stats(str(path))
        calls = sum(c.usage.calls for c in cards)
        header = f"{row.strategy}, concurrency {row.concurrency}, {calls:,} model calls"
        stats = pstats.Stats(profiler.profile)
        print("\n".join(["", *cprofile_tables(stats, header, row.cpu_per_call_ms)]))
        return
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    cards, _, _ = grade(args, base_url, strategy, row.concurrency, batch[: row.conversations], profiler)
    session = profiler.last_session
    assert session is not None
    session.save(str(path))
    calls = sum(c.usage.calls for c in cards)
    samples = pyinstrument_samples(session.root_frame(trim_stem=False))
    header = f"pyinstrument, {calls:,} model calls ({row.strategy}, concurrency {row.concurrency})"
    print("\n".join(["", *tables(samples, header, row.cpu_per_call_ms)]))


# ---------------------------------------------------------------------------- main


def matrix(args: argparse.Namespace) -> list[tuple[int, int]]:
    if args.concurrency is None and args.conversations is None:
        return QUICK_MATRIX if args.quick else DEFAULT_MATRIX
    base = QUICK_MATRIX if args.quick else DEFAULT_MATRIX
    levels = args.concurrency or [c for c, _ in base]
    counts = args.conversations or [dict(base).get(c, base[-1][1]) for c in levels]
    if len(counts) == 1:
        counts = counts * len(levels)
    if len(counts) != len(levels):
        raise SystemExit("--conversations takes one number, or one per --concurrency level")
    return list(zip(levels, counts, strict=True))


def chosen_strategies(requested: str | None) -> list[str | None]:
    available = strategies()
    if requested is None:
        return [None]
    if available is None:
        if requested == "item":
            return [None]  # the only way this version judges
        raise SystemExit(f"this version of the grader has no strategy option (asked for {requested!r})")
    if requested == "all":
        return list(available)
    if requested not in available:
        raise SystemExit(f"unknown strategy {requested!r}; this grader offers: {', '.join(available)}")
    return [requested]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", help="levels (default 1 8 32 64)")
    parser.add_argument("--conversations", type=int, nargs="+", help="one count, or one per level")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per request (default 0.3)")
    parser.add_argument("--strategy", help="item, category, conversation or all (when the grader offers it)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 × 8, 8 × 64, 64 × 256")
    parser.add_argument("--rubric", default="internet_cs_qa")
    parser.add_argument("--model", default="fake", help="model name sent (a priced name shows a cost)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; the medians are reported")
    parser.add_argument(
        "--profile",
        type=Path,
        help="re-run each strategy's last row under a profiler (cProfile for .prof); data to this file",
    )
    parser.add_argument(
        "--analyse", type=Path, help="print the breakdown of a `py-spy record --format raw` file"
    )
    parser.add_argument("--cpu-per-call", type=float, help="with --analyse: the run's measured ms per call")
    args = parser.parse_args()
    args.load = os.getloadavg()
    if args.analyse is not None:
        if args.cpu_per_call is None:
            raise SystemExit("--analyse needs --cpu-per-call (the row's library CPU per call, in ms)")
        header = f"py-spy samples of the measured runs in {args.analyse}"
        print("\n".join(tables(pyspy_samples(args.analyse), header, args.cpu_per_call)))
        return
    runs = matrix(args)
    plan = chosen_strategies(args.strategy)
    args.strategies = plan
    batch = make_conversations(max(n for _, n in runs))

    context = multiprocessing.get_context("spawn")
    conn, child = context.Pipe()
    server = context.Process(target=serve, args=(child, args.rubric, args.latency), daemon=True)
    server.start()
    try:
        base_url = conn.recv()
        grade(args, base_url, plan[0], 8, batch[:16])  # warm-up: imports, first connections
        rows: list[Row] = []
        for strategy in plan:
            for concurrency, n in runs:
                repeats = []
                for _ in range(max(1, args.repeat)):
                    repeats.append(run(args, conn, base_url, strategy, concurrency, batch[:n]))
                    r = repeats[-1]
                    print(
                        f"{r.strategy} C={concurrency} N={n}: {r.wall:.1f} s, "
                        f"{r.conv_per_min:,.1f} conv/min, {r.cpu_per_call_ms:.2f} ms CPU/call "
                        f"(raw floor {r.raw_cpu_per_call_ms:.2f} ms, "
                        f"load {os.getloadavg()[0]:.2f})",
                        file=sys.stderr,
                        flush=True,
                    )
                rows.append(median_row(repeats))
        print("\n".join(["", *throughput_table(rows), "", *strategy_table(rows), ""]))
        print("\n".join(f"- {line}" for line in notes(args, rows)))
        if args.profile is not None:
            for strategy in plan:
                last = [r for r in rows if r.strategy == (strategy or rows[-1].strategy)]
                profile(args, base_url, (last or rows)[-1], batch)
    finally:
        conn.send("stop")
        conn.recv()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
