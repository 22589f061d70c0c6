"""Fill the generated blocks of docs/benchmarks.md from benchmarks/results/*.json (nothing is copied by hand).

Each block sits between `<!-- NAME:start -->` and `<!-- NAME:end -->`; everything else in the file is prose.

    python benchmarks/render_docs.py            # rewrites docs/benchmarks.md in place
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import applicability  # noqa: E402
import calibration  # noqa: E402
import ddp  # noqa: E402
import explain  # noqa: E402
import federated  # noqa: E402
import fewshot  # noqa: E402
import fusion  # noqa: E402
import render_ehr  # noqa: E402
import render_moleculenet  # noqa: E402
import serve_load  # noqa: E402
import transfer  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DOC = Path(__file__).parent.parent / "docs" / "benchmarks.md"


def moleculenet_tables() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        render_moleculenet.main([])
    return out.getvalue().replace("### ", "#### ")


def speed() -> str:
    d = json.loads((RESULTS / "moleculenet_speed.json").read_text())
    s = d["summary"]
    lines = ["| model | s/epoch per repeat | median s/epoch |", "|---|---|---|"]
    for model in ("medrnn", "chemprop"):
        runs = [r["seconds_per_epoch"] for r in d["runs"] if r["model"] == model]
        lines.append(f"| {model} | {', '.join(f'{x:.1f}' for x in runs)} | {statistics.median(runs):.1f} |")
    lines += ["", f"Ratio medrnn / chemprop: **{s['ratio']:.2f}** (medrnn {1 / s['ratio']:.1f}× faster per epoch); "
              f"{d['data']['n_train']} training molecules, {d['machine']['threads']} thread(s), date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


def levers() -> str:
    d = json.loads((RESULTS / "smiles_levers.json").read_text())
    cells = ("augment0_tta0", "augment0_tta8", "augment1_tta0", "augment1_tta8")
    lines = ["| dataset | metric | seeds | canonical only | TTA 8 only | enumeration only | enumeration + TTA 8 (default) |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, row in d["summary"].items():
        if not row["seeds"]:
            continue
        values = [row[c] for c in cells]
        best = (max if row["metric"] == "roc_auc" else min)(values)
        shown = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in values]
        lines.append(f"| {name} | {row['metric']} | {', '.join(map(str, row['seeds']))} | " + " | ".join(shown) + " |")
    lines += ["", "Means over the paired seeds listed (both trainings done); best cell in bold."]
    return "\n".join(lines)


def pretrain() -> str:
    path = RESULTS / "smiles_pretrain.json"
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    summary = d.get("summary", {})
    head = ["dataset", "metric", "seeds", "default recipe", "+ LM-pretrained encoder, fine-tuned", "seeds", "+ LM-pretrained, frozen",
            "seeds", "+ LM-pretrained, canonical SMILES only"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in summary.items():
        if name.endswith(("-frozen", "-canonical")):
            continue
        tail = ""
        for variant in ("frozen", "canonical"):
            other = summary.get(f"{name}-{variant}")
            tail += f" {', '.join(map(str, other['seeds']))} | {other['pretrained']:.3f} |" if other else " – | – |"
        seeds = ", ".join(map(str, row["seeds"]))
        lines.append(f"| {name} | {row['metric']} | {seeds} | {row['default']:.3f} | {row['pretrained']:.3f} |{tail}")
    # one LM per dataset's corpus (cached, shared by its seeds and variants): count each corpus once
    per_corpus = {r["dataset"]: r["pretrain"]["seconds"] for r in d["runs"] if r.get("pretrain") and r["pretrain"].get("seconds")}
    seconds = list(per_corpus.values())
    if seconds:
        lines += ["", f"Pretraining the LM took {statistics.median(seconds):.0f} s (median over the corpora built; bace and sider "
                  "ran with 1 thread, esol and lipophilicity with 2)."]  # fmt: skip
    return "\n".join(lines)


def physionet() -> str:
    return "\n".join(render_ehr.physionet_tables(json.loads((RESULTS / "physionet2012.json").read_text())))


def mimic_demo() -> str:
    path = RESULTS / "mimic_demo.json"
    return "\n".join(render_ehr.demo_table(json.loads(path.read_text()))) if path.exists() else "(not run yet)"


def ehr_scale() -> str:
    parts = []
    for path in sorted(RESULTS.glob("ehr_scale*.json")):
        d = json.loads(path.read_text())
        parts += [f"`{path.name}`: code sources {d['config']['code_sources']}, {d['date'][:10]}", "", *render_ehr.scale_table(d), ""]
    return "\n".join(parts) if parts else "(not run yet)"


def codiesp() -> str:
    path = RESULTS / "codiesp.json"
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())

    def cell(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    # all gold codes = seen (in the label set) + unseen; the unseen ones are ranked only with code descriptions (titles)
    lines = ["| model | seeds | dev MAP | test MAP | MAP, all gold codes | … seen / unseen gold | all gold without titles "
             "| micro-F1 | macro-F1 (Edin) | macro-F1 (CAML) | P@5 | micro-AUROC | seed ensemble: MAP / all gold |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    b = d.get("baseline")
    rows = [("TF-IDF + one-vs-rest LR (C=" + f"{b['C']:g})", "–", b["dev_map"], b["test"])] if b else []
    for model, row in d["summary"].get("per_model", {}).items():
        test = {k: row.get(k) for k in ("map", "map_all_gold", "map_seen", "map_unseen", "map_all_gold_labels_only", "micro_f1",
                                         "macro_f1", "macro_f1_caml", "p@5", "micro_auroc")}  # fmt: skip
        seeds = ", ".join(map(str, row["seeds"]))
        lines_map = cell(row["map"]) + (f" ± {row['map_std']:.3f}" if row.get("map_std") is not None else "")
        ens = row.get("ensemble")
        ens_shown = f"{ens['map']:.3f} / {ens['map_all_gold']:.3f}" if ens else "–"
        rows.append((model, seeds, row["dev_map"], {**test, "map_shown": lines_map, "ensemble": ens_shown}))
        served = row.get("served_ensemble")
        if served:  # the ensemble as `medrnn ensemble` + `medrnn predict` serve it: its own dev-tuned threshold
            rows.append((f"{model}, served seed ensemble (threshold {served['threshold']:.2f})", seeds, served["dev_map"],
                         {**served, "ensemble": "(this row)"}))  # fmt: skip
    for name, seeds, dev, t in rows:
        shown = t.get("map_shown", cell(t.get("map")))
        parts = "–" if t.get("map_seen") is None else f"{cell(t.get('map_seen'))} / {cell(t.get('map_unseen'))}"
        lines.append(f"| {name} | {seeds} | {cell(dev)} | {shown} | {cell(t.get('map_all_gold'))} | {parts} "
                     f"| {cell(t.get('map_all_gold_labels_only'))} | {cell(t.get('micro_f1'))} "
                     f"| {cell(t.get('macro_f1'))} | {cell(t.get('macro_f1_caml'))} | {cell(t.get('p@5'))} "
                     f"| {cell(t.get('micro_auroc'))} | {t.get('ensemble', '–')} |")  # fmt: skip
    failed = [r for r in d["runs"] if r["error"]]
    per_name: dict[str, list[dict]] = {}
    for r in d["runs"]:
        if not r["error"]:
            per_name.setdefault(r.get("name") or r["model"], []).append(r)

    def overlap(runs: list[dict]) -> str:
        rates = [r["evidence_overlap"]["predicted"]["rate"] for r in runs if (r.get("evidence_overlap") or {}).get("predicted")]
        return f"{statistics.fmean(rates):.0%}" if rates else "–"

    lines += ["", "Top-attention token inside a gold CodiEsp-X span, over the correctly predicted codes (mean over seeds); "
              "median training time per run:", ""]  # fmt: skip
    lines += [f"- `{n}`: {overlap(runs)}; {statistics.median(r['training']['train_seconds'] for r in runs):,.0f} s, "
              f"{statistics.median(r['training']['epochs'] for r in runs):.0f} epochs" for n, runs in per_name.items()]  # fmt: skip
    lines += ["", f"Failed runs: {len(failed)}. Date {d['date'][:10]}; {d['machine']['cores']} cores, 1 thread per run, "
              "up to three runs sharing them."]  # fmt: skip
    lines += [f"Recipe overrides of `{n}`: `{json.dumps(r)}`." for n, r in d.get("recipes", {"laat": d.get("recipe", {})}).items()]
    return "\n".join(lines)


def refactor_check() -> str:
    """Issue #16: seed 0 of each world's headline configuration through the Task contract, beside the recorded figure."""
    d = json.loads((RESULTS / "refactor_check.json").read_text())
    lines = ["| world | metric | before the refactor | through the Task contract | identical | seconds |", "|---|---|---|---|---|---|"]
    for world, row in d["summary"].items():
        run = d["runs"][world]
        lines.append(f"| {world} | {row['metric']} | {row['old']:.6f} | {row['new']:.6f} | {'yes' if row['identical'] else 'no'} | "
                     f"{run.get('seconds', 0):.0f} |")  # fmt: skip
        for name, recipe in run.get("recipes", {}).items():
            lines.append(f"| {world} ({name} recipe) | roc_auc | {recipe['old']:.6f} | {recipe['new']:.6f} | "
                         f"{'yes' if recipe['identical'] else 'no'} | |")  # fmt: skip
    lines += ["", f"Command: `{d['command']}`; each world at the thread count of its recorded run, torch "
                  f"{d['machine'].split('torch ')[-1]}, 2-core x86_64; date: {d['date']}."]
    return "\n".join(lines)


