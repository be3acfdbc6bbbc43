"""Build the documentation site into ``docs/_build/html`` (``make docs``; ``make docs-serve``).

    python docs/build.py            # assemble, vendor MathJax, sphinx-build with warnings as errors
    python docs/build.py --serve    # the same, then serve it on http://127.0.0.1:8000

1. Assemble the Sphinx source folder ``docs/_build/src``: the hand-written pages of ``docs/``, the
   generated pages and plots of ``generated/docs/`` as ``surrogates/``, and under ``_repo/`` the
   READMEs and recorded results that the guides include (so no text is written twice). Files are
   copied only when their bytes changed, so Sphinx rebuilds only what changed.
2. Vendor MathJax: the npm package ``mathjax@MATHJAX_VERSION`` (``npm pack``, checked against its
   pinned SHA-512) unpacked into ``docs/_build/vendor/mathjax``; the site then renders formulas
   without any network.
3. ``sphinx-build -W --keep-going`` with ``docs/`` as the configuration folder. Warnings name the
   file a user edits: ``generated/docs/...`` (from a spec or template) or ``docs/...``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD = DOCS / "_build"
SRC = BUILD / "src"
HTML = BUILD / "html"
VENDOR = BUILD / "vendor"
# What the site's source folder holds: (folder in the repository, place in the source folder).
# A file or folder under _repo/ is only included into pages (conf.py excludes it as a page).
SOURCES = (
    (DOCS, ""),
    (ROOT / "generated" / "docs", "surrogates"),
    (ROOT / "README.md", "_repo/README.md"),
    (ROOT / "specs" / "README.md", "_repo/specs/README.md"),
    (ROOT / "examples" / "README.md", "_repo/examples/README.md"),
    (ROOT / "examples" / "results", "_repo/examples/results"),
    (ROOT / "benchmarks" / "results", "_repo/benchmarks/results"),
)
# Not pages: the configuration folder's own files (Sphinx reads them from docs/ itself).
SKIP = {
    "_build",
    "_ext",
    "_static",
    "conf.py",
    "build.py",
    "__pycache__",
    ".surrogen-manifest.json",
}
MATHJAX_VERSION = "3.2.2"
MATHJAX_SHA512 = (
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/"
    "FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
)


def _wanted() -> dict[Path, Path]:
    """Destination (relative to SRC) -> source file, for every file of the site's source."""
    files: dict[Path, Path] = {}
    for folder, place in SOURCES:
        if folder.is_file():
            files[Path(place)] = folder
            continue
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if path.is_file() and not SKIP.intersection(rel.parts):
                files[Path(place) / rel] = path
    return files


def assemble() -> None:
    wanted = _wanted()
    for rel, source in wanted.items():
        target = SRC / rel
        if target.is_file() and target.read_bytes() == source.read_bytes():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    for path in sorted(SRC.rglob("*"), reverse=True):  # files no source has any more
        rel = path.relative_to(SRC)
        if path.is_file() and rel not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def vendor_mathjax() -> None:
    """MathJax's browser build (``es5/``) into VENDOR/mathjax, once per version."""
    stamp = VENDOR / "mathjax" / ".version"
    if stamp.is_file() and stamp.read_text() == MATHJAX_VERSION:
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("docs/build.py: npm is needed to vendor MathJax (apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--silent", "--pack-destination", tmp],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(tmp).glob("mathjax-*.tgz")
        data = tarball.read_bytes()
        if _integrity(data) != MATHJAX_SHA512:
            sys.exit(f"docs/build.py: {tarball.name} does not match its pinned SHA-512")
        shutil.rmtree(VENDOR / "mathjax", ignore_errors=True)
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/es5/")]
            archive.extractall(tmp, members=members, filter="data")
        shutil.copytree(Path(tmp) / "package" / "es5", VENDOR / "mathjax")
    stamp.write_text(MATHJAX_VERSION)


def sphinx(extra: list[str]) -> int:
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    command += ["-c", str(DOCS), *extra, str(SRC), str(HTML)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    shown = {f"{SRC}/surrogates/": "generated/docs/", f"{SRC}/": "docs/"}
    for stream, text in ((sys.stdout, run.stdout), (sys.stderr, run.stderr)):
        for old, new in shown.items():
            text = text.replace(old, new)
        stream.write(text)
    return run.returncode


def serve(port: int) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {HTML.relative_to(ROOT)} on http://127.0.0.1:{port}/ (Ctrl-C stops)")
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve the site after building it")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DOCS_PORT", "8000")))
    args = parser.parse_args(argv)
    assemble()
    vendor_mathjax()
    # -E: every page is read again, so a warning is never hidden by an earlier build's cache.
    status = sphinx(["-E"])
    if status:
        print("docs/build.py: the site has warnings or errors (above); nothing to serve")
        return status
    print(f"site: {(HTML / 'index.html').relative_to(ROOT)}")
    if args.serve:
        serve(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
