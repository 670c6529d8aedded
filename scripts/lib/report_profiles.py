"""The CPU profiles of a run for the report (bench --cpu_profile_out=DIR): per profiled run and
side, the attribution (each component's share of the samples and, from the run's counters, its
CPU microseconds per delivery) and the folded stacks as a tree for the flame graph."""
import json
import os
import re

SIDES = ("server", "generator")


def safe_name(name):
    """The file name the bench gives a run's profiles (bench/cpu_profile.cpp)."""
    return re.sub(r"[^A-Za-z0-9.\-]", "_", name)


def key_of(component):
    """A component's counter suffix (bench/cpu_profile.cpp, key_of)."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", component.lower())).strip("_")


def tree(folded_text):
    """Folded stacks ("root;...;leaf N" lines) as {name, value, children}: value is a frame's
    samples with everything it called, as d3-flame-graph draws it."""
    root = {"name": "all", "value": 0, "children": []}
    index = {id(root): {}}
    for line in folded_text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        n = int(n)
        root["value"] += n
        node = root
        for frame in stack.split(";"):
            kids = index[id(node)]
            child = kids.get(frame)
            if child is None:
                child = {"name": frame, "value": 0, "children": []}
                kids[frame] = child
                index[id(child)] = {}
                node["children"].append(child)
            child["value"] += n
            node = child
    return root


def load(profile_dir, result_paths):
    """Every profile in profile_dir whose run is among the results, in the results' order."""
    if not os.path.isdir(profile_dir):
        raise SystemExit(f"report: --profiles {profile_dir}: no such directory")
    runs = []
    for p in result_paths:
        for b in json.load(open(p)).get("benchmarks", []):
            if b.get("run_type") != "aggregate":
                runs.append((b["name"].split("/iterations:")[0], b))
    out, seen = [], set()
    for name, b in runs:
        for side in SIDES:
            base = os.path.join(profile_dir, f"{safe_name(name)}.{side}")
            if base in seen or not os.path.isfile(base + ".json"):
                continue
            seen.add(base)
            att = json.load(open(base + ".json"))
            folded = open(base + ".folded").read() if os.path.isfile(base + ".folded") else ""
            comps = [[c, pct, b.get(f"{side}_cpu_us_per_delivery_{key_of(c)}")]
                     for c, pct in att.get("components", {}).items()]
            out.append({"run": name, "side": side, "samples": att.get("samples"),
                        "named_pct": att.get("named_pct"), "components": comps,
                        "top_self": att.get("top_self", []), "top_total": att.get("top_total", []),
                        "cpu_us_per_delivery": (b.get(f"{side}_user_cpu_us_per_delivery", 0) +
                                                b.get(f"{side}_sys_cpu_us_per_delivery", 0)) or None,
                        "tree": tree(folded)})
    if not out:
        raise SystemExit(f"report: --profiles {profile_dir}: no profile of the runs in the results "
                         "(files <run>.<side>.json from bench --cpu_profile_out)")
    return out


def _scaled(node, factor):
    """A tree's values in nanoseconds of CPU per delivery (samples x factor)."""
    return {"name": node["name"], "value": node["value"] * factor,
            "children": [_scaled(c, factor) for c in node["children"]]}


def diff_tree(new, old):
    """The new profile's tree, each frame's value its nanoseconds of CPU per delivery and its
    delta the change of its own (self) time per delivery against the same stack in the old one:
    what d3-flame-graph's differential colours show (red: more than before, blue: less). A
    stack only the old profile has is not drawn; its time shows in its parent's delta."""
    def per_delivery(p):
        total = p["tree"]["value"]
        return (p["cpu_us_per_delivery"] or 0) * 1000.0 / total if total else 0.0

    a, b = _scaled(new["tree"], per_delivery(new)), _scaled(old["tree"], per_delivery(old))

    def self_of(n):
        return n["value"] - sum(c["value"] for c in n["children"])

    def walk(n, o):
        kids = {c["name"]: c for c in (o["children"] if o else [])}
        n["delta"] = self_of(n) - (self_of(o) if o else 0.0)
        gone = sum(c["value"] for name, c in kids.items() if name not in {x["name"] for x in n["children"]})
        n["delta"] -= gone  # what the old one spent in stacks the new one no longer has
        for c in n["children"]:
            walk(c, kids.get(c["name"]))

    walk(a, b)
    return a


def compare(new_profiles, old_profiles, base_name):
    """Per run and side in both: the differential tree and both sides' CPU per delivery by
    component."""
    old = {(p["run"], p["side"]): p for p in old_profiles}
    out = []
    for p in new_profiles:
        o = old.get((p["run"], p["side"]))
        if not o or not p["cpu_us_per_delivery"] or not o["cpu_us_per_delivery"]:
            continue
        base = {c[0]: c[2] for c in o["components"]}
        rows = [[c, base.get(c), us] for c, _, us in p["components"]
                if (us or 0) > 0 or (base.get(c) or 0) > 0]
        out.append({"run": p["run"], "side": p["side"], "base": base_name, "components": rows,
                    "cpu_us_per_delivery": [o["cpu_us_per_delivery"], p["cpu_us_per_delivery"]],
                    "tree": diff_tree(p, o)})
    return out
