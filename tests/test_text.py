"""Text cleaning, emoji, hashtags, tokens, stopwords and keywords."""
from __future__ import annotations

import math

import emoji
import numpy as np
import pytest

from trend_core import text


def test_clean_text_strips_noise():
    raw = ("看这里 https://xhslink.com/a/AbC123 @小红薯6655 今天的穿搭!!!!太好看了。。。"
           " #碎花连衣裙[话题]# [赞R] - 小红书")
    out = text.clean_text(raw)
    assert "http" not in out and "xhslink" not in out
    assert "@" not in out and "小红薯6655" not in out
    assert not out.endswith("小红书")
    assert "[话题]" not in out and "[赞R]" not in out and "#" not in out
    assert "!!" not in out and "。。" not in out
    assert "碎花连衣裙" in out and "今天的穿搭!太好看了。" in out


def test_clean_text_blank_values():
    assert text.clean_text(None) == ""
    assert text.clean_text(math.nan) == ""
    assert text.clean_text("nan") == ""
    assert text.clean_text("  None ") == ""
    assert text.clean_text("a\x00b") == "ab"


def test_emoji_become_words():
    out = text.clean_text("好看😍✨❤️")
    assert "😍" not in out and "✨" not in out and "❤" not in out
    assert out.startswith("好看")
    assert len(out) > len("好看") + 2  # the emoji left words behind
    if text._emoji_language() == "zh":
        assert "红心" in out


def test_extract_hashtags_forms():
    tags = text.extract_hashtags("#连衣裙[话题]# #ootd 今天 #每日穿搭#法式 ＃温柔 #2023 #连衣裙")
    assert tags == ["连衣裙", "ootd", "每日穿搭", "法式", "温柔"]
    assert text.extract_hashtags(None) == []
    assert text.extract_hashtags("no tags here") == []


def test_tokenize_removes_stopwords_and_noise():
    stop = text.load_stopwords()
    tokens = text.tokenize("今天我穿了碎花连衣裙，真的很好看啊！！！ 123 a #新中式旗袍[话题]# https://x.cn/q", stop)
    assert "碎花" in tokens and "连衣裙" in tokens
    assert "新中式" in tokens and "旗袍" in tokens          # hashtag words kept
    for word in ("我", "了", "的", "真的", "很", "啊", "今天", "123", "a", "！"):
        assert word not in tokens
    assert all(t.strip() for t in tokens)


def test_tokenize_lowercases_english_and_drops_english_stopwords():
    tokens = text.tokenize("The OOTD of the day is Chic")
    assert "ootd" in tokens and "chic" in tokens
    assert "the" not in tokens and "is" not in tokens and "of" not in tokens


def test_emoji_only_text_does_not_crash():
    tokens = text.tokenize("😍✨❤️")
    assert isinstance(tokens, list)
    assert all(isinstance(t, str) and t for t in tokens)
    assert text.tokenize("") == [] and text.tokenize(None) == []
    assert text.tokenize("!!!。。。") == []


def test_load_stopwords_size_and_content():
    stop = text.load_stopwords()
    assert len(stop) > 300
    for word in ("的", "了", "是", "我", "你", "啊", "呀", "哦", "真的", "好", "就", "都", "也", "the", "and"):
        assert word in stop
    assert "连衣裙" not in stop and "碎花" not in stop


def test_post_document_joins_non_blank_parts():
    doc = text.post_document("标题", None, "#碎花 #ootd")
    assert "标题" in doc and "#碎花" in doc and "None" not in doc
    assert text.post_document(None, math.nan, "") == ""


def test_keywords_rank_repeated_specific_words_first():
    tokens = text.tokenize("碎花连衣裙 碎花 碎花 法式 连衣裙 好看 夏天 出门")
    top = text.keywords(tokens, top_k=2)
    assert top[0] == "碎花"
    assert len(top) == 2 and "连衣裙" in top
    assert text.keywords([], 3) == []
    assert sorted(text.keywords(["a1", "b2"], 5)) == ["a1", "b2"]


# -- keyphrases ----------------------------------------------------------------------------------
def test_phrase_candidates_are_runs_between_stopwords_and_punctuation():
    phrases = text.phrase_candidates("今天穿了一条法式碎花连衣裙，搭配白色帆布鞋")
    shown = [text.phrase_text(p) for p in phrases]
    assert any("碎花连衣裙" in s for s in shown) and "白色帆布鞋" in shown
    assert "法式 碎花 连衣裙" in phrases                        # words kept apart for RAKE
    stop = text.load_stopwords()
    for phrase in phrases:
        assert not set(phrase.split()) & stop
        assert not any(ch in phrase for ch in "，。！,")
    assert all(w not in " ".join(phrases) for w in ("今天", "一条", "搭配"))  # stopword, numeral, verb


