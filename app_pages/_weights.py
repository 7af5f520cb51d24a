"""The "Download weights" button beside a part the app lists as unavailable because its pretrained
weights are missing (its package installed): it runs the same fetch as `python -m trend_core weights get
NAME`, with a progress bar, and shows how to copy the weights from another machine when this one is offline."""
from __future__ import annotations

import streamlit as st

from app_pages import _common as ui
from app_pages import _server
from trend_core import weights_fetch
from trend_core.plugins import Choice
from trend_core.weights import WeightsMissing


def _missing_weights(choice: Choice) -> weights_fetch.WeightsSource | None:
    """The part's weights source when it is unavailable only for want of weights, else None."""
    src = weights_fetch.SOURCES.get(choice.name)
    if choice.available or src is None or not weights_fetch.package_installed(src):
        return None
    try:
        src.locate()
    except WeightsMissing:
        return src
    except Exception:  # noqa: BLE001 - another reason (bad setting): no download would help
        return None
    return None


def offer_download(choice: Choice, key: str) -> None:
    """A "Download weights" button for `choice` when its weights are missing; after a successful fetch
    the page reruns with the part available and says where the weights are."""
    done = st.session_state.pop(f"{key}_done", None)
    if done:
        st.success(done, icon=":material/download_done:")
    src = _missing_weights(choice)
    if src is None:
        return
    if _server.enabled():  # a visitor does not download onto the server; its administrator does
        st.caption(f"Ask the administrator of this server to run `python -m trend_core weights get {choice.name}`.")
        return
    if not st.button(f"Download {src.label} weights", key=key, icon=":material/download:",
                     help=f"Fetch them through {src.pip} into the cache this app searches (needs internet; "
                          f"same as `python -m trend_core weights get {choice.name}`)."):
        return
    with st.status(f"Downloading {src.label} weights", expanded=True) as status:
        bar = st.progress(0.0, text="starting…")
        try:
            result = weights_fetch.fetch(
                choice.name, lambda fraction, message: bar.progress(min(max(float(fraction), 0.0), 1.0),
                                                                    text=message))
        except weights_fetch.FetchError as exc:
            status.update(label=f"{src.label}: nothing downloaded", state="error", expanded=True)
            st.error(ui.md(str(exc)))
            if exc.instructions:
                st.caption("To get them without a connection here:")
                st.code(exc.instructions, language="bash", wrap_lines=True)
            return
        status.update(label=f"{src.label}: weights here", state="complete")
    st.session_state[f"{key}_done"] = f"{src.label} weights are here now ({result.path}); {choice.name} can run."
    ui.clear_caches()
    st.rerun()
