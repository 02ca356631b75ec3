"""HTML to PDF with Debian's Chromium (print to PDF, driven by Playwright): Chinese text comes out as
text in the system's CJK fonts (fonts-noto-cjk). Nothing is downloaded; ``MINYI_CHROMIUM`` names
another browser binary."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class PdfUnavailable(RuntimeError):
    """No browser or no Playwright to print with; the message says what to install."""


def chromium_path() -> Path:
    """The Chromium binary to print with."""
    return Path(os.environ.get("MINYI_CHROMIUM", "/usr/bin/chromium"))


def html_to_pdf(html: str) -> bytes:
    """``html`` (self-contained: nothing is fetched) printed to an A4 PDF."""
    browser_path = chromium_path()
    if not browser_path.exists():
        raise PdfUnavailable(
            f"{browser_path}: no Chromium to print with (apt-get install -y chromium fonts-noto-cjk)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise PdfUnavailable("PDF needs Playwright: pip install -e '.[pdf]'") from None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(browser_path), args=list(CHROMIUM_ARGS)
        )
        try:
            page = browser.new_page()
            page.set_content(html, wait_until="load")
            return page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
        finally:
            browser.close()
