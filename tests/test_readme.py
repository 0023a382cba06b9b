"""The README is for users: short, linked, and its results snapshot is the one the report
build generated from the committed reports (never typed)."""

import re

from auscult.reporting import snapshot


def test_readme_snapshot_matches_the_committed_reports(repo_root):
    readme = (repo_root / "README.md").read_text()
    generated = (repo_root / "reports" / "tables" / "snapshot.md").read_text()
    assert snapshot.splice(readme, generated) == readme, \
        "README's results snapshot differs from reports/tables/snapshot.md: python -m auscult.reporting.snapshot"


def test_snapshot_is_built_from_tables_and_claims(repo_root):
    text = snapshot.render(repo_root / "reports")
    assert "AudioFuse T1" in text and "Claims" in text


def test_readme_is_short_and_every_local_link_resolves(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert len(readme.encode()) < 12 * 1024
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        if not link.startswith("http"):
            assert (repo_root / link).exists(), link
    assert "arxiv.org/abs/2509.23454" in readme and "physionet.org" in readme
    assert (repo_root / "LICENSE").exists() and (repo_root / "CITATION.cff").exists()
