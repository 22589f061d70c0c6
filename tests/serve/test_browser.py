"""The web page in headless Chromium against a real `medrnn serve` process: upload a 10 s ECG record (with the
explanation) and a SMILES CSV; the results table, the plot and the failures appear, in words; a screenshot is kept
under the pytest tmp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"the page test needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the page test needs Playwright for Python (pip install playwright)")


def test_page_predicts_ecg_and_smiles(live_server: str, ecg_record: Path, smiles_csv: Path, tmp_path: Path) -> None:
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 850})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(live_server + "/")
            page.wait_for_function("document.querySelectorAll('#model option').length === 2")
            page.select_option("#model", "ecg_beats")
            assert "Calibration" in page.inner_text("#model-info")
            page.set_input_files("#files", [str(ecg_record.with_suffix(".hea")), str(ecg_record.with_suffix(".dat"))])
            page.check("#use-coverage")
            page.check("#explain")
            page.click("#run")
            page.wait_for_selector("#results:not([hidden]) tbody tr", timeout=60_000)
            headers = page.locator("#table thead th").all_inner_texts()
            assert headers[:4] == ["item_id", "sample", "time_s", "class"] and "prediction_set" in headers
            rows = page.locator("#table tbody tr").count()
            assert 8 <= rows <= 20
            assert page.locator("#table tbody tr").first.locator("td").first.inner_text() == "r100"
            page.wait_for_function("Array.from(document.querySelectorAll('#figures img')).some(i => i.complete && i.naturalWidth > 100)",
                                   timeout=60_000)  # fmt: skip
            page.screenshot(path=str(tmp_path / "ecg.png"), full_page=True)

            page.select_option("#model", "molecules")
            page.set_input_files("#files", [str(smiles_csv)])
            page.uncheck("#explain")
            page.click("#run")
            page.wait_for_function("document.querySelector('#table tbody').innerText.includes('CCO')", timeout=60_000)
            assert page.locator("#table tbody tr").count() == 3
            assert "row 2" in page.inner_text("#error-list")  # the unparsable SMILES, said in words
            page.screenshot(path=str(tmp_path / "smiles.png"), full_page=True)

            page.set_input_files("#files", [])
            page.fill("#paste", "")
            page.click("#run")
            assert "first" in page.inner_text("#status")  # asked for input, in words
        finally:
            browser.close()
    assert all(url.startswith(live_server) for url in requests), "the page fetched something from outside the service"
    assert (tmp_path / "ecg.png").stat().st_size > 10_000
