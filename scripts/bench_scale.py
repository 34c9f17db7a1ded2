"""Scale benchmark for large data sets: WikiArt-like JPEGs (ArtGAN layout) and the same images as
parquet shards, timed through listing, prepare, pixel-cache build (one .npy per image vs packed
shards) and one epoch of reading at 224 px; images/s per core, peak RSS, and an extrapolation
to WikiArt's 81,444 images on a 16-core node. Also the memory a rank holds for an 81,444-image
manifest and its loaders (--memory-images).

    PYTHONPATH=src python scripts/bench_scale.py --images 2000 --side 768 --workers 2 --out bench-scale.json

Figures and their caveats: docs/larger-datasets.md. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from artgenre.benchmark.wikiart_like import STYLES, _hf_metadata, _labels, image_name, write_artgan
from artgenre.config import DataConfig
from artgenre.data.layouts import DATASETS
from artgenre.data.listing import Record
from artgenre.data.loading.dataset import CachedImageDataset, ImageListDataset
from artgenre.data.loading.packed import PackedCache, packed_folder, plan, shard_files
from artgenre.data.loading.pipeline import collate
from artgenre.data.loading.transforms import geometry
from artgenre.data.prepare import manifest, pixels, prepare

TARGET_IMAGES, TARGET_CORES = 81_444, 16


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def peak_mb() -> dict[str, float]:
    return {"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def timed(fn):
    tic = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - tic


def write_shards(images: Path, count: int, out: Path, shards: int = 4) -> Path:
    """The generated JPEGs again as huggan/wikiart-like parquet shards (bytes copied, not re-encoded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    per = -(-count // shards)
    for s in range(shards):
        rows = range(s * per, min(count, (s + 1) * per))
        table = pa.table({"image": [{"bytes": (images / image_name(i)).read_bytes(), "path": f"{i}.jpg"} for i in rows],
                          "style": pa.array([_labels(i)["style"] for i in rows], pa.int64())})
        table = table.replace_schema_metadata({b"huggingface": _hf_metadata({"style": STYLES})})
        pq.write_table(table, out / f"train-{s:05d}-of-{shards:05d}.parquet", row_group_size=100)
    return out


def epoch(dataset, workers: int, batch: int = 64) -> dict[str, float]:
    """Images/s of a shuffled DataLoader epoch (``workers`` processes): the first epoch (worker start
    included) and a second one (steady state); and images per CPU-second of one process reading
    and batching in-process, which is what one core delivers when it is not shared."""
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, collate_fn=collate,
                        generator=torch.Generator().manual_seed(0), persistent_workers=workers > 0)
    rates = []
    for _ in range(2):
        tic = time.perf_counter()
        n = sum(len(labels) for _, labels in loader)
        rates.append(n / (time.perf_counter() - tic))
    del loader
    order = np.random.default_rng(0).permutation(len(dataset))[:2048]
    cpu = time.process_time()
    for k in range(0, len(order), batch):
        collate([dataset[int(i)] for i in order[k : k + batch]])
    per_cpu_s = len(order) / max(1e-9, time.process_time() - cpu)
    return {"first_epoch_img_per_s": rates[0], "img_per_s": rates[1], "one_core_img_per_cpu_s": per_cpu_s}


def pipeline(name: str, root: Path, cache_dir: Path, workers: int, size: int, formats: tuple[str, ...]) -> dict:
    data = OmegaConf.merge(OmegaConf.structured(DataConfig), {"name": name, "root": str(root), "label": "style",
                                                             "cache_dir": str(cache_dir), "image_size": size})
    listing, t_list = timed(lambda: DATASETS[name](data))
    prepared, t_prep = timed(lambda: prepare(data, seed=0, workers=workers, progress=False))
    image_set = prepared.image_set()
    n = len(image_set.records)
    out = {"images": n, "listing_s": t_list, "prepare_s": t_prep, "cores": workers,
           "prepare_img_per_s_per_core": n / t_prep / max(1, workers)}
    labels = [r.label for r in image_set.records]
    for fmt in formats:
        for layout in ("square", "margin"):
            _, t_build = timed(lambda: pixels.build(image_set, size, layout, workers, False, fmt))
            cache = pixels.open_pixels(image_set, size, layout, fmt)
            tf = None if layout == "square" else geometry(size, "basic", True)
            rate = epoch(CachedImageDataset(cache, range(n), labels, tf), workers)
            out[f"{fmt}_{layout}"] = {"build_s": t_build, "build_img_per_s_per_core": n / t_build / max(1, workers),
                                      **{f"read_{k}": v for k, v in rate.items()}}
    if name == "wikiart":  # the baseline without any cache: decode every JPEG every epoch
        paths = [r.path for r in image_set.records]
        ds = ImageListDataset(image_set.root, paths, labels, geometry(size, "none", True), size)
        out["no_cache_decode_img_per_s"] = epoch(ds, workers)
    out["peak_rss_mb"] = peak_mb()
    return out


def extrapolate(result: dict) -> dict:
    """Seconds for 81,444 images on 16 cores, from the per-core rates measured (linear scaling assumed)."""
    def at_scale(per_core: float) -> float:
        return TARGET_IMAGES / (per_core * TARGET_CORES)

    out = {"prepare_s": at_scale(result["prepare_img_per_s_per_core"])}
    for key, value in result.items():
        if isinstance(value, dict) and "build_img_per_s_per_core" in value:
            out[f"{key}_build_s"] = at_scale(value["build_img_per_s_per_core"])
            out[f"{key}_epoch_read_s"] = at_scale(value["read_one_core_img_per_cpu_s"])
    return out


def hwm_reset() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM (peak RSS) to the current RSS
        f.write("5")


def hwm_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def making(count: int) -> dict:
    """Peak RSS rank 0 adds while it makes a ``count``-image manifest: a synthetic listing whose
    decode results are already in checks.csv (so nothing is decoded), then choosing, labelling,
    splitting and writing it."""
    from artgenre.data.archive import FileEntry, FolderArchive
    from artgenre.data.listing import ArtistInfo, Candidate, Listing
    from artgenre.data.prepare.checks import CHECK_COLUMNS

    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp)
        paths = [f"{STYLES[i % 3]}/some-artist-name_a-painting-title-of-usual-length-{i}.jpg" for i in range(count)]
        (cache_dir / "checks.csv").write_text(manifest.csv_text(
            CHECK_COLUMNS, [[p, f"1:{i}", "ok", "JPEG", 1200, 900, f"{i:040x}", ""] for i, p in enumerate(paths)]))
        opts = {"name": "wikiart", "source": "images", "artists": None, "label": "style", "min_images": 2,
                "val_fraction": 0.15, "test_fraction": 0.0, "max_pixels": 200_000_000, "seed": 0}
        hwm_reset()
        base = rss_mb()
        listing = Listing(FolderArchive(cache_dir), {s: ArtistInfo(s, (s,)) for s in STYLES},
                          [Candidate(p, STYLES[i % 3], f"1:{i}") for i, p in enumerate(paths)],
                          entries=[FileEntry(p, 1, f"1:{i}") for i, p in enumerate(paths)])
        prepared = manifest.build(listing, opts, cache_dir, workers=0, progress=False)
        return {"images": len(prepared.records), "rank0_listing_and_build_peak_mb": hwm_mb() - base}


