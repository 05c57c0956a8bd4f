"""Generate the packaged manifests (``manifests/{tno,msrs,roadscene}.json``) from the shared data.

::

    python -m fusionbench.datasets.build_manifests --shared ../shared          # write them
    python -m fusionbench.datasets.build_manifests --shared ../shared --check  # exit 1 if stale

Inputs: ``<shared>/datasets/MANIFEST.json`` (one entry per image: path, sha256, upstream origin) and
``<shared>/datasets/msrs/splits/official_{test,train}_ids.txt``. The hand-written part is the table
below: descriptions, and the public archives each split can be downloaded from. The build checks
that every pinned file is served, byte for byte (before its transform), by one of those archives.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from fusionbench.io import write_text_atomic

log = logging.getLogger(__name__)

MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"

#: Per dataset: description, reference, tag rule, and its sources as (repo, {"<split>/<ir|vi>":
#: folder in the repo}, {split: transform}). The commit of each repo comes from MANIFEST.json.
DATASETS: dict[str, dict[str, Any]] = {
    "tno": {
        "description": "TNO Image Fusion Dataset: the 42 pairs of L. Tang's evaluation toolkit "
        "(IR and VIS 8-bit grey PNG, 768x576 and others).",
        "reference": "A. Toet, TNO Image Fusion Dataset, figshare 10.6084/m9.figshare.1008029",
        "sources": [
            (
                "Linfeng-Tang/Evaluation-for-Image-Fusion",
                {
                    "test/ir": "Image/Source-Image/TNO/ir",
                    "test/vi": "Image/Source-Image/TNO/vi",
                },
                # Upstream stores three identical channels; the pinned files hold one.
                {"test": "grey"},
            ),
        ],
    },
    "roadscene": {
        "description": "RoadScene (FLIR, aligned crops cropinfrared + crop_LR_visible): test = CDDFuse's "
        "50 pairs, train = the other 171 (no official split). JPEG, IR grey, VIS RGB.",
        "reference": "H. Xu et al., FusionDN (AAAI 2020) / U2Fusion (TPAMI 2020); github.com/hanna-xu/RoadScene",
        "sources": [
            (
                "hanna-xu/RoadScene",
                {
                    "test/ir": "cropinfrared",
                    "test/vi": "crop_LR_visible",
                    "train/ir": "cropinfrared",
                    "train/vi": "crop_LR_visible",
                },
                {},
            ),
        ],
    },
    "msrs": {
        "description": "MSRS (PIAFusion), 640x480 road scenes, day/night from the D/N suffix. "
        "test = our 142-pair evaluation subset of the official 361-pair test split; train = 4 official "
        "train pairs; trainpool = 320x320 crops of the other 219 official test ids (training only, "
        "never evaluate on official-test after training on it); official-test / official-train = the "
        "full official split lists (ids only).",
        "reference": "L. Tang et al., PIAFusion, Information Fusion 2022; github.com/Linfeng-Tang/MSRS",
        "tag_by_suffix": {"D": "day", "N": "night"},
        "sources": [
            (
                "ycc568/my-seafusion",  # a copy of VIF-Benchmark holding all 361 official test pairs
                {
                    **{f"{s}/{m}": f"datasets/test_imgs/{m}" for s in ("test", "trainpool") for m in ("ir", "vi")},
                    "official-test/ir": "datasets/test_imgs/ir",
                    "official-test/vi": "datasets/test_imgs/vi",
                },
                {"trainpool": "crop"},
            ),
            (
                "Linfeng-Tang/PIAFusion",
                {"train/ir": "test_data/MSRS/ir", "train/vi": "test_data/MSRS/vi"},
                {},
            ),
            (
                "Linfeng-Tang/VIF-Benchmark",  # 00858N: the my-seafusion copy is another PNG encoding
                {"test/ir": "datasets/test_imgs/ir", "test/vi": "datasets/test_imgs/vi"},
                {},
            ),
        ],
        "id_splits": {
            "official-test": (
                "official_test_ids.txt",
                "the official MSRS test split (361 ids; hashes not pinned): put the release's test/{ir,vi} "
                "files there or run 'fusionbench data download msrs'",
            ),
            "official-train": (
                "official_train_ids.txt",
                "the official MSRS train split (1083 ids; hashes not pinned): put the release's "
                "train/{ir,vi} files there (github.com/Linfeng-Tang/MSRS)",
            ),
        },
    },
}

SPLIT_ORDER = ("test", "train", "trainpool", "official-test", "official-train")


def build(shared: Path) -> dict[str, dict[str, Any]]:
    """The manifests, ``{name: manifest dict}``, built from ``shared`` (the ``../shared`` folder)."""
    entries = json.loads((shared / "datasets" / "MANIFEST.json").read_text("utf-8"))["files"]
    by_split: dict[tuple[str, str], dict[str, dict[str, dict[str, Any]]]] = {}
    for entry in entries:
        _, dataset, split, folder, file = entry["path"].split("/")
        pair = by_split.setdefault((dataset, split), {}).setdefault(PurePosixPath(file).stem, {})
        pair["vis" if folder == "vi" else "ir"] = entry

    manifests = {}
    for name, table in DATASETS.items():
        sources = [_source(repo, members, transforms, entries) for repo, members, transforms in table["sources"]]
        splits: dict[str, Any] = {}
        for (dataset, split), pairs in by_split.items():
            if dataset == name:
                splits[split] = {"pairs": [_pair(name, split, i, pairs[i], sources) for i in sorted(pairs)]}
        for split, (ids_file, note) in table.get("id_splits", {}).items():
            ids = (shared / "datasets" / name / "splits" / ids_file).read_text("utf-8").split()
            splits[split] = {"note": note, "ext": ".png", "ids": sorted(ids)}
        manifest = {
            "name": name,
            "description": table["description"],
            "reference": table["reference"],
            **({"tag_by_suffix": table["tag_by_suffix"]} if "tag_by_suffix" in table else {}),
            "splits": {s: splits[s] for s in sorted(splits, key=SPLIT_ORDER.index)},
            "sources": sources,
        }
        _check_tags(manifest)
        manifests[name] = manifest
    return manifests


def _source(repo: str, members: Mapping[str, str], transforms: Mapping[str, str], entries: list) -> dict:
    commits = {e["source_commit"] for e in entries if e["source_repo"] == repo}
    if len(commits) != 1:
        raise ValueError(f"expected one snapshot commit of {repo} in MANIFEST.json, got {sorted(commits)}")
    commit = commits.pop()
    top = f"{repo.split('/')[1]}-{commit}"  # the folder GitHub's archive unpacks to
    return {
        "name": f"{repo}@{commit[:8]}",
        "url": f"https://github.com/{repo}/archive/{commit}.tar.gz",
        "sha256": None,  # GitHub's generated archives are not byte-stable; each file is pinned instead
        "homepage": f"https://github.com/{repo}",
        "members": {key: f"{top}/{folder}" for key, folder in members.items()},
        "transforms": dict(transforms),
    }


def _pair(dataset: str, split: str, pair_id: str, files: dict, sources: list[dict]) -> dict:
    if set(files) != {"ir", "vis"}:
        raise ValueError(f"{dataset}/{split}/{pair_id}: expected an ir and a vi file, got {sorted(files)}")
    out: dict[str, Any] = {"id": pair_id}
    for key, entry in files.items():
        item: dict[str, Any] = {"file": PurePosixPath(entry["path"]).name, "sha256": entry["sha256"]}
        upstream = entry.get("original_sha256") or entry.get("source_sha256")
        if upstream and upstream != entry["sha256"]:
            item["source_sha256"] = upstream
        if "crop_top_left_height_width" in entry:
            item["crop"] = entry["crop_top_left_height_width"]
        _check_served(dataset, split, "vi" if key == "vis" else "ir", entry, sources)
        out[key] = item
    return out


def _check_served(dataset: str, split: str, folder: str, entry: dict, sources: list[dict]) -> None:
    """Some source must hold the file's upstream bytes at ``<member folder>/<name>``."""
    copies = {(entry["source_repo"], entry["source_path"])}
    for copy in entry.get("identical_copies_elsewhere", []):
        repo, path = copy.split(":", 1)
        copies.add((repo, path))
    for source in sources:
        member = source["members"].get(f"{split}/{folder}")
        if member is None:
            continue
        repo = source["homepage"].removeprefix("https://github.com/")
        path = f"{member.split('/', 1)[1]}/{PurePosixPath(entry['path']).name}"
        if (repo, path) in copies:
            return
    raise ValueError(f"{entry['path']}: no source in build_manifests.DATASETS[{dataset!r}] serves this file")


