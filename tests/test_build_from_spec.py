"""``engrammar.build(spec)`` for every installed first-party component, from a spec whose class the
registry has not loaded: it is found through the spec's own distribution, importing no other plugin
than those the distribution depends on (engrammar-pulse builds engrammar-routers' token_router)."""

from __future__ import annotations

import json
import subprocess
import sys

#: Run in a fresh process: for each distribution in turn, import its spec classes the way a user
#: does (from the package, not through the registry), build one component from each, and check that
#: no distribution not reached yet (its own dependencies aside) has had a module imported.
SCRIPT = """
import importlib, json, re, sys
from importlib.metadata import requires
import attrs, engrammar
from engrammar import registry

def dependencies(distribution):
    found = (re.split(r"[\\s\\[<>=!~;]", r, maxsplit=1)[0] for r in requires(distribution) or [] if "extra ==" not in r)
    return set(found)

infos = registry.components()
by_distribution = {}
for info in infos:
    by_distribution.setdefault(info.distribution, []).append(info)
packages = {d: {i.target.split(".")[0].split(":")[0] for i in group} for d, group in by_distribution.items()}
report = []
for position, (distribution, group) in enumerate(sorted(by_distribution.items())):
    later = set().union(*(packages[d] for d, _ in sorted(by_distribution.items())[position + 1 :]))
    later -= set().union(*(packages[d] for d in dependencies(distribution) if d in packages))
    before = set(sys.modules)  # what an earlier distribution's turn imported is not this one's doing
    for info in group:
        module, _, attribute = info.target.partition(":")
        spec_cls = getattr(importlib.import_module(module), attribute).spec_cls
        fields = {f.name for f in attrs.fields(spec_cls)}
        values = {"in_features": 3, "out_features": 2}
        if "input_sizes" in fields:  # a combinator: two inputs of width 3 (a router and one expert)
            values.update(in_features=6, input_sizes=(3, 3))
        values.update(EXTRA.get(info.name, {}))
        spec = spec_cls(**{k: v for k, v in values.items() if k in fields})
        built = engrammar.build(spec)
        report.append([info.name, type(built).__name__, attribute])
    imported_early = sorted(p for p in later if p in sys.modules and p not in before and p != "engrammar")
    report.append(["imported before their turn", distribution, imported_early])
print(json.dumps(report))
"""


#: Spec fields a component needs beyond in_features / out_features / input_sizes: a new component
#: whose spec has another required field (or a choice between two) adds its name and values here.
EXTRA: dict[str, dict[str, object]] = {
    "darwinian_regeneration": {"threshold": 0.01},  # threshold or percentage
    "neurogenesis": {"every": 10},  # every or patience
    "softmax_router": {"num_experts": 3},  # a router: its number of choices
    "topk_router": {"num_experts": 3},
    "hash_router": {"num_experts": 3},
    "token_router": {"num_states": 3},
}


def test_every_installed_component_builds_from_its_spec_alone() -> None:
    script = f"EXTRA = {EXTRA!r}\n{SCRIPT}"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    report = json.loads(out)
    built = {row[0]: (row[1], row[2]) for row in report if row[0] != "imported before their turn"}
    assert {"dnc", "ntm", "lstm", "gated_deltanet", "copy", "ema", "linear", "topk_router", "token_router"} <= set(
        built
    )
    for name, (built_class, entry_point_class) in built.items():
        assert built_class == entry_point_class, name
    for _, distribution, imported_early in (row for row in report if row[0] == "imported before their turn"):
        assert imported_early == [], f"building {distribution}'s specs imported {imported_early}"
