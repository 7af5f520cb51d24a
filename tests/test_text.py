"""Text cleaning, emoji, hashtags, tokens, stopwords and keywords."""
from __future__ import annotations

import math

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