def _check_tags(manifest: dict) -> None:
    suffixes = manifest.get("tag_by_suffix")
    if not suffixes:
        return
    for split, spec in manifest["splits"].items():
        ids = spec["ids"] if "ids" in spec else [p["id"] for p in spec["pairs"]]
        untagged = [i for i in ids if i[-1:] not in suffixes]
        if untagged:
            raise ValueError(f"{manifest['name']}/{split}: ids without a {'/'.join(suffixes)} suffix: {untagged[:5]}")


def render(manifest: dict) -> str:
    """JSON with one line per pair (and per id list), so that a diff shows which pairs changed."""
    lines = ["{"]
    for i, (key, value) in enumerate(manifest.items()):
        comma = "," if i < len(manifest) - 1 else ""
        if key != "splits":
            text = json.dumps(value, indent=1).replace("\n", "\n ")
            lines.append(f" {json.dumps(key)}: {text}{comma}")
            continue
        lines.append(' "splits": {')
        for j, (split, spec) in enumerate(value.items()):
            items = spec.get("pairs", spec.get("ids"))
            list_key = "pairs" if "pairs" in spec else "ids"
            head = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in spec.items() if k != list_key)
            lines.append(f"  {json.dumps(split)}: {{{head}{', ' if head else ''}{json.dumps(list_key)}: [")
            lines.extend(f"   {json.dumps(item)}{',' if n < len(items) - 1 else ''}" for n, item in enumerate(items))
            lines.append(f"  ]}}{',' if j < len(value) - 1 else ''}")
        lines.append(f" }}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True, help="the shared data folder (../shared)")
    parser.add_argument("--out", type=Path, default=MANIFEST_DIR, help="where to write the JSON files")
    parser.add_argument("--check", action="store_true", help="exit 1 if a written manifest is stale")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    stale = []
    for name, manifest in build(args.shared).items():
        path = args.out / f"{name}.json"
        text = render(manifest)
        if path.is_file() and path.read_text("utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            args.out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, text)
            log.info("wrote %s", path)
    if args.check and stale:
        log.error("stale: %s (run python -m fusionbench.datasets.build_manifests)", ", ".join(map(str, stale)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
