"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``) for dashboard tests.

Selenium blocks, and the server under test runs on the test's event loop, so every browser
call goes through ``asyncio.to_thread``: the server keeps answering while the browser waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException as StaleElementReference
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
T = TypeVar("T")


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@asynccontextmanager
async def chromium_session(width: int = 1280, height: int = 900) -> AsyncIterator[WebDriver]:
    """``chromium``, started and quit off the event loop (the server under test is on it)."""
    manager = chromium(width, height)
    driver = await asyncio.to_thread(manager.__enter__)
    try:
        yield driver
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


class Browser:
    """Async wrappers over the few WebDriver calls the tests make."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(function, *args)

    async def open(self, path: str) -> None:
        await self.call(self.driver.get, self.base_url + path)

    async def find(self, css: str) -> WebElement:
        return await self.call(self.driver.find_element, By.CSS_SELECTOR, css)

    async def wait_for(self, css: str, text: str | None = None, timeout: float = 30) -> WebElement:
        """The first element matching ``css`` (containing ``text``), once there is one."""

        def found(driver: WebDriver) -> WebElement | bool:
            for element in driver.find_elements(By.CSS_SELECTOR, css):
                if text is None or text in element.text:
                    return element
            return False

        wait = WebDriverWait(
            self.driver, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReference]
        )
        element: WebElement = await self.call(wait.until, found)
        return element

    async def click(self, css: str, text: str | None = None, attempts: int = 5) -> None:
        """Click the element, found again if a live update replaced it meanwhile."""
        for attempt in range(attempts):
            element = await self.wait_for(css, text)
            try:
                await self.call(element.click)
                return
            except StaleElementReference:
                if attempt == attempts - 1:
                    raise

    async def script(self, source: str) -> Any:
        return await self.call(self.driver.execute_script, source)

    @property
    def path(self) -> str:
        url: str = self.driver.current_url
        return url.removeprefix(self.base_url)

    async def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.call(self.driver.save_screenshot, str(path))
