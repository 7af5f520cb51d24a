"""The pipeline caches every stage under its key: same settings recompute nothing, one changed
setting recomputes only what depends on it; the CLI runs the same stages."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from trend_core import pipeline
from trend_core.__main__ import main
from trend_core.config import PipelineConfig
from trend_core.store import Store

N_POSTS = 300


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Store:
    store = Store(tmp_path_factory.mktemp("pipe") / "demo.duckdb")
    config = PipelineConfig()
    config = replace(config, styles=config.styles.replace(k_max=10))
    pipeline.build_demo(store, n_posts=N_POSTS, seed=3, config=config)
    return store


def _cached(result: pipeline.PipelineResult) -> dict[str, bool]:
    return {r.stage: r.cached for r in result.reports}


def _config(**style_changes) -> PipelineConfig:
    config = PipelineConfig()
    return replace(config, styles=config.styles.replace(k_max=10, **style_changes))


def test_second_run_is_all_cache_hits(demo_store: Store) -> None:
    result = pipeline.run_pipeline(demo_store, _config())
    assert all(_cached(result).values()), _cached(result)
    assert result.view is not None and result.view.k >= 2


def test_changing_k_refits_only_styles(demo_store: Store) -> None:
    before = pipeline.run_pipeline(demo_store, _config())
    new_k = 3 if before.view.k != 3 else 4
    result = pipeline.run_pipeline(demo_store, _config(k=new_k))
    cached = _cached(result)
    assert cached.pop("styles") is False
    assert all(cached.values()), cached
    assert result.view.k == new_k
    assert len(result.view.styles) == new_k
    assert result.view.clustering_key != before.view.clustering_key


def test_changing_text_setting_keeps_image_caches(demo_store: Store) -> None:
    config = _config()
    config = replace(config, text=config.text.replace(svd_dim=24))
    cached = _cached(pipeline.run_pipeline(demo_store, config))
    assert cached["segment"] and cached["mask embedding"]
    assert not cached["text features"] and not cached["fusion"] and not cached["styles"]


def test_view_accounts_for_every_post(demo_store: Store) -> None:
    view = pipeline.load_view(demo_store, _config())
    assert len(view.posts) == demo_store.count_posts() == N_POSTS
    left_out = view.posts[view.posts["style"] < 0]
    assert left_out["excluded"].notna().all()
    assert view.styles["size"].sum() == (view.posts["route"] == "fitted").sum()
    assert ((view.posts["style"] >= 0) == view.posts["route"].isin(["fitted", "text-assigned"])).all()
    monthly = view.shares("month")
    sums = monthly.groupby("period")["share"].sum()
    assert ((sums - 1).abs() < 1e-9).all()


def test_load_view_is_none_before_computing(demo_store: Store) -> None:
    assert pipeline.load_view(demo_store, _config(k=9, seed=99)) is None


def test_saved_choices_shape_the_config(demo_store: Store) -> None:
    pipeline.save_choice(demo_store, "k", 5)
    pipeline.save_choice(demo_store, "modalities", ["image", "text"])
    try:
        config = pipeline.config_from_settings(demo_store)
        assert config.styles.k == 5
        assert config.fusion.modalities == ("image", "text")
    finally:
        pipeline.save_choice(demo_store, "k", None)
        pipeline.save_choice(demo_store, "modalities", None)


def test_cli_demo_twice_reports_cache_hits(tmp_path, capsys) -> None:
    db = tmp_path / "cli.duckdb"
    args = ["demo", "--db", str(db), "--posts", "150", "--seed", "5", "--quiet", "--k", "4"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["posts"] == 150 and first["k"] == 4
    assert not any(stage["cached"] for stage in first["stages"])
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["posts"] == 150
    assert all(stage["cached"] for stage in second["stages"])


def test_cli_reports_missing_posts_file(tmp_path, capsys) -> None:
    code = main(["ingest", "--db", str(tmp_path / "x.duckdb"), "--posts", str(tmp_path / "nope.csv")])
    assert code == 2
    assert "nope.csv" in capsys.readouterr().err


def test_imported_style_labels_replace_clustering(tmp_path) -> None:
    from trend_core.demo import generate_demo
    from trend_core.ingest import add_frame

    demo = generate_demo(n_posts=160, seed=11)
    frame = demo.posts.copy()
    frame["style_label"] = frame["true_style"]
    frame.loc[frame.index[:5], "style_label"] = None
    store = Store(tmp_path / "labels.duckdb")
    add_frame(store, frame, demo.images, source="labelled")
    config = replace(PipelineConfig(), style_source="labels")
    result = pipeline.run_pipeline(store, config)
    stages = [r.stage for r in result.reports]
    assert "K sweep" not in stages
    view = result.view
    assert set(view.styles["name"]) == set(frame["style_label"].dropna())
    assert (view.posts["excluded"] == "no style label").sum() == 5
    named = view.kept_posts()
    assert (named["style_name"] == named["style_label"]).all()
    # the imported styles are forecast like clusters: one forecast row per labelled style and step
    from trend_core.config import ForecastConfig

    fc = pipeline.run_forecast(store, view, ForecastConfig(period="month", window=3, horizon=1, test_periods=3,
                                                           epochs=2, modalities=("share",)))
    neural = fc.forecasts[fc.forecasts["model"] == "lstm"]
    assert len(neural) == len(view.styles) and "ets" in set(fc.metrics["model"])


def test_labels_without_a_style_column_say_so(tmp_path) -> None:
    from trend_core.demo import generate_demo
    from trend_core.ingest import add_frame

    demo = generate_demo(n_posts=60, seed=2)
    store = Store(tmp_path / "nolabels.duckdb")
    add_frame(store, demo.posts, demo.images, source="unlabelled")
    with pytest.raises(ValueError, match="need a `style` column"):
        pipeline.run_pipeline(store, replace(PipelineConfig(), style_source="labels"))


def test_changing_the_k_range_resweeps_without_umap(demo_store: Store) -> None:
    config = _config()
    config = replace(config, styles=config.styles.replace(k_min=3, k_max=6, silhouette_repeats=2))
    result = pipeline.run_pipeline(demo_store, config)
    cached = _cached(result)
    assert cached["reduce (UMAP)"] and cached["mask embedding"] and cached["fusion"]
    assert not cached["K sweep"]
    assert sorted(result.view.sweep["k"].astype(int)) == [3, 4, 5, 6]
    with pytest.raises(ValueError, match="K range"):
        pipeline.run_pipeline(demo_store, replace(config, styles=config.styles.replace(k_min=5, k_max=201)))
