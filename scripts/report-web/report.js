// The HTML report's page: reads the data scripts/report embedded (#report-data) and draws it
// with uPlot (inlined beside this file). Every chart is registered in window.report.charts
// with the data it was given and its series' colours, so a test can read back what was drawn.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  // One colour per quantity across the page (the key below the summary names them); charts of
  // other series (profiles, commits) take the fallback palette in order.
  const QUANTITY_COLORS = {
    p50: "#1f5fd6", p90: "#8a2bd6", p99: "#d62828", max: "#e07000",
    "server CPU %": "#178a3e", server: "#178a3e", "generator CPU %": "#008b9a", generator: "#008b9a",
    "messages sent/s": "#795548", "durable deliveries/s": "#c2185b", "deliveries/s": "#c2185b",
    "volatile deliveries/s": "#7986cb", users: "#546e7a",
    errors: "#b71c1c", disconnects: "#f9a825", reconnects: "#33691e", resumes: "#00838f",
    "compared with": "#9e9e9e", "this run": "#0d47a1",
  };
  const COLORS = ["#3949ab", "#ad1457", "#2e7d32", "#6a1b9a", "#ef6c00", "#00695c", "#4e342e", "#283593"];
  // A chart's colours: each quantity its own, unknown labels (or a repeat) the palette's next.
  function colorsFor(labels) {
    const used = new Set();
    let next = 0;
    return labels.map((label) => {
      let c = QUANTITY_COLORS[label];
      if (!c || used.has(c)) {
        while (used.has(COLORS[next % COLORS.length]) && next < 2 * COLORS.length) next++;
        c = COLORS[next++ % COLORS.length];
      }
      used.add(c);
      return c;
    });
  }
  const EVENT_COLOR = "#000000";
  const WIDTH = 560, HEIGHT = 280;
  const report = { charts: [], data: data, quantityColors: QUANTITY_COLORS };
  window.report = report;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Absent stays absent: "-", never 0 (the console summary's rule).
  function fmt(v, digits, suffix) {
    if (v === null || v === undefined) return "-";
    return v.toFixed(digits) + (suffix || "");
  }

  // Vertical dashed lines at the run's events (a kill, a restart), with their names.
  function eventMarkers(events) {
    return {
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = EVENT_COLOR;
            ctx.fillStyle = EVENT_COLOR;
            ctx.lineWidth = 2 * devicePixelRatio;
            ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
            ctx.font = 12 * devicePixelRatio + "px sans-serif";
            events.forEach((ev, i) => {
              const x = Math.round(u.valToPos(ev.t_s, "x", true));
              if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
              // The label on the side of the line where it fits inside the plot.
              const w = ctx.measureText(ev.what).width, gap = 4 * devicePixelRatio;
              const right = x + gap + w <= u.bbox.left + u.bbox.width;
              ctx.fillText(ev.what, right ? x + gap : Math.max(u.bbox.left, x - gap - w), u.bbox.top + (14 + 14 * i) * devicePixelRatio);
            });
            ctx.restore();
          },
        ],
      },
    };
  }

  // One line chart: x values, named y series ([label, values]), optional log y and events.
  function lineChart(parent, id, title, xlabel, ylabel, xs, series, opts) {
    opts = opts || {};
    const box = el("div", { class: "chart", id: id });
    parent.appendChild(box);
    const many = xs.length > 40;
    const colors = colorsFor(series.map(([label]) => label));
    // Axes: room for the tick numbers and the label beside them; bars get whole-number ticks.
    const xAxis = { label: xlabel, labelSize: 22, size: 46 };
    if (opts.bars) Object.assign(xAxis, { splits: () => xs, values: (u, vals) => vals.map((v) => String(v)) });
    let rest = xs.length - 1;  // the point the legend shows when the cursor is elsewhere
    const spec = {
      title: title,
      hooks: { setCursor: [(u) => { if (u.cursor.idx === null || u.cursor.idx === undefined) u.setLegend({ idx: rest }); }] },
      width: WIDTH,
      height: HEIGHT,
      scales: {
        x: opts.bars ? { time: false, range: (u, lo, hi) => [lo - 0.6, hi + 0.6] } : opts.logx ? { time: false, distr: 3 } : { time: false },
        y: opts.log ? { distr: 3 } : opts.bars ? { range: (u, lo, hi) => [0, hi * 1.1] } : {},
      },
      axes: [xAxis, { label: ylabel, labelSize: 22, size: 64 }],
      series: [opts.xValue ? { label: xlabel, value: opts.xValue } : { label: xlabel }].concat(
        series.map(([label, _], i) => {
          const color = colors[i];
          if (opts.bars)  // grouped bars: each series beside the others at its x
            return { label: label, stroke: color, fill: color, width: 1, points: { show: false },
                     paths: uPlot.paths.bars({ size: [0.8 / series.length, 60], align: series.length > 1 ? (i ? 1 : -1) : 0 }) };
          if (opts.points)  // dots only: repetitions are samples, not a line through time
            return { label: label, stroke: color, width: 2, paths: () => null, points: { show: true, size: 7, fill: color } };
          return { label: label, stroke: color, width: 2, points: { show: !many, size: 7, fill: color }, spanGaps: false };
        })
      ),
      plugins: opts.events && opts.events.length ? [eventMarkers(opts.events)] : [],
    };
    const values = [xs].concat(series.map(([, v]) => v));
    const u = new uPlot(spec, values, box);
    // At rest the legend shows the last point that has a value (hovering shows the cursor's).
    while (rest > 0 && series.every(([, v]) => v[rest] === null || v[rest] === undefined)) rest--;
    if (xs.length) u.setLegend({ idx: rest });
    report.charts.push({
      id: id,
      title: title,
      x: xs,
      xlabel: xlabel,
      ylabel: ylabel,
      series: series.map(([label, v], i) => ({ label: label, color: colors[i], values: v })),
      events: opts.events || [],
      canvas: u.ctx.canvas,
      plot: u,
    });
    return u;
  }

  function table(parent, id, head, rows) {
    const t = el("table", { id: id });
    const tr = el("tr");
    head.forEach((h) => tr.appendChild(el("th", {}, h)));
    t.appendChild(tr);
    rows.forEach((r) => {
      const row = el("tr");
      r.forEach((c) => row.appendChild(el("td", c.key ? { "data-key": c.key } : {}, c.text)));
      t.appendChild(row);
    });
    parent.appendChild(t);
    return t;
  }

  function section(title, id) {
    const s = el("section", { id: id });
    s.appendChild(el("h2", {}, title));
    document.getElementById("content").appendChild(s);
    return s;
  }

  function summary() {
    const s = section("Summary", "summary-section");
    s.appendChild(el("p", {}, "One row per run; p99 of durable deliveries (of cursor staleness for cursor runs); - = not measured."));
    const head = ["benchmark", "rep", "users", "p50 ms", "p99 ms", "delivery", "deliveries/s", "srv CPU", "srv us/d", "usr/sys", "gen us/d", "usr/sys", "verdict"];
    const rows = data.summary.map((r) => [
      { text: r.name, key: "name" },
      { text: String(r.repetition), key: "repetition" },
      { text: fmt(r.users, 0), key: "users" },
      { text: r.p50_ms === null && r.lossy ? "lost" : fmt(r.p50_ms, 3), key: "p50_ms" },
      { text: r.p99_ms === null && r.lossy ? "lost" : fmt(r.p99_ms, 3), key: "p99_ms" },
      { text: fmt(r.delivery_pct, 2, " %"), key: "delivery_pct" },
      { text: fmt(r.deliveries_per_s, 0), key: "deliveries_per_s" },
      { text: fmt(r.server_cpu_pct, 1, " %"), key: "server_cpu_pct" },
      { text: fmt(r.server_cpu_us_per_delivery, 2), key: "server_cpu_us_per_delivery" },
      { text: r.server_split || "-", key: "server_split" },
      { text: fmt(r.generator_cpu_us_per_delivery, 2), key: "generator_cpu_us_per_delivery" },
      { text: r.generator_split || "-", key: "generator_split" },
      { text: r.verdict, key: "verdict" },
    ]);
    table(s, "summary", head, rows);
    if (data.failed.length) {
      s.appendChild(el("h3", {}, "Failed runs"));
      const ul = el("ul", { id: "failed" });
      data.failed.forEach((f) => ul.appendChild(el("li", {}, f.name + ": " + f.error)));
      s.appendChild(ul);
    }
    if (data.findings.length) {
      s.appendChild(el("h3", {}, "Findings (ranked by measured impact)"));
      const ol = el("ol");
      data.findings.forEach((f) => ol.appendChild(el("li", {}, f)));
      s.appendChild(ol);
    }
  }

  // The seed's success criteria as the bench judged them (its console table), PASS / FAIL /
  // NOT RUN, each on the worst repetition.
  function criteria() {
    if (!data.criteria) return;
    const s = section("Success criteria", "criteria-section");
    s.appendChild(el("p", {}, "The seed's criteria on the load/users:N runs, each judged on the worst repetition; NOT RUN: a user count it needs was not in the run (a failure under --criteria_exit); report only: kept from gating by --criteria_report_only."));
    const result = (c) => (c.pass ? "PASS" : c.run ? "FAIL" : "NOT RUN") + (c.gating ? "" : " (report only)");
    const t = table(s, "criteria", ["criterion", "threshold", "measured", "result"], data.criteria.map((c) => [
      { text: c.name, key: "name" }, { text: c.threshold, key: "threshold" }, { text: c.measured, key: "measured" },
      { text: result(c), key: "result" },
    ]));
    t.querySelectorAll("td[data-key=result]").forEach((td) => td.classList.add(td.textContent.startsWith("PASS") ? "pass" : "fail"));
  }

  // Every abbreviation and colour of the page, in one place (the glossary of docs/benchmarks.md
  // has every counter).
  function key() {
    const s = section("Key", "key-section");
    s.appendChild(el("p", {}, "Every counter of the JSON, its unit, how it is measured and over which window, and every verdict: docs/benchmarks.md, \u201cGlossary: every counter and verdict\u201d."));
    const terms = [
      ["p50, p90, p99, max", "percentiles of the latency of durable deliveries (graph ops), from the message's intended send time to its arrival; a lost message counts as never arriving"],
      ["delivery", "durable deliveries that arrived, of those expected (every other member of the room)"],
      ["deliveries/s", "messages arriving at recipients per second over the sending window (one message to 99 others is 99 deliveries)"],
      ["srv CPU", "the server process's CPU, % of one core, over the sending window; absent against a --target"],
      ["srv us/d, gen us/d", "CPU microseconds per delivery of the server and of the load generator"],
      ["usr/sys", "the same CPU in user space / in the kernel; over loopback each side's kernel part holds some of the other's receive work (docs/benchmarks.md)"],
      ["rep", "the repetition (Google Benchmark's --benchmark_repetitions), from 0"],
      ["default", "the server's default profile (optimized); other profiles are named (load/users:N/profile:P)"],
      ["verdict", "ok; generator-bound: the generator could not keep its schedule; machine-bound: every core over 90 % busy; LOSS: durable messages lost; ERRORS: 0.1 % of messages or more met an error; ERROR: the run failed"],
      ["-", "not measured (never 0)"],
    ];
    table(s, "key", ["term", "meaning"], terms.map(([t, m]) => [{ text: t }, { text: m }]));
    const colors = el("p", { id: "colors" });
    colors.appendChild(document.createTextNode("Colours, the same quantity in every chart: "));
    Object.entries(QUANTITY_COLORS).forEach(([q, c], i) => {
      const sw = el("span", { class: "swatch", style: "background:" + c }, "");
      colors.appendChild(sw);
      colors.appendChild(document.createTextNode(" " + q + (i + 1 < Object.keys(QUANTITY_COLORS).length ? ";  " : ".")));
    });
    s.appendChild(colors);
  }

  // A count per interval as a rate: over the interval's own length (the last is partial).
  function perSecond(points, key) {
    return points.map((p, i) => {
      const dt = p.t_s - (i ? points[i - 1].t_s : 0);
      return p[key] === undefined || !(dt > 0) ? null : p[key] / dt;
    });
  }
  function pick(points, key) {
    return points.map((p) => (p[key] === undefined ? null : p[key]));
  }

  function overTime() {
    const runs = data.series.filter((r) => !r.step);
    if (!runs.length) return;
    const s = section("Over time", "series-section");
    s.appendChild(el("p", {}, "Per interval of " + data.interval_ms + " ms, seconds after the schedule's start. Dashed black lines: the run's events."));
    runs.forEach((r, k) => {
      const card = el("div", { class: "run", "data-run": r.name + (r.repetition > 0 ? "#" + r.repetition : "") });
      const title = r.name + (r.repetition > 0 ? " (repetition " + r.repetition + ")" : "") + (r.error ? " — FAILED" : "") + (r.lost ? " — " + r.lost + " lost" : "");
      card.appendChild(el("h3", {}, title));
      if (r.events.length)
        card.appendChild(el("p", {}, "Events: " + r.events.map((e) => e.what + " at " + e.t_s.toFixed(2) + " s").join("; ")));
      if (r.phases && r.phases.length)
        table(card, "phases-" + k, ["phase", "from s", "to s", "users", "rate", "deliveries", "p50 ms", "p90 ms", "p99 ms", "max ms"],
          r.phases.map((p) => [
            { text: p.name },
            { text: fmt(p.start_s, 1) },
            { text: fmt(p.end_s, 1) },
            { text: p.users_from === p.users_to ? String(p.users_to) : p.users_from + " \u2192 " + p.users_to },
            { text: "\u00d7" + p.rate },
            { text: String(p.deliveries) },
            { text: p.lost ? "lost" : fmt(p.p50_ms, 3), key: "phase-p50" },
            { text: p.lost ? "lost" : fmt(p.p90_ms, 3) },
            { text: p.lost ? "lost" : fmt(p.p99_ms, 3), key: "phase-p99" },
            { text: p.lost ? "lost" : fmt(p.max_ms, 3) },
          ]));
      s.appendChild(card);
      const charts = el("div", { class: "charts" });
      card.appendChild(charts);
      const pts = r.intervals;
      const xs = pick(pts, "t_s");
      if (!pts.length) {
        card.appendChild(el("p", { class: "absent" }, "No interval was recorded."));
        return;
      }
      lineChart(charts, "latency-" + k, "Latency of durable deliveries", "time since start, s", "latency, ms (log)", xs,
        [["p50", pick(pts, "p50_ms")], ["p90", pick(pts, "p90_ms")], ["p99", pick(pts, "p99_ms")], ["max", pick(pts, "max_ms")]],
        { log: true, events: r.events });
      lineChart(charts, "throughput-" + k, "Throughput", "time since start, s", "rate, per s", xs,
        [["messages sent/s", perSecond(pts, "sent")], ["durable deliveries/s", perSecond(pts, "durable")], ["volatile deliveries/s", perSecond(pts, "volatile")]],
        { events: r.events });
      if (pts.some((p) => p.users !== undefined))
        lineChart(charts, "users-" + k, "Users in the rooms", "time since start, s", "users", xs, [["users", pick(pts, "users")]], { events: r.events });
      const cpu = [["server CPU %", pick(pts, "server_cpu_pct")], ["generator CPU %", pick(pts, "generator_cpu_pct")]];
      lineChart(charts, "cpu-" + k, "CPU (% of one core)", "time since start, s", "CPU, % of one core", xs, cpu, { events: r.events });
      const faults = ["errors", "disconnects", "reconnects", "resumes"];
      if (pts.some((p) => faults.some((f) => p[f] > 0)))
        lineChart(charts, "faults-" + k, "Errors and reconnects per interval", "time since start, s", "count per interval", xs, faults.map((f) => [f, pick(pts, f)]), { events: r.events });
      else card.appendChild(el("p", { class: "absent" }, "No errors, disconnects, reconnects or resumes in any interval."));
    });
  }

  function usersCurves() {
    const c = data.users_curves;
    if (!c.users.length) return;
    const s = section("Latency against users", "users-section");
    const series = [];
    for (const [profile, v] of Object.entries(c.profiles)) {
      series.push([profile + " p50", v.p50]);
      series.push([profile + " p99", v.p99]);
    }
    lineChart(s, "users", "Percentiles of durable deliveries against users (median over repetitions)", "users", "latency, ms (log)", c.users, series, { log: true });
  }

  function capacity() {
    const steps = data.series.filter((r) => r.step);
    if (!steps.length) return;
    const s = section("Capacity search", "capacity-section");
    const xs = steps.map((r) => r.step.users);
    lineChart(s, "capacity", "Capacity steps", "users", "deliveries per s", xs, [["deliveries/s", steps.map((r) => r.step.deliveries_per_s)]]);
    lineChart(s, "capacity-p99", "p99 at each step", "users", "p99, ms (log)", xs, [["p99", steps.map((r) => (r.step.p99_ms === undefined ? null : r.step.p99_ms))]], { log: true });
    // In the order they ran (a bisection goes back and forth); the capacity is the largest
    // passing step, and the summary's verdict for load/capacity is that step's.
    const best = steps.reduce((b, r) => (r.step.passed && (!b || r.step.users >= b.step.users) ? r : b), null);
    s.appendChild(el("p", {}, "Steps in the order they ran. The capacity is the largest passing step (marked), and the summary's verdict for load/capacity is that step's saturation: machine before generator, as everywhere."));
    table(s, "capacity-steps", ["users", "passed", "p99 ms", "delivery", "deliveries/s", "saturated"],
      steps.map((r) => [
        { text: String(r.step.users) + (r === best ? " \u2190 capacity" : "") },
        { text: r.step.passed ? "pass" : "FAIL" },
        { text: fmt(r.step.p99_ms, 2) },
        { text: fmt(r.step.delivery_pct, 3, " %") },
        { text: fmt(r.step.deliveries_per_s, 0) },
        { text: r.step.machine_saturated ? (r.step.generator_saturated ? "machine (and generator)" : "machine") : r.step.generator_saturated ? "generator" : "-" },
      ]));
  }

  function cost() {
    const rows = data.summary.filter((r) => r.server_cpu_us_per_delivery !== null || r.generator_cpu_us_per_delivery !== null);
    if (!rows.length) return;
    const s = section("Cost per delivery", "cost-section");
    s.appendChild(el("p", {}, "CPU microseconds per delivery, server and generator, by run (x: the summary's row)."));
    table(s, "cost-legend", ["row", "benchmark"], rows.map((r, i) => [{ text: String(i + 1) }, { text: r.name + (r.repetition ? " #" + r.repetition : "") }]));
    lineChart(s, "cost", "CPU per delivery", "summary row", "µs per delivery", rows.map((_, i) => i + 1),
      [["server", rows.map((r) => r.server_cpu_us_per_delivery)], ["generator", rows.map((r) => r.generator_cpu_us_per_delivery)]],
      { bars: true });
  }

  function compare() {
    if (!data.compare) return;
    const s = section("Compared with " + data.compare.base, "compare-section");
    s.appendChild(el("p", {}, "Medians of each side's repetitions; p of a two-sided Mann-Whitney U test; a verdict only when p < " +
      data.compare.alpha + " and the change exceeds " + data.compare.threshold * 100 + " %."));
    table(s, "compare", ["benchmark", "metric", "base", "this run", "change", "p (U test)", "n", "verdict"],
      data.compare.rows.map((r) => [
        { text: r.name }, { text: r.metric }, { text: r.base }, { text: r.new }, { text: r.change },
        { text: r.p }, { text: r.n }, { text: r.verdict, key: "verdict" },
      ]));
  }

  // Whole latency distributions of the compared runs: both merged histograms as CDFs on a log
  // latency axis, and the KS distance with its p-value over repetitions.
  function distributions() {
    if (!data.distributions) return;
    const s = section("Latency distributions compared", "distributions-section");
    s.appendChild(el("p", {}, "Each side's deliveries of all its repetitions, as the fraction delivered within a latency (log axis). " +
      "D: the largest vertical gap (Kolmogorov-Smirnov); p: how often a split of the repetitions between the sides gives a gap as large."));
    const charts = el("div", { class: "charts" });
    s.appendChild(charts);
    data.distributions.forEach((d, k) => {
      lineChart(charts, "cdf-" + k, d.name + ": D " + d.d.toFixed(4) + (d.p === null ? "" : ", p " + d.p.toFixed(4)), "latency ms", "fraction delivered",
        d.x_ms, [["compared with", d.base], ["this run", d.new]], { logx: true });
    });
    table(s, "distributions", ["benchmark", "repetitions", "KS D", "p", "verdict"], data.distributions.map((d) => [
      { text: d.name }, { text: d.reps.join(" v ") }, { text: d.d.toFixed(4), key: "d" },
      { text: d.p === null ? "-" : d.p.toFixed(4) }, { text: d.different ? "different (KS)" : "no difference found", key: "verdict" },
    ]));
  }

  // The history: a chart per series, the metric over commits (x = commit order, every
  // repetition a point beside its commit's others), change points as dashed lines labelled
  // with their magnitude; hovering shows the commit's sha, subject and date.
  function trends() {
    if (!data.trends) return;
    const s = section("Trends over commits", "trends-section");
    s.appendChild(el("p", {}, "From the history " + data.trends.db + ": x is the commit's place on the first-parent line (0 = oldest measured), " +
      "each dot one repetition; a dashed line is a change point (E-divisive means, p < " + data.trends.alpha + "), labelled with its change of the mean."));
    const charts = el("div", { class: "charts" });
    s.appendChild(charts);
    const open = [];
    data.trends.series.forEach((t, k) => {
      const commit = (v) => t.commits[Math.max(0, Math.min(t.commits.length - 1, Math.round(v)))];
      const events = t.change_points.map((c) => ({ t_s: c.x, what: (c.change * 100).toFixed(1) + "% " + c.verdict }));
      const xValue = (self, v) => {
        if (v === null || v === undefined) return "-";
        const c = commit(v);
        return c.sha.slice(0, 10) + " " + c.subject + (c.date ? " (" + c.date.slice(0, 10) + ")" : "");
      };
      lineChart(charts, "trend-" + k, t.benchmark + " " + t.metric + " [" + t.machine + "]", "commit", t.metric,
        t.x, [[t.metric, t.y]], { events: events, points: true, xValue: xValue });
      t.change_points.forEach((c) => open.push([t, c]));
      if (!t.tested) charts.appendChild(el("p", { class: "absent" }, t.benchmark + " " + t.metric + ": fewer commits than change-point detection needs: not tested."));
    });
    s.appendChild(el("h3", {}, "Change points"));
    if (!open.length) {
      s.appendChild(el("p", { id: "no-change-points" }, "None found."));
      return;
    }
    open.sort((a, b) => b[1].x - a[1].x);
    table(s, "change-points", ["benchmark", "metric", "machine", "commits", "change", "95% interval", "p", "verdict"],
      open.map(([t, c]) => [
        { text: t.benchmark }, { text: t.metric }, { text: t.machine },
        { text: c.before.slice(0, 10) + ".." + c.after.slice(0, 10), key: "range" },
        { text: (c.change * 100).toFixed(2) + " %", key: "change" },
        { text: (c.ci_low * 100).toFixed(2) + " .. " + (c.ci_high * 100).toFixed(2) + " %" },
        { text: c.p.toFixed(4) }, { text: c.verdict, key: "verdict" },
      ]));
  }

  document.getElementById("provenance").textContent = data.provenance;
  // Where each profiled run's CPU went: its components per delivery, its top frames, and a flame
  // graph (d3-flame-graph: a click on a frame zooms to it, a click on the root zooms out).
  function profiles() {
    if (!data.profiles) return;
    const s = section("Where the CPU goes", "profiles-section");
    s.appendChild(el("p", {}, "From bench --cpu_profile: perf's cpu-clock samples over the measured window. A sample goes to the first frame from the leaf up that the rule table names (docs/benchmarks.md); per delivery is the component's share times the side's measured CPU per delivery."));
    data.profiles.forEach((p, i) => {
      const d = el("div", { class: "run profile", id: `profile-${i}` });
      d.appendChild(el("h3", {}, `${p.run}: ${p.side}`));
      d.appendChild(el("p", {}, `${p.samples} samples, ${fmt(p.named_pct, 1, " %")} in named components; ${fmt(p.cpu_us_per_delivery, 2)} us of CPU per delivery in all.`));
      const rows = p.components.filter((c) => c[1] > 0).sort((a, b) => b[1] - a[1]).map((c) => [
        { text: c[0], key: "component" },
        { text: fmt(c[1], 2, " %"), key: "share" },
        { text: fmt(c[2] === null || c[2] === undefined ? null : c[2], 3), key: "us_per_delivery" },
      ]);
      table(d, `attribution-${i}`, ["component", "share of samples", "us per delivery"], rows);
      table(d, `top-self-${i}`, ["frame (as the leaf)", "samples"],
        p.top_self.slice(0, 10).map((f) => [{ text: f[0], key: "frame" }, { text: String(f[1]), key: "samples" }]));
      const g = el("div", { class: "flame", id: `flame-${i}` });
      d.appendChild(g);
      s.appendChild(d);
      if (typeof flamegraph === "undefined") return;
      const chart = flamegraph.default().width(Math.min(1150, document.body.clientWidth - 40)).cellHeight(18)
        .transitionDuration(0).minFrameSize(1).sort(true).title("");
      d3.select(g).datum(p.tree).call(chart);
    });
    (data.profile_diffs || []).forEach((p, i) => {
      const d = el("div", { class: "run profile-diff", id: `profile-diff-${i}` });
      d.appendChild(el("h3", {}, `${p.run}: ${p.side}, against ${p.base}`));
      d.appendChild(el("p", {}, `CPU per delivery ${fmt(p.cpu_us_per_delivery[0], 2)} us there, ${fmt(p.cpu_us_per_delivery[1], 2)} us here. Frames are this run's, sized by their CPU per delivery; red: their own time per delivery grew, blue: it shrank (the deeper the colour, the larger the change against the frame's time).`));
      table(d, `diff-attribution-${i}`, ["component", "us/d there", "us/d here", "change"], p.components.map((c) => [
        { text: c[0], key: "component" },
        { text: fmt(c[1], 3), key: "base" },
        { text: fmt(c[2], 3), key: "new" },
        { text: c[1] === null || c[2] === null ? "-" : (c[2] - c[1] >= 0 ? "+" : "") + (c[2] - c[1]).toFixed(3), key: "change" },
      ]));
      const g = el("div", { class: "flame", id: `flame-diff-${i}` });
      d.appendChild(g);
      s.appendChild(d);
      if (typeof flamegraph === "undefined") return;
      const chart = flamegraph.default().width(Math.min(1150, document.body.clientWidth - 40)).cellHeight(18)
        .transitionDuration(0).minFrameSize(1).sort(true).title("").computeDelta(true)
        .setColorMapper(flamegraph.colorMapper.differentialColorMapper);
      d3.select(g).datum(p.tree).call(chart);
    });
  }

  summary();
  criteria();
  key();
  overTime();
  usersCurves();
  capacity();
  cost();
  compare();
  distributions();
  trends();
  profiles();
  report.done = true;
})();
