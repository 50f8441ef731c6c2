"""The documentation explains the repository from inside it: the README stays a front page,
its links and the docs' links resolve, the code cites docs/method.md's real sections, nothing
points outside the repository, and the Quick start's set-up is idempotent and is what CI runs."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from task2vec_diversity.config import validate

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to '-'."""
    out = set()
    for line in page.read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return out


def test_anchors_follow_github():
    page = ROOT / "docs" / "method.md"
    assert {"where-we-differ-from-the-authors-code", "the-papers-numbers", "embedding-a-batch"} <= anchors(page)


def test_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve(page):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(target)
    assert not broken, f"{page.name}: links that do not resolve: {broken}"


def test_the_development_guide_names_files_that_exist():
    """docs/development.md: every repository path it names in code spans exists, and the
    README's docs list links it."""
    text = (ROOT / "docs" / "development.md").read_text()
    named = set(re.findall(r"`((?:src|rules|scripts|tests|benchmarks|docs)/[\w./<>-]+\.(?:py|smk|yaml|md))`", text))
    modules = set(re.findall(r"`(\w+\.py)`", text))
    missing = [p for p in named if "<" not in p and not (ROOT / p).exists()]
    missing += [m for m in modules if not any((ROOT / d / m).exists() for d in ("src/task2vec_diversity", "tests"))]
    assert named and modules and not missing, f"docs/development.md names files that do not exist: {missing}"
    assert "(docs/development.md)" in (ROOT / "README.md").read_text()
    for module, name in set(re.findall(r"`(\w+)\.(\w+)[`(]", text)):  # `identity.comparable`: it exists
        if name != "py" and (ROOT / "src/task2vec_diversity" / f"{module}.py").exists():
            assert hasattr(importlib.import_module(f"task2vec_diversity.{module}"), name), f"{module}.{name}"


def tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in names.splitlines():
        path = ROOT / name
        if path.is_file() and not path.is_symlink() and path.suffix in {".py", ".md", ".yaml", ".smk", ".sh", ""}:
            yield path


def test_method_citations_name_real_sections():
    sections = anchors(ROOT / "docs" / "method.md")
    cited = {}
    for path in tracked_text_files():
        for anchor in re.findall(r"docs/method\.md#([\w-]+)", path.read_text(errors="replace")):
            cited.setdefault(anchor, path.name)
    assert cited, "the code cites docs/method.md's sections"
    assert {a: f for a, f in cited.items() if a not in sections} == {}


def test_nothing_points_outside_the_repository():
    outside = "shared/" + "METHOD"  # not written in one piece, so that this file does not match itself
    hits = [p.name for p in tracked_text_files() if outside in p.read_text(errors="replace")]
    assert hits == []


def quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n\n```bash\n(.*?)```", text, re.S)
    assert block, "the README has a Quick start code block"
    return block.group(1).strip().splitlines()


def test_ci_runs_the_readme_test_command():
    demo, tests = quick_start()
    assert demo.startswith("./setup.sh && ") and tests.startswith("./setup.sh && ")
    assert "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def fake_checkout(tmp_path: Path) -> tuple[Path, Path]:
    """setup.sh and pyproject.toml beside a .venv whose python and pip only log their calls."""
    shutil.copy(ROOT / "setup.sh", tmp_path / "setup.sh")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    log = tmp_path / "calls.log"
    for tool in ("python", "pip"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
        script.chmod(0o755)
    return tmp_path / "setup.sh", log


def run_setup(setup: Path):
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return subprocess.run(["sh", str(setup)], capture_output=True, text=True, env=env, timeout=60)


def test_setup_installs_once_then_only_checks(tmp_path):
    setup, log = fake_checkout(tmp_path)
    assert run_setup(setup).returncode == 0
    assert run_setup(setup).returncode == 0
    assert log.read_text().splitlines() == ["pip install -q -e .[dev]"]
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2"\n')
    assert run_setup(setup).returncode == 0
    assert log.read_text().splitlines() == ["pip install -q -e .[dev]"] * 2


def test_setup_never_installs_into_a_linked_venv(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    setup, log = fake_checkout(real)
    (real / ".venv").rename(tmp_path / "shared_venv")
    (real / ".venv").symlink_to(tmp_path / "shared_venv")
    assert run_setup(setup).returncode == 0
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["python"]


def gpu_rules() -> set[str]:
    """The rules that declare a `gpu` resource (and so ask SLURM for a GPU)."""
    found = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        for name, body in re.findall(r"^\s*rule(?: (\w+))?:\n(.*?)(?=^\s*rule[ :]|\Z)", smk.read_text(), re.M | re.S):
            if re.search(r"^\s+gpu=", body, re.M):
                # the rules of EMBEDDING_JOBS (rules/embed.smk) take embed_shard's resources
                found.add(name or "embed_shard")
    return found


def test_the_cluster_profile_example_sends_every_gpu_rule_to_the_gpu_partition():
    section = (ROOT / "docs/slurm.md").read_text().split("## Your cluster")[1]
    profile = yaml.safe_load(section.split("```yaml")[1].split("```")[0])
    assert gpu_rules() == {"embed_shard", "embed_noise", "activations"}
    assert set(profile["set-resources"]) == gpu_rules()
    assert all(r == {"slurm_partition": "<gpu partition>"} for r in profile["set-resources"].values())
    assert "embed_noise: *gpu, activations: *gpu" in (ROOT / "README.md").read_text()


def test_readme_adding_a_dataset_snippet_is_a_valid_config():
    """The README's snippet, pasted under the demo config's datasets, validates (every name it
    refers to is declared in it)."""
    text = (ROOT / "README.md").read_text()
    snippet = yaml.safe_load(re.search(r"## Adding a dataset\n.*?```yaml\n(.*?)```", text, re.S).group(1))
    demo = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    demo["datasets"].update(snippet["datasets"])
    checked = validate(demo)
    assert set(snippet["datasets"]) <= set(checked["datasets"])
