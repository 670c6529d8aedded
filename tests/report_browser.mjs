// Renders a report made by scripts/report in headless Chromium and checks it:
// no JavaScript error and no network request; every chart drew its data (pixels of each
// series' colour on its canvas, read back through the page, and the event markers' colour
// where the run had events); the charts' values and the summary table equal the JSON files
// (read here, not through the page); and, given the bench's console output, the table's rows
// equal the console summary's. Exit 0 when every check passed, 1 otherwise.
//
// usage: node report_browser.mjs --html OUT/index.html --results R.json [--timeseries T.json]
//                                [--console CONSOLE.txt] [--screenshot OUT.png]
//                                [--screenshot_run NAME=OUT.png] [--trends EXPECTED.json]
//                                [--cdfs N] [--profiles DIR]
// With --profiles (the bench's --cpu_profile_out): each profile's flame graph drew its frames
// with readable names, a click on a frame zooms to it, and its attribution table equals the
// profile's JSON file.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.join(path.dirname(new URL(import.meta.url).pathname), "..", "scripts", "report-web", "package.json"));
const { chromium } = require("playwright-core");

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const failures = [];
function check(what, ok, detail) {
  if (!ok) {
    failures.push(what);
    console.log(`FAIL ${what}: ${detail === undefined ? "" : JSON.stringify(detail).slice(0, 400)}`);
  }
}

