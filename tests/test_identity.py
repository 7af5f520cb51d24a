"""Style identity: matching styles across clusterings, flows for the Sankey, names that follow."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trend_core import identity, identity_charts, pipeline
from trend_core.plots import LEFT_OUT_COLOR, style_color


def blobs(k: int, per: int = 20, seed: int = 0) -> tuple[pd.Series, np.ndarray]:
    """k well separated 2-d blobs: labels (post_id index) and the rows."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k), per)
    X = rng.normal(size=(len(labels), 2)) + labels[:, None] * 10.0
    return pd.Series(labels, index=[f"p{i}" for i in range(len(labels))]), X


# -- match_styles -----------------------------------------------------------------------------------
def test_a_permuted_labeling_matches_back_exactly():
    prev, X = blobs(4)
    perm = np.array([2, 0, 3, 1])
    order = np.random.default_rng(1).permutation(len(prev))  # the new run lists posts in another order
    new = pd.Series(perm[prev.to_numpy()], index=prev.index).iloc[order]
    matches = identity.match_styles(prev, new, X[order])
    assert dict(zip(matches["prev"], matches["new"])) == {p: int(perm[p]) for p in range(4)}
    assert matches["matched"].all() and np.allclose(matches["overlap"], 1.0)
    assert np.allclose(matches["distance"], 0.0) and (matches["shared"] == 20).all()


def test_only_posts_both_runs_kept_are_compared():
    prev, X = blobs(3)
    new = prev.iloc[5:]                         # the new run left out 5 posts...
    prev = pd.concat([prev, pd.Series([0], index=["only_before"])])  # ...the old one had an extra post
    matches = identity.match_styles(prev, new, X[5:])
    assert matches["shared"].sum() == len(new)
    assert identity.flows(prev, new)["posts"].sum() == len(new)
    with pytest.raises(ValueError):
        identity.match_styles(prev, new, X)    # rows must follow new_labels