def test_phrase_candidates_emoji_latin_and_blank():
    phrases = text.phrase_candidates("😍✨ 我的oversize卫衣 New Balance 990 真的很好看啊！！ "
                                     "#ootd #美式复古[话题]#")
    assert "oversize 卫衣" in phrases and "new balance" in phrases and "ootd" in phrases
    assert "美式 复古" in phrases and len(phrases) == len(set(phrases))
    assert not any(emoji.emoji_count(p) for p in phrases)  # emoji became words
    assert text.phrase_text("oversize 卫衣") == "oversize卫衣"
    assert text.phrase_text("new balance") == "new balance"
    assert text.phrase_candidates("") == [] and text.phrase_candidates(None) == []
    assert text.phrase_candidates("!!!。。。") == []
    long_run = text.phrase_candidates("法式复古碎花小清新连衣裙", max_words=2)
    assert all(len(p.split()) <= 2 for p in long_run) and long_run[-1].endswith("连衣裙")


def test_join_and_split_phrases_round_trip():
    phrases = ["法式 碎花 连衣裙", "new balance"]
    assert text.split_phrases(text.join_phrases(phrases)) == phrases
    assert text.split_phrases("") == [] and text.split_phrases(None) == []


def test_rake_scores_degree_over_frequency():
    scores = text.rake_scores([["a b", "b"], ["b c"]])
    # freq: a 1, b 3, c 1; degree: a 2, b 2+1+2 = 5, c 2
    assert math.isclose(scores["a b"], 2 + 5 / 3) and math.isclose(scores["b"], 5 / 3)
    assert math.isclose(scores["b c"], 5 / 3 + 2)


def test_rank_phrases_prefers_frequent_distinctive_phrases():
    floral = [["法式 碎花 连衣裙", "白色 帆布鞋"], ["碎花 连衣裙", "显瘦"], ["法式 碎花 连衣裙", "显瘦"],
              ["一次 就够"]]
    office = [["西装 外套", "显瘦"], ["西装 外套", "通勤"], ["显瘦"]]
    top = text.rank_phrases(floral, top_k=3)
    assert top[0] == "法式碎花连衣裙"
    assert "碎花连衣裙" not in top                              # part of a phrase already kept
    assert "一次就够" not in top and "白色帆布鞋" not in top     # used by fewer than min_posts posts
    against_all = text.rank_phrases(floral, top_k=3, reference=floral + office)
    assert against_all == ["法式碎花连衣裙", "显瘦"]
    assert text.rank_phrases(office, top_k=1, reference=floral + office) == ["西装外套"]
    assert text.rank_phrases([["一次 就够"]], top_k=2) == ["一次就够"]  # no phrase reaches min_posts
    assert text.rank_phrases([], 3) == [] and text.rank_phrases(floral, 0) == []
    words = text.rank_phrases(floral + floral, top_k=3, method="textrank")
    assert words and all(" " not in w for w in words) and set(words) <= {"法式", "碎花", "连衣裙", "白色",
                                                                       "帆布鞋", "显瘦", "一次", "就够"}
    with pytest.raises(ValueError, match="yake"):
        text.rank_phrases(floral, method="yake")


def test_describe_styles_gives_phrases_per_style():
    from trend_core.demo import generate_demo
    from trend_core.styles import DESCRIBE_COLUMNS, describe_styles

    posts = generate_demo(n_posts=200, seed=0).posts
    docs = [text.post_document(t, c, g) for t, c, g in zip(posts["title"], posts["content"], posts["tags"])]
    names = sorted(posts["true_style"].unique())
    labels = np.searchsorted(names, posts["true_style"].to_numpy(dtype=str))
    Z = np.random.default_rng(0).normal(size=(len(docs), 3))
    centers = np.stack([Z[labels == s].mean(axis=0) for s in range(len(names))])
    tokens = [text.tokenize(d) for d in docs]
    phrase_lists = [text.phrase_candidates(d) for d in docs]
    table = describe_styles(labels, tokens, Z, centers, list(posts["post_id"]), phrase_lists=phrase_lists,
                            n_phrases=4)
    assert list(table.columns) == DESCRIBE_COLUMNS
    assert all(1 <= len(p) <= 4 for p in table["phrases"])
    floral = table["phrases"][names.index("碎花连衣裙")]
    assert any("碎花" in p for p in floral)
    office = table["phrases"][names.index("通勤西装")]
    assert not any("碎花" in p for p in office)
    plain = describe_styles(labels, tokens, Z, centers, list(posts["post_id"]))
    assert plain["phrases"].map(len).sum() == 0
    kept = ["style", "size", "keywords", "exemplars"]
    assert plain[kept].equals(table[kept])


