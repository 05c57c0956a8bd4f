"""The HTML report: one self-contained file whose tables, marks, figures and manifests match the runs,
and whose per-image tables sort in a real (headless Chromium) browser."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import fusionbench
from fusionbench.cli import main
from fusionbench.methods import get_method
from fusionbench.metrics import SEED_METRICS

METHODS = "average,max"
#: Set (by .ci/run, once it has installed Chromium) to make a missing browser fail instead of skip.
REQUIRE_BROWSER = os.environ.get("FUSIONBENCH_BROWSER_TESTS") == "required"


class Tables(HTMLParser):
    """Every <table>: its class, header texts and rows of (text, class) cells; and every <img> src."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.images: list[str] = []
        self._cell: list | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"class": attrs.get("class", ""), "head": [], "rows": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and self.tables and not self._in_head:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = ["", attrs.get("class") or ""]
        elif tag == "img":
            self.images.append(attrs.get("src", ""))

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text, cls = self._cell
            if self._in_head:
                self.tables[-1]["head"].append(text.strip())
            else:
                self.tables[-1]["rows"][-1].append((text.strip(), cls))
            self._cell = None

    def by_class(self, name: str) -> list[dict]:
        return [t for t in self.tables if name in t["class"].split()]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(
        main, ["report", "--methods", METHODS, "--datasets", "demo", "--pairs", "demo:demo_02", "--out", str(path)]
    )
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def parsed(report) -> Tables:
    parser = Tables()
    parser.feed(report.read_text())
    return parser


def test_report_is_self_contained(report, parsed):
    html = report.read_text()
    assert "<link" not in html and 'src="http' not in html and 'href="http' not in html
    # The comparison figure, sorted curves, bars, day/night bars: all embedded.
    assert len(parsed.images) == 4
    assert all(src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for src in parsed.images)
    assert "Pair <code>demo_02</code>" in html


def test_table1_marks_best_and_second_as_fusionbench_table_ranks_them(parsed):
    (table1,) = parsed.by_class("table1")
    expected = fusionbench.table(METHODS, "demo")
    assert [row[1][0] for row in table1["rows"]] == expected["method"].tolist()
    for j, metric in enumerate(SEED_METRICS):
        column = [row[3 + j] for row in table1["rows"]]
        assert [float(text) for text, _ in column] == pytest.approx(expected[metric].round(2).tolist())
        marks = ["best" if "best" in cls.split() else "second" if "second" in cls.split() else "" for _, cls in column]
        best = expected[metric].idxmax()  # the seed six are all higher-is-better
        assert marks[best] == "best" and marks[1 - best] == "second", metric


def test_per_image_tables_hold_the_run_values_and_are_sortable(parsed):
    tables = parsed.by_class("per-image")
    assert len(tables) == len(SEED_METRICS)
    assert all("sortable" in t["class"].split() for t in tables)
    frame = fusionbench.run("max", "demo")
    first = tables[0]  # MI
    assert first["head"] == ["image", "tag", "Average", "Max"]
    shown = {row[0][0]: float(row[3][0]) for row in first["rows"]}
    assert shown == pytest.approx(dict(zip(frame["image"], frame["mi"].round(4), strict=True)))


def test_tag_breakdown_and_manifests(parsed, report):
    tagged = [t for t in parsed.tables if "Tag" in t["head"]]
    assert len(tagged) == 1 and {row[1][0] for row in tagged[0]["rows"]} == {"day", "night"}
    (manifests,) = parsed.by_class("manifests")
    keys = {row[3][0] for row in manifests["rows"]}
    assert keys == {get_method(m).cache_key() for m in METHODS.split(",")}
    assert report.read_text().count('<details class="manifest">') == 2


