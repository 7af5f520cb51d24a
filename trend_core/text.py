"""Post text: cleaning, emoji to words, hashtags, jieba tokens, stopwords and keywords.

Everything here is pure and deterministic; jieba is initialised lazily and quietly on first use.
"""
from __future__ import annotations

import math
import re
import threading
from collections import Counter
from functools import lru_cache
from pathlib import Path

import emoji
import jieba

STOPWORDS_PATH = Path(__file__).resolve().parent.parent / "data" / "stopwords_zh.txt"

# A few English stopwords always added (the file has more).
EXTRA_ENGLISH_STOPWORDS = frozenset(
    "a an the and or of to in on at for with is are was be it this that i you my me we".split())

# Fashion words jieba's default dictionary splits or misses; added so they stay one token.
FASHION_WORDS = (
    "碎花", "连衣裙", "碎花裙", "法式", "百褶裙", "学院风", "新中式", "旗袍", "马面裙", "卫衣",
    "连帽卫衣", "工装裤", "牛仔裤", "阔腿裤", "西装", "西装外套", "通勤", "针织衫", "条纹衫",
    "运动风", "运动套装", "小香风", "格纹", "格子裙", "波点", "氛围感", "高级感", "小个子",
    "显瘦", "显高", "梨形", "ootd", "多巴胺", "美拉德", "静奢风", "老钱风", "千金风", "辣妹",
    "甜酷", "休闲风", "街头风", "复古风", "oversize", "微胖",
)

_URL_RE = re.compile(r"(?:https?://|www\.)[^\s\u4e00-\u9fff，。！？、]+", re.IGNORECASE)
_MENTION_RE = re.compile(r"@[^\s@#，。！？,!?:：]{1,30}")
_XHS_SUFFIX_RE = re.compile(r"\s*[-－—–]+\s*小红书\s*$")
_MARKER_RE = re.compile(r"\[[^\[\]\n]{1,10}\]")  # [话题] [赞R] [哭惹R] ...
_HASHTAG_RE = re.compile(r"#([^#\s\[\]【】,，。.!！?？@:：;；、\"'“”]+)(?:\[[^\]\n]{1,10}\]#?)?")
_REPEAT_PUNCT_RE = re.compile(r"([!！?？。.,，~～、;；:：\-—…*·])\1+")
_SPACE_RE = re.compile(r"\s+")
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORDLIKE_RE = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)
_NUMBER_RE = re.compile(r"^[\d.,%％+\-]+$")
_BLANK_STRINGS = frozenset({"", "nan", "none", "null", "nat", "<na>"})

_jieba_lock = threading.Lock()
_jieba_ready = False


def _as_text(text: object) -> str:
    """None / NaN / 'nan' -> ''; anything else -> str without NUL characters."""
    if text is None:
        return ""
    if isinstance(text, float) and math.isnan(text):
        return ""
    s = str(text).replace("\x00", "")
    return "" if s.strip().lower() in _BLANK_STRINGS else s


@lru_cache(maxsize=1)
def _emoji_language() -> str:
    """'zh' when the installed emoji package has Chinese names, else 'en'."""
    try:
        emoji.demojize("\u2764", language="zh")
        return "zh"
    except (KeyError, ValueError, NotImplementedError):
        return "en"


def emoji_to_words(text: str) -> str:
    """Replace each emoji by its name as words (Chinese names when available)."""
    lang = _emoji_language()
    out = emoji.demojize(text, language=lang, delimiters=(" \x01", "\x01 "))
    # names come between \x01 markers; underscores / dashes in names become spaces
    return re.sub(r"\x01([^\x01]*)\x01", lambda m: m.group(1).replace("_", " ").replace("-", " "), out)


def clean_text(text: str | None) -> str:
    """Strip URLs, @mentions, '- 小红书' suffixes, [话题]-style markers, '#' signs and repeated
    punctuation; turn emoji into words; collapse whitespace. None / NaN give ''."""
    s = _as_text(text)
    if not s:
        return ""
    s = s.replace("＃", "#")
    s = _URL_RE.sub(" ", s)
    s = _MENTION_RE.sub(" ", s)
    s = _XHS_SUFFIX_RE.sub("", s)
    s = _MARKER_RE.sub(" ", s)
    s = s.replace("#", " ")
    s = emoji_to_words(s)
    s = s.replace("\ufe0f", "").replace("\u200d", "")
    s = _REPEAT_PUNCT_RE.sub(r"\1", s)
    return _SPACE_RE.sub(" ", s).strip()


