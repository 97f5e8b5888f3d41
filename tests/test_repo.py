"""The repository stands on its own: nothing a user clones points outside it."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"\.\./shared|METHODS\.md|\bpapers/")


def test_nothing_in_the_package_labs_or_docs_points_outside_the_repository():
    files = [p for d in ("adlib", "notebooks", "docs") for p in (ROOT / d).rglob("*")
             if p.suffix in {".py", ".ipynb", ".md", ".csv", ".txt"} and ".ipynb_checkpoints" not in p.parts]
    assert len(files) > 20
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()[:80]}" for p in files
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if OUTSIDE.search(line)]
    assert hits == []


def test_the_methods_document_covers_every_method_and_cites_arxiv():
    text = (ROOT / "docs/methods.md").read_text(encoding="utf-8")
    for name in ("BDSG", "TailGAN", "OMASGAN", "HistoryAD", "AnoGAN", "EGBAD", "GANomaly", "kNN", "VAE"):
        assert f"## {name}" in text or f"**{name}" in text or f"{name}:" in text, name
    assert len(re.findall(r"arXiv:\d{4}\.\d{4,5}", text)) >= 8
    assert "Deviation" in text
