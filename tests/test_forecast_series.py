"""External series: reading wide and long CSVs (and covariates) with clear errors, writing the wide
layout back, and the CLI's `forecast --series ... --train-end ... --report`."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trend_core.__main__ import main
from trend_core.forecast.external import forecast_external, score
from trend_core.forecast.series_io import read_covariate, read_series, season_for, write_wide


def wide_frame(T: int = 40, period: int = 4) -> pd.DataFrame:
    t = np.arange(T)
    index = pd.date_range("2020-01-06", periods=T, freq="W-MON")
    return pd.DataFrame({"a": 1.0 + (t % period), "b": 10.0 + 2 * (t % period == 0), "c": 5.0 + 0.1 * t}, index=index)


def write_f1_style(frame: pd.DataFrame, path) -> None:
    """As the F1 files: an unnamed first column holding the dates."""
    out = frame.copy()
    out.index = out.index.strftime("%Y-%m-%d")
    out.to_csv(path)


def test_wide_and_long_read_the_same(tmp_path):
    frame = wide_frame()
    write_f1_style(frame, tmp_path / "wide.csv")
    long = frame.rename_axis("date").reset_index().melt(id_vars="date", var_name="series", value_name="value")
    long.sample(frac=1.0, random_state=0).to_csv(tmp_path / "long.csv", index=False)
    wide, lng = read_series(tmp_path / "wide.csv"), read_series(tmp_path / "long.csv")
    assert (wide.layout, lng.layout) == ("wide", "long")
    pd.testing.assert_frame_equal(wide.frame, lng.frame[wide.frame.columns], check_freq=False)
    assert season_for(wide.frame.index) == 52 and season_for(pd.date_range("2020-01-01", periods=5, freq="MS")) == 12
    write_wide(wide.frame.iloc[:3], tmp_path / "back.csv", wide.date_column)
    text = (tmp_path / "back.csv").read_text().splitlines()
    assert text[0] == ",a,b,c" and text[1].startswith("2020-01-06,")  # the input's (empty) header kept


@pytest.mark.parametrize("content, message", [
    ("week,a\n2021-01-04,1\nsoon,2\n", "1 dates could not be read (row 3: 'soon')"),
    ("week,a\n2021-01-04,1\n2021-01-11,lots\n", "row 3 column 'a': 'lots'"),
    ("week,a\n2021-01-04,1\n2021-01-04,2\n", "repeated dates"),
    ("series,date,value\nx,2021-01-04,1\nx,2021-01-04,2\n", "repeat a (series, date) pair"),
    ("week\n2021-01-04\n", "needs a date column and at least one series column"),
])
def test_bad_series_files_say_what_is_wrong(tmp_path, content, message):
    (tmp_path / "bad.csv").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        read_series(tmp_path / "bad.csv")
    assert message in str(err.value)


def test_empty_cells_are_kept_as_missing_and_noted(tmp_path):
    (tmp_path / "gaps.csv").write_text("week,a,b\n2021-01-04,1,2\n2021-01-11,,3\n", encoding="utf-8")
    table = read_series(tmp_path / "gaps.csv")
    assert np.isnan(table.frame.loc["2021-01-11", "a"]) and any("1 empty cells" in n for n in table.notes)


def test_covariate_must_cover_every_series(tmp_path):
    frame = wide_frame()
    write_f1_style(frame, tmp_path / "series.csv")
    write_f1_style(frame[["a", "b"]], tmp_path / "partial.csv")
    write_f1_style(frame.assign(extra=1.0), tmp_path / "more.csv")
    series = read_series(tmp_path / "series.csv")
    with pytest.raises(ValueError, match=r"no column for 1 series \(c\)"):
        read_covariate(tmp_path / "partial.csv", series)
    cov = read_covariate(tmp_path / "more.csv", series)
    assert list(cov.frame.columns) == ["a", "b", "c"] and any("ignored" in n for n in cov.notes)


def test_external_forecast_sees_only_the_history(tmp_path):
    frame = wide_frame()
    write_f1_style(frame, tmp_path / "series.csv")
    changed = frame.copy()
    changed.iloc[30:] *= 7
    write_f1_style(changed, tmp_path / "changed.csv")
    runs = [forecast_external(read_series(tmp_path / name), "2020-07-27", 6, "ets", season=4)
            for name in ("series.csv", "changed.csv")]
    assert pd.Timestamp("2020-07-27") == frame.index[29]
    pd.testing.assert_frame_equal(runs[0].point, runs[1].point)
    assert list(runs[0].point.index) == list(frame.index[30:36])
    assert score(runs[0])["models"]["ets"]["mase"] != score(runs[1])["models"]["ets"]["mase"]


def test_cli_forecast_series_writes_the_wide_layout_and_reports(tmp_path, capsys):
    frame = wide_frame()
    write_f1_style(frame, tmp_path / "series.csv")
    write_f1_style(frame * 0.5, tmp_path / "lead.csv")
    out = tmp_path / "out.csv"
    code = main(["forecast", "--series", str(tmp_path / "series.csv"), "--train-end", "2020-07-27",
                 "--horizon", "8", "--out", str(out), "--model", "seasonal_naive", "--season", "4",
                 "--covariate", f"lead={tmp_path / 'lead.csv'}", "--report", "--quiet"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    written = pd.read_csv(out, index_col=0)
    assert list(written.columns) == ["a", "b", "c"] and len(written) == 8
    assert list(written.index) == [d.date().isoformat() for d in frame.index[30:38]]
    # a pure period-4 pattern: seasonal naive is exact for a and b
    assert np.allclose(written[["a", "b"]].to_numpy(), frame.iloc[30:38][["a", "b"]].to_numpy())
    models = report["report"]["models"]
    assert set(models) == {"seasonal_naive", "last_value", "moving_average", "drift", "ets"}
    # by hand: a and b repeat exactly every 4 weeks, so their MASE scale is 0 and they are skipped;
    # c rises 0.1 a week: scale (season 4) = 0.4, seasonal naive is 0.4 off for h = 1..4, 0.8 for h = 5..8
    assert report["report"]["series_scored"] == 1 and report["report"]["series_skipped_zero_scale"] == 2
    assert models["seasonal_naive"]["mase"] == pytest.approx(0.6 / 0.4, abs=1e-4)
    assert models["drift"]["mase"] < models["last_value"]["mase"]
    assert report["report"]["truth_periods"] == 8 and report["covariates"] == ["lead"]


def test_cli_long_input_gets_long_output(tmp_path, capsys):
    frame = wide_frame()
    long = frame.rename_axis("date").reset_index().melt(id_vars="date", var_name="series", value_name="value")
    long.to_csv(tmp_path / "long.csv", index=False)
    out = tmp_path / "out.csv"
    assert main(["forecast", "--series", str(tmp_path / "long.csv"), "--train-end", "2020-07-27", "--horizon", "3",
                 "--out", str(out), "--model", "last_value", "--quiet"]) == 0
    written = pd.read_csv(out)
    assert list(written.columns) == ["series", "date", "value"] and len(written) == 9
    assert written.query("series == 'c' and date == '2020-08-03'")["value"].iloc[0] == pytest.approx(5.0 + 0.1 * 29)


def test_cli_default_model_is_the_validated_ensemble(tmp_path, capsys):
    write_f1_style(wide_frame(T=60), tmp_path / "series.csv")
    assert main(["forecast", "--series", str(tmp_path / "series.csv"), "--train-end", "2020-08-24", "--horizon", "4",
                 "--season", "4", "--out", str(tmp_path / "o.csv"), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "ensemble"
    assert pd.read_csv(tmp_path / "o.csv", index_col=0).notna().all().all()


def test_cli_forecast_series_errors_are_clear(tmp_path, capsys):
    write_f1_style(wide_frame(), tmp_path / "series.csv")
    args = ["forecast", "--series", str(tmp_path / "series.csv"), "--out", str(tmp_path / "o.csv"), "--quiet"]
    assert main(args) == 2 and "--train-end" in capsys.readouterr().err
    assert main(args + ["--train-end", "2020-07-27", "--model", "nope"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(args + ["--train-end", "2019-01-01"]) == 2
    assert "before the first date" in capsys.readouterr().err