def extract_hashtags(text: str | None) -> list[str]:
    """Hashtags without '#', in order of first appearance, de-duplicated.

    Handles '#连衣裙', '#连衣裙[话题]#' and '#a#b' forms."""
    s = _as_text(text).replace("＃", "#")
    seen: dict[str, None] = {}
    for match in _HASHTAG_RE.finditer(s):
        tag = match.group(1).strip()
        if tag and not _NUMBER_RE.match(tag):
            seen.setdefault(tag, None)
    return list(seen)


def _ensure_jieba() -> None:
    """Initialise jieba once, quietly, with the fashion vocabulary added."""
    global _jieba_ready
    if _jieba_ready:
        return
    with _jieba_lock:
        if _jieba_ready:
            return
        jieba.setLogLevel(60)
        jieba.initialize()
        for word in FASHION_WORDS:
            jieba.add_word(word, freq=20000)
        _jieba_ready = True


@lru_cache(maxsize=4)
def _read_stopwords(path: str) -> frozenset[str]:
    words: set[str] = set()
    p = Path(path)
    if p.exists():
        for line in p.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                words.add(line.lower())
    return frozenset(words | EXTRA_ENGLISH_STOPWORDS)


def load_stopwords(path: str | Path | None = None) -> frozenset[str]:
    """Stopwords from data/stopwords_zh.txt (lower-cased) plus a few English ones."""
    return _read_stopwords(str(path or STOPWORDS_PATH))


def _keep_token(token: str, stopwords: frozenset[str]) -> bool:
    if not token or token in stopwords:
        return False
    if not _WORDLIKE_RE.search(token) or _NUMBER_RE.match(token) or token.isdigit():
        return False
    if len(token) == 1 and not _CJK_RE.match(token):
        return False
    return not all(ch == "_" for ch in token)


def tokenize(text: str | None, stopwords: frozenset[str] | None = None) -> list[str]:
    """jieba tokens of the cleaned text; stopwords, punctuation, numbers and 1-char non-CJK tokens
    removed, English lower-cased. Hashtag words are kept (their '#' is dropped by cleaning)."""
    cleaned = clean_text(text)
    if not cleaned:
        return []
    _ensure_jieba()
    stop = load_stopwords() if stopwords is None else stopwords
    tokens = (t.strip().lower() for t in jieba.lcut(cleaned))
    return [t for t in tokens if _keep_token(t, stop)]


def post_document(title: str | None, content: str | None, tags: str | None) -> str:
    """The text a post contributes: title, content and tags joined by newlines (blank parts left out)."""
    return "\n".join(p for p in (_as_text(title), _as_text(content), _as_text(tags)) if p.strip())


@lru_cache(maxsize=1)
def _idf_table() -> tuple[dict[str, float], float]:
    """jieba's bundled IDF table and its median (for unknown words)."""
    import jieba.analyse  # noqa: PLC0415 (loaded only when keywords are asked for)

    tfidf = jieba.analyse.TFIDF()
    return tfidf.idf_freq, float(tfidf.median_idf)


def keywords(tokens: list[str], top_k: int = 5) -> list[str]:
    """Top tokens by TF-IDF (jieba's IDF table; unknown words get the median IDF).
    Ties go to the token seen first; single CJK characters are down-weighted."""
    if not tokens or top_k <= 0:
        return []
    idf, median = _idf_table()
    counts = Counter(tokens)
    first = {t: i for i, t in reversed(list(enumerate(tokens)))}

    def score(tok: str) -> float:
        weight = 0.5 if len(tok) == 1 else 1.0
        return counts[tok] * idf.get(tok, median) * weight

    ranked = sorted(counts, key=lambda t: (-score(t), first[t]))
    return ranked[:top_k]
