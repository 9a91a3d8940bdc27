"""The self-contained HTML report of ``imgpipe run`` (and its headless-Chromium screenshot)."""

from __future__ import annotations

from analyzer.report.browser import Browser, BrowserError, find_chromium, screenshot_file
from analyzer.report.html import render_report

__all__ = ["Browser", "BrowserError", "find_chromium", "render_report", "screenshot_file"]
