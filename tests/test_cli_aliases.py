"""``--out`` is what a command writes, ``--cache`` the run cache; 0.1's spellings still work, with a warning."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fusionbench.cli import main
from tests.metric_fixtures import synthetic_triple

DEPRECATED = "is deprecated"


def invoke(*args: object) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def test_run_takes_cache_and_the_old_out_spelling(tmp_path: Path) -> None:
    args = ("run", "--method", "average", "--dataset", "demo", "--metrics", "en")
    new = invoke(*args, "--cache", tmp_path / "new")
    old = invoke(*args, "--out", tmp_path / "old")
    assert new.exit_code == 0 and old.exit_code == 0, (new.output, old.output)
    assert DEPRECATED not in new.stderr and "--out is deprecated" in old.stderr
    assert list((tmp_path / "old").glob("runs/**/manifest.json")), "the old --out did not fill the cache"
    assert new.stdout.splitlines()[:3] == old.stdout.splitlines()[:3]  # the same table row


def test_run_refuses_both_spellings(tmp_path: Path) -> None:
    result = invoke("run", "--method", "average", "--cache", tmp_path / "a", "--out", tmp_path / "b")
    assert result.exit_code == 2 and "give --cache only" in result.output


def test_table_out_is_the_file_and_old_spellings_still_work(tmp_path: Path) -> None:
    args = ("table", "--methods", "average", "--datasets", "demo", "--metrics", "en", "--format", "csv")
    cache = tmp_path / "cache"
    cache.mkdir()
    new = invoke(*args, "--cache", cache, "--out", tmp_path / "new.csv")
    old = invoke(*args, "--out", cache, "--output", tmp_path / "old.csv")  # 0.1: --out was the cache
    assert new.exit_code == 0 and old.exit_code == 0, (new.output, old.output)
    assert DEPRECATED not in new.stderr
    assert "--output is deprecated" in old.stderr and "--out DIR (the run cache) is deprecated" in old.stderr
    assert (tmp_path / "new.csv").read_text() == (tmp_path / "old.csv").read_text()


def test_eval_out_writes_the_csv_and_csv_is_its_old_spelling(tmp_path: Path) -> None:
    from fusionbench.io import write_image_atomic

    fused, ir, vi = synthetic_triple(seed=3)
    for name, image in (("ir", ir), ("vi", vi), ("fused", fused)):
        (tmp_path / name).mkdir()
        write_image_atomic(tmp_path / name / "a.png", image)
    folders = ("--ir", tmp_path / "ir", "--vi", tmp_path / "vi", "--fused", tmp_path / "fused", "--metrics", "en")
    new = invoke("eval", *folders, "--out", tmp_path / "new.csv")
    old = invoke("eval", *folders, "--csv", tmp_path / "old.csv")
    assert new.exit_code == 0 and old.exit_code == 0, (new.output, old.output)
    assert "--csv is deprecated" in old.stderr and DEPRECATED not in new.stderr
    assert (tmp_path / "new.csv").read_text() == (tmp_path / "old.csv").read_text()


def test_doctor_reads_the_old_out_as_the_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke("doctor", "--data-root", tmp_path, "--out", blocker / "out")
    assert result.exit_code == 1 and "FAIL  output" in result.stdout  # the old spelling reached the check
    assert "--out is deprecated" in result.stderr
