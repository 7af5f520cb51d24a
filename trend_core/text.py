"""Post text: cleaning, emoji to words, hashtags, jieba tokens, stopwords, keywords and keyphrases.

Everything here is pure and deterministic; jieba is initialised lazily and quietly on first use.
Bump CLEANING_VERSION whenever cleaning or tokenising changes what a post's tokens are: it is part of
every text embedder's version, hence of the text stage's cache key.
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

# 2: ':name:' emoji codes, platform boilerplate, the crawler's repeated tag list, blank-cell words
#    ('nan', 'None', 'null') and number+unit tokens removed (issue 10.3)
CLEANING_VERSION = "2"

# Platform words removed wherever they stand (also inside hashtags): the app's name and the tag it
# suggests on every note; neither says anything about a style.
PLATFORM_BOILERPLATE = ("小红书", "笔记灵感")

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
# a number with a short unit: 173cm, 10k, 1500w, 2023年, 5双, 3.5kg (jieba keeps some of these whole)
_NUMBER_UNIT_RE = re.compile(r"^[+\-]?\d[\d.,]*(?:[a-z]{1,3}|[年月日号岁斤元块件套双条个张图天周次度码米])?$")
# the ':name:' codes a crawler writes for emoji (':money_bag:', ':Japanese_acceptable_button:')
_EMOJI_CODE_RE = re.compile(r":[A-Za-z0-9_\-+&.'’()!#*]+:")
_LINK_MARKER_RE = re.compile(r"(?:附全?)?\U0001F517")  # 🔗 and '附🔗' / '附全🔗' ("link attached")
_SKIN_TONE_RE = re.compile("[\U0001F3FB-\U0001F3FF]")  # skin-tone modifiers (read as 较浅肤色 ...)
# emoji used as punctuation or bullets, dropped rather than read as words ('A➕B', '❗', '➡️', '1️⃣', '🔴'):
# plus / minus / times, exclamation and question marks, ticks and crosses, arrows, coloured dots and
# squares, keycaps
_SYMBOL_EMOJI_RE = re.compile(
    "(?:[\u2795\u2796\u2797\u2716\u2757\u2755\u2753\u2754\u203c\u2049\u2714\u2611\u2705\u274c\u274e"
    "\u27a1\u2b05\u2b06\u2b07\u2194-\u2199\u21a9\u21aa\u2934\u2935\u25b6\u25c0\u25aa\u25ab"
    "\u25fb-\u25fe\u26aa\u26ab\u2b1b\u2b1c\U0001F534-\U0001F539\U0001F53A-\U0001F53D"
    "\U0001F7E0-\U0001F7EB]|[0-9#*]\ufe0f?\u20e3)\ufe0f?")
# what a blank cell becomes when a crawler or pandas writes it out as text, as a whole ASCII word
_BLANK_WORD_RE = re.compile(
    r"(?<![A-Za-z0-9_])(?:nan|NaN|NAN|None|null|NULL|Null|NaT|<NA>)(?![A-Za-z0-9_])")
_TAG_LIST_SPLIT_RE = re.compile(r"[,，、]")
_BOILERPLATE_RE = re.compile("|".join(map(re.escape, PLATFORM_BOILERPLATE)))
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


def emojize_codes(text: str) -> str:
    """':money_bag:' -> the emoji it names (GitHub / Slack aliases and the package's English names);
    a ':word:' that names no emoji stays as it is."""
    if ":" not in text or not _EMOJI_CODE_RE.search(text):
        return text
    return emoji.emojize(emoji.emojize(text, language="alias"), language="en")


def emoji_to_words(text: str) -> str:
    """Replace each emoji (and each ':name:' emoji code) by its name as words (Chinese names when
    available); skin-tone modifiers are dropped, and so are emoji used as punctuation (_SYMBOL_EMOJI_RE)."""
    lang = _emoji_language()
    text = _SYMBOL_EMOJI_RE.sub(" ", _SKIN_TONE_RE.sub("", emojize_codes(text)))
    out = emoji.demojize(text, language=lang, delimiters=(" \x01", "\x01 "))
    # names come between \x01 markers; underscores / dashes in names become spaces
    return re.sub(r"\x01([^\x01]*)\x01", lambda m: m.group(1).replace("_", " ").replace("-", " "), out)


def drop_repeated_tags(text: str) -> str:
    """Keep each hashtag once: a later '#tag' already seen is removed, and so is a trailing plain list
    'a, b, c' (the crawler's copy of the post's '#a #b #c') when every item is one of its hashtags."""
    matches = list(_HASHTAG_RE.finditer(text))
    if not matches:
        return text
    tags = {m.group(1).strip().lower() for m in matches}
    tail = text[matches[-1].end():]
    items = [i.strip().lstrip("#＃").strip() for i in _TAG_LIST_SPLIT_RE.split(tail)]
    if any(items) and all(i.lower() in tags for i in items if i):
        text = text[:matches[-1].end()]
    seen: set[str] = set()
    out, pos = [], 0
    for m in matches:
        tag = m.group(1).strip().lower()
        if tag in seen:
            out.append(text[pos:m.start()] + " ")
            pos = m.end()
        seen.add(tag)
    return "".join(out) + text[pos:]


def clean_text(text: str | None) -> str:
    """Strip URLs, @mentions, link markers, platform boilerplate (PLATFORM_BOILERPLATE, '- 小红书'
    suffixes), [话题]-style markers, repeated hashtags and the crawler's repeated tag list, '#' signs,
    blank-cell words ('nan', 'None', 'null' as whole words) and repeated punctuation; turn emoji and
    ':name:' emoji codes into words; collapse whitespace. None / NaN give ''."""
    s = _as_text(text)
    if not s:
        return ""
    s = s.replace("＃", "#")
    s = _URL_RE.sub(" ", s)
    s = _MENTION_RE.sub(" ", s)
    s = _XHS_SUFFIX_RE.sub("", s)
    s = _BLANK_WORD_RE.sub(" ", s)
    s = _SYMBOL_EMOJI_RE.sub(" ", _LINK_MARKER_RE.sub(" ", emojize_codes(s)))  # before '#' goes (#️⃣)
    s = drop_repeated_tags(s)
    s = _BOILERPLATE_RE.sub(" ", s)
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
            jieba.add_word(word, freq=20000, tag="n")  # the tag only matters to jieba.posseg (TextRank)
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
    if _NUMBER_UNIT_RE.match(token):
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


# -- keyphrases (RAKE-style, for style descriptions) ---------------------------------------------------
PHRASE_SEPARATOR = "|"   # joins one post's phrases for storage; words inside a phrase are space-separated
PHRASE_MAX_WORDS = 4     # longer runs keep their last words (Chinese noun phrases end in their head noun)
# jieba dictionary tags that end a phrase even when the word is no stopword: numerals, quantifiers,
# pronouns, prepositions, conjunctions, particles, adverbs, modal particles, interjections,
# onomatopoeia and verbs ("一条", "这件", "搭配", "推荐" ...).
PHRASE_BREAK_TAGS = frozenset({
    "m", "mq", "q", "r", "rr", "rz", "rg", "p", "c", "u", "uj", "ul", "uv", "uz", "ud", "ug",
    "d", "y", "e", "o", "v", "vd", "vg", "vi", "vq"})
TEXTRANK_POS = ("n", "nr", "nz", "ns", "vn", "an", "a", "v")  # parts of speech TextRank may return
PHRASE_METHODS = ("rake", "textrank")

_ASCII_END_RE = re.compile(r"[A-Za-z0-9]$")
_ASCII_START_RE = re.compile(r"^[A-Za-z0-9]")


@lru_cache(maxsize=1)
def _word_tags() -> dict[str, str]:
    """jieba's dictionary part-of-speech tags (word -> tag)."""
    import jieba.posseg  # noqa: PLC0415 (loads the tag table once, only when phrases are asked for)

    return jieba.posseg.dt.word_tag_tab


def _is_phrase_word(token: str, stopwords: frozenset[str], tags: dict[str, str]) -> bool:
    return _keep_token(token, stopwords) and tags.get(token) not in PHRASE_BREAK_TAGS


def _latin_gap(raw: str, run: list[str], following: list[str], stopwords: frozenset[str],
               tags: dict[str, str]) -> bool:
    """A space between two Latin phrase words ('new balance') does not end the phrase."""
    if raw.strip() or not following or not _ASCII_END_RE.search(run[-1]):
        return False
    nxt = following[0].strip().lower()
    return bool(_ASCII_START_RE.match(nxt)) and _is_phrase_word(nxt, stopwords, tags)


def phrase_text(phrase: str) -> str:
    """Display form of a stored phrase: words joined without spaces, except between two Latin words
    ('法式 碎花 连衣裙' -> '法式碎花连衣裙', 'oversize 卫衣' -> 'oversize卫衣', 'new balance' stays)."""
    out = ""
    for word in phrase.split():
        if out and _ASCII_END_RE.search(out) and _ASCII_START_RE.match(word):
            out += " "
        out += word
    return out


def phrase_candidates(text: str | None, stopwords: frozenset[str] | None = None,
                      max_words: int = PHRASE_MAX_WORDS) -> list[str]:
    """RAKE candidates of one post: runs of content words between stopwords, punctuation, spaces,
    numbers and function words (PHRASE_BREAK_TAGS) in the cleaned text's jieba cut. Each phrase is its
    words joined by spaces (at most `max_words`, the last ones), lower-cased, de-duplicated in order;
    phrases shorter than two characters are left out."""
    cleaned = clean_text(text)
    if not cleaned:
        return []
    _ensure_jieba()
    stop = load_stopwords() if stopwords is None else stopwords
    tags = _word_tags()
    runs: list[list[str]] = [[]]
    tokens = jieba.lcut(cleaned)
    for i, raw in enumerate(tokens):
        token = raw.strip().lower()
        if _is_phrase_word(token, stop, tags):
            runs[-1].append(token)
        elif runs[-1] and not _latin_gap(raw, runs[-1], tokens[i + 1:i + 2], stop, tags):
            runs.append([])
    phrases = (" ".join(run[-max_words:]) for run in runs if run)
    return [p for p in dict.fromkeys(phrases) if len(phrase_text(p)) >= 2]


def join_phrases(phrases: list[str]) -> str:
    """One post's phrases as one string for storage (PHRASE_SEPARATOR between them)."""
    return PHRASE_SEPARATOR.join(phrases)


def split_phrases(stored: str | None) -> list[str]:
    """Inverse of join_phrases ('' or None -> [])."""
    return [p for p in _as_text(stored).split(PHRASE_SEPARATOR) if p.strip()]


def rake_scores(candidate_lists: list[list[str]]) -> dict[str, float]:
    """RAKE: word score = degree / frequency over all phrase occurrences (degree counts the words of
    every phrase the word is in), phrase score = sum of its word scores."""
    freq: Counter[str] = Counter()
    degree: Counter[str] = Counter()
    for phrases in candidate_lists:
        for phrase in phrases:
            words = phrase.split()
            for word in words:
                freq[word] += 1
                degree[word] += len(words)
    return {p: sum(degree[w] / freq[w] for w in p.split()) for ps in candidate_lists for p in ps}


def _post_counts(candidate_lists: list[list[str]]) -> Counter[str]:
    return Counter(p for phrases in candidate_lists for p in phrases)


def _lift_factor(counts: Counter[str], n_posts: int, reference: list[list[str]] | None):
    """phrase -> log2(1 + lift), lift = its share of posts here / its share in the reference
    (1 without a reference)."""
    if not reference:
        return lambda phrase: 1.0
    ref_counts, n_ref = _post_counts(reference), len(reference)

    def factor(phrase: str) -> float:
        share_ref = max(ref_counts.get(phrase, 0), counts[phrase]) / max(n_ref, n_posts)
        return math.log2(1.0 + (counts[phrase] / n_posts) / share_ref)
    return factor


def _distinct(ranked: list[str], top_k: int) -> list[str]:
    """Display texts of the best phrases, skipping one that contains, or is part of, a phrase kept."""
    kept: list[str] = []
    for phrase in ranked:
        shown = phrase_text(phrase)
        if not any(shown in k or k in shown for k in kept):
            kept.append(shown)
        if len(kept) == top_k:
            break
    return kept


@lru_cache(maxsize=1)
def _textrank():
    """jieba's TextRank with the project's stopwords."""
    import jieba.analyse  # noqa: PLC0415

    ranker = jieba.analyse.TextRank()
    ranker.stop_words = set(ranker.stop_words) | set(load_stopwords())
    return ranker


def _textrank_words(candidate_lists: list[list[str]], top_k: int) -> list[str]:
    _ensure_jieba()
    lines = "\n".join(p for phrases in candidate_lists for p in phrases)
    return list(_textrank().textrank(lines, topK=top_k, allowPOS=TEXTRANK_POS)) if lines else []


def rank_phrases(candidate_lists: list[list[str]], top_k: int = 5, method: str = "rake",
                 reference: list[list[str]] | None = None, min_posts: int = 2) -> list[str]:
    """Top keyphrases (display text) of a group of posts from their phrase_candidates.

    rake: RAKE score x ln(1 + posts using the phrase) x log2(1 + lift against `reference` (e.g. all
    posts), 1 without one); only phrases used by at least `min_posts` posts (all when none is); ties by
    phrase; a phrase containing or inside a better one is skipped.
    textrank: jieba.analyse TextRank over the candidates' words (single words, TEXTRANK_POS)."""
    if method not in PHRASE_METHODS:
        raise ValueError(f"unknown phrase method {method!r}; choose from {PHRASE_METHODS}")
    lists = [list(dict.fromkeys(phrases)) for phrases in candidate_lists]
    if top_k <= 0:
        return []
    if method == "textrank":
        return _textrank_words(lists, top_k)
    counts = _post_counts(lists)
    if not counts:
        return []
    eligible = [p for p, n in counts.items() if n >= min_posts] or list(counts)
    rake, lift = rake_scores(lists), _lift_factor(counts, len(lists), reference)
    score = {p: rake[p] * math.log1p(counts[p]) * lift(p) for p in eligible}
    return _distinct(sorted(eligible, key=lambda p: (-score[p], p)), top_k)
