"""The real crawl of ../shared/real end to end (issue 10, point 2): one row per image imports whole with
its per-image style column mapped to the label, and the weekly share of images per style that `trends
--source labels` prints equals a direct pandas count of the file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from trend_core.__main__ import main



def _direct_weekly_shares(image_rows: Path) -> pd.DataFrame:
    """Share of images per style and week counted straight from the file (MM-DD dates are 2024's)."""
    raw = pd.read_csv(image_rows, dtype=str)
    dates = raw["post_date"].where(raw["post_date"].str.len() == 10, "2024-" + raw["post_date"])
    week = pd.to_datetime(dates).dt.to_period("W-SUN").dt.start_time
    counts = pd.crosstab(week, raw["image_style"])
    return counts.div(counts.sum(axis=1), axis=0)


def test_image_rows_import_whole_and_weekly_label_shares_match_pandas(real_image_rows, tmp_path, capsys):
    db = str(tmp_path / "real.duckdb")
    assert main(["ingest", "--db", db, "--posts", str(real_image_rows), "--map", "image_style=style_label"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows_read"] == summary["accepted"] == 24_205 and summary["rejected"] == 0
    assert summary["posts"] == summary["added"] == 9_433

    out = tmp_path / "weekly.csv"
    assert main(["trends", "--db", db, "--source", "labels", "--period", "week", "--out", str(out), "--quiet"]) == 0
    ours = pd.read_csv(out, dtype={"style_name": str})
    ours["period"] = pd.to_datetime(ours["period"])
    table = ours.pivot_table(index="period", columns="style_name", values="share", aggfunc="sum").fillna(0.0)
    expected = _direct_weekly_shares(real_image_rows)
    assert list(table.index) == list(expected.index) and len(table) >= 40
    assert sorted(table.columns) == sorted(expected.columns)
    assert np.allclose(table[expected.columns].to_numpy(), expected.to_numpy(), atol=1e-9)
    weekly_n = ours.groupby("period")["n"].first()
    raw = pd.read_csv(real_image_rows, dtype=str)
    assert int(weekly_n.sum()) == len(raw)  # n is the number of images behind each week's shares
