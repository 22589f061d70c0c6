"""Every task's report, from a real seconds-long run, rendered in headless Chromium: the page lays out, the headline box
and the published comparison are there, every image decodes to a non-blank picture, wide figures take the text width,
the config is folded away, and nothing is fetched from outside the file.

Needs Debian's chromium (`apt-get install -y chromium`) and Playwright for Python (`pip install playwright`; its own
browser download is not used). The runs are shared by the module and trained on small real subsets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from medrnn import paths
from medrnn.cli.main import main

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"headless report test needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="headless report test needs Playwright for Python (pip install playwright)")

ECG = {"data": {"train_records": ["101", "106", "208"], "test_records": ["100", "232", "119"], "val_records": 1},
       "model": {"hidden_size": 16, "frontend_channels": 8, "head_hidden": 16}, "train": {"max_epochs": 1, "batch_size": 512},
       "bootstrap": 20}  # fmt: skip
# task -> (dataset folder, a file that must be there, train flags, images at least, published comparison expected)
RUNS: dict[str, tuple[str, str, list[str], int, bool]] = {
    "ecg_beats": ("mitdb", "100.hea", ["-c", "{dir}/ecg.yaml"], 4, True),
    "molecules": ("moleculenet", "SAMPL.csv", ["--quick"], 1, True),
    "icu_mortality": ("physionet2012", "", ["--quick", "--set", "data.max_stays=150"], 2, True),
    "ehr_visits": ("mimic4-demo", "", ["--quick"], 3, False),
    "icd_coding": ("codiesp", "", ["--quick", "--set", "data.documents_per_split=12"], 1, True),
}
WIDE = ("ROC curves", "reliability diagram", "ECG strip", "parity plot")  # figures drawn at the text width

# In the page: each image's size, whether it decoded, and whether its pixels vary (a blank picture is one colour).
_IMAGES_JS = """() => Array.from(document.images).map(img => {
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  let varied = false;
  if (img.complete && img.naturalWidth > 0) {
    const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    for (let i = 4; i < d.length; i += 4 * 7) { if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) { varied = true; break; } }
  }
  const r = img.getBoundingClientRect();
  return {alt: img.alt, complete: img.complete, natural: img.naturalWidth, width: r.width, height: r.height, varied};
})"""


@pytest.fixture(scope="module")
def run_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """task -> its run folder with report.html written by `medrnn report` (trained once per module, on first use)."""
    base = tmp_path_factory.mktemp("report-runs")
    (base / "ecg.yaml").write_text(yaml.safe_dump(ECG))
    done: dict[str, Path] = {}

    def get(task: str) -> Path:
        if task not in done:
            dataset, marker, flags, _, _ = RUNS[task]
            folder = paths.dataset_dir(dataset)
            if not (folder / marker).exists() or (folder.is_dir() and not any(folder.iterdir())):
                pytest.skip(f"{dataset} not found under the data root ({folder}); run `medrnn data fetch {dataset}` or set MEDRNN_DATA")
            run = base / task
            argv = ["train", task, *(f.format(dir=base) for f in flags), "--out", str(run), "--no-progress", "--no-report"]
            assert main(argv) == 0, f"training {task} failed"
            assert main(["report", str(run)]) == 0, f"medrnn report {run} failed"
            done[task] = run
        return done[task]

    return get


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.mark.parametrize("task", list(RUNS))
def test_report_renders_in_a_browser(task: str, run_of: Callable[[str], Path], browser: Any, tmp_path: Path) -> None:
    run = run_of(task)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file://", "data:")) else None)
    page.goto((run / "report.html").as_uri(), wait_until="load")
    assert not errors and not outside, (errors, outside)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    assert page.title().strip() and page.locator("h1").inner_text().strip()
    # the headline box: facts and key metrics, at the top
    box = page.locator(".headline")
    assert box.is_visible() and box.bounding_box()["height"] > 120
    facts = box.locator("table.facts").inner_text()
    for fact in ("task", "data", "protocol", "model", "seed", "date", "test set"):
        assert fact in facts, fact
    assert box.locator(".kpi").count() >= 2 and box.locator(".kpi.main").count() == 1
    assert page.locator("h2").first.bounding_box()["y"] > box.bounding_box()["y"]
    published = RUNS[task][4]
    assert (page.locator("table.refs").count() == 1) == published
    # every image decodes to a non-blank picture; the wide figures span the text width
    images = page.evaluate(_IMAGES_JS)
    assert len(images) >= RUNS[task][3], [i["alt"] for i in images]
    for image in images:
        assert image["complete"] and image["natural"] > 0 and image["width"] > 0 and image["height"] > 0, image
        assert image["varied"], f"blank image {image['alt']!r}"
    text_width = page.locator("h2").first.bounding_box()["width"]
    wide = [i for i in images if i["alt"] in WIDE]
    assert wide and all(i["width"] >= 0.9 * text_width for i in wide), (text_width, wide)
    # the config is folded away at the end, and the page has content all the way down
    assert page.locator("details > pre").count() == 1 and not page.locator("details > pre").is_visible()
    shot = tmp_path / f"{task}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    page.close()