const FAMILIES = ["load/", "conn/", "loss/", "soak/"];
// The page's colour per quantity (report.js), read back from the page after it loads.
let QUANTITIES = {};
// Labels that are one quantity under two names (a chart of server CPU % and a bar of server us/d).
const QUANTITIES_NAME = (label) => ({ "server CPU %": "server", "generator CPU %": "generator", "deliveries/s": "durable deliveries/s" }[label] || label);
const fixed = (v, d, s = "") => (v === undefined || v === null || !Number.isFinite(v) ? "-" : v.toFixed(d) + s);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [], requests = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  const url = "file://" + path.resolve(args.html);
  page.on("request", (r) => r.url() !== url && requests.push(r.url()));
  await page.goto(url);
  const done = await page.waitForFunction(() => window.report && window.report.done, null, { timeout: 10000 }).then(() => true, () => false);
  check("the page finished drawing", done);
  check("no JavaScript error", errors.length === 0, errors);
  check("no network request (the page is self-contained)", requests.length === 0, requests);
  if (done) QUANTITIES = await page.evaluate(() => window.report.quantityColors);

  // What each chart drew, counted on its canvas.
  const charts = done ? await page.evaluate(() => {
    const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const count = (canvas, color) => {
      const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      const [r, g, b] = rgb(color);
      let n = 0;
      for (let i = 0; i < px.length; i += 4)
        if (px[i + 3] > 200 && Math.abs(px[i] - r) < 10 && Math.abs(px[i + 1] - g) < 10 && Math.abs(px[i + 2] - b) < 10) n++;
      return n;
    };
    return window.report.charts.map((c) => ({
      id: c.id, x: c.x, events: c.events.length,
      eventPixels: c.events.length ? count(c.canvas, "#000000") : 0,
      series: c.series.map((s, i) => {
        // Where each point lies on the canvas: a point drawn within a few pixels of a later
        // series' point at the same x is covered by it (the later one is drawn on top).
        const y = (v) => (v === null || !c.plot ? null : c.plot.valToPos(v, "y", true));
        const covered = s.values.map((v, k) => v === null ||
          c.series.slice(i + 1).some((t) => c.plot && t.values[k] !== null && Math.abs(y(t.values[k]) - y(v)) < 8 * devicePixelRatio));
        return { label: s.label, values: s.values, pixels: count(c.canvas, s.color), visible: covered.filter((x) => !x).length };
      }),
    }));
  }) : [];
  check("charts were drawn", charts.length > 0, charts.length);
  for (const c of charts) {
    c.series.forEach((s, i) => {
      const finite = s.values.filter((v) => v !== null && Number.isFinite(v)).length;
      // A series whose every point lies under a later series' (all zeros under all zeros,
      // percentiles within a pixel of each other) cannot show; any other must have pixels.
      if (finite && s.visible) check(`${c.id}: series '${s.label}' drew its ${s.visible} uncovered point(s)`, s.pixels > 0, s.pixels);
    });
    if (c.events) check(`${c.id}: its ${c.events} event marker(s) drawn`, c.eventPixels > 0, c.eventPixels);
  }

  // The charts' values against the time series document.
  if (args.timeseries) {
    const doc = JSON.parse(fs.readFileSync(args.timeseries, "utf8"));
    const runs = doc.runs.filter((r) => !r.step);
    const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
    runs.forEach((r, k) => {
      if (!r.intervals.length) return;
      const lat = byId["latency-" + k], thr = byId["throughput-" + k];
      check(`run ${k} (${r.name}) has its latency chart`, !!lat);
      check(`run ${k} (${r.name}) has its throughput chart`, !!thr);
      if (!lat || !thr) return;
      const want = (key, scale = 1) => r.intervals.map((p) => (p[key] === undefined ? null : p[key] / scale));
      check(`run ${k}: x is the intervals' times`, JSON.stringify(lat.x) === JSON.stringify(want("t_s")));
      for (const [label, key] of [["p50", "p50_ms"], ["p99", "p99_ms"], ["max", "max_ms"]]) {
        const s = lat.series.find((x) => x.label === label);
        check(`run ${k}: ${label} over time equals the JSON's`, s && JSON.stringify(s.values) === JSON.stringify(want(key)), s && s.values);
      }
      const d = thr.series.find((x) => x.label === "durable deliveries/s");
      // Each interval's count over its own length (the first starts at 0, the last is partial).
      const rate = r.intervals.map((p, i) => p.durable / (p.t_s - (i ? r.intervals[i - 1].t_s : 0)));
      check(`run ${k}: deliveries/s over time equals the JSON's`, d && JSON.stringify(d.values) === JSON.stringify(rate), d && [d.values, rate]);
      check(`run ${k}: its events are marked`, lat.events === r.events.length, [lat.events, r.events.length]);
    });
    // A planned run's phases: a row each, its percentiles the JSON's.
    for (const [k, r] of runs.entries()) {
      if (!r.phases) continue;
      const rows = await page.$$eval(`#phases-${k} tr`, (trs) =>
        trs.slice(1).map((tr) => Object.fromEntries([...tr.querySelectorAll("td")].map((td, i) => [td.dataset.key || i, td.textContent]))));
      check(`run ${k}: a row per phase`, rows.length === r.phases.length, [rows.length, r.phases.length]);
      r.phases.forEach((p, i) => {
        const row = rows[i] || {};
        check(`run ${k} phase ${p.name}: named`, row[0] === p.name, row[0]);
        check(`run ${k} phase ${p.name}: p99 equals the JSON's`, row["phase-p99"] === (p.lost ? "lost" : fixed(p.p99_ms, 3)), [row["phase-p99"], p.p99_ms]);
      });
    }
  }

  // The criteria table against the bench's judgement in the time series document.
  if (args.timeseries) {
    const doc = JSON.parse(fs.readFileSync(args.timeseries, "utf8"));
    const want = doc.criteria || [];
    const rows = await page.$$eval("#criteria tr", (trs) =>
      trs.slice(1).map((tr) => Object.fromEntries([...tr.querySelectorAll("td")].map((td) => [td.dataset.key, td.textContent])))).catch(() => []);
    check(`a criteria row per criterion the bench judged (${want.length})`, rows.length === want.length, [rows.length, want.length]);
    want.forEach((c, i) => {
      const r = rows[i] || {};
      const result = (c.pass ? "PASS" : c.run ? "FAIL" : "NOT RUN") + (c.gating ? "" : " (report only)");
      for (const [k, v] of [["name", c.name], ["threshold", c.threshold], ["measured", c.measured], ["result", result]])
        check(`criterion ${i} (${c.name}) ${k} equals the JSON's`, r[k] === v, [r[k], v]);
    });
  }

  // Every chart: named axes, and a legend that shows a value for each series that has one at
  // the point under the cursor.
  const info = await page.evaluate(() => window.report.charts.map((c) => {
    let best = 0, most = -1;
    c.x.forEach((_, k) => {
      const n = c.series.filter((s) => s.values[k] !== null && s.values[k] !== undefined).length;
      if (n > most) { most = n; best = k; }
    });
    return { id: c.id, xlabel: c.xlabel, ylabel: c.ylabel, k: best, has: c.series.map((s) => s.values[best] !== null && s.values[best] !== undefined),
             left: c.plot.valToPos(c.x[best], "x"), labels: c.series.map((s) => s.label), colors: c.series.map((s) => s.color) };
  }));
  const seen = {};
  for (const c of info) {
    check(`${c.id}: both axes named`, !!c.xlabel && !!c.ylabel, [c.xlabel, c.ylabel]);
    const over = await page.$(`[id="${c.id}"] .u-over`);
    if (!over) { check(`${c.id}: has a plot area`, false); continue; }
    await over.scrollIntoViewIfNeeded();
    const b = await over.boundingBox();
    await page.mouse.move(b.x + Math.min(Math.max(c.left, 1), b.width - 1), b.y + b.height / 2);
    const values = await page.$$eval(`[id="${c.id}"] .u-legend .u-series`, (rows) => rows.slice(1).map((r) => {
      const v = r.querySelector(".u-value");
      return v ? v.textContent : "";
    }));
    c.has.forEach((has, i) => {
      if (has) check(`${c.id}: the legend shows '${c.labels[i]}''s value on hover`, values[i] !== undefined && values[i] !== "--" && values[i] !== "",
        [values[i], c.labels[i]]);
    });
    c.labels.forEach((label, i) => {
      if (!(label in QUANTITIES)) return;
      check(`${c.id}: '${label}' has its quantity's colour`, c.colors[i] === QUANTITIES[label], [c.colors[i], QUANTITIES[label]]);
      if (seen[c.colors[i]] && seen[c.colors[i]] !== QUANTITIES_NAME(label))
        check(`colour ${c.colors[i]} means one quantity on the page`, false, [seen[c.colors[i]], label]);
      seen[c.colors[i]] = QUANTITIES_NAME(label);
    });
  }

  // The summary table against the results JSON and the console summary.
  const split = (b, side) => {
    const u = b[`${side}_user_cpu_us_per_delivery`], k = b[`${side}_sys_cpu_us_per_delivery`];
    return u === undefined || k === undefined ? "-" : `${u.toFixed(2)}/${k.toFixed(2)}`;
  };
  const table = await page.$$eval("#summary tr", (trs) =>
    trs.slice(1).map((tr) => Object.fromEntries([...tr.querySelectorAll("td")].map((td) => [td.dataset.key, td.textContent]))));
  const results = JSON.parse(fs.readFileSync(args.results, "utf8")).benchmarks.filter(
    (b) => b.run_type !== "aggregate" && FAMILIES.some((f) => b.name.startsWith(f)));
  check("a table row per run", table.length === results.length, [table.length, results.length]);
  results.forEach((b, i) => {
    const row = table[i] || {};
    const name = b.name.split("/iterations:")[0];
    const staleness = b.p99_ms === undefined && b.staleness_p99_ms !== undefined;
    const p = (q) => (staleness ? b[`staleness_${q}_ms`] : b[`${q}_ms`]);
    const lossy = (b.label || "").includes("LOSS");
    const pct = (v) => (v === undefined && lossy ? "lost" : fixed(v, 3));
    const want = {
      name: name, users: fixed(b.users_joined, 0), p50_ms: pct(p("p50")), p99_ms: pct(p("p99")),
      delivery_pct: fixed(b.delivery_pct, 2, " %"), deliveries_per_s: fixed(b.deliveries_per_s, 0),
      server_cpu_pct: fixed(b.server_cpu_pct, 1, " %"), server_cpu_us_per_delivery: fixed(b.server_cpu_us_per_delivery, 2),
      generator_cpu_us_per_delivery: fixed(b.generator_cpu_us_per_delivery, 2),
      server_split: split(b, "server"), generator_split: split(b, "generator"),
    };
    for (const [k, v] of Object.entries(want)) check(`row ${i} (${name}) ${k} equals the JSON's`, row[k] === v, [row[k], v]);
  });
  if (args.console) {
    const text = fs.readFileSync(args.console, "utf8");
    const lines = text.slice(text.indexOf("\nSummary (")).split("\n").slice(3);
    const rows = [];
    for (const line of lines) {
      if (!line.trim()) break;
      rows.push(line.replace(/ %/g, "%").trim().split(/\s+/));
    }
    check("the console summary has a row per run", rows.length === table.length, [rows.length, table.length]);
    rows.forEach((cols, i) => {
      const row = table[i] || {};
      const html = [row.name, row.users, row.p50_ms, row.p99_ms, row.delivery_pct, row.deliveries_per_s, row.server_cpu_pct,
        row.server_cpu_us_per_delivery, row.server_split, row.generator_cpu_us_per_delivery, row.generator_split, row.verdict].map((c) => (c || "").replace(/ %/g, "%"));
      check(`row ${i} equals the console summary's`, JSON.stringify(cols) === JSON.stringify(html), [cols, html]);
    });
  }
  // Overlaid CDFs of compared runs: each curve rises to 1, and the table has a row per chart.
  const cdfs = charts.filter((c) => c.id.startsWith("cdf-"));
  for (const c of cdfs)
    for (const sr of c.series)
      check(`${c.id}: '${sr.label}' is a CDF (rises to 1)`, sr.values.every((v, i) => i === 0 || v >= sr.values[i - 1]) &&
        Math.abs(sr.values[sr.values.length - 1] - 1) < 1e-9, sr.values.slice(-3));
  if (args.cdfs !== undefined) {
    const rows = await page.$$eval("#distributions tr", (trs) => trs.length - 1).catch(() => 0);
    check(`a CDF chart per compared benchmark (${args.cdfs})`, cdfs.length === Number(args.cdfs) && rows === cdfs.length, [cdfs.length, rows]);
  }

  // The trends of a history against what the history holds (EXPECTED.json, written from the
  // database by the caller): each series' points, its change points marked and tabled, and the
  // commit named on hover.
  if (args.trends) {
    const want = JSON.parse(fs.readFileSync(args.trends, "utf8"));
    const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
    let cps = 0;
    for (const [k, t] of want.entries()) {
      const c = byId["trend-" + k];
      check(`trend ${k} (${t.benchmark} ${t.metric}) has its chart`, !!c);
      if (!c) continue;
      const got = [...c.series[0].values].sort((a, b) => a - b), exp = [...t.values].sort((a, b) => a - b);
      check(`trend ${k}: every repetition of the history drawn`, JSON.stringify(got) === JSON.stringify(exp), [got.length, exp.length]);
      check(`trend ${k}: its ${t.change_points} change point(s) marked`, c.events === t.change_points, [c.events, t.change_points]);
      cps += t.change_points;
      const box = await page.$(`#trend-${k} .u-over`);
      if (box) {
        await box.scrollIntoViewIfNeeded();
        const b = await box.boundingBox();
        await page.mouse.move(b.x + b.width - 3, b.y + b.height / 2);
        const legend = await page.$eval(`#trend-${k} .u-legend .u-series:first-child .u-value`, (e) => e.textContent).catch(() => "");
        check(`trend ${k}: hovering names the commit`, t.shas.some((sha) => legend.startsWith(sha.slice(0, 10))), legend);
      }
    }
    const rows = await page.$$eval("#change-points tr", (trs) => trs.length - 1).catch(() => 0);
    check("a change-point table row per change point", rows === cps, [rows, cps]);
  }
  if (args.profiles) {
    const files = fs.readdirSync(args.profiles).filter((f) => f.endsWith(".json"));
    const shown = await page.$$eval(".profile", (ds) => ds.map((d) => d.id));
    check("a profile section per profile file", shown.length === files.length, [shown, files]);
    for (const id of shown) {
      const i = id.split("-")[1];
      const title = await page.$eval(`#${id} h3`, (h) => h.textContent);
      const [run, side] = title.split(": ");
      const file = files.find((f) => f.endsWith(`.${side}.json`) && f.startsWith(run.replace(/[^A-Za-z0-9.\-]/g, "_")));
      check(`${title}: its file`, !!file, files);
      if (!file) continue;
      const att = JSON.parse(fs.readFileSync(path.join(args.profiles, file), "utf8"));
      const rows = await page.$$eval(`#attribution-${i} tr`, (trs) =>
        trs.slice(1).map((tr) => Object.fromEntries([...tr.querySelectorAll("td")].map((td) => [td.dataset.key, td.textContent]))));
      const want = Object.entries(att.components).filter(([, v]) => v > 0);
      check(`${title}: a row per component with samples`, rows.length === want.length, [rows.length, want.length]);
      for (const [c, v] of want) {
        const r = rows.find((x) => x.component === c);
        check(`${title}: ${c}'s share equals the JSON's`, r && r.share === fixed(v, 2, " %"), [r, v]);
      }
      const frames = await page.$$eval(`#flame-${i} svg g`, (gs) => gs.length);
      check(`${title}: the flame graph drew its frames`, frames > 10, frames);
      const labels = await page.$$eval(`#flame-${i} .d3-flame-graph-label`, (ls) => ls.map((l) => l.textContent));
      const top = att.top_total.map((f) => f[0]);
      check(`${title}: frames named readably`, labels.some((l) => top.some((t) => l.startsWith(t.slice(0, 20)))), labels.slice(0, 8));
      // A click on a frame of the second level zooms: its rectangle then spans the whole width.
      const widths = await page.$$eval(`#flame-${i} svg g`, (gs) => gs.map((g) => {
        const r = g.querySelector("rect");
        return r ? +r.getAttribute("width") : 0;
      }));
      const full = Math.max(...widths);
      const k = widths.findIndex((w) => w > full * 0.05 && w < full * 0.9);
      check(`${title}: a frame narrower than the whole to click`, k >= 0, widths.slice(0, 10));
      if (k >= 0) {
        // The frame by its node (name and depth): a redraw may reorder the elements.
        const node = await page.$$eval(`#flame-${i} svg g`, (gs, k) => [gs[k].__data__.data.name, gs[k].__data__.depth], k);
        const gs = await page.$$(`#flame-${i} svg g`);
        await gs[k].click();
        await page.waitForTimeout(300);
        const after = await page.$$eval(`#flame-${i} svg g`, (gs, node) => Math.max(0, ...gs
          .filter((g) => g.__data__ && g.__data__.data.name === node[0] && g.__data__.depth === node[1])
          .map((g) => +g.querySelector("rect").getAttribute("width"))), node);
        // Zoomed: the frame (or the parent the click landed in) spans about the whole width.
        check(`${title}: a click zooms to the frame`, after > widths[k] * 1.2 && after >= 0.9 * full, [widths[k], after, full]);
      }
    }
  }
  if (args.profiles) {
    // The differential flame graphs (--compare-profiles): drawn, and each component's CPU per
    // delivery here equal to the results JSON's counter.
    const results = JSON.parse(fs.readFileSync(args.results, "utf8")).benchmarks;
    const diffs = await page.$$eval(".profile-diff", (ds) => ds.map((d) => [d.id, d.querySelector("h3").textContent]));
    for (const [id, title] of diffs) {
      const i = id.split("-")[2];
      const [run, rest] = title.split(": ");
      const side = rest.split(",")[0];
      const b = results.find((x) => x.name.split("/iterations:")[0] === run);
      const frames = await page.$$eval(`#flame-diff-${i} svg g`, (gs) => gs.length);
      check(`${title}: the differential flame graph drew its frames`, frames > 10, frames);
      const rows = await page.$$eval(`#diff-attribution-${i} tr`, (trs) =>
        trs.slice(1).map((tr) => Object.fromEntries([...tr.querySelectorAll("td")].map((td) => [td.dataset.key, td.textContent]))));
      check(`${title}: a row per component`, rows.length > 3, rows.length);
      for (const r of rows) {
        const key = r.component.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
        check(`${title}: ${r.component} here equals the JSON's`, b && r.new === fixed(b[`${side}_cpu_us_per_delivery_${key}`], 3),
          [r.new, b && b[`${side}_cpu_us_per_delivery_${key}`]]);
      }
    }
    check("a differential per profile compared", diffs.length > 0, diffs.length);
  }
  if (args.screenshot) await page.screenshot({ path: args.screenshot, fullPage: true });
  if (args.screenshot_run) {
    // NAME=FILE: the card of one run (its charts over time) alone.
    const at = args.screenshot_run.lastIndexOf("=");
    const card = await page.$(`.run[data-run="${args.screenshot_run.slice(0, at)}"]`);
    check(`the run to screenshot is on the page`, !!card, args.screenshot_run);
    if (card) await card.screenshot({ path: args.screenshot_run.slice(at + 1) });
  }
} finally {
  await browser.close();
}
console.log(`report_browser: ${failures.length ? "FAIL: " + failures.join("; ") : "all checks passed"}`);
process.exit(failures.length ? 1 : 0);
