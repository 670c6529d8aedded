// Offline validation of the Kubernetes example (no cluster, no network): every document is
// checked against the Kubernetes OpenAPI schema of its kind (kubernetes-models, pinned in
// package-lock.json), then against this example's own rules: the shards' Job is Indexed with
// completions == parallelism == --shards and --shard=$(SHARD)/N, and every file names the same
// run and the same Redis. Unknown fields are refused too (the schema alone allows them).
//   node deploy/k8s/tools/validate.mjs deploy/k8s/*.yaml      exit 0 valid, 1 not, 2 usage
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parseAllDocuments } from "yaml";

const KINDS = {
  "apps/v1/Deployment": "apps/v1/Deployment",
  "v1/Service": "v1/Service",
  "batch/v1/Job": "batch/v1/Job",
};
const files = process.argv.slice(2);
if (files.length === 0 || files.includes("--help") || files.includes("-h")) {
  console.log("usage: node validate.mjs FILE.yaml [...]: the Kubernetes schema and the example's rules");
  process.exit(files.length === 0 ? 2 : 0);
}
const errors = [];
const runs = new Set(), redis = new Set();

// The schema allows fields it does not know: walk each document along the models' own type
// declarations (their .d.ts: one interface per type, its fields and their types) so that a
// misspelt field is an error here, not something a cluster's client silently drops.
const require = createRequire(import.meta.url);
const dtsCache = new Map();
function dts(file) {
  if (dtsCache.has(file)) return dtsCache.get(file);
  const text = readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "");
  const imports = {};
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) imports[m[1]] = m[2];
  const body = text.match(/export interface \w+(?: extends [\w, ]+)? \{\n([\s\S]*?)\n\}/);
  const fields = {};
  for (const m of (body ? body[1] : "").matchAll(/^ {4}"([^"]+)"\??: ([^;\n]*)/gm)) fields[m[1]] = m[2];
  const out = { fields, imports, dir: dirname(file) };
  dtsCache.set(file, out);
  return out;
}
function typeFile(type, from) {
  const inner = type.match(/^Array<(\w+)>$/)?.[1] ?? type;
  const spec = from.imports[inner];
  if (!spec) return null;  // a primitive, a literal, a map: nothing below to check
  const path = spec.startsWith(".") ? join(from.dir, spec) : require.resolve(spec).replace(/\.js$/, "");
  return path.replace(/\.(d\.ts|js|mjs)$/, "") + ".d.ts";
}
function unknownFields(value, file, where) {
  if (typeof value !== "object" || value === null) return;
  if (Array.isArray(value)) return value.forEach((v, i) => unknownFields(v, file, `${where}[${i}]`));
  const t = dts(file);
  for (const [k, v] of Object.entries(value)) {
    if (!(k in t.fields)) { errors.push(`${where}: unknown field '${k}'`); continue; }
    const sub = typeFile(t.fields[k], t);
    if (sub) unknownFields(v, sub, `${where}.${k}`);
  }
}

for (const file of files) {
  let docs;
  try {
    docs = parseAllDocuments(readFileSync(file, "utf8"));
  } catch (e) {
    errors.push(`${file}: ${e.message}`);
    continue;
  }
  for (const [n, d] of docs.entries()) {
    const where = `${file} document ${n + 1}`;
    if (d.errors.length) { errors.push(`${where}: ${d.errors[0].message}`); continue; }
    const doc = d.toJS();
    const key = `${doc?.apiVersion}/${doc?.kind}`;
    if (!KINDS[key]) { errors.push(`${where}: kind ${key} is not one this example uses`); continue; }
    const mod = await import(`kubernetes-models/${KINDS[key]}`);
    const Model = mod[doc.kind] ?? mod.default;
    try {
      new Model(doc).validate();
    } catch (e) {
      errors.push(`${where} (${key}): ${e.message}`);
      continue;
    }
    unknownFields(doc, require.resolve(`kubernetes-models/${KINDS[key]}`).replace(/\.js$/, ".d.ts"), where);
    rules(doc, where);
  }
}

function rules(doc, where) {
  if (doc.kind !== "Job") return;
  const c = doc.spec.template.spec.containers[0];
  const args = [...(c.command ?? []), ...(c.args ?? [])];
  const flag = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split("=").slice(1).join("=");
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
  const sub = (s) => s?.replace(/\$\((\w+)\)/g, (_, v) => env[v] ?? `$(${v})`);
  if (flag("coordinator")) {
    const n = Number(flag("shards"));
    if (doc.spec.completionMode !== "Indexed") errors.push(`${where}: the shards' Job must be completionMode: Indexed`);
    if (doc.spec.completions !== n || doc.spec.parallelism !== n)
      errors.push(`${where}: completions ${doc.spec.completions} and parallelism ${doc.spec.parallelism} must both equal --shards=${n}`);
    if (flag("shard") !== `$(SHARD)/${n}`) errors.push(`${where}: --shard must be $(SHARD)/${n}`);
    if (doc.spec.backoffLimit !== 0) errors.push(`${where}: backoffLimit must be 0 (a retried shard would join a running run)`);
    runs.add(sub(flag("run_id")));
    redis.add(flag("coordinator"));
  } else {
    // The collector: `scripts/collect URL RUN ...`, as its own command or inside a shell line.
    const m = args.join(" ").match(/scripts\/collect\s+(\S+)\s+(\S+)/);
    if (m) {
      redis.add(m[1]);
      runs.add(m[2]);
    }
  }
}
if (runs.size > 1) errors.push(`the files name different runs: ${[...runs].join(", ")}`);
if (redis.size > 1) errors.push(`the files name different coordinators: ${[...redis].join(", ")}`);
for (const e of errors) console.error(`validate: ${e}`);
console.log(errors.length ? `${errors.length} error(s)` : `${files.length} file(s) valid`);
process.exit(errors.length ? 1 : 0);
