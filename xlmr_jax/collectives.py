"""The collectives of a compiled program, read from its optimized HLO text, with bytes per step.

Counts each collective as often as it runs: inside a `while` loop (a scanned layer stack,
microbatches) it counts the loop's trip count: `known_trip_count` where the compiler states it,
else the bound the loop condition compares its counter with (libtpu states none). The TPU compiler writes a reduce-scatter as
an `all-reduce-scatter` fusion around an all-reduce; those count as reduce-scatters.
Payload bytes: the full buffer each device contributes or receives (all-reduce: its size;
all-gather: the gathered result; reduce-scatter: the unscattered input). Sent bytes per device
follow the ring algorithms: all-reduce 2(n-1)/n, all-gather / reduce-scatter / all-to-all
(n-1)/n of the payload, collective-permute all of it.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re

KINDS = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")
_BYTES = {"pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "s16": 2, "u16": 2}
_BYTES.update({"f32": 4, "s32": 4, "u32": 4, "f64": 8, "s64": 8, "u64": 8})
_COMPUTATION = re.compile(r"^(?:ENTRY )?%([\w.-]+) \(.*\{$")
_COLLECTIVE = re.compile(r"^\s*(?:ROOT )?%[\w.-]+ = (.+?) (" + "|".join(KINDS) + r")(?:-start)?\(")
_SHAPE = re.compile(r"\b(pred|[a-z]+\d+)\[([\d,]*)\]")
_CALL = re.compile(r"(?:calls|body)=%([\w.-]+)")


@dataclasses.dataclass(frozen=True)
class Collective:
    kind: str
    payload_bytes: int  # per device, per execution
    group_size: int
    count: int  # executions per step
    shapes: str

    @property
    def sent_bytes(self) -> float:
        """Bytes one device sends per execution (ring algorithms)."""
        n = self.group_size
        factor = {"all-reduce": 2 * (n - 1) / n, "collective-permute": 1.0}
        return factor.get(self.kind, (n - 1) / n) * self.payload_bytes


def parse(hlo_text: str) -> list[Collective]:
    """Every collective instruction in `hlo_text` (one compiled module)."""
    computation, found, calls = None, [], collections.defaultdict(list)
    bounds, loops = collections.defaultdict(int), []  # condition -> max constant; while lines
    for line in hlo_text.splitlines():
        header = _COMPUTATION.match(line)
        if header:
            computation = header.group(1)
            continue
        for constant in re.findall(r"s32\[\][^ ]* constant\((\d+)\)", line):
            bounds[computation] = max(bounds[computation], int(constant))
        if " while(" in line:
            loops.append((computation, line))
            continue
        for callee in _CALL.findall(line):
            calls[callee].append((computation, 1))
        match = _COLLECTIVE.match(line)
        if match:
            kind = match.group(2)
            if computation and computation.startswith("all-reduce-scatter"):
                kind = "reduce-scatter"
            found.append((computation, kind, match.group(1), _group_size(line)))
    for caller, line in loops:
        body, condition = (
            re.search(r"body=%([\w.-]+)", line),
            re.search(r"condition=%([\w.-]+)", line),
        )
        stated = re.search(r'"known_trip_count":\{"n":"(\d+)"', line)
        trips = int(stated.group(1)) if stated else max(1, bounds[condition.group(1)])
        calls[body.group(1)].append((caller, trips))
    return [
        Collective(kind, _shape_bytes(shapes), group, _runs(comp, calls), _plain(shapes))
        for comp, kind, shapes, group in found
        if group > 1
    ]


def summary(collectives: list[Collective]) -> dict[str, dict[str, float]]:
    """Per kind: executions per step, payload bytes per step, sent bytes per device per step."""
    out: dict[str, dict[str, float]] = {}
    for c in collectives:
        row = out.setdefault(c.kind, {"count": 0, "payload_bytes": 0, "sent_bytes": 0.0})
        row["count"] += c.count
        row["payload_bytes"] += c.count * c.payload_bytes
        row["sent_bytes"] += c.count * c.sent_bytes
    return out


def _runs(computation: str | None, calls, depth: int = 0) -> int:
    """How many times a computation runs per step: the product of enclosing loop trips."""
    if computation is None or computation not in calls or depth > 50:
        return 1
    return sum(trips * _runs(caller, calls, depth + 1) for caller, trips in calls[computation])


def _shape_bytes(shapes: str) -> int:
    return sum(
        _BYTES.get(dtype, 4) * math.prod(int(d) for d in dims.split(",") if d)
        for dtype, dims in _SHAPE.findall(shapes)
    )


def _plain(shapes: str) -> str:
    return ", ".join(f"{t}[{d}]" for t, d in _SHAPE.findall(shapes))


def _group_size(line: str) -> int:
    """Devices per replica group: `mesh['a'=8,'b'=2] {'a'}`, `[2,4]<=[8]` or `{{0,1},{2,3}}`."""
    mesh = re.search(r"replica_groups=mesh\[([^\]]*)\] \{([^}]*)\}", line)
    if mesh:
        sizes = dict(re.findall(r"'(\w+)'=(\d+)", mesh.group(1)))
        return math.prod(int(sizes[a]) for a in re.findall(r"'(\w+)'", mesh.group(2)))
    iota = re.search(r"replica_groups=\[([\d,]+)\]<=", line)
    if iota:
        return int(iota.group(1).split(",")[-1])
    explicit = re.search(r"replica_groups=\{\{([\d,]*)\}", line)
    if explicit:
        return len(explicit.group(1).split(","))
    pairs = re.search(r"source_target_pairs=\{(.*?)\}\}", line)  # collective-permute
    return 2 if pairs else 1
