"""The self-contained HTML report of ``imgpipe run`` (and its headless-Chromium screenshot)."""

from __future__ import annotations

from imgpipe.report.browser import Browser, BrowserError, find_chromium, screenshot_file
from imgpipe.report.html import render_report

__all__ = ["Browser", "BrowserError", "find_chromium", "render_report", "screenshot_file"]
