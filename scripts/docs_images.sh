#!/usr/bin/env bash
# Makes the README's pictures (docs/images/): a heatmap and the report page, from the synthetic
# paintings. CPU only, about ten minutes. Needs `pip install -e '.[explain]'` and Debian's chromium.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
cd "$work"
# a small ViT on 64 px synthetic paintings, 12 epochs
python -m artgenre.train data=synthetic data.root="$work/synthetic" data.image_size=64 data.synthetic_scale=0.1 \
  model=vit_scratch model.embed_dim=64 model.depth=2 model.num_heads=2 model.patch_size=8 \
  trainer.batch_size=16 trainer.num_workers=0 trainer.epochs=12 hydra.run.dir="$work/run"
python -m artgenre.eval checkpoint="$work/run/checkpoints/best.pt"
python -m artgenre.report "$work/run" -o "$work/report" --every 2 --gallery 3
python -m artgenre.explain checkpoint="$work/run/checkpoints/best.pt" target=true out="$work/explain" \
  "$work/synthetic/images/images/Titian/Titian_15.jpg"
python - "$work" <<'PY'
import re, sys
from pathlib import Path

page = Path(sys.argv[1]) / "report" / "report.html"
text = page.read_text()  # the same page with its gallery first, for a second picture
gallery = re.search(r'<section id="s\d+"><h2>Gallery.*?</section>', text, re.S).group(0)
(page.parent / "gallery_first.html").write_text(text.replace("<nav>", gallery + "<nav>", 1))
PY
shoot() { chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,"$2" --screenshot="$3" "file://$1"; }
shoot "$work/report/report.html" 1000 "$work/page.png"
shoot "$work/report/gallery_first.html" 1000 "$work/gallery.png"
python - "$work" "$repo/docs/images" <<'PY'
import sys
from pathlib import Path
from PIL import Image

work, images = Path(sys.argv[1]), Path(sys.argv[2])
for name, out in (("page.png", "report_page.png"), ("gallery.png", "report_gallery.png")):
    Image.open(work / name).convert("RGB").resize((896, 700), Image.LANCZOS).quantize(128).save(images / out, optimize=True)
Image.open(work / "explain" / "Titian_15.png").convert("RGB").quantize(128).save(images / "heatmap.png", optimize=True)
PY
echo "pictures in $repo/docs/images; the page is $work/report/report.html"
