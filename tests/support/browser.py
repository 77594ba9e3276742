"""Debian's Chromium, headless, driven by Selenium through Debian's chromedriver (the Makefile installs both).

Selenium is given both paths, so Selenium Manager never looks for (or downloads) a browser or a driver.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
# The two widths the console is held to: a small phone and a desktop screen.
NARROW = (360, 800)
WIDE = (1440, 900)
# Waits are on conditions; this only bounds a wait that would otherwise never end.
WAIT_SECONDS = 60


class BrowserMissingError(RuntimeError):
    pass


def executables() -> tuple[str, str]:
    browser = next((found for name in CHROMIUM_CANDIDATES if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise BrowserMissingError(
            "Chromium and chromedriver are needed for the console's browser tests: `make browser` installs "
            "Debian's (apt-get install chromium chromium-driver); `make test` runs it first.")
    return browser, driver


def chromium(size: tuple[int, int] = WIDE) -> webdriver.Chrome:
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never reach the network
    browser, driver = executables()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-first-run", "--disable-extensions", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def set_viewport(driver: webdriver.Chrome, width: int, height: int) -> None:
    """The page's viewport exactly (window size includes no chrome in headless mode, but be exact)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def wait_until(driver: webdriver.Chrome, condition: Callable[[Any], Any], message: str = "") -> Any:
    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1).until(condition, message)


def screenshot(driver: webdriver.Chrome, path: Path) -> Path:
    """The whole page (not just the viewport) as PNG."""
    import base64

    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
