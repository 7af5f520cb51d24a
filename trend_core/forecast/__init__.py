"""Forecasting style share series: windows, baselines, a global LSTM, training and honest evaluation."""
from trend_core.forecast.evaluate import ForecastResult, forecast_csv, run_forecast

__all__ = ["ForecastResult", "forecast_csv", "run_forecast"]
