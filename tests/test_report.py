"""The report a person reads: the compact table first, no `nan`, the noise line, captions that
render, the column list of docs/outputs.md."""

import re
from pathlib import Path

import pandas as pd
import pytest
from docutils.core import publish_parts
from jinja2 import Template

from task2vec_diversity.config import check_config_files
from task2vec_diversity.errors import ConfigError
from task2vec_diversity.report import (
    ANSWER_COLUMNS,
    COLUMNS,
    alignment_sections,
    answer_table,
    diversity_figure,
    diversity_sections,
    html_page,
    markdown_page,
    noise_line,
    ranks,
    write_pages,
)

ROOT = Path(__file__).resolve().parents[1]
NAN = float("nan")


def table() -> pd.DataFrame:
    """Two datasets with noise floors (b more diverse, a mostly noise), one without (no floor
    configured for it) and a pool; values chosen by hand."""
    rows = [
        # dataset, kind, diversity, low, high, floor, above, above low, above high, published
        ("a", "dataset", 0.30, 0.29, 0.31, 0.21, 0.09, 0.08, 0.10, NAN),
        ("b", "dataset", 0.40, 0.38, 0.42, 0.10, 0.30, 0.27, 0.33, 0.45),
        ("c", "dataset", 0.50, 0.45, 0.55, NAN, NAN, NAN, NAN, NAN),
        ("ab", "pool", 0.36, 0.35, 0.37, NAN, NAN, NAN, NAN, NAN),
    ]
    frame = pd.DataFrame(
        [
            {
                "dataset": d,
                "kind": k,
                "diversity": v,
                "ci95_low": lo,
                "ci95_high": hi,
                "noise_floor": f,
                "noise_share": f / v,
                "diversity_above_noise": x,
                "diversity_above_noise_ci95_low": xl,
                "diversity_above_noise_ci95_high": xh,
                "paper_diversity": p,
            }
            for d, k, v, lo, hi, f, x, xl, xh, p in rows
        ],
        columns=COLUMNS,
    )
    frame["rank"] = ranks(frame)
    return frame


def test_the_answer_comes_first_ranked_above_the_floor():
    t = table()
    assert COLUMNS[: len(ANSWER_COLUMNS)] == ANSWER_COLUMNS and len(set(COLUMNS)) == len(COLUMNS)
    # by the part above the floor: b (0.30) before a (0.09); c and the pool have none: no rank
    assert list(t["rank"].astype(object)) == [2, 1, pd.NA, pd.NA]
    answer = answer_table(t)
    assert len(answer.columns) <= 8
    assert list(answer["dataset"]) == ["b", "a", "c", "ab (pool)"]
    b, a, c, pool = answer.to_dict("records")
    assert b["diversity [95% CI]"] == "0.4000 [0.3800, 0.4200]" and b["published"] == "0.4500"
    assert b["noise floor (share)"] == "0.1000 (25%)" and a["noise floor (share)"] == "0.2100 (70%)"
    assert b["above the floor [95% CI]"] == "0.3000 [0.2700, 0.3300]" and b["rank"] == "1"
    assert c["noise floor (share)"] == "not configured" and pool["noise floor (share)"] == "none for a pool"
    assert a["published"] == "" and c["above the floor [95% CI]"] == "" and pool["rank"] == ""


def test_a_diversity_of_zero_prints_its_floor_without_a_share():
    t = table().iloc[:1].copy()
    t[["diversity", "noise_share"]] = [0.0, NAN]
    assert answer_table(t)["noise floor (share)"].tolist() == ["0.2100"]


def test_without_floors_it_ranks_by_diversity_and_drops_the_empty_columns():
    t = table().iloc[2:].copy()
    t["rank"] = ranks(t)
    assert list(t["rank"]) == [1, 2]
    answer = answer_table(t)
    assert list(answer.columns) == ["rank", "dataset", "diversity [95% CI]", "noise floor (share)"]


def test_mostly_noise_says_so_in_one_line_with_what_to_do():
    line = noise_line(table(), 0.5, fisher_samples=1)
    assert line.count("\n") == 1 and "a (70%)" in line and "b (" not in line
    assert "fisher_samples` (now 1)" in line and "above the floor" in line
    assert noise_line(table(), 0.75, fisher_samples=1) == ""