def test_hungarian_pairs_one_to_one_when_k_differs():
    prev, X = blobs(4)
    merged = pd.Series(prev.to_numpy() // 2, index=prev.index)   # 0,1 -> 0 and 2,3 -> 1
    fewer = identity.match_styles(prev, merged, X)
    pairs = fewer[(fewer["prev"] >= 0) & (fewer["new"] >= 0)]
    assert len(pairs) == 2 and set(pairs["new"]) == {0, 1}
    assert pairs["prev"].is_unique and set(pairs["prev"] // 2) == {0, 1}  # each new style got one of its parts
    assert sorted(fewer.loc[fewer["new"] == -1, "prev"]) == sorted(set(range(4)) - set(pairs["prev"]))
    assert np.allclose(pairs["overlap"], 0.5) and pairs["matched"].all()

    more = identity.match_styles(merged, prev, X)                # the other way round: 2 -> 4 styles
    assert len(more) == 4 and (more["prev"] == -1).sum() == 2
    assert not more.loc[more["prev"] == -1, "matched"].any()


def test_a_pair_whose_posts_barely_overlap_is_not_a_match():
    prev, X = blobs(2)
    new = prev.copy()
    new[:] = 0
    new.iloc[-1] = 1                            # one post of style 1 alone; the rest all in new style 0
    matches = identity.match_styles(prev, new, X)
    row = matches.set_index("prev").loc[1]
    assert int(row["new"]) == 1 and row["overlap"] == pytest.approx(1 / 20)  # paired by centre...
    assert not row["matched"]                                                 # ...but not the same style
    assert bool(matches.set_index("prev").loc[0, "matched"])


# -- flows ----------------------------------------------------------------------------------------
def test_a_split_shows_as_one_previous_style_flowing_into_two():
    prev, _ = blobs(3)
    new = prev.copy()
    halves = (prev == 0) & (np.arange(len(prev)) % 2 == 0)
    new[halves] = 3
    table = identity.flows(prev, new)
    assert list(table.columns) == ["prev", "new", "posts"]
    assert table[table["prev"] == 0].set_index("new")["posts"].to_dict() == {0: 10, 3: 10}
    assert table["posts"].sum() == len(prev)
    splits, merges = identity.splits_and_merges(table)
    assert splits == {0: [0, 3]} and merges == {}
    assert identity.splits_and_merges(table.rename(columns={"prev": "new", "new": "prev"})) == ({}, {0: [0, 3]})


# -- names ----------------------------------------------------------------------------------------
def test_names_carry_to_matched_styles_only():
    matches = pd.DataFrame({"prev": [0, 1, 2, 3, -1], "new": [4, 0, 1, -1, 2],
                            "distance": [0.1, 0.2, 5.0, np.nan, np.nan], "overlap": [0.9, 0.6, 0.05, 0.0, 0.0],
                            "shared": [90, 60, 2, 0, 0], "matched": [True, True, False, False, False]})
    given = {0: "Y2K", 2: "old boho", 3: "gone"}
    assert identity.carry_names(given, matches) == {4: "Y2K"}
    assert identity.carry_names({}, matches) == {}


def test_match_table_shows_names_and_blank_partners():
    prev, X = blobs(2)
    new = pd.Series(np.where(np.arange(len(prev)) % 2 == 0, 2, prev.to_numpy()), index=prev.index)
    matches = identity.match_styles(prev, new, X)
    table = identity.match_table(matches, {0: "a", 1: "b"}, {0: "x", 1: "y", 2: "z"})
    assert list(table.columns) == ["previous", "previous name", "current", "current name", "overlap",
                                   "posts in both", "matched"]
    lonely = table[table["previous"] == identity.NO_PREVIOUS]
    assert len(lonely) == 1 and lonely["previous name"].iloc[0] == "" and not lonely["matched"].iloc[0]
    assert lonely["current"].iloc[0] == "2" and lonely["current name"].iloc[0] == "z"
    assert table[["previous", "current"]].notna().all().all(), "no empty (None) cells"
    assert sorted(table["previous"]) == ["0", "1", identity.NO_PREVIOUS]


def test_match_table_says_gone_for_a_previous_style_without_partner():
    prev, X = blobs(3)
    new = prev.where(prev != 2, 1)  # style 2 merged into 1: two current styles for three previous
    table = identity.match_table(identity.match_styles(prev, new, X), {2: "old"}, {})
    gone = table[table["current"] == identity.NO_CURRENT]
    assert len(gone) == 1 and gone["previous"].iloc[0] in {"1", "2"} and gone["current name"].iloc[0] == ""
    assert not table.isna().any().any()
    assert table["previous"].map(type).eq(str).all() and table["current"].map(type).eq(str).all()


# -- Sankey ---------------------------------------------------------------------------------------
def test_sankey_links_sum_to_the_shared_posts_and_labels_are_escaped():
    prev, X = blobs(3)
    new = prev.copy()
    new[(prev == 0) & (np.arange(len(prev)) % 2 == 0)] = 3
    table = identity.flows(prev, new)
    matches = identity.match_styles(prev, new, X)
    fig = identity_charts.flow_sankey(table, {0: "<b>bold</b>"}, {3: "new & fresh"}, matches)
    sankey = fig.data[0]
    assert sankey.type == "sankey"
    assert sum(sankey.link.value) == len(prev) and len(sankey.link.value) == len(table)
    labels = list(sankey.node.label)
    assert "before · S0 &lt;b&gt;bold&lt;/b&gt;" in labels and "S3 new &amp; fresh" in labels
    assert not any("<b>" in label for label in labels)
    partner = dict(zip(matches["prev"], matches["new"]))
    assert sankey.node.color[0] == style_color(partner[0])   # a matched style keeps its partner's colour
    unmatched = identity_charts.flow_sankey(table, {}, {}, matches.assign(matched=False))
    assert unmatched.data[0].node.color[0] == LEFT_OUT_COLOR
    empty = identity_charts.flow_sankey(table.iloc[0:0], {}, {})
    assert not empty.data and empty.layout.annotations


# -- names stored per clustering and the previous clustering (a real demo database) ----------------
def _view(store):
    from trend_core.plugins import effective_config

    return pipeline.load_view(store, effective_config(pipeline.config_from_settings(store))[0])


def test_given_names_are_shown_kept_per_clustering_and_follow_a_recluster(demo_db_copy):
    from trend_core.store import Store

    store = Store(demo_db_copy)
    before = _view(store)
    assert identity.compare_with_previous(store, before) is None
    defaults = dict(zip(before.styles["style"], before.styles["name"]))
    pipeline.rename_style(store, before.clustering_key, 1, "  Office\n<i>chic</i>  ")
    pipeline.rename_style(store, before.clustering_key, 0, "temp")
    pipeline.rename_style(store, before.clustering_key, 0, "   ")   # blank: back to the default
    named = _view(store)
    assert named.styles.set_index("style").loc[1, "name"] == "Office <i>chic</i>"
    assert named.styles.set_index("style").loc[0, "name"] == defaults[0]
    assert (named.posts.loc[named.posts["style"] == 1, "style_name"] == "Office <i>chic</i>").all()
    assert pipeline.load_style_names(store, before.clustering_key) == {1: "Office <i>chic</i>"}

    new_k = before.k + 1 if before.k + 1 <= int(before.sweep["k"].max()) else before.k - 1
    pipeline.save_choice(store, "k", new_k)
    after = pipeline.run_pipeline(store, pipeline.config_from_settings(store), fallback=True).view
    assert after.k == new_k
    carried = identity.record_recluster(store, named, after)
    comparison = identity.compare_with_previous(store, after)
    assert comparison is not None and comparison.previous_key == before.clustering_key
    fitted = int((after.posts["route"] == "fitted").sum())  # text-assigned looks are not part of the clustering
    assert comparison.flows["posts"].sum() == comparison.shared_posts == fitted
    partner = comparison.matches.set_index("prev").loc[1]
    assert bool(partner["matched"]) and carried == {int(partner["new"]): "Office <i>chic</i>"}
    shown = _view(store).styles.set_index("style")["name"]
    assert shown.loc[int(partner["new"])] == "Office <i>chic</i>"
    defaults_after = after.styles.set_index("style")["default_name"]
    others = shown.index != int(partner["new"])
    assert (shown[others] == defaults_after[others]).all()  # other styles keep their recomputed defaults

    pipeline.rename_style(store, after.clustering_key, int(partner["new"]), "renamed later")
    assert identity.record_recluster(store, named, after) == {}   # names of a shown clustering stay
    assert pipeline.load_style_names(store, after.clustering_key) == {int(partner["new"]): "renamed later"}
    assert identity.record_recluster(store, after, after) == {}   # same clustering: nothing recorded
