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
