"""Which column of a posts file is which: the canonical columns, a Xiaohongshu crawl's names and common
aliases, a user's mapping ({their column: canonical}, None to ignore one), and the checks that a file
has a date and something to show."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from trend_core.fields import as_text, is_blank
from trend_core.readers import RawFile, RawTable, file_bytes, open_source, read_raw

INPUT_COLUMNS = ("post_id", "poster_id", "title", "content", "tags", "post_date", "likes", "collects",
                 "comments", "image_source", "image_no", "video", "style_label")  # `video` is input only
REQUIRED_COLUMNS = ("post_date",)
CONTENT_COLUMNS = ("title", "content", "tags", "image_source", "video", "style_label")  # one must exist
COUNT_COLUMNS = ("likes", "collects", "comments")
TEXT_COLUMNS = ("title", "content", "tags")

# Xiaohongshu crawl exports (matched before the other aliases).
CRAWL_COLUMNS: dict[str, str] = {
    "post_id": "post_id", "poster_id": "poster_id", "post_title": "title", "post_content": "content",
    "post_tag": "tags", "post_date": "post_date", "post_like": "likes", "post_collect": "collects",
    "post_comments": "comments", "post_img": "image_source", "post_video": "video", "image_no": "image_no",
}

# Other common names (lower-case) -> canonical column.
DEFAULT_ALIASES: dict[str, str] = {
    **CRAWL_COLUMNS,
    "id": "post_id", "note_id": "post_id", "noteid": "post_id", "postid": "post_id", "帖子id": "post_id",
    "笔记id": "post_id", "编号": "post_id",
    "user_id": "poster_id", "userid": "poster_id", "uid": "poster_id", "author": "poster_id",
    "author_id": "poster_id", "user": "poster_id", "poster": "poster_id", "username": "poster_id",
    "nickname": "poster_id", "用户id": "poster_id", "作者": "poster_id",
    "note_title": "title", "标题": "title",
    "text": "content", "desc": "content", "description": "content", "body": "content",
    "note_content": "content", "内容": "content", "正文": "content",
    "post_tags": "tags", "tag": "tags", "tag_list": "tags", "hashtags": "tags", "标签": "tags", "话题": "tags",
    "date": "post_date", "time": "post_date", "created_at": "post_date", "create_time": "post_date",
    "publish_time": "post_date", "post_time": "post_date", "datetime": "post_date", "日期": "post_date",
    "发布时间": "post_date", "时间": "post_date",
    "like": "likes", "like_count": "likes", "likes_count": "likes", "liked_count": "likes",
    "post_likes": "likes", "点赞": "likes", "点赞数": "likes",
    "collect": "collects", "collect_count": "collects", "collected_count": "collects",
    "post_collects": "collects", "favorites": "collects", "favourites": "collects",
    "favorite_count": "collects", "收藏": "collects", "收藏数": "collects",
    "comment": "comments", "comment_count": "comments", "comments_count": "comments",
    "post_comment": "comments", "评论": "comments", "评论数": "comments",
    "image": "image_source", "img": "image_source", "image_path": "image_source",
    "image_url": "image_source", "images": "image_source", "img_path": "image_source",
    "picture": "image_source", "photo": "image_source", "image_file": "image_source", "图片": "image_source",
    "video_path": "video", "video_url": "video", "video_file": "video", "video_addr": "video",
    "videos": "video", "视频": "video", "视频地址": "video", "视频链接": "video",
    "img_no": "image_no", "image_index": "image_no", "img_index": "image_no", "image_number": "image_no",
    "图片序号": "image_no",
    "style": "style_label", "label": "style_label", "风格": "style_label",
}


def _canonical_target(name: str) -> str:
    key = name.strip().lower()
    target = key if key in INPUT_COLUMNS else DEFAULT_ALIASES.get(key)
    if target is None:
        raise ValueError(f"mapping target {name!r} is not a column; use one of {list(INPUT_COLUMNS)}")
    return target


def column_map(columns: list[str], mapping: dict | None = None) -> dict[str, str]:
    """canonical column -> the file's column: user mapping first, then exact canonical names,
    then Xiaohongshu crawl names, then DEFAULT_ALIASES (case-insensitive). First match wins.
    A mapping target of None or "" ignores that column (no alias picks it)."""
    assigned: dict[str, str] = {}
    used: set[str] = set()
    lower = {c.strip().lower(): c for c in reversed(columns)}
    for theirs, target in (mapping or {}).items():
        col = theirs if theirs in columns else lower.get(str(theirs).strip().lower())
        if col is None:
            raise ValueError(f"mapping names column {theirs!r}, which the file lacks; available columns: {columns}")
        if target is None or not str(target).strip():
            used.add(col)
            continue
        canon = _canonical_target(str(target))
        if canon not in assigned:
            assigned[canon] = col
            used.add(col)
    passes: list[Callable[[str], str | None]] = [
        lambda k: k if k in INPUT_COLUMNS else None,
        lambda k: CRAWL_COLUMNS.get(k),
        lambda k: DEFAULT_ALIASES.get(k),
    ]
    for find in passes:
        for col in columns:
            canon = find(col.strip().lower())
            if canon and canon not in assigned and col not in used:
                assigned[canon] = col
                used.add(col)
    return assigned


def read_table(path_or_buffer: Any, file_name: str | None = None, mapping: dict | None = None) -> pd.DataFrame:
    """Read CSV (UTF-8 / UTF-8 with BOM / GB18030), JSON (array of records), JSON Lines or Parquet
    and rename columns to canonical names through `mapping` ({their column: canonical}) and
    DEFAULT_ALIASES. Values are left as read (CSV: strings). Index = 1-based data row number;
    rows that could not be parsed are left out (ingest_file rejects them as bad_row)."""
    data, name, _ = file_bytes(path_or_buffer)
    raw = read_raw(data, file_name or name)
    return _frame(raw, column_map(raw.columns, mapping))


def preview_columns(path_or_buffer: Any, file_name: str | None = None, mapping: dict | None = None
                    ) -> tuple[list[str], dict[str, str | None], dict[str, str]]:
    """What an import would make of a file's columns, before importing: (the file's columns, column ->
    the canonical column it would be used as (None: ignored) under `mapping` and the aliases, column ->
    its first non-blank value, at most 60 characters). The file is read in chunks, only until every
    column has an example."""
    src, name, _ = open_source(path_or_buffer)
    raw = RawFile(src, file_name or name)
    columns = raw.columns
    use = {theirs: canon for canon, theirs in column_map(columns, mapping).items()}
    examples: dict[str, str] = {}
    for chunk in raw.chunks():
        for rec in chunk.records.values():
            for col in columns:
                if col not in examples and not is_blank(rec.get(col)):
                    examples[col] = as_text(rec.get(col)).strip()[:60]
            if len(examples) == len(columns):
                break
        if len(examples) == len(columns):
            break
    return list(columns), {c: use.get(c) for c in columns}, examples


def _frame(raw: RawTable, cmap: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(raw.records, orient="index", columns=raw.columns, dtype=object)
    frame = frame.rename(columns={theirs: canon for canon, theirs in cmap.items()})
    frame.index.name = "row_number"
    frame.attrs["column_map"] = dict(cmap)
    frame.attrs["format"] = raw.fmt
    frame.attrs["encoding"] = raw.encoding
    return frame


def check_columns(columns: list[str], cmap: dict[str, str]) -> None:
    """ValueError naming the missing column(s) and the available ones."""
    if not columns:
        raise ValueError("the file has no header row or no columns (is it empty?)")
    for col in REQUIRED_COLUMNS:
        if col not in cmap:
            aliases = sorted(k for k, v in DEFAULT_ALIASES.items() if v == col)
            raise ValueError(
                f"missing required column {col!r} (or one of {aliases}); available columns: {columns}. "
                f"Pass mapping={{'<your column>': {col!r}}}.")
    if not any(c in cmap for c in CONTENT_COLUMNS):
        raise ValueError(f"no text or image column: need one of {list(CONTENT_COLUMNS)} (or their aliases); "
                         f"available columns: {columns}")