# -- text hygiene (issue 10.3): emoji codes, boilerplate, repeated tag lists, numbers, blank cells ---
def test_emoji_codes_are_read_as_the_emoji_they_name():
    coded = ":money_bag:生活费 :teddy_bear: 好可爱:Japanese_acceptable_button: :smiling_face_with_heart-eyes:"
    real = "💰生活费 🧸 好可爱🉑 😍"
    assert text.clean_text(coded) == text.clean_text(real)
    assert text.tokenize(coded) == text.tokenize(real)
    out = text.clean_text(coded + " 12:30 :notacode:")
    assert ":" in out and ":notacode:" in out              # times and unknown codes are left alone
    tokens = text.tokenize(coded)
    for word in ("money", "bag", "teddy", "bear", "japanese", "acceptable", "button", "smiling"):
        assert word not in tokens
    symbols = text.clean_text("开衫:plus:蛋糕裙:red_exclamation_mark: :keycap_1: #️⃣ ➡️好看 🔴")
    assert symbols == "开衫 蛋糕裙 好看"                     # emoji used as punctuation leave nothing
    if text._emoji_language() == "zh":
        assert "泰迪熊" in tokens
        assert "肤色" not in text.tokenize("微胖女孩:girl_light_skin_tone: 👧🏻")  # skin tones dropped


def test_platform_boilerplate_and_link_markers_are_removed():
    raw = "生活费的女大学生穿搭｜附:link: 小红书 碎花裙好看 #笔记灵感 #碎花裙 #小红书穿搭 附🔗 🔗"
    out = text.clean_text(raw)
    for noise in ("小红书", "笔记灵感", "🔗", "link", "链接", "附"):
        assert noise not in out
    tokens = text.tokenize(raw)
    assert "碎花裙" in tokens and "灵感" not in tokens and "笔记" not in tokens
    phrases = " ".join(text.phrase_candidates(raw))
    assert "灵感" not in phrases and "小红书" not in phrases and "link" not in phrases


def test_crawler_repeated_tag_list_is_dropped():
    raw = "今天出门 #碎花裙 #OOTD穿搭 #法式[话题]# #碎花裙 碎花裙, OOTD穿搭, 法式"
    out = text.clean_text(raw)
    assert out.count("碎花裙") == 1 and out.count("OOTD穿搭") == 1 and out.count("法式") == 1
    assert text.tokenize(raw).count("碎花裙") == 1
    assert text.drop_repeated_tags("#艾莱依 艾莱依").strip() == "#艾莱依"
    kept = text.clean_text("#碎花裙 今天好开心, 出门逛街")   # a tail that is not the tag list stays
    assert "开心" in kept and "出门逛街" in kept
    assert text.clean_text("碎花裙, 法式") == "碎花裙, 法式"  # no hashtags: a plain list is text
    doc = text.post_document("标题", "好看 #碎花裙", "#碎花裙 #法式")  # tags cell repeats the content's
    assert text.tokenize(doc).count("碎花裙") == 1 and "法式" in text.tokenize(doc)


def test_numbers_and_number_units_are_not_tokens_or_keywords():
    raw = "173cm/140斤 生活费1500元 2023年 10k 3.5kg 18图 微胖 iphone15 y2k 碎花裙"
    tokens = text.tokenize(raw)
    assert not any(ch.isdigit() for t in tokens if t not in ("iphone15", "y2k") for ch in t)
    assert "iphone15" in tokens and "y2k" in tokens and "微胖" in tokens
    for unit in ("斤", "元", "cm", "kg"):
        assert unit not in tokens
    assert not any(any(ch.isdigit() for ch in p) for p in text.phrase_candidates("身高160 体重100斤 碎花裙"))
    assert all(not k.isdigit() for k in text.keywords(text.tokenize("1500 1500 1500 2023 碎花裙"), 5))


def test_blank_cell_words_never_become_tokens():
    assert text.post_document(None, math.nan, "None") == ""
    assert text.post_document("null", "NaN", "<NA>") == ""
    out = text.clean_text("简单干净 小红书 nan nan")
    assert out == "简单干净"
    tokens = text.tokenize("好看 nan None null NULL NaN 裙子nan")
    assert tokens and not {"nan", "none", "null"} & set(tokens)
    assert not any("nan" in p for p in text.phrase_candidates("碎花裙 nan nan 小红书 法式 nan"))
    legit = text.tokenize("nanny nonetheless banana morning walk")  # English words are kept
    assert {"nanny", "nonetheless", "banana", "morning", "walk"} <= set(legit)


def test_cleaning_version_is_part_of_every_text_embedder_version():
    from trend_core.embed.text import TEXT_EMBEDDERS

    assert text.CLEANING_VERSION != "1"
    for cls in TEXT_EMBEDDERS.values():
        assert cls.version.endswith(f"clean{text.CLEANING_VERSION}")
