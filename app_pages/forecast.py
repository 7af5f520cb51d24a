"""Forecast: train a neural model (LSTM or attention) on chosen inputs for the styles or for imported
series, backtest it beside baselines on the same rolling-origin split, run a modality ablation, plot
history + forecast and export the forecast as CSV. The page leads with the verdict (which model to use
for this panel); W, G, H, test span and folds left empty are derived from the panel. Algorithms live
in trend_core."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import _server
from trend_core import forecast_charts, pipeline, plots
from trend_core.config import ForecastConfig
from trend_core.forecast.defaults import derive_config
from trend_core.forecast.models import NEURAL_MODELS
from trend_core.forecast.verdict import choose_model
from trend_core.forecast.verdict import label as model_label
from trend_core.forecast.series_io import SeriesTable, read_covariate, read_series, season_for

STYLE_INPUTS = ("share", "count", "engagement", "image", "mask", "text")
SOURCES = ("Styles", "Imported series (CSV)")
DEVICES = ["auto"] + (["cuda"] if ui.device_name().startswith("cuda") else []) + ["cpu"]

st.title("Forecast")
verdict_slot = st.empty()  # the verdict leads the page once a forecast exists
st.caption("Each series is cut into windows of W periods that predict the value G+1..G+H periods later. "
           "Every test span lies after the training targets of its fold; baselines use the same windows.")
source = st.radio("Series to forecast", SOURCES, horizontal=True, key="forecast_source")
defaults = ForecastConfig()


# -- the data ----------------------------------------------------------------------------------------
def _server_file(text: str) -> str:
    """A CSV path typed on the page: as typed locally; in server mode confined to the data roots (a path
    outside them raises PathRefused, a ValueError, before anything is opened)."""
    return str(_server.server_path(text, "file")) if _server.enabled() else text.strip()


def imported_series() -> tuple[SeriesTable, dict[str, SeriesTable]] | None:
    """The uploaded (or server-path) series CSV and covariates, or None with a hint."""
    cols = st.columns(2)
    upload = cols[0].file_uploader("Series CSV (wide: date + one column per series; or long: series, date, value)",
                                   type=["csv"], key="forecast_series_file")
    path = cols[0].text_input("… or a CSV path on this server", key="forecast_series_path",
                              help=_server.path_hint() or None)
    cov_uploads = cols[1].file_uploader("Covariate CSVs of the same shape (optional, e.g. a leading signal)",
                                        type=["csv"], accept_multiple_files=True, key="forecast_covariate_files")
    cov_paths = cols[1].text_input("… or covariate paths on this server (comma separated)",
                                   key="forecast_covariate_paths", help=_server.path_hint() or None)
    if upload is None and not path.strip():
        st.info("Upload a series CSV, or give its path. Forecasting the styles needs no file: pick **Styles**.")
        return None
    try:
        cov_items = list(cov_uploads or []) + [_server_file(p) for p in cov_paths.split(",") if p.strip()]
        table = read_series(upload if upload is not None else _server_file(path))
        covs = {}
        for item in cov_items:
            name = Path(getattr(item, "name", item)).stem
            covs[name] = read_covariate(item, table)
    except (ValueError, FileNotFoundError) as exc:
        st.error(f"Cannot read the file: {exc}")
        return None
    st.caption(f"{table.frame.shape[1]} series × {table.frame.shape[0]} dates ({table.layout} layout, "
               f"{table.frame.index.min().date()} – {table.frame.index.max().date()})"
               + (f"; covariates: {', '.join(covs)}" if covs else "")
               + ("; " + "; ".join(table.notes + [n for c in covs.values() for n in c.notes]) if table.notes else ""))
    return table, covs


if source == SOURCES[0]:
    view = ui.require_view("forecast")
    saved = pipeline.load_choice(ui.store(), "forecast") or {}
    inputs = STYLE_INPUTS
    external = None
else:
    view = None
    external = imported_series()
    if external is None:
        st.stop()
    series_frame = external[0].frame
    covariate_frames = {name: cov.frame for name, cov in external[1].items()}
    season = season_for(series_frame.index)  # from the date step: 52 weekly, 12 monthly, 7 daily
    saved = {}
    inputs = ("share", *covariate_frames)

# -- settings ----------------------------------------------------------------------------------------
with st.form("forecast_form"):
    cols = st.columns([3, 1, 1, 1])
    chosen_inputs = cols[0].multiselect(
        "Inputs (modalities)", inputs, default=[m for m in saved.get("modalities", defaults.modalities) if m in inputs]
        or ["share"], key="forecast_modalities",
        help="share / count / engagement: the style's own series; image / mask / text: the mean embedding of its "
             "posts' full photo / clothing only / text per period, reduced on the training span; imported "
             "series: share is the series itself, the rest are the covariate files.")
    model_kind = cols[1].selectbox("Model", list(NEURAL_MODELS),
                                   index=list(NEURAL_MODELS).index(saved.get("model", defaults.model)),
                                   key="forecast_model_kind",
                                   help="lstm: every input straight into the LSTM; attention: a period's image and "
                                        "text embeddings fused by cross-attention first (needs image/mask + text)")
    if external is None:
        period = cols[2].selectbox("Period", ["day", "week", "month"],
                                   index=["day", "week", "month"].index(saved.get("period", defaults.period)),
                                   key="forecast_period")
    else:
        period = "week"
        cols[2].text_input("Season", str(season), disabled=True,
                           help="from the date step: 52 weekly, 12 monthly, 7 daily")
    seed = cols[3].number_input("Seed", 0, 1_000_000, int(saved.get("seed", defaults.seed)), key="forecast_seed")
    cols = st.columns(7)
    auto = "empty = derived from the panel's length"
    window = cols[0].number_input("Window W", 1, 260, saved.get("window"), placeholder="auto", key="forecast_window",
                                  help=f"input periods; {auto}")
    gap = cols[1].number_input("Gap G", 0, 104, saved.get("gap"), placeholder="auto", key="forecast_gap",
                               help=f"periods between the last input and the first target; {auto} (0)")
    horizon = cols[2].number_input("Horizon H", 1, 104, saved.get("horizon"), placeholder="auto",
                                   key="forecast_horizon", help=f"periods forecast; {auto}")
    epochs = cols[3].number_input("Epochs", 1, 2000, int(saved.get("epochs", defaults.epochs)), key="forecast_epochs")
    test_periods = cols[4].number_input("Test periods", 1, 260, saved.get("test_periods"), placeholder="auto",
                                        key="forecast_test_periods", help=f"each fold's test span; {auto}")
    folds = cols[5].number_input("Folds", 1, 8, saved.get("folds"), placeholder="auto", key="forecast_folds",
                                 help="rolling origins: each fold trains from scratch on data before its own test "
                                      f"span; {auto}")
    device = cols[6].selectbox("Device", DEVICES, key="forecast_device", help=ui.device_name())
    train = st.form_submit_button("Train", type="primary")


def given(value) -> int | None:
    return None if value is None else int(value)


def panel_length(period_kind: str) -> int:
    """Periods in the panel to forecast (styles at this period length, or the imported dates)."""
    return pipeline.forecast_periods(ui.store(), view, period_kind) if external is None else len(series_frame)


def derived(base: ForecastConfig, choices: dict) -> ForecastConfig:
    """base with the settings left empty derived from the panel (forecast.defaults)."""
    chosen = {k: given(choices.get(k)) for k in ("window", "gap", "horizon", "test_periods", "folds")}
    return derive_config(panel_length(base.period), base, **chosen)


def config_from_form() -> ForecastConfig:
    base = defaults.replace(modalities=tuple(m for m in inputs if m in chosen_inputs), period=period,
                            epochs=int(epochs), seed=int(seed), model=model_kind)
    return derived(base, {"window": window, "gap": gap, "horizon": horizon, "test_periods": test_periods,
                          "folds": folds})


try:  # the settings a Train press would use, said before training (or why none fit)
    planned, plan_error = config_from_form(), None
    st.caption(f"The panel has {panel_length(period)} {period} periods: W={planned.window}, G={planned.gap}, "
               f"H={planned.horizon}, test span {planned.test_periods}, {planned.folds} fold(s) "
               "(empty fields are derived from the panel's length).")
except ValueError as exc:  # a panel under the minimum, or a horizon that does not fit
    planned, plan_error = None, str(exc)
    st.error(f"Cannot forecast with these settings: {plan_error}")


def train_now(fcfg: ForecastConfig) -> pipeline.CachedForecast | None:
    """Train with a progress bar and the loss curves drawn as epochs finish."""
    live = st.empty()
    rows: list[dict] = []

    def on_epoch(row: dict) -> None:
        rows.append(row)
        live.plotly_chart(forecast_charts.loss_curves(rows, "Loss per epoch (live)"), key=f"forecast_live_{len(rows)}")

    s = ui.job_store()  # training writes its result: wait out a CLI run's turn on the file, with a notice
    dev = None if device == "auto" else device

    def work(progress):
        if external is None:
            return pipeline.run_forecast(s, view, fcfg, progress=progress, on_epoch=on_epoch, device=dev)
        return pipeline.run_external_forecast(s, series_frame, covariate_frames, fcfg, progress=progress,
                                              on_epoch=on_epoch, season=season, device=dev)
    try:
        result = ui.run_with_progress(f"Training the {fcfg.model} and the baselines", work)
    except ValueError as exc:  # e.g. too few periods for W + G + H and the folds
        st.error(f"Cannot train with these settings: {exc}")
        return None
    live.empty()
    return result


state_key = view.clustering_key if view is not None else pipeline.external_data_key(
    series_frame, covariate_frames)  # another file: not the last result
if train:
    if not chosen_inputs:
        st.error("Pick at least one input.")
    else:
        fcfg = planned  # None: the message above says why
        if fcfg is not None and view is not None:
            pipeline.save_choice(ui.store(), "forecast", {  # what the user chose; None = derived
                "modalities": list(fcfg.modalities), "period": fcfg.period, "window": given(window),
                "gap": given(gap), "horizon": given(horizon), "epochs": fcfg.epochs,
                "test_periods": given(test_periods), "folds": given(folds), "seed": fcfg.seed, "model": fcfg.model})
        result = train_now(fcfg) if fcfg is not None else None
        if result is not None:
            st.session_state["forecast_last"] = {"state": state_key, "config": fcfg, "result": result}

last = st.session_state.get("forecast_last")
if (not last or last["state"] != state_key) and view is not None and saved:
    base_keys = ("modalities", "period", "epochs", "seed", "model")
    saved_base = defaults.replace(**{k: tuple(v) if k == "modalities" else v for k, v in saved.items() if k in base_keys})
    try:
        saved_cfg = derived(saved_base, saved)
    except ValueError:
        saved_cfg = None
    stored = pipeline.load_forecast(ui.store(), view, saved_cfg) if saved_cfg is not None else None
    if stored is not None:  # the last training, shown on open
        last = {"state": state_key, "config": saved_cfg, "result": stored}
if not last or last["state"] != state_key:
    st.info("Choose the inputs and press **Train**. Results are cached: training again with the same "
            "settings and data is instant.")
    st.stop()

result = last["result"]
fcfg: ForecastConfig = last["config"]
neural = result.info.get("model", fcfg.model)
verdict = choose_model(result.metrics)
with verdict_slot.container():
    (st.success if verdict.kind == "model" else st.info)(f"**Verdict:** {verdict.text}")
    st.caption("The forecast below and its export use this model by default; the others stay selectable. "
               f"Rule: a learned model is chosen only when its pooled backtest {verdict.metric.upper()} beats the "
               f"best baseline's by at least {verdict.margin:.0%}.")
forward = result.info.get("forward") or {}
st.success(f"{'Loaded from cache' if getattr(result, 'cached', False) else 'Trained'}: {neural} on "
           f"{', '.join(fcfg.modalities)} · {fcfg.period} · W={fcfg.window} G={fcfg.gap} H={fcfg.horizon} · "
           f"test span {fcfg.test_periods} · {fcfg.folds} fold(s) · {fcfg.epochs} epochs max · seed {fcfg.seed} · "
           f"{result.info.get('device', '')}")
if forward:
    st.caption(f"Forecast ahead from models refitted on every period {forward.get('train_start')} – "
               f"{forward.get('train_end')} ({forward.get('windows')} windows, {forward.get('epochs')} epochs: the "
               "count early stopping chose on the last fold).")
for note in result.info.get("notes", []):
    st.caption(f"Note: {note}")

# -- evaluation ----------------------------------------------------------------------------------------
st.subheader("Backtest on held-out spans")
split = dict(result.split or {})
cols = st.columns(4)
for col, name, label in zip(cols, ["train_start", "train_target_end", "test_origin", "test_end"],
                            ["Train from", "Last training target", "Test origin", "Test end"]):
    col.metric(label, str(split.get(name, "–"))[:10])
fold_rows = result.info.get("folds") or []
if fold_rows:
    with st.expander(f"Split dates of the {len(fold_rows)} fold(s)", expanded=len(fold_rows) > 1):
        st.dataframe(pd.DataFrame(fold_rows), hide_index=True, key="forecast_folds_table")
metrics = result.metrics.copy()
left, right = st.columns([3, 2])
with left:
    st.dataframe(metrics, hide_index=True, width="stretch", key="forecast_metrics",
                 column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                                for c in metrics.columns if c not in ("model", "n_windows")})
    st.caption("mae / wape / mase: lower is better; accuracies, F1 and AUC: higher is better. 'majority' always "
               "predicts the most common class of the training span; 'ensemble' averages the neural model and ETS. "
               "Pooled over every fold's test windows.")
with right:
    metric_names = [c for c in metrics.columns if c not in ("model", "n_windows")]
    metric = st.selectbox("Compare models on", metric_names,
                          index=metric_names.index("mase") if "mase" in metric_names else 0, key="forecast_metric")
    st.plotly_chart(plots.metrics_bars(metrics, metric, highlight=neural), key="forecast_metric_chart")

st.plotly_chart(forecast_charts.loss_curves(result.history, f"{neural} loss per epoch (last fold)"),
                key="forecast_loss")

# -- ablation --------------------------------------------------------------------------------------------
with st.expander("Modality ablation: the model on every subset of the inputs, same split", expanded=False):
    s = ui.store()
    if view is not None:
        table = pipeline.run_ablation(s, view, fcfg, cached_only=True)
    else:
        table = st.session_state.get("forecast_ablation", {}).get(result.key)
    st.caption("Each subset of the chosen inputs (share is always in) is trained from scratch on the same folds; "
               "the baselines are scored once on that split. 2^n trainings for n inputs.")
    if st.button("Run the ablation", key="forecast_run_ablation", disabled=len(fcfg.modalities) > 6):
        try:
            if view is not None:
                table = ui.run_with_progress("Ablation", lambda progress: pipeline.run_ablation(s, view, fcfg, progress))
            else:
                from trend_core.forecast.ablation import run_ablation

                table = ui.run_with_progress("Ablation", lambda progress: run_ablation(
                    series_frame, covariate_frames, fcfg, progress, season=season))
                st.session_state.setdefault("forecast_ablation", {})[result.key] = table
        except ValueError as exc:
            st.error(f"Cannot run the ablation: {exc}")
    if table is not None and not table.empty:
        st.dataframe(table, hide_index=True, width="stretch", key="forecast_ablation_table",
                     column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                                    for c in table.columns if c not in ("inputs", "model", "n_inputs", "n_windows")})
        names = [c for c in table.columns if c not in ("inputs", "model", "n_inputs", "n_windows")]
        pick = st.selectbox("Ablation metric", names, index=names.index("mase"), key="forecast_ablation_metric")
        st.plotly_chart(forecast_charts.ablation_chart(table, pick), key="forecast_ablation_chart")

# -- forecast ----------------------------------------------------------------------------------------------
st.subheader("Forecast")
fc = result.forecasts
models = sorted(fc["model"].dropna().astype(str).unique()) if fc is not None and "model" in fc else []
if view is not None:
    names = {int(sid): name for sid, name in pipeline.forecast_series_names(result, view).items()}
    history = pipeline.panel_shares(ui.store(), view, fcfg.period)  # styles and saved selections (★)
else:
    history = forecast_charts.wide_to_long(series_frame)
    names = dict(enumerate(str(c) for c in series_frame.columns))
ranked = list(names)
mine = fc[fc["model"] == verdict.model] if fc is not None and "model" in fc and (fc["model"] == verdict.model).any() \
    else fc
if mine is not None and not mine.empty and "p_hot" in mine:
    order = mine.groupby(mine["series"].astype(str))["p_hot"].mean().sort_values(ascending=False).index
    by_key = {str(s): s for s in names} | {str(n): s for s, n in names.items()}
    ranked = [by_key[k] for k in order if k in by_key] + [s for s in names if str(s) not in set(order)]
cols = st.columns([4, 1, 1])
chosen = cols[0].multiselect("Series", list(names), default=ranked[:3], format_func=lambda s: names[s],
                             key="forecast_styles")
n_periods = int(history["period"].nunique())
shown_periods = cols[1].number_input("History periods shown", 1, max(n_periods, 1),
                                     min(n_periods, {"day": 120, "week": 104, "month": 36}[fcfg.period]),
                                     key="forecast_history_periods")
model = cols[2].selectbox("Model", models, index=models.index(verdict.model) if verdict.model in models else 0,
                          format_func=lambda m: f"{model_label(m)} (verdict)" if m == verdict.model else model_label(m),
                          key="forecast_model") if models else None
st.plotly_chart(plots.forecast_chart(history, fc, chosen, model=model, test_predictions=result.test_predictions,
                                     history_periods=int(shown_periods)), key="forecast_chart")

st.caption("trend: the forecast mean over the horizon against the mean of the last W periods, ±5 % (the "
           "style's own change); tercile (in the forecast table): that same change ranked among the series "
           "(top / middle / bottom third), so a style can be in the top third while falling when all fall.")
csv = pipeline.forecast_csv(result, view, model) if view is not None else pipeline.external_forecast_csv(result, model)
st.download_button(f"Download the {model} forecast CSV", data=csv,
                   file_name=pipeline.forecast_file_name(ui.store(), result, model),
                   mime="text/csv", key="forecast_download", on_click="ignore", type="primary",
                   help="One row per style and horizon step: style name, period start, share and interval in %, "
                        "P(hot), trend, model, then the keys and the training span. Pick another model above to "
                        "export it.")
