"""trend_core: learn clothing styles from social-media posts and forecast which will be hot.

The library never imports streamlit; the app and the CLI are thin layers over it.
"""
__version__ = "0.1.0"
