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
    assert labels["trend_tercile"].loc[origin].tolist() == ["falling", "flat", "rising"]
    last = idx[3]  # targets May-Jun
    assert labels["future_share"].loc[last].tolist() == pytest.approx([0.1, 0.3, 0.6])
    assert labels["change"].loc[last, "a"] == pytest.approx(0.15 / 0.35 - 1)
    # a gap shifts the targets
    gapped = trends.label_panel(shares, TrendConfig(), horizon=1, window=1, gap=1)
    assert gapped["future_share"].loc[idx[0], "c"] == pytest.approx(0.3)
