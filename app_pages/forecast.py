"""Forecast: train the LSTM on chosen modalities, compare it with baselines on the same temporal
split, plot history + forecast, and export the forecast as CSV."""
from __future__ import annotations

import streamlit as st

from app_pages import _common as ui
from trend_core import pipeline, plots
from trend_core.config import ForecastConfig

MODALITIES = ("share", "count", "engagement", "image", "mask", "text")
LOWER_IS_BETTER = ("mae", "wape", "mase")

st.title("Forecast")
st.caption("Each style's share series is cut into windows of W periods that predict the share G..G+H "
           "periods later. The test span lies after every training target; baselines use the same split.")

view = ui.require_view("forecast")
defaults = ForecastConfig()
saved = pipeline.load_choice(ui.store(), "forecast") or {}

with st.form("forecast_form"):
    cols = st.columns([3, 1, 1])
    modalities = cols[0].multiselect("Inputs (modalities)", MODALITIES,
                                     default=[m for m in saved.get("modalities", defaults.modalities) if m in MODALITIES],
                                     key="forecast_modalities",
                                     help="share / count / engagement: the style's own series; image / mask / text: the "
                                          "mean embedding of its posts' full photo / clothing only / text per period.")
    period = cols[1].selectbox("Period", ["day", "week", "month"],
                               index=["day", "week", "month"].index(saved.get("period", defaults.period)),
                               key="forecast_period")
    seed = cols[2].number_input("Seed", 0, 1_000_000, int(saved.get("seed", defaults.seed)), key="forecast_seed")
    cols = st.columns(5)
    window = cols[0].number_input("Window W", 1, 104, int(saved.get("window", defaults.window)), key="forecast_window")
    gap = cols[1].number_input("Gap G", 0, 52, int(saved.get("gap", defaults.gap)), key="forecast_gap")
    horizon = cols[2].number_input("Horizon H", 1, 52, int(saved.get("horizon", defaults.horizon)),
                                   key="forecast_horizon")
    epochs = cols[3].number_input("Epochs", 1, 2000, int(saved.get("epochs", defaults.epochs)), key="forecast_epochs")
    test_periods = cols[4].number_input("Test periods", 1, 200, int(saved.get("test_periods", defaults.test_periods)),
                                        key="forecast_test_periods")
    train = st.form_submit_button("Train", type="primary")

if train:
    if not modalities:
        st.error("Pick at least one input.")
    else:
        fcfg = defaults.replace(modalities=tuple(m for m in MODALITIES if m in modalities), period=period,
                                window=int(window), gap=int(gap), horizon=int(horizon), epochs=int(epochs),
                                test_periods=int(test_periods), seed=int(seed))
        s = ui.store()
        pipeline.save_choice(s, "forecast", {"modalities": list(fcfg.modalities), "period": fcfg.period,
                                             "window": fcfg.window, "gap": fcfg.gap, "horizon": fcfg.horizon,
                                             "epochs": fcfg.epochs, "test_periods": fcfg.test_periods,
                                             "seed": fcfg.seed})
        try:
            result = ui.run_with_progress(
                "Training the LSTM and the baselines",
                lambda progress: pipeline.run_forecast(s, view, fcfg, progress=progress))
        except ValueError as exc:  # e.g. too few periods for W + G + H
            st.error(f"Cannot train with these settings: {exc}")
        else:
            st.session_state["forecast_last"] = {"clustering_key": view.clustering_key, "config": fcfg,
                                                 "result": result}

last = st.session_state.get("forecast_last")
if (not last or last["clustering_key"] != view.clustering_key) and saved:
    saved_cfg = defaults.replace(**{k: tuple(v) if k == "modalities" else v for k, v in saved.items()})
    stored = pipeline.load_forecast(ui.store(), view, saved_cfg)  # the last training, shown on open
    if stored is not None:
        last = {"clustering_key": view.clustering_key, "config": saved_cfg, "result": stored}
