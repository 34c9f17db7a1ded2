"""Opening a page in headless Chromium (Debian's ``chromium``) from a test: what it rendered, and a screenshot."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

# Runs before the page's own content: records console errors and warnings, uncaught errors and
# resources that failed to load; once the page has loaded, writes what it found into the DOM,
# where --dump-dom returns it.
PROBE = """<script>
(() => {
  const found = {console: [], errors: []};
  for (const level of ["error", "warn"]) {
    const original = console[level];
    console[level] = (...args) => { found.console.push(level + ": " + args.join(" ")); original.apply(console, args); };
  }
  window.addEventListener("error", (e) => {
    found.errors.push(e.message || ("failed to load " + (e.target && (e.target.src || e.target.href) || "?").slice(0, 80)));
  }, true);
  window.addEventListener("load", () => {
    const images = [...document.images];
    found.images = images.length;
    found.undecoded = images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.alt);
    found.tables = document.querySelectorAll("table").length;
    found.headings = [...document.querySelectorAll("h2")].map((h) => h.textContent);
    const out = document.createElement("pre");
    out.id = "probe-result";
    out.textContent = JSON.stringify(found);
    document.body.appendChild(out);
  });
})();
</script>"""


def chromium() -> Optional[str]:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def _command(browser: str, profile: Path) -> list[str]:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={profile}", "--no-first-run", "--virtual-time-budget=10000"]


def render(page: Path, workdir: Path, screenshot: Path, width: int = 1280, height: int = 2200) -> dict[str, Any]:
    """Open ``page`` with the probe; return what the probe found. Saves a screenshot of the page as it
    is and, beside it, the page printed to PDF (``result["pdf"]``: its bytes)."""
    browser = chromium()
    assert browser, "no chromium"
    html = page.read_text(encoding="utf-8")
    probed = workdir / ("probed_" + page.name)
    probed.write_text(re.sub(r"<head>", "<head>" + PROBE, html, count=1), encoding="utf-8")
    done = subprocess.run(_command(browser, workdir / "profile") + ["--dump-dom", probed.as_uri()],
                          capture_output=True, text=True, timeout=180)
    match = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
    if not match:
        raise AssertionError(f"the page did not finish loading in Chromium (exit {done.returncode}): "
                             f"{done.stderr[-2000:]}")
    import html as html_lib

    result = json.loads(html_lib.unescape(match.group(1)))
    shot = subprocess.run(_command(browser, workdir / "profile") + [f"--window-size={width},{height}",
                          f"--screenshot={screenshot}", page.as_uri()], capture_output=True, text=True, timeout=180)
    result["screenshot_ok"] = screenshot.is_file() and screenshot.stat().st_size > 0
    result["screenshot_log"] = shot.stderr[-1000:]
    pdf = screenshot.with_suffix(".pdf")  # the print layout (A4, @media print)
    subprocess.run(_command(browser, workdir / "profile") + ["--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                   page.as_uri()], capture_output=True, text=True, timeout=180)
    result["pdf"] = pdf.read_bytes() if pdf.is_file() else b""
    return result