def test_efficiency_measured_or_read_from_csv(parsed, tmp_path):
    (efficiency,) = parsed.by_class("efficiency")
    assert [row[0][0] for row in efficiency["rows"]] == ["Average", "Max"]
    csv = tmp_path / "eff.csv"
    pd.DataFrame([{"method": "Ours", "params": 1234, "gflops": 5.5, "cpu_ms": 12.0}]).to_csv(csv, index=False)
    out = tmp_path / "r.html"
    args = ["report", "--methods", "average", "--datasets", "demo", "--out", str(out), "--boxes", "none"]
    assert CliRunner().invoke(main, [*args, "--efficiency", str(csv)]).exit_code == 0
    parser = Tables()
    parser.feed(out.read_text())
    assert parser.by_class("efficiency")[0]["rows"] == [[("Ours", ""), ("1,234", ""), ("5.5", ""), ("12", "")]]
    assert "read from eff.csv" in out.read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pairs", "tno:05"], "not in --datasets"),
        (["--pairs", "demo"], "DATASET:PAIR"),
        (["--datasets", "dem"], "unknown dataset 'dem'"),
        (["--efficiency", "missing.csv"], "missing.csv"),
        (["--out", "nowhere/r.html"], "does not exist"),
    ],
)
def test_report_errors_are_one_line(tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    args = {"--methods": "average", "--datasets": "demo", "--boxes": "none", "--out": "r.html"}
    args.update(zip(extra[::2], extra[1::2], strict=True))
    result = CliRunner().invoke(main, ["report", *[x for kv in args.items() for x in kv]])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


# -- in a real browser ------------------------------------------------------------------------------

#: Chromium flags for a closed network and a root user (no sandbox), from the machine notes.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_or_skip() -> str:
    """The Chromium binary; skips (or fails, where CI installed it) when it or playwright is missing."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the 'playwright' package is not installed (pip install -e '.[test]')"
    path = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    if path is None and problem is None:
        problem = "no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"FUSIONBENCH_BROWSER_TESTS=required but {problem}")
        pytest.skip(problem)
    return path


def column_texts(table, index: int) -> list[str]:
    return [t.strip() for t in table.locator(f"tbody tr td:nth-child({index})").all_text_contents()]


def test_report_in_headless_chromium_sorts_and_shows_everything(report, tmp_path):
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    frame = fusionbench.run("average", "demo")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(report.as_uri())

            assert page.locator("table.table1 tbody tr").count() == 2
            assert page.locator("table.table1 td.best").count() == len(SEED_METRICS)
            decoded = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
            assert decoded == [True] * 4, "an embedded figure did not decode"
            assert page.locator("figure.comparison img").bounding_box()["width"] > 500

            table = page.locator("table.per-image").first  # MI, open by default
            assert table.is_visible()
            before = dict(zip(column_texts(table, 1), column_texts(table, 3), strict=True))
            header = table.locator("thead th", has_text="Average")
            header.click()
            values = [float(v) for v in column_texts(table, 3)]
            assert values == sorted(values) and values != [float(v) for v in before.values()]
            assert header.get_attribute("aria-sort") == "ascending"
            # Rows move whole: each image keeps its own value, which is the run's.
            after = dict(zip(column_texts(table, 1), column_texts(table, 3), strict=True))
            assert after == before
            assert {k: float(v) for k, v in after.items()} == pytest.approx(
                dict(zip(frame["image"], frame["mi"].round(4), strict=True))
            )
            header.click()
            values = [float(v) for v in column_texts(table, 3)]
            assert values == sorted(values, reverse=True)
            assert header.get_attribute("aria-sort") == "descending"
            image_header = table.locator("thead th", has_text="image")
            image_header.click()
            assert column_texts(table, 1) == sorted(before)
            assert header.get_attribute("aria-sort") is None

            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert errors == []
        finally:
            browser.close()


def test_committed_sample_report_has_every_section():
    path = Path(__file__).resolve().parents[1] / "results" / "report" / "report.html"
    parser = Tables()
    parser.feed(path.read_text())
    (table1,) = parser.by_class("table1")
    datasets = {row[0][0] for row in table1["rows"]}
    assert datasets == {"tno", "msrs", "roadscene"}
    assert len(parser.by_class("per-image")) == len(datasets) * len(SEED_METRICS)
    assert len(parser.by_class("manifests")[0]["rows"]) == len(table1["rows"])
    assert parser.by_class("tag-table") and parser.by_class("efficiency")
    assert all(src.startswith("data:image/") for src in parser.images) and len(parser.images) >= 3 * len(datasets)