def fuzz() -> str:
    """Issue: every reader over mutated real files; a bad file may only be refused with a MedrnnError."""
    path = RESULTS / "fuzz.json"
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    lines = ["| reader | cases | refused (MedrnnError) | foreign exceptions | crashes | hangs | accepted | ms per case | run |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for reader, s in d["summary"].items():
        run = d["readers"].get(reader, {})
        bad = " | ".join(f"**{s[k]:,}**" if s[k] else "0" for k in ("foreign_exceptions", "crashes", "hangs"))
        when = f"seed {run.get('seed')}, {str(run.get('date', ''))[:10]}"
        ms = run.get("ms_per_case_wall", 0)
        lines.append(f"| {reader} | {s['cases']:,} | {s['medrnn_errors']:,} | {bad} | {s['accepted']:,} | {ms:.1f} | {when} |")
    lines += [f"| {reader} | skipped: {why} | | | | | | | |" for reader, why in d.get("skipped", {}).items()]
    findings = [(reader, f) for reader, run in d["readers"].items() if reader in d["summary"] for f in run.get("findings", [])]
    lines += ["", "Foreign exceptions, crashes and hangs, grouped by type and place (first message pattern; replay commands and "
              "mutations in the results file):" if findings else "No foreign exception, crash or hang.", ""]  # fmt: skip
    for reader, f in findings:
        where = f" at `{f['where']}`" if f.get("where") and f["where"] != "-" else ""
        raised = f" (raised in `{f['raised_at']}`)" if f.get("raised_at") and f.get("raised_at") != f.get("where") else ""
        pattern = next(iter(f["patterns"]), "")
        lines.append(f"- {reader}: {f['outcome'].replace('_', ' ')} `{f['type']}`{where}{raised}, {f['count']} case(s): {pattern[:140]}")
    m = d["machine"]
    command = "python benchmarks/fuzz_readers.py"
    if d["command"] != command:  # a reader re-run alone replaces only its block
        command += f"`; last re-run `{d['command']}"
    lines += ["", f"Command: `{command}` (timeout {d['timeout_s']:g} s per case, {d['workers']} workers, address space capped "
                  f"at {d['memory_limit_gb']:g} GB each); {m['cores']} cores ({m['cpu']}), Python {m['python']}; "
                  f"date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


def smiles_caps() -> str:
    """Issue: the SMILES length/atom cap that makes RDKit's crash impossible, measured."""
    path = RESULTS / "smiles_caps.json"
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    caps, longest = d["caps"], d["longest_moleculenet_smiles"]
    lines = ["| largest input the caps admit | characters | heavy atoms | parse + sanitize + canonical (s) | random SMILES (s) | "
             "Murcko scaffold (s) |", "|---|---|---|---|---|---|"]  # fmt: skip
    for c in d["at_cap"]:
        lines.append(f"| {c['input']} | {c['chars']:,} | {c['heavy_atoms']:,} | {c['parse_sanitize_canonical_s']:.3f} | "
                     f"{c['random_smiles_s']:.3f} | {c['murcko_scaffold_s']:.3f} |")  # fmt: skip
    rejected = ", ".join(f"{r['chars']:,} characters in {1e6 * r['seconds']:.0f} µs" for r in d["rejected"])
    s = d["summary"]
    lines += ["", f"Caps: {caps['max_smiles_chars']:,} characters, {caps['max_heavy_atoms']:,} heavy atoms, checked before RDKit. "
                  f"Rejected: {rejected}. RDKit calls during the run: {s['rdkit_calls']}, longest input {s['rdkit_longest_input_chars']:,} "
                  f"characters, any over a cap: {s['rdkit_saw_over_cap']}. Longest real MoleculeNet SMILES: {longest['chars']:,} "
                  f"characters, {longest['heavy_atoms']} heavy atoms ({longest['file']}).", "",
              f"Command: `{d['command']}` (medians of {d['repeats']}); {d['machine']}; date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


def _ci(value: float | None, ci: list[float] | None = None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}–{ci[1]:.3f}]" if ci else "")


def cinc2017() -> str:
    """Issue: AF detection on CinC 2017 (challenge F1 = mean F1 of N, A, O)."""
    path = RESULTS / "cinc2017.json"
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    s, f1 = d["summary"], d["summary"]["f1"]
    lines = ["| model | challenge F1, CV (folds run) | challenge F1, fixed test split | F1 N | F1 A | F1 O | F1 ~ | train s | "
             "records/s |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| {s['model']} | {_ci(s['f1_naof_cv'])} ± {_ci(s['f1_naof_cv_std'])} ({', '.join(d['folds_run'])}) | "
             f"{_ci(s['f1_test'])} | "
             f"{f1['N']:.3f} | {f1['A']:.3f} | {f1['O']:.3f} | {f1['~']:.3f} | {s['train_seconds']:.0f} | "
             f"{s['records_per_second']:.1f} |", "",
             f"Setting: {d['setting']['max_epochs']} epochs at most, seed {d['setting']['seed']}; split: {d['split']['split']}; "
             f"CV: {d['split']['cv']}. "
             f"Published (hidden test set, a different test set): {json.dumps(d.get('published_hidden_test_set'))[:300]}", "",
             f"Command: `{d['command'].split(' --machine-note')[0]}`; {d['machine'].get('note', '')}; date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


def bonn_eeg() -> str:
    """Issue: EEG seizure detection on Bonn, split by segment; augmentation ablation."""
    path = RESULTS / "bonn_eeg.json"
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    lines = ["| protocol | test segments | accuracy [95 % CI] | sensitivity | specificity | macro-F1 |", "|---|---|---|---|---|---|"]
    for name, r in d["summary"]["protocols"].items():
        lines.append(f"| {name} | {r['n_segments']} | {_ci(r['accuracy'], r['accuracy_ci'])} | "
                     f"{_ci(r['sensitivity'], r['sensitivity_ci'])} | "
                     f"{_ci(r['specificity'], r['specificity_ci'])} | {_ci(r['macro_f1'], r['macro_f1_ci'])} |")  # fmt: skip
    lines += ["", "| augmentation (A vs E) | accuracy [95 % CI] | gain vs none |", "|---|---|---|"]
    for name, r in d["summary"].get("ablation_A_vs_E", {}).items():
        lines.append(f"| {name} | {_ci(r['accuracy'], r['accuracy_ci'])} | {r['accuracy_gain_vs_none']:+.3f} |")
    st = d["settings"]
    lines += ["", f"Split: {d['split']} Windows {st['window_s']:g} s, stride {st['stride_s']:g} s, {st['epochs']} epochs at most, seed "
                  f"{st['seed']}, {st['bootstrap']} bootstrap resamples over test segments; segment-level figures.", "",
              f"Command: `{d['command']}`; {d['machine']['cores']} cores, torch {d['machine']['torch']}; "
              f"date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


def fewshot_ecg() -> str:
    """ECG patient adaptation (results/fewshot_ecg.json, written by `medrnn fewshot ecg`)."""
    path = RESULTS / "fewshot_ecg.json"
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    lines = ["| k labelled beats | beats scored | jκ inter-patient | jκ adapted [95 % CI] | S Se / +P inter-patient | S Se / +P adapted "
             "| V Se / +P inter-patient | V Se / +P adapted |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for k, r in d["per_k"].items():
        g, a = r["global"], r["adapted"]
        ci = a.get("jkappa_ci") or [float("nan")] * 2
        lines.append(f"| {k} | {r['beats']:,} | {g['jkappa']:.3f} | {a['jkappa']:.3f} [{ci[0]:.3f}–{ci[1]:.3f}] | "
                     f"{g['S_se']:.3f} / {g['S_ppv']:.3f} | {a['S_se']:.3f} / {a['S_ppv']:.3f} | {g['V_se']:.3f} / {g['V_ppv']:.3f} | "
                     f"{a['V_se']:.3f} / {a['V_ppv']:.3f} |")  # fmt: skip
    gains = ", ".join(f"{w}: {v:+.3f}" for w, v in d["validation_jkappa_gain_by_weight"].items())
    lines += ["", f"Weight {d['weight']} chosen on the validation records (mean jκ gain over k by weight: {gains}). Support: "
              f"{d['support']}. Command: `{d['command']}`; date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


def mitdb_rhythm() -> str:
    """The rhythm model over neighbouring beats (results/mitdb_interpatient.json: `rhythm`, `rhythm_runs`)."""
    d = json.loads((RESULTS / "mitdb_interpatient.json").read_text())
    if "rhythm" not in d:
        return "(not run yet: python benchmarks/mitdb_interpatient.py --only rhythm)"
    r, runs, base = d["rhythm"], d["rhythm_runs"], d["summary"]
    keys = ("sveb_se", "sveb_ppv", "veb_se", "veb_ppv")
    lines = ["| run | SVEB Se | SVEB +P | VEB Se | VEB +P | jκ (tuned weights) [95 % CI, 22 records] | jκ (argmax) | validation records |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in runs:
        ci = row["ci"].get("overall.jkappa") or [float("nan")] * 2
        tail = f" | {row['jkappa']:.3f} [{ci[0]:.3f}–{ci[1]:.3f}] | {row['jkappa_argmax']:.3f} | {' '.join(row['val_records'])} |"
        lines.append(f"| beat_rhythm seed {row['seed']} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + tail)
    lines.append("| beat_rhythm, mean of seeds | " + " | ".join(f"{r[k]:.3f}" for k in keys)
                 + f" | {r['jkappa']:.3f} ± {r['jkappa_sd']:.3f} | {r['jkappa_argmax']:.3f} | – |")  # fmt: skip
    e = r["ensemble"]
    lines.append(f"| mean probability of the {e['members']} seeds (argmax) | " + " | ".join(f"{e[k]:.3f}" for k in keys)
                 + f" | – | {e['jkappa']:.3f} | – |")  # fmt: skip
    lines.append(f"| `{base['model']}` (the default, mean of seeds, above) | " + " | ".join(f"{base[k]:.3f}" for k in keys)
                 + f" | – | {base['jkappa']:.3f} | – |")  # fmt: skip
    m = d["machine"]
    c = runs[0]["config"]
    recipe = (f"model {c['model']['name']} (frontend_channels {c['model']['frontend_channels']}, hidden {c['model']['hidden_size']}), "
              f"data.context_beats {c['data']['context_beats']}, context_decimate {c['data']['context_decimate']}, "
              f"train.class_weighting {c['train']['class_weighting']}, augment {c['train']['augment']}, "
              f"decision {c['decision']}")  # fmt: skip
    lines += ["", f"Recipe: {recipe}; {m['cores']} cores, torch {m['torch']}, date {m['date']}. "
              "Command: `python benchmarks/mitdb_interpatient.py --only rhythm --threads 1`."]  # fmt: skip
    return "\n".join(lines)


def imaging() -> str:
    """LIDC and AdrenalMNIST3D (results/imaging.json, written by benchmarks/imaging.py)."""
    path = RESULTS / "imaging.json"
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    lines = ["| dataset | model | AUROC per seed | mean | 95 % CI (seed 0) | accuracy | epochs run (best, counted from 0) per seed |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip

    def epochs(runs: list[dict]) -> str:
        return ", ".join(f"{r['epochs']} ({r['best_epoch']})" for r in runs) if runs else "–"

    for name, s in d["summary"].items():
        ci = s.get("auroc_ci") or [float("nan")] * 2
        per = ", ".join(f"{v:.3f}" for v in s.get("auroc_per_seed", []))
        accuracy = s.get("accuracy", float("nan"))
        own = d["runs"].get(f"{name}/{s['model']}") or []
        lines.append(f"| {name} | {s['model']} | {per} | {s['auroc']:.3f} | {ci[0]:.3f}–{ci[1]:.3f} | {accuracy:.3f} | {epochs(own)} |")
        for base, value in (s.get("baselines") or {}).items():  # same seeds = same patient splits as the headline's
            runs = d["runs"].get(f"{name}/{base}") or []
            seeds = ", ".join(f"{r['auroc']:.3f} (seed {r['seed']})" for r in runs) or "–"
            acc = statistics.fmean(r["accuracy"] for r in runs) if runs else float("nan")
            lines.append(f"| {name} | {base} (baseline) | {seeds} | {value:.3f} | – | {acc:.3f} | {epochs(runs)} |")
    published = d.get("published") or {}
    for dataset in ("nodulemnist3d", "adrenalmnist3d"):
        if published.get(dataset):
            shown = ", ".join(f"{k} {v:.3f}" for k, v in published[dataset].items())
            lines += ["", f"Published {dataset} ({published.get('metric', 'AUC')}, 28³, MedMNIST's split): {shown}."]
    att = d["summary"].get("lidc", {}).get("attention_in_outlines")
    if att:
        lines += ["", f"LIDC slice attention on slices outlined by ≥ 2 radiologists: {att['attention_share']:.0%} of the weight (uniform: "
                      f"{att['uniform_share']:.0%}); above uniform on {att['nodules_above_uniform']:.0%} of test nodules."]  # fmt: skip
    commands = d.get("commands") or []
    lines += ["", "Commands: " + "; ".join(f"`{c}`" for c in commands) + f"; date {str(d.get('date', ''))[:10]}."]
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {"refactor-check": refactor_check, "smiles-caps": smiles_caps,
                                        "cinc2017": cinc2017, "bonn-eeg": bonn_eeg,
                                        "moleculenet-tables": moleculenet_tables, "moleculenet-speed": speed,
                                        "smiles-levers": levers, "smiles-pretrain": pretrain,
                                        "physionet2012": physionet, "mimic-demo": mimic_demo, "ehr-scale": ehr_scale,
                                        "codiesp": codiesp, "fuzz-readers": fuzz,
                                        "calibration": calibration.render, "explain": explain.render, "federated": federated.render,
                                        "serve": serve_load.render, "fewshot": fewshot.render,
                                        "transfer": transfer.render, "ddp": ddp.render, "fewshot-ecg": fewshot_ecg,
                                        "imaging": imaging, "fusion": fusion.render, "mitdb-rhythm": mitdb_rhythm,
                                        "applicability": applicability.render}  # fmt: skip


def main() -> int:
    text = DOC.read_text()
    for name, render in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda m: m.group(1) + render().strip() + "\n" + m.group(2), text)  # noqa: B023
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
