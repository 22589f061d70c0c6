"use strict";
// The page: choose a model, drop files or paste items, call POST /models/NAME/predict, show rows, failures, figures.
const $ = (id) => document.getElementById(id);
let models = [];
let picked = [];

function headers() {
  const token = $("token").value.trim();
  return token ? { Authorization: "Bearer " + token } : {};
}

function say(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function loadModels() {
  const health = await fetch("/health").then((r) => r.json()).catch(() => null);
  if (health) $("version").textContent = "v" + health.version;
  const r = await fetch("/models", { headers: headers() });
  if (r.status === 401) { $("token-box").hidden = false; say("This service needs a token: enter it, then choose a model.", true); return; }
  if (!r.ok) { say("Could not list the models (" + r.status + ").", true); return; }
  models = await r.json();
  $("model").innerHTML = "";
  for (const m of models) {
    const o = document.createElement("option");
    o.value = m.name; o.textContent = m.name + " (" + m.task + ")";
    $("model").appendChild(o);
  }
  showModel();
}

function current() { return models.find((m) => m.name === $("model").value); }

function showModel() {
  const m = current();
  if (!m) return;
  const cal = m.calibration;
  $("model-info").textContent = m.title + ". Labels: " + m.labels.slice(0, 12).join(", ") + (m.labels.length > 12 ? " …" : "") +
    ". Calibration: " + (cal.method || "none") + (cal.conformal ? "; prediction sets available." : "; no prediction sets.") +
    " medrnn " + (m.medrnn_version || "?") + ", training data " + (m.training_data_sha256 || "").slice(0, 12);
  const inp = m.inputs;
  $("accepts").textContent = inp.uploads.length ? "Accepts " + inp.uploads.join(", ") + (inp.unzip ? " (or a .zip of them)" : "") : "Accepts files";
  $("paste-box").hidden = !inp.json_suffix;
  $("paste-label").textContent = !inp.json_suffix ? "" :
    inp.json_one_file ? "…or paste one per line (" + inp.json_columns[0] + ")" :
    inp.json_columns.length ? "…or paste rows: " + inp.json_columns.join(",") : inp.json_suffix === ".json" ? "…or paste JSON items" : "…or paste text";
  $("use-coverage").disabled = !cal.conformal;
}

function pasteItems(m, text) {
  const inp = m.inputs;
  if (inp.json_one_file) return text.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
  if (inp.json_columns.length) {
    const rows = text.split(/\r?\n/).map((s) => s.trim()).filter(Boolean).map((s) => s.split(","));
    const body = rows.length && rows[0].join(",") === inp.json_columns.join(",") ? rows.slice(1) : rows;
    return [body];
  }
  if (inp.json_suffix === ".json") { const v = JSON.parse(text); return Array.isArray(v) ? v : [v]; }
  return [text];
}

function showPicked() {
  $("picked").innerHTML = "";
  for (const f of picked) { const li = document.createElement("li"); li.textContent = f.name + " (" + f.size + " bytes)"; $("picked").appendChild(li); }
}

function cell(v) { return v === null || v === undefined ? "" : typeof v === "number" ? String(Math.round(v * 10000) / 10000) : String(v); }

function showResult(res) {
  const thead = $("table").querySelector("thead"), tbody = $("table").querySelector("tbody");
  thead.innerHTML = ""; tbody.innerHTML = "";
  const cols = res.columns.filter((c) => res.items.some((it) => it.rows.some((r) => c in r)));
  const tr = document.createElement("tr");
  for (const c of cols) { const th = document.createElement("th"); th.textContent = c; tr.appendChild(th); }
  thead.appendChild(tr);
  let n = 0;
  for (const item of res.items) for (const row of item.rows) {
    if (n++ >= 2000) break;
    const r = document.createElement("tr");
    for (const c of cols) { const td = document.createElement("td"); td.textContent = cell(row[c]); r.appendChild(td); }
    tbody.appendChild(r);
  }
  $("summary").textContent = n + " rows from " + res.items.length + " of " + res.n_inputs + " inputs" +
    (res.coverage ? "; prediction sets hold the truth with probability ≥ " + res.coverage : "") + " (" + res.seconds + " s)";
  $("results").hidden = false;
  const list = $("error-list"); list.innerHTML = "";
  for (const [name, f] of Object.entries(res.failures)) {
    const li = document.createElement("li");
    li.textContent = name + ": " + (f.message || (f.rejected ? f.rejected.length + " parts left out: " +
      f.rejected.slice(0, 5).map((x) => (x.row !== undefined ? "row " + x.row + " " : "") + (x.reason || JSON.stringify(x))).join("; ") : ""));
    list.appendChild(li);
  }
  $("errors").hidden = !Object.keys(res.failures).length;
  const figs = $("figures"); figs.innerHTML = "";
  const ex = res.explanation;
  if (ex) for (const item of ex.items) for (const url of item.figures) {
    const img = document.createElement("img"); img.src = url; img.alt = "explanation of " + item.input; figs.appendChild(img);
  }
  $("explanation").hidden = !(ex && ex.items.some((i) => i.figures.length));
}

async function run() {
  const m = current();
  if (!m) { say("Choose a model first.", true); return; }
  const params = new URLSearchParams();
  if ($("use-coverage").checked && !$("use-coverage").disabled) params.set("coverage", $("coverage").value);
  if ($("explain").checked) params.set("explain", "ig");
  let init;
  const text = $("paste").value.trim();
  try {
    if (picked.length) {
      const form = new FormData();
      for (const f of picked) form.append("files", f, f.name);
      init = { method: "POST", body: form, headers: headers() };
    } else if (text && m.inputs.json_suffix) {
      init = { method: "POST", body: JSON.stringify({ items: pasteItems(m, text) }), headers: { ...headers(), "Content-Type": "application/json" } };
    } else { say("Drop or choose files" + (m.inputs.json_suffix ? ", or paste items," : "") + " first.", true); return; }
  } catch (e) { say("The pasted text is not valid: " + e.message, true); return; }
  $("run").disabled = true; say("Predicting…", false);
  try {
    const r = await fetch("/models/" + encodeURIComponent(m.name) + "/predict?" + params, init);
    const body = await r.json().catch(() => ({ message: "the service answered " + r.status + " without details" }));
    if (!r.ok) { say("Refused (" + r.status + ")" + (body.field ? ", " + body.field : "") + ": " + body.message, true); return; }
    say("Done.", false);
    showResult(body);
  } catch (e) { say("The service could not be reached: " + e.message, true); }
  finally { $("run").disabled = false; }
}

$("model").addEventListener("change", showModel);
$("files").addEventListener("change", (e) => { picked = Array.from(e.target.files); showPicked(); });
$("drop").addEventListener("dragover", (e) => { e.preventDefault(); $("drop").classList.add("over"); });
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", (e) => { e.preventDefault(); $("drop").classList.remove("over"); picked = Array.from(e.dataTransfer.files); showPicked(); });
$("run").addEventListener("click", run);
$("token").addEventListener("change", loadModels);
loadModels();
