"""The history of runs: an embedded SQLite database (Python's sqlite3, no server).

A run is one result file: Google Benchmark JSON from the bench (load or micro), or an
instruction-count file from scripts/icount, with its provenance (sha, parent, branch, subject,
commit date, machine class, build flags, command, dirty flag). It holds every repetition's
counters as samples and, when the run's time series is given, every repetition's whole latency
histogram (the HDR buckets), so distributions can be compared later without running again.

Two writers at once lose nothing: WAL journal, every write one IMMEDIATE transaction, and a busy
timeout long enough for the other to finish. Opening (the switch to WAL and the migrations) is
done under an exclusive flock on a lock file beside the database: SQLite answers "database is
locked" at once, without waiting, when two connections switch a new file to WAL together. A file that is not SQLite, or a SQLite database
that is not a history, is refused (HistoryError), never written to.
"""
import fcntl
import hashlib
import json
import re
import os
import sqlite3
import subprocess
from datetime import datetime, timezone

from comparison import plain_name

FORMAT = "liveshare-history"
SCHEMA_VERSION = 2
BUSY_MS = 60000

# Each migration takes the schema from version i to i + 1 (index i - 1; 0 -> 1 creates it).
MIGRATIONS = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, source TEXT, kind TEXT NOT NULL,
        sha TEXT, parent TEXT, branch TEXT, subject TEXT, commit_date TEXT,
        machine_class TEXT, build_type TEXT, build_flags TEXT, command TEXT, dirty INTEGER,
        run_date TEXT, recorded_at TEXT NOT NULL);
    CREATE TABLE samples (
        run_id INTEGER NOT NULL REFERENCES runs(id), benchmark TEXT NOT NULL,
        repetition INTEGER NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL);
    CREATE INDEX samples_series ON samples(benchmark, metric);
    """,
    # 1 -> 2: whole latency histograms per repetition, and the run's error flags.
    """
    CREATE TABLE histograms (
        run_id INTEGER NOT NULL REFERENCES runs(id), benchmark TEXT NOT NULL,
        repetition INTEGER NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL,
        buckets TEXT NOT NULL);
    CREATE TABLE errors (
        run_id INTEGER NOT NULL REFERENCES runs(id), benchmark TEXT NOT NULL,
        repetition INTEGER NOT NULL, message TEXT NOT NULL);
    """,
]


class HistoryError(Exception):
    """Bad input: the message says what and why (the command exits 2)."""


def default_path(root):
    return os.environ.get("LIVESHARE_HISTORY") or os.path.join(root, "results", "history.sqlite")


def open_db(path, create=True):
    """Opens (and creates or migrates) a history; refuses anything else."""
    exists = os.path.exists(path)
    if not exists and not create:
        raise HistoryError(f"{path}: no such history (record a run first)")
    if exists:
        with open(path, "rb") as f:
            head = f.read(16)
        if head and head != b"SQLite format 3\x00":
            raise HistoryError(f"{path} is not a SQLite database: refused")
    elif os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        db = sqlite3.connect(path, timeout=BUSY_MS / 1000, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout={BUSY_MS}")
            db.execute("PRAGMA journal_mode=WAL")
            migrate(db, path)
        except sqlite3.DatabaseError as e:
            db.close()
            raise HistoryError(f"{path} is not a usable SQLite database ({e}): refused")
        except BaseException:
            db.close()
            raise
    return db


def migrate(db, path):
    db.execute("BEGIN IMMEDIATE")
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            version = 0
        elif "meta" not in tables:
            raise HistoryError(f"{path} is a SQLite database but not a history "
                               f"(tables: {', '.join(sorted(tables))}): refused")
        else:
            meta = dict(db.execute("SELECT key, value FROM meta"))
            if meta.get("format") != FORMAT:
                raise HistoryError(f"{path} is not a history (format {meta.get('format')!r})")
            version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise HistoryError(f"{path} has schema version {version}, newer than this "
                               f"script's {SCHEMA_VERSION}: update the scripts")
        for v in range(version, SCHEMA_VERSION):
            for stmt in MIGRATIONS[v].split(";"):
                if stmt.strip():
                    db.execute(stmt)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (FORMAT,))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                   (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def git(repo, *args):
    r = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def commit_facts(repo, sha):
    """(full sha, parent, subject, commit date) of sha in repo, or Nones when it is unknown."""
    if not sha or sha == "unknown":
        return None, None, None, None
    out = git(repo, "log", "-1", "--format=%H%x00%P%x00%s%x00%cI", sha + "^{commit}", "--")
    if not out:
        return sha, None, None, None
    full, parents, subject, date = out.split("\x00")
    return full, (parents.split() or [None])[0], subject, date


def load_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such {what}")
    except (OSError, ValueError) as e:
        raise HistoryError(f"{path} is not a JSON {what} ({e})")


def numeric(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def samples_of(doc, path):
    """(kind, [(benchmark, repetition, metric, value)], [(benchmark, rep, error message)])."""
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise HistoryError(f"{path} is not a result file (no \"benchmarks\" list)")
    ctx = doc.get("context") if isinstance(doc.get("context"), dict) else {}
    kind = "icount" if "callgrind" in str(ctx.get("method", "")) else "bench"
    rows, errors, reps = [], [], {}
    skip = {"family_index", "per_family_instance_index", "repetitions", "repetition_index",
            "threads", "iterations", "real_time", "cpu_time"}
    for b in doc["benchmarks"]:
        if not isinstance(b, dict) or "name" not in b or b.get("run_type") == "aggregate":
            continue
        name = plain_name(b.get("run_name") or b["name"])
        rep = b.get("repetition_index")
        if not isinstance(rep, int):
            rep = reps.get(name, 0)
        reps[name] = rep + 1
        if b.get("error_occurred"):
            errors.append((name, rep, str(b.get("error_message", "error"))))
            continue
        if numeric(b.get("real_time")) and kind == "bench":
            rows.append((name, rep, "time", float(b["real_time"])))
        for k, v in b.items():
            if k not in skip and numeric(v):
                rows.append((name, rep, k, float(v)))
    if not rows and not errors:
        raise HistoryError(f"{path} holds no benchmark results")
    return kind, rows, errors


def histograms_of(ts, path):
    """[(benchmark, repetition, name, count, buckets JSON)] from a --timeseries_out document."""
    if not isinstance(ts, dict) or not isinstance(ts.get("runs"), list):
        raise HistoryError(f"{path} is not a time series file (no \"runs\" list)")
    out = []
    for r in ts["runs"]:
        # A failed or lossy run's histogram holds only what arrived: kept out, never a figure.
        h = r.get("latency_us") if isinstance(r, dict) and not r.get("error") else None
        if isinstance(h, dict) and isinstance(h.get("buckets"), list) and r.get("repetition", -1) >= 0:
            out.append((r["name"], r["repetition"], "latency_us", int(h.get("count", 0)),
                        json.dumps(h["buckets"], separators=(",", ":"))))
    return out


def record(db, repo, path, timeseries=None, branch=None):
    """Records one result file (and its time series); returns (run id, new?)."""
    doc = load_json(path, "result file")
    kind, rows, errors = samples_of(doc, path)
    hists = histograms_of(load_json(timeseries, "time series"), timeseries) if timeseries else []
    ctx = doc.get("context", {}) if isinstance(doc.get("context"), dict) else {}
    blob = json.dumps(doc, sort_keys=True).encode()
    if timeseries:
        with open(timeseries, "rb") as f:
            blob += f.read()
    digest = hashlib.sha256(blob).hexdigest()
    sha, parent, subject, cdate = commit_facts(repo, str(ctx.get("git_sha", "")))
    dirty = {"true": 1, "false": 0}.get(str(ctx.get("git_dirty", "")).lower())
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    db.execute("BEGIN IMMEDIATE")
    try:
        old = db.execute("SELECT id FROM runs WHERE digest=?", (digest,)).fetchone()
        if old:
            db.execute("COMMIT")
            return old[0], False
        cur = db.execute(
            "INSERT INTO runs (digest, source, kind, sha, parent, branch, subject, commit_date, "
            "machine_class, build_type, build_flags, command, dirty, run_date, recorded_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (digest, os.path.relpath(path, repo), kind, sha, parent, branch, subject, cdate,
             ctx.get("machine_class"), ctx.get("build_type"), ctx.get("build_flags"),
             ctx.get("command"), dirty, ctx.get("date"), now))
        rid = cur.lastrowid
        db.executemany("INSERT INTO samples VALUES (?,?,?,?,?)", [(rid, *r) for r in rows])
        db.executemany("INSERT INTO errors VALUES (?,?,?,?)", [(rid, *e) for e in errors])
        db.executemany("INSERT INTO histograms VALUES (?,?,?,?,?,?)", [(rid, *h) for h in hists])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return rid, True


def commit_order(repo, ref="HEAD"):
    """Position of each commit on the first-parent line of ref (oldest first)."""
    out = git(repo, "rev-list", "--first-parent", "--reverse", ref)
    return {sha: i for i, sha in enumerate(out.split())}


def series(db, repo, benchmark_re=None, metric=None, machine=None, ref="HEAD"):
    """{(benchmark, metric, machine class): [(order, sha, subject, value), ...]} in commit order.
    Runs at commits off ref's first-parent line, of dirty trees or of no commit are left out."""
    order = commit_order(repo, ref)
    q = ("SELECT s.benchmark, s.metric, r.machine_class, r.sha, r.subject, s.value "
         "FROM samples s JOIN runs r ON r.id = s.run_id WHERE r.dirty IS NOT 1")
    args = []
    if metric:
        q += " AND s.metric = ?"
        args.append(metric)
    if machine:
        # Instruction counts belong to the binary, not the machine: one series for every class.
        q += " AND (r.machine_class = ? OR s.metric = 'instructions')"
        args.append(machine)
    out = {}
    for bench, m, mc, sha, subject, value in db.execute(q, args):
        if sha not in order or (benchmark_re and not benchmark_re.search(bench)):
            continue
        key = (bench, m, "any class" if m == "instructions" else mc)
        out.setdefault(key, []).append((order[sha], sha, subject, value))
    for pts in out.values():
        pts.sort(key=lambda p: p[0])
    return out


