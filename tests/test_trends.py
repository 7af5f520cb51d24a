"""Period bucketing, share tables, top styles and labels on small hand-checked examples."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trend_core import trends
from trend_core.config import TrendConfig


def test_period_start_day_week_month():
    dates = pd.Series(pd.to_datetime(["2024-03-03 15:30", "2024-03-04 00:00", "2024-03-10 23:59", "2024-02-29 08:00", None]))
    week = trends.period_start(dates, "week")
    # 2024-03-03 is a Sunday -> Monday 2024-02-26; 03-04 is a Monday; 03-10 a Sunday -> 03-04
    assert list(week[:4].dt.strftime("%Y-%m-%d")) == ["2024-02-26", "2024-03-04", "2024-03-04", "2024-02-26"]
    assert (week[:4].dt.day_of_week == 0).all()
    month = trends.period_start(dates, "month")
    assert list(month[:4].dt.strftime("%Y-%m-%d")) == ["2024-03-01", "2024-03-01", "2024-03-01", "2024-02-01"]
    day = trends.period_start(dates, "day")
    assert day[0] == pd.Timestamp("2024-03-03")
    assert week.isna().iloc[4] and month.isna().iloc[4]
    with pytest.raises(ValueError):
        trends.period_start(dates, "year")


@pytest.fixture
def posts() -> pd.DataFrame:
    # January: style 0 x2, style 1 x1, one left-out post; February: nothing; March: style 1 x2, style 2 x2
    rows = [("2024-01-05", 0, 10, 5, 5), ("2024-01-20", 0, 0, 0, 0), ("2024-01-31", 1, 30, 0, 10),
            ("2024-01-15", -1, 1000, 0, 0),
            ("2024-03-01", 1, 1, 1, 1), ("2024-03-02", 1, 0, 0, 1), ("2024-03-10", 2, 4, 4, 4),
            ("2024-03-31", 2, 0, 0, 0)]
    frame = pd.DataFrame(rows, columns=["post_date", "style", "likes", "collects", "comments"])
    frame["post_date"] = pd.to_datetime(frame["post_date"])
    return frame


def test_share_table_hand_checked(posts):
    table = trends.share_table(posts, "month")
    assert list(table.columns) == trends.SHARE_COLUMNS
    # 3 months (February filled) x 3 styles; left-out style -1 excluded
    assert len(table) == 9 and set(table["style"]) == {0, 1, 2}
    jan = table[table["period"] == pd.Timestamp("2024-01-01")].set_index("style")
    assert jan.loc[0, "count"] == 2 and jan.loc[1, "count"] == 1 and jan.loc[2, "count"] == 0
    assert (jan["total"] == 3).all()
    assert jan.loc[0, "share"] == pytest.approx(2 / 3) and jan.loc[2, "share"] == 0
    # engagement: style 0 = 10+5+5, style 1 = 30+10 -> shares 20/60, 40/60
    assert jan.loc[0, "engagement"] == 20 and jan.loc[1, "engagement"] == 40
    assert jan.loc[0, "engagement_share"] == pytest.approx(1 / 3)
    feb = table[table["period"] == pd.Timestamp("2024-02-01")]
    assert (feb["count"] == 0).all() and (feb["share"] == 0).all() and (feb["total"] == 0).all()
    sums = table.groupby("period")["share"].sum()
    assert sums[pd.Timestamp("2024-01-01")] == pytest.approx(1) and sums[pd.Timestamp("2024-03-01")] == pytest.approx(1)
    assert table.groupby("period")["engagement_share"].sum()[pd.Timestamp("2024-03-01")] == pytest.approx(1)


def test_share_table_weekly_and_extra_styles(posts):
    table = trends.share_table(posts, "week", styles=[0, 1, 2, 7])
    periods = sorted(table["period"].unique())
    assert all(pd.Timestamp(p).weekday() == 0 for p in periods)
    # every week from the first to the last, every style, zeros filled
    assert len(periods) == (pd.Timestamp(periods[-1]) - pd.Timestamp(periods[0])).days // 7 + 1
    assert len(table) == len(periods) * 4 and (table.loc[table["style"] == 7, "count"] == 0).all()
    nonempty = table[table["total"] > 0].groupby("period")["share"].sum()
    assert np.allclose(nonempty, 1.0)
    # 2024-01-05 (Fri) and 2024-01-20 (Sat) fall in the weeks of Jan 1 and Jan 15
    first = table[(table["period"] == pd.Timestamp("2024-01-01")) & (table["style"] == 0)]
    assert int(first["count"].iloc[0]) == 1


def test_wide_and_top_styles(posts):
    table = trends.share_table(posts, "month")
    w = trends.wide(table)
    assert w.shape == (3, 3) and list(w.columns) == [0, 1, 2]
    assert w.loc[pd.Timestamp("2024-03-01")].tolist() == pytest.approx([0, 0.5, 0.5])
    top = trends.top_styles(table, n=2)
    assert list(top.columns[:4]) == ["period", "rank", "style", "share"]
    jan = top[top["period"] == pd.Timestamp("2024-01-01")]
    assert jan["style"].tolist() == [0, 1] and jan["rank"].tolist() == [1, 2]
    mar = top[top["period"] == pd.Timestamp("2024-03-01")]
    assert mar["style"].tolist() == [1, 2]  # a tie is broken by style id
    assert top[top["period"] == pd.Timestamp("2024-02-01")].empty  # zero shares are not ranked
    assert len(trends.top_styles(table, n=1)) == 2


def test_hot_mask_and_n_hot():
    assert trends.n_hot(10, 0.8) == 2 and trends.n_hot(5, 0.8) == 1 and trends.n_hot(3, 0.5) == 2
    shares = np.array([[0.5, 0.3, 0.1, 0.1, 0.0],
                       [0.2, 0.2, 0.2, 0.2, 0.2],
                       [0.0, 0.0, 0.0, 0.0, 0.0]])
    hot = trends.hot_mask(shares, 0.8)  # 1 hot per period
    assert hot[0].tolist() == [True, False, False, False, False]
    assert hot[1].all()  # ties at the threshold are all hot
    assert not hot[2].any()  # nothing is hot in an empty period


def test_trend_class_threshold():
    cls = trends.trend_class(np.array([1.0, 1.0, 1.0, 0.0, 0.0, 1.0]), np.array([1.06, 0.94, 1.04, 0.1, 0.0, 0.96]), 0.05)
    assert cls.tolist() == [1, -1, 0, 1, 0, 0]


def test_label_panel_hand_checked():
    idx = pd.date_range("2024-01-01", periods=6, freq="MS")
    shares = pd.DataFrame({"a": [0.5, 0.5, 0.4, 0.3, 0.2, 0.1],
                           "b": [0.3, 0.3, 0.3, 0.3, 0.3, 0.3],
                           "c": [0.2, 0.2, 0.3, 0.4, 0.5, 0.6]}, index=idx)
    labels = trends.label_panel(shares, TrendConfig(hot_quantile=0.8), horizon=2, window=2)
    # origins with a full window (2) and target span (2): positions 1, 2, 3
    assert list(labels["future_share"].index) == list(idx[1:4])
    origin = idx[1]  # inputs Jan-Feb, targets Mar-Apr
    assert labels["input_mean"].loc[origin].tolist() == pytest.approx([0.5, 0.3, 0.2])
    assert labels["target_mean"].loc[origin].tolist() == pytest.approx([0.35, 0.3, 0.35])
    assert labels["future_share"].loc[origin].tolist() == pytest.approx([0.3, 0.3, 0.4])
    assert labels["trend_class"].loc[origin].tolist() == ["falling", "flat", "rising"]
    assert labels["hot"].loc[origin].tolist() == [False, False, True]  # April: c leads with 0.4
    # terciles rank the same change among the styles: relative names, in the same order as the classes
    assert labels["trend_tercile"].loc[origin].tolist() == ["bottom third", "middle third", "top third"]
    last = idx[3]  # targets May-Jun
    assert labels["future_share"].loc[last].tolist() == pytest.approx([0.1, 0.3, 0.6])
    assert labels["change"].loc[last, "a"] == pytest.approx(0.15 / 0.35 - 1)
    # a gap shifts the targets
    gapped = trends.label_panel(shares, TrendConfig(), horizon=1, window=1, gap=1)
    assert gapped["future_share"].loc[idx[0], "c"] == pytest.approx(0.3)


# -- confidence bands --------------------------------------------------------------------------------
def _table(shares: list[float], totals: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"share": shares, "total": totals})


def test_binomial_bands_are_wilson_intervals_around_the_share():
    banded = trends.binomial_bands(_table([0.3, 0.3, 0.3], [10, 100, 1000]))
    assert list(banded.columns) == ["share", "total", "lower", "upper"]
    # Wilson 95 % for 3 of 10 (hand value from the score formula)
    assert banded.loc[0, "lower"] == pytest.approx(0.1078, abs=1e-4)
    assert banded.loc[0, "upper"] == pytest.approx(0.6032, abs=1e-4)
    assert (banded["lower"] <= banded["share"]).all() and (banded["share"] <= banded["upper"]).all()
    widths = (banded["upper"] - banded["lower"]).to_numpy()
    assert widths[0] > widths[1] > widths[2] > 0  # more posts, narrower band


def test_binomial_bands_at_zero_one_and_without_posts():
    banded = trends.binomial_bands(_table([0.0, 1.0, 0.0, 0.5], [10, 10, 0, 1]))
    assert banded.loc[0, "lower"] == 0.0 and banded.loc[0, "upper"] == pytest.approx(0.2775, abs=1e-4)
    assert banded.loc[1, "upper"] == 1.0 and banded.loc[1, "lower"] == pytest.approx(0.7225, abs=1e-4)
    assert (banded.loc[2, "lower"], banded.loc[2, "upper"]) == (0.0, 1.0)  # no posts: no information
    assert 0.0 <= banded.loc[3, "lower"] < 0.5 < banded.loc[3, "upper"] <= 1.0
    assert banded[["lower", "upper"]].notna().all().all()


def test_binomial_bands_level():
    wide_band = trends.binomial_bands(_table([0.4], [50]), level=0.99)
    narrow = trends.binomial_bands(_table([0.4], [50]), level=0.8)
    assert wide_band.loc[0, "lower"] < narrow.loc[0, "lower"] and wide_band.loc[0, "upper"] > narrow.loc[0, "upper"]
    with pytest.raises(ValueError):
        trends.binomial_bands(_table([0.4], [50]), level=1.0)


def test_effective_sizes_kish():
    rows = [("2024-01-02", 0, 1, 0, 0), ("2024-01-03", 1, 0, 1, 0), ("2024-01-04", 0, 1, 1, 0),  # e = 1, 1, 2
            ("2024-02-01", 0, 5, 5, 5), ("2024-02-02", 1, 5, 5, 5),  # equal engagement
            ("2024-03-01", 0, 90, 0, 0), ("2024-03-02", 1, 0, 0, 0),  # one post holds all of it
            ("2024-04-01", 0, 0, 0, 0), ("2024-04-05", -1, 500, 0, 0)]  # no engagement; left-out post ignored
    posts = pd.DataFrame(rows, columns=["post_date", "style", "likes", "collects", "comments"])
    posts["post_date"] = pd.to_datetime(posts["post_date"])
    sizes = trends.effective_sizes(posts, "month").set_index("period")["n_eff"]
    assert sizes.tolist() == pytest.approx([16 / 6, 2.0, 1.0, 0.0])


def test_engagement_bands_contain_the_engagement_share(posts):
    table = trends.share_table(posts, "month")
    banded = trends.engagement_bands(table, posts, "month")
    assert len(banded) == len(table) and {"n_eff", "lower", "upper"} <= set(banded.columns)
    assert (banded["lower"] <= banded["engagement_share"] + 1e-12).all()
    assert (banded["engagement_share"] <= banded["upper"] + 1e-12).all()
    feb = banded[banded["period"] == pd.Timestamp("2024-02-01")]
    assert (feb["n_eff"] == 0).all() and (feb["upper"] == 1).all()  # a month without posts says nothing
    jan = banded[banded["period"] == pd.Timestamp("2024-01-01")]
    # January engagement per post 20, 0, 40 (left-out post ignored): n_eff = 60^2 / (400 + 1600)
    assert jan["n_eff"].iloc[0] == pytest.approx(3600 / 2000)


# -- top-5 changes -----------------------------------------------------------------------------------
def test_top_styles_by_engagement_and_changes(posts):
    table = trends.share_table(posts, "month")
    top = trends.top_styles(table, n=2, value="engagement_share")
    jan = top[top["period"] == pd.Timestamp("2024-01-01")]
    assert jan["style"].tolist() == [1, 0]  # style 1 has 40 of 60 engagement, style 0 has 20
    assert jan["engagement_share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    changed = trends.top_changes(trends.top_styles(table, n=2), table)
    first = changed[changed["period"] == pd.Timestamp("2024-01-01")]
    assert first["change"].isna().all() and not first["new"].any()
    march = changed[changed["period"] == pd.Timestamp("2024-03-01")].set_index("style")
    assert march.loc[1, "change"] == pytest.approx(0.5)  # February had no posts: share 0 before
    assert march["new"].all()  # nothing was ranked in February


# -- lifespans ---------------------------------------------------------------------------------------
@pytest.fixture
def series() -> pd.DataFrame:
    periods = pd.date_range("2024-01-01", periods=6, freq="MS")
    values = {0: [0.1, 0.3, 0.4, 0.1, 0.5, 0.35],  # two spans, the second still running
              1: [0.6, 0.5, 0.2, 0.6, 0.45, 0.6],  # 0.2 is not above 0.2: two spans
              2: [0.3, 0.2, 0.4, 0.3, 0.05, 0.05]}  # one period blip, then a span ending before the end
    rows = [(p, s, v[i], f"name {s}") for s, v in values.items() for i, p in enumerate(periods)]
    return pd.DataFrame(rows, columns=["period", "style", "share", "style_name"])


def test_lifespans_spans_and_ongoing(series):
    spans = trends.lifespans(series, 0.2)
    assert list(spans.columns) == trends.LIFESPAN_COLUMNS
    got = [(s, str(a.date()), str(b.date()), n) for s, a, b, n in
           zip(spans["style"], spans["start"], spans["end"], spans["periods"])]
    assert got == [(0, "2024-02-01", "2024-03-01", 2), (0, "2024-05-01", "2024-06-01", 2),
                   (1, "2024-01-01", "2024-02-01", 2), (1, "2024-04-01", "2024-06-01", 3),
                   (2, "2024-01-01", "2024-01-01", 1), (2, "2024-03-01", "2024-04-01", 2)]
    assert spans["ongoing"].tolist() == [False, True, False, True, False, False]
    assert spans["peak_share"].tolist() == pytest.approx([0.4, 0.5, 0.6, 0.6, 0.3, 0.4])
    assert spans.loc[1, "peak_period"] == pd.Timestamp("2024-05-01")
    assert spans["style_name"].tolist()[0] == "name 0"


def test_lifespans_min_periods_and_threshold(series):
    assert trends.lifespans(series, 0.2, min_periods=2)["periods"].min() == 2
    assert len(trends.lifespans(series, 0.2, min_periods=2)) == 5
    longest = trends.lifespans(series, 0.2, min_periods=3)
    assert longest["style"].tolist() == [1] and bool(longest["ongoing"].iloc[0])
    everything = trends.lifespans(series, 0.0)
    assert len(everything) == 3 and (everything["periods"] == 6).all()  # above from start to end
    nothing = trends.lifespans(series, 0.9)
    assert nothing.empty and list(nothing.columns) == trends.LIFESPAN_COLUMNS
    assert nothing["start"].dtype == "datetime64[ns]"
    with pytest.raises(ValueError):
        trends.lifespans(series, 0.2, min_periods=0)


def test_lifespans_of_engagement_share(posts):
    table = trends.share_table(posts, "month")
    spans = trends.lifespans(table, 0.5, value="engagement_share")
    # January: style 1 has 2/3 of the engagement; March: style 2 has 12/15
    starts = [(s, str(a.date())) for s, a in zip(spans["style"], spans["start"])]
    assert starts == [(1, "2024-01-01"), (2, "2024-03-01")]
    assert spans["style_name"].tolist() == ["S1", "S2"]  # no names in the table


# -- trend charts ------------------------------------------------------------------------------------
def test_share_lines_draw_a_band_per_line(posts):
    from trend_core import trend_charts

    banded = trends.binomial_bands(trends.share_table(posts, "month"))
    fig = trend_charts.share_lines(banded, styles=[0, 2])
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    fills = [t for t in fig.data if t.fill == "tonexty"]
    assert len(lines) == 2 and len(fills) == 2 and len(fig.data) == 6
    for line in lines:
        band = [t for t in fig.data if t.legendgroup == line.legendgroup and t is not line]
        assert len(band) == 2 and all(t.hoverinfo == "skip" for t in band)
        assert (np.asarray(band[1].y) <= np.asarray(line.y) + 1e-12).all()
        assert (np.asarray(line.y) <= np.asarray(band[0].y) + 1e-12).all()
    assert "customdata[2]" in lines[0].hovertemplate and "of 3 posts" in lines[0].customdata[0][1]
    plain = trend_charts.share_lines(trends.share_table(posts, "month"))
    assert all(t.fill is None for t in plain.data) and len(plain.data) == 3


def test_chart_labels_are_escaped_and_kept_out_of_templates(posts):
    from trend_core import trend_charts

    table = trends.share_table(posts, "month").assign(style_name="<b>bold</b> %{y}")
    for fig in (trend_charts.share_lines(trends.binomial_bands(table)), trend_charts.share_area(table),
                trend_charts.lifespan_chart(trends.lifespans(table, 0.2), "month", 0.2)):
        for t in fig.data:
            assert "<b>bold" not in (t.name or "") and "bold" not in (t.hovertemplate or "")
        named = [t for t in fig.data if t.name and "bold" in t.name]
        assert named and named[0].name.startswith("&lt;b&gt;bold&lt;/b&gt;")


def test_share_area_stacks_every_style(posts):
    from trend_core import trend_charts

    table = trends.share_table(posts, "month")
    fig = trend_charts.share_area(table, value="engagement_share")
    assert len(fig.data) == 3 and {t.stackgroup for t in fig.data} == {"shares"}
    stacked = np.sum([np.asarray(t.y, dtype=float) for t in fig.data], axis=0)
    assert stacked.tolist() == pytest.approx([1.0, 0.0, 1.0])  # February has no posts
    assert "engagement 20 of 60" in fig.data[0].customdata[0][1]


def test_lifespan_chart_bars(series):
    from trend_core import trend_charts

    spans = trends.lifespans(series, 0.2, min_periods=2)
    names = {0: "name 0", 1: "name 1", 2: "name 2", 3: "never above"}
    extent = (series["period"].min(), series["period"].max())
    fig = trend_charts.lifespan_chart(spans, "month", 0.2, names, extent=extent)
    bars = [t for t in fig.data if t.type == "bar"]
    assert sum(len(t.x) for t in bars) == len(spans) == 5
    first = bars[0]  # style 0: Feb-Mar and May-Jun
    assert list(first.base) == ["2024-02-01", "2024-05-01"]
    assert first.x[0] == pytest.approx((pd.Timestamp("2024-04-01") - pd.Timestamp("2024-02-01")).total_seconds() * 1000)
    assert "still above" in first.customdata[1][6] and first.customdata[0][3] == "2 months"
    rows = [t for t in fig.data if t.type == "scatter"][0]
    assert list(rows.y) == ["name 0", "name 1", "name 2", "never above"]  # a row for every style
    assert fig.layout.xaxis.range[1] == pd.Timestamp("2024-07-01")
    empty = trend_charts.lifespan_chart(trends.lifespans(series, 0.99), "month", 0.99, names)
    assert not [t for t in empty.data if t.type == "bar"] and "99%" in empty.layout.annotations[0].text


def test_period_end():
    from trend_core import trend_charts

    starts = pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"]))
    assert list(trend_charts.period_end(starts, "month").strftime("%Y-%m-%d")) == ["2024-02-01", "2024-03-01"]
    weeks = pd.Series(pd.to_datetime(["2024-01-01"]))
    assert trend_charts.period_end(weeks, "week")[0] == pd.Timestamp("2024-01-08")
    assert trend_charts.period_end(weeks, "day")[0] == pd.Timestamp("2024-01-02")
