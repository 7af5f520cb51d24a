"""Shares with weights (images or posts) and their n; small periods flagged on the charts, left out of the
top 5, and shown by the `trends` CLI."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trend_core import trend_charts, trends


@pytest.fixture
def images() -> pd.DataFrame:
    """January: post A with two images (styles 0 and 1), post B with one (style 0), post C one image left out.
    February: post D with four images (0, 0, 0, 1). Likes repeat on every image of a post."""
    rows = [("A", 1, "2024-01-03", 0, 10), ("A", 2, "2024-01-03", 1, 10), ("B", 1, "2024-01-10", 0, 4),
            ("C", 1, "2024-01-11", -1, 100),
            ("D", 1, "2024-02-01", 0, 8), ("D", 2, "2024-02-01", 0, 8), ("D", 3, "2024-02-01", 0, 8),
            ("D", 4, "2024-02-01", 1, 8)]
    frame = pd.DataFrame(rows, columns=["post", "image_no", "post_date", "style", "likes"])
    frame["post_date"] = pd.to_datetime(frame["post_date"])
    return frame


def per_post(frame: pd.DataFrame) -> pd.DataFrame:
    """weight = 1 / images of the post (what the pipeline sets to count posts)."""
    return frame.assign(weight=1.0 / frame.groupby("post")["post"].transform("size"))


def cell(table: pd.DataFrame, period: str, style: int, column: str) -> float:
    row = table[(table["period"] == pd.Timestamp(period)) & (table["style"] == style)]
    return float(row[column].iloc[0])


def test_share_table_counts_images_by_default_with_n(images):
    table = trends.share_table(images, "month")
    assert list(table.columns) == trends.SHARE_COLUMNS and "n" in trends.SHARE_COLUMNS
    assert table["count"].dtype == np.int64
    assert cell(table, "2024-01-01", 0, "count") == 2 and cell(table, "2024-01-01", 0, "total") == 3
    assert cell(table, "2024-01-01", 0, "share") == pytest.approx(2 / 3)
    assert cell(table, "2024-01-01", 1, "n") == 3 and cell(table, "2024-02-01", 1, "n") == 4  # left-out C excluded
    assert cell(table, "2024-02-01", 0, "share") == pytest.approx(3 / 4)
    assert trends.count_unit(images) == "images"


def test_share_table_honours_weights_to_count_posts(images):
    table = trends.share_table(per_post(images), "month")
    # January: A splits 1/2 + 1/2, B counts 1 -> style 0 = 1.5 of 2 posts; n stays 3 images
    assert cell(table, "2024-01-01", 0, "count") == pytest.approx(1.5)
    assert cell(table, "2024-01-01", 1, "count") == pytest.approx(0.5)
    assert cell(table, "2024-01-01", 0, "total") == pytest.approx(2.0)
    assert cell(table, "2024-01-01", 0, "share") == pytest.approx(0.75)
    assert cell(table, "2024-01-01", 0, "n") == 3
    # February: one post of four images, 3/4 of it in style 0; n = 4 images
    assert cell(table, "2024-02-01", 0, "total") == pytest.approx(1.0)
    assert cell(table, "2024-02-01", 0, "share") == pytest.approx(0.75) and cell(table, "2024-02-01", 0, "n") == 4
    # engagement times the weight: style 0 in January = 10/2 + 4, style 1 = 10/2
    assert cell(table, "2024-01-01", 0, "engagement") == pytest.approx(9.0)
    assert cell(table, "2024-01-01", 0, "engagement_share") == pytest.approx(9 / 14)
    assert trends.count_unit(per_post(images)) == "posts"
    # an explicit weight of 1 per row is the images count
    ones = trends.share_table(images.assign(weight=1.0), "month")
    assert np.allclose(ones["share"], trends.share_table(images, "month")["share"])


def test_bands_top_styles_and_lifespans_follow_the_weights(images):
    weighted = trends.share_table(per_post(images), "month")
    banded = trends.binomial_bands(weighted)
    plain = trends.binomial_bands(trends.share_table(images, "month"))
    # the band of a weighted share rests on the weighted total (2 posts), not on the 3 images
    jan = (banded["period"] == pd.Timestamp("2024-01-01")) & (banded["style"] == 0)
    lo, hi = trends.wilson_interval(np.array([1.5]), np.array([2.0]))
    assert banded.loc[jan, "lower"].iloc[0] == pytest.approx(lo[0]) and banded.loc[jan, "upper"].iloc[0] == pytest.approx(hi[0])
    assert banded.loc[jan, "lower"].iloc[0] != pytest.approx(plain.loc[jan, "lower"].iloc[0])
    top = trends.top_styles(weighted, 1)
    assert top["share"].tolist() == pytest.approx([0.75, 0.75]) and {"total", "n"} <= set(top.columns)
    spans = trends.lifespans(weighted, 0.6)
    assert spans["style"].tolist() == [0] and spans["peak_n"].tolist() == [3.0]


def test_effective_sizes_count_a_post_once(images):
    # engagement per image row: A 10 + 10 (styles 0, 1), B 4; C left out. Per post: A = 20, B = 4
    sizes = trends.effective_sizes(images, "month").set_index("period")["n_eff"]
    assert sizes[pd.Timestamp("2024-01-01")] == pytest.approx(24 ** 2 / (20 ** 2 + 4 ** 2))
    assert sizes[pd.Timestamp("2024-02-01")] == pytest.approx(1.0)  # one post, however many images
    weighted = trends.effective_sizes(per_post(images), "month").set_index("period")["n_eff"]
    assert weighted[pd.Timestamp("2024-01-01")] == pytest.approx(14 ** 2 / (10 ** 2 + 4 ** 2))  # A 5 + 5, B 4
    rows = trends.effective_sizes(images.drop(columns=["post"]), "month").set_index("period")["n_eff"]
    assert rows[pd.Timestamp("2024-01-01")] == pytest.approx(24 ** 2 / (100 + 100 + 16))  # rows when no post


# -- small periods -----------------------------------------------------------------------------------
@pytest.fixture
def months() -> pd.DataFrame:
    """January 40 images (style 0 leads), February 2 images (style 2 'leads at 50 %'), March empty,
    April 35 images."""
    rows = ([("2024-01-05", 0)] * 25 + [("2024-01-06", 1)] * 15 + [("2024-02-02", 2), ("2024-02-03", 1)]
            + [("2024-04-01", 1)] * 20 + [("2024-04-02", 0)] * 15)
    frame = pd.DataFrame(rows, columns=["post_date", "style"])
    frame["post_date"] = pd.to_datetime(frame["post_date"])
    return frame


def test_small_periods_and_top_styles_leave_them_out(months):
    table = trends.share_table(months, "month")
    small = trends.small_periods(table, 30)
    assert [f"{p:%Y-%m}" for p in small["period"]] == ["2024-02", "2024-03"] and small["n"].tolist() == [2, 0]
    with_rows = trends.small_periods(table, 30, with_rows_only=True)
    assert [f"{p:%Y-%m}" for p in with_rows["period"]] == ["2024-02"]
    everything = trends.top_styles(table, 5)
    assert pd.Timestamp("2024-02-01") in set(everything["period"])  # the '#1 at 50 %' on two images
    top = trends.top_styles(table, 5, min_n=30)
    assert sorted({f"{p:%Y-%m}" for p in top["period"]}) == ["2024-01", "2024-04"]
    assert (top["n"] >= 30).all() and top.loc[top["rank"] == 1, "style"].tolist() == [0, 1]
    assert len(trends.top_styles(table, 5, min_n=2)) == len(everything)  # n = 2 is not under 2


def test_share_lines_flag_small_periods_with_n_in_the_hover(months):
    banded = trends.binomial_bands(trends.share_table(months, "month"))
    fig = trend_charts.share_lines(banded, min_n=30, unit="images")
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == 3 and len(fig.data) == 9  # no extra traces: flags are markers and shading
    symbols = list(lines[0].marker.symbol)
    assert symbols == ["circle", "circle-open", "circle-open", "circle"]  # Jan, Feb, Mar, Apr
    assert list(lines[0].marker.color)[1] == trend_charts.SMALL_COLOR
    shading = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(shading) == 1  # February and March form one run
    assert pd.Timestamp(shading[0].x0) == pd.Timestamp("2024-02-01") and pd.Timestamp(shading[0].x1) == pd.Timestamp("2024-04-01")
    assert any("n < 30" in (a.text or "") for a in fig.layout.annotations)
    hover = lines[0].customdata
    assert hover[0][4] == " (n = 40)" and "under 30" in hover[1][4] and hover[0][1] == "25 of 40 images"
    assert "%{customdata[4]}" in lines[0].hovertemplate
    plain = trend_charts.share_lines(banded)  # no minimum: nothing flagged, the n still shown
    assert not plain.layout.shapes and [t for t in plain.data if t.mode == "lines+markers"][0].customdata[1][4] == " (n = 2)"
    area = trend_charts.share_area(trends.share_table(months, "month"), min_n=30)
    assert len(area.layout.shapes) == 1 and "(n = 40)" in area.data[0].customdata[0][2]


def test_share_lines_hover_for_split_posts(images):
    table = trends.binomial_bands(trends.share_table(per_post(images), "month"))
    line = [t for t in trend_charts.share_lines(table, unit="posts").data if t.mode == "lines+markers"][0]
    assert line.customdata[0][1] == "1.5 of 2 posts" and line.customdata[0][4] == " (n = 3)"


def test_lifespan_hover_shows_peak_n(months):
    table = trends.share_table(months, "month")
    spans = trends.lifespans(table, 0.5)
    fig = trend_charts.lifespan_chart(spans, "month", 0.5)
    bars = [t for t in fig.data if t.type == "bar"]
    assert "%{customdata[7]}" in bars[0].hovertemplate
    assert any(d[7] == " (n = 40)" for t in bars for d in t.customdata)


# -- CLI ---------------------------------------------------------------------------------------------
def test_trends_cli_prints_n_and_small_and_leaves_small_months_out_of_top(demo_db, tmp_path, capsys):
    from trend_core.__main__ import main

    assert main(["trends", "--db", str(demo_db), "--quiet", "--min-images", "25"]) == 0
    printed = capsys.readouterr().out.splitlines()[0].split()
    assert {"n", "small"} <= set(printed)
    out = tmp_path / "shares.csv"
    assert main(["trends", "--db", str(demo_db), "--quiet", "--min-images", "25", "--out", str(out)]) == 0
    shares = pd.read_csv(out, parse_dates=["period"])
    assert shares["small"].any() and (~shares["small"]).any()
    assert (shares["small"] == (shares["n"] < 25)).all()
    flagged = set(shares.loc[shares["small"] & (shares["n"] > 0), "period"])
    top = tmp_path / "top.csv"
    assert main(["trends", "--db", str(demo_db), "--quiet", "--min-images", "25", "--top", "5", "--out", str(top)]) == 0
    err = capsys.readouterr().err
    assert "left out of the top 5, fewer than 25 images" in err
    assert all(f"{p:%Y-%m-%d} (n = " in err for p in flagged)
    ranked = pd.read_csv(top, parse_dates=["period"])
    assert len(ranked) and not (set(ranked["period"]) & flagged) and (ranked["n"] >= 25).all()