def change_points(pts, alpha=0.05, min_size=3, min_change=0.01, permutations=199):
    """(commits [(sha, subject)], change points [(commit index, ChangePoint)]) of one series
    (its points as series() gives them); None when it has fewer than 2 * min_size commits."""
    import edivisive
    commits = []
    for _, sha, subject, _ in pts:
        if not commits or commits[-1][0] != sha:
            commits.append((sha, subject))
    if len(commits) < 2 * min_size:
        return None
    cps = edivisive.detect([p[3] for p in pts], groups=[p[1] for p in pts], alpha=alpha,
                           min_size=min_size, permutations=permutations, seed=0)
    shas = [c[0] for c in commits]
    return commits, [(shas.index(cp.group), cp) for cp in cps if abs(cp.change) >= min_change]


def trends(db, repo, filter_re=None, metrics=None, machine=None, **detect):
    """Per series: its commits, every repetition as a point (x = commit index, offset by the
    repetition), and its change points with their verdicts; for the report's trend charts."""
    from comparison import direction
    rx = re.compile(filter_re) if filter_re else None
    out = []
    for metric in metrics or [None]:
        for (bench, m, mc), pts in sorted(series(db, repo, rx, metric, machine).items()):
            found = change_points(pts, **detect)
            commits = found[0] if found else list(dict.fromkeys((p[1], p[2]) for p in pts))
            idx = {sha: i for i, (sha, _) in enumerate(commits)}
            per = {}
            for _, sha, _, v in pts:
                per.setdefault(sha, []).append(v)
            xs, ys = [], []
            for sha, vals in per.items():
                for k, v in enumerate(vals):  # repetitions side by side within their commit
                    xs.append(idx[sha] + (k + 1) / (len(vals) + 1) - 0.5)
                    ys.append(v)
            order = sorted(range(len(xs)), key=lambda i: xs[i])
            cps = []
            for i, cp in (found[1] if found else []):
                d = direction(m)
                cps.append(dict(x=i - 0.5, before=commits[i - 1][0], after=commits[i][0],
                                change=cp.change, ci_low=cp.ci_low, ci_high=cp.ci_high,
                                p=cp.p_value, verdict="changed" if d == 0 else
                                ("better" if cp.change * d > 0 else "worse")))
            dates = dict(db.execute("SELECT sha, commit_date FROM runs WHERE sha IS NOT NULL"))
            out.append(dict(benchmark=bench, metric=m, machine=mc, tested=found is not None,
                            commits=[dict(sha=c[0], subject=c[1], date=dates.get(c[0]))
                                     for c in commits],
                            x=[xs[i] for i in order], y=[ys[i] for i in order],
                            change_points=cps))
    return out