def memory(count: int) -> dict:
    """RSS a rank adds for a ``count``-image manifest: loading it, receiving it from rank 0 (pickle),
    the packed cache's index and the train/val datasets (no pixels are read)."""
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp)
        records = [Record(f"{STYLES[i % 3]}/some-artist-name_a-painting-title-of-usual-length-{i}.jpg",
                          STYLES[i % 3], i % 27, STYLES[i % 3], STYLES[i % 3], 1200, 900, f"{i:040x}")
                   for i in range(count)]
        split = ["val" if i % 4 == 0 else "train" for i in range(count)]
        text = manifest.csv_text(manifest.MANIFEST_COLUMNS, [
            [r.path, r.artist, r.genre, r.label, r.class_name, s, "JPEG", r.width, r.height, r.sha1]
            for r, s in zip(records, split)])
        (cache_dir / "manifest.csv").write_text(text)
        (cache_dir / "excluded.csv").write_text("path,reason\n")
        meta = {"version": manifest.MANIFEST_VERSION, "fingerprint": "x", "classes": list(STYLES), "notes": [],
                "manifest_sha256": __import__("hashlib").sha256(text.encode()).hexdigest()}
        (cache_dir / "prepare.json").write_text(json.dumps(meta))
        del records, text
        folder = packed_folder(cache_dir, 224, "margin", [])
        folder.mkdir()
        hwm_reset()
        base = rss_mb()
        prepared = manifest.load(cache_dir, cache_dir, "x")
        loaded = rss_mb()
        blob = pickle.dumps(prepared)  # what rank 0 broadcasts to the others
        for k, shard in enumerate(plan(prepared.records)):
            np.save(shard_files(folder, k)[1], np.array([[i, 0, 258, 344] for i in shard], dtype=np.int64))
        cache = PackedCache(folder, count)
        from artgenre.data.loading.pipeline import build_datasets

        data = OmegaConf.merge(OmegaConf.structured(DataConfig), {"image_size": 224, "augment": "basic"})
        train, val = build_datasets(data, prepared.image_set(), prepared.split, cache)
        done = rss_mb()
        return {"images": count, "rss_before_mb": base, "manifest_loaded_mb": loaded - base,
                "manifest_and_loaders_mb": done - base, "peak_while_loading_mb": hwm_mb() - base, "broadcast_pickle_mb": len(blob) / 2**20,
                "train": len(train), "val": len(val)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--side", type=int, default=768, help="short side of the generated paintings, px")
    ap.add_argument("--size", type=int, default=224, help="data.image_size")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--memory-images", type=int, default=TARGET_IMAGES)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    report: dict = {"images": args.images, "side": args.side, "image_size": args.size, "workers": args.workers,
                    "cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    report["memory"] = {**memory(args.memory_images), **making(args.memory_images)}
    _, report["generate_s"] = timed(lambda: write_artgan(work / "artgan", args.images, args.side, quirks=False,
                                                          workers=args.workers))
    images = work / "artgan" / "wikiart"
    report["jpeg_mb"] = sum(p.stat().st_size for p in images.rglob("*.jpg")) / 2**20
    report["wikiart"] = pipeline("wikiart", images, work / "cache-wikiart", args.workers, args.size,
                                 ("files", "packed"))
    shards = write_shards(images, args.images, work / "parquet")
    report["parquet"] = pipeline("parquet", shards, work / "cache-parquet", args.workers, args.size, ("packed",))
    report["extrapolated_81444_on_16_cores_s"] = {k: extrapolate(report[k]) for k in ("wikiart", "parquet")}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