if not last or last["clustering_key"] != view.clustering_key:
    st.info("Choose the inputs and press **Train**. Results are cached: training again with the same "
            "settings and data is instant.")
    st.stop()

result = last["result"]
fcfg: ForecastConfig = last["config"]
st.success(f"{'Loaded from cache' if getattr(result, 'cached', False) else 'Trained'}: "
           f"{', '.join(fcfg.modalities)} · {fcfg.period} · W={fcfg.window} G={fcfg.gap} H={fcfg.horizon} · "
           f"{fcfg.epochs} epochs · seed {fcfg.seed}")

st.subheader("Evaluation on the held-out span")
split = dict(result.split or {})
cols = st.columns(4)
for col, name, label in zip(cols, ["train_start", "train_target_end", "test_origin", "test_end"],
                            ["Train from", "Last training target", "Test origin", "Test end"]):
    col.metric(label, str(split.get(name, "–"))[:10])
others = {k: v for k, v in split.items() if k not in ("train_start", "train_target_end", "test_origin", "test_end")}
if others:
    st.caption("Split: " + " · ".join(f"{k.replace('_', ' ')} {str(v)[:10]}" for k, v in others.items()))
metrics = result.metrics.copy()
left, right = st.columns([3, 2])
with left:
    st.dataframe(metrics, hide_index=True, width="stretch", key="forecast_metrics",
                 column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                                for c in metrics.columns if c != "model"})
    st.caption("mae / wape / mase: lower is better; accuracies and F1: higher is better. "
               "'majority' always predicts the most common class of the training span.")
with right:
    metric_names = [c for c in metrics.columns if c != "model"]
    metric = st.selectbox("Compare models on", metric_names,
                          index=metric_names.index("wape") if "wape" in metric_names else 0, key="forecast_metric")
    st.plotly_chart(plots.metrics_bars(metrics, metric), key="forecast_metric_chart")

st.plotly_chart(plots.loss_curve(result.history), key="forecast_loss")

st.subheader("Forecast")
names = {int(sid): name for sid, name in pipeline.forecast_series_names(result, view).items()}
history = pipeline.panel_shares(ui.store(), view, fcfg.period)  # styles and saved selections (★)
fc = result.forecasts
ranked = list(names)
if fc is not None and not fc.empty and "p_hot" in fc:
    lstm = fc[fc["model"] == "lstm"] if "model" in fc and (fc["model"] == "lstm").any() else fc
    order = lstm.groupby(lstm["series"].astype(str))["p_hot"].mean().sort_values(ascending=False).index
    by_key = {str(s): s for s in names} | {str(n): s for s, n in names.items()}
    ranked = [by_key[k] for k in order if k in by_key] + [s for s in names if str(s) not in set(order)]
cols = st.columns([4, 1, 1])
chosen = cols[0].multiselect("Styles", list(names), default=ranked[:3], format_func=lambda s: names[s],
                             key="forecast_styles")
n_periods = int(history["period"].nunique())
shown_periods = cols[1].number_input("History periods shown", 1, max(n_periods, 1),
                                     min(n_periods, {"day": 120, "week": 52, "month": 36}[fcfg.period]),
                                     key="forecast_history_periods")
models = sorted(fc["model"].dropna().astype(str).unique()) if fc is not None and "model" in fc else []
model = cols[2].selectbox("Model", models, index=models.index("lstm") if "lstm" in models else 0,
                          key="forecast_model") if models else None
st.plotly_chart(plots.forecast_chart(history, fc, chosen, model=model, test_predictions=result.test_predictions,
                                     history_periods=int(shown_periods)), key="forecast_chart")

csv = pipeline.forecast_csv(result, view)
st.download_button("Download forecast CSV", data=csv, file_name=f"style_forecast_{result.key[:12]}.csv",
                   mime="text/csv", key="forecast_download", on_click="ignore", type="primary",
                   help="One row per style and horizon step.")