def test_markdown_and_html_open_with_the_answer_and_print_no_nan(tmp_path):
    t = table()
    parts = diversity_sections(t, noise_line(t, 0.5, 1) + "\n- a summary line", "diversity.png")
    markdown = markdown_page(parts)
    lines = markdown.splitlines()
    assert lines[0] == "# Diversity" and lines[2].startswith("| rank | dataset | diversity [95% CI] |")
    assert markdown.index("Mostly noise") < markdown.index("- a summary line") < markdown.index("## Every column")
    assert "![" in markdown and markdown.index("](diversity.png)") < markdown.index("## Every column")
    page = html_page("Diversity", parts, {"diversity.png": "data:image/png;base64,AA"})
    assert page.count("<table") == 2 and "src='data:image/png;base64,AA'" in page
    for text in (markdown, page):
        assert not re.search(r"\bnan\b|<NA>|\bNaN\b", text)
    diversity_figure(t, tmp_path / "diversity.png")
    assert (tmp_path / "diversity.png").stat().st_size > 1000
    write_pages(parts, "Diversity", tmp_path / "d.md", tmp_path / "d.html", str(tmp_path / "diversity.png"))
    assert (tmp_path / "d.md").read_text() == markdown
    assert "src='data:image/png;base64,iVBOR" in (tmp_path / "d.html").read_text()  # the PNG inlined


@pytest.mark.parametrize("caption", sorted((ROOT / "report").glob("*.rst")), ids=lambda p: p.name)
def test_report_captions_render_without_a_docutils_message(caption, tmp_path, monkeypatch):
    """As the Snakemake report renders a caption: a Jinja template, then reStructuredText, in the
    run's folder (workflow.rst includes the compact table the diversity report writes)."""
    (tmp_path / "results/report").mkdir(parents=True)
    (tmp_path / "results/report/answer.html").write_text("<table><tr><td>0.1</td></tr></table>\n")
    monkeypatch.chdir(tmp_path)
    html = publish_parts(Template(caption.read_text()).render(snakemake=None), writer="html")["body"]
    assert "system-message" not in html and "System Message" not in html


def test_outputs_doc_lists_the_diversity_columns_of_the_code():
    doc = (ROOT / "docs/outputs.md").read_text()
    row = next(line for line in doc.splitlines() if line.startswith("| `results/report/diversity.csv`"))
    listed = re.findall(r"`([a-z0-9_]+)`", row.split("|")[2])
    assert listed == COLUMNS


def test_alignment_opens_with_its_compact_table():
    table = pd.DataFrame(
        {
            "train": ["a", "a"],
            "eval": ["b", "c"],
            "alignment": [0.7, 0.6],
            "alignment_ci95_low": [0.68, 0.55],
            "alignment_ci95_high": [0.72, 0.65],
            "cross_diversity_above_noise": [0.05, NAN],
            "cross_diversity_above_noise_ci95_low": [0.04, NAN],
            "cross_diversity_above_noise_ci95_high": [0.06, NAN],
        }
    )
    layout = table.pivot(index="train", columns="eval", values="alignment")
    markdown = markdown_page(alignment_sections(table, layout, "alignment_heatmap.png"))
    lines = markdown.splitlines()
    assert lines[2] == "| train | eval | alignment [95% CI] | cross diversity above the floors [95% CI] |"
    assert lines[4] == "| a | b | 0.7000 [0.6800, 0.7200] | 0.0500 [0.0400, 0.0600] |"
    assert lines[5] == "| a | c | 0.6000 [0.5500, 0.6500] | no noise floor for both |"
    assert "nan" not in markdown


def test_another_config_file_is_refused_with_one_line(tmp_path):
    record = tmp_path / "configfiles.txt"
    check_config_files(["my.yaml"], str(record))  # no report yet: nothing to overwrite
    record.write_text("config/config.yaml\n")
    check_config_files(["config/config.yaml"], str(record))
    with pytest.raises(ConfigError) as refused:
        check_config_files(["my.yaml"], str(record))
    message = str(refused.value)
    assert "\n" not in message and "report of config/config.yaml, not of my.yaml" in message
    assert "--directory" in message
