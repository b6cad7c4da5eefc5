"""The static web site, loaded and clicked in headless Chromium from Debian's packages."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arcoforge.catalog import build_site, register, retract
from arcoforge.catalog.store import CatalogRoot
from arcoforge.demo.dataset import make_sst

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts"


def _catalog(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    make_sst(days=5, nlat=18, nlon=36).to_zarr(root / "sst-daily.zarr", zarr_format=3)
    polar = make_sst(days=3, nlat=6, nlon=12, calendar="360_day", start="2001-02-28")
    polar = polar.drop_vars("anom").rename({"sst": "ice"}).assign_attrs(title="Sea ice, 360-day")
    polar.to_zarr(root / "ice-360.zarr", zarr_format=3)
    register([str(root / "sst-daily.zarr")])
    register([str(root / "ice-360.zarr")])
    retract(str(root), "ice-360", reason="the mask was wrong")
    return root


def test_site_pages_hold_the_data(tmp_path: Path) -> None:
    root = _catalog(tmp_path)
    pages = build_site(CatalogRoot(str(root)), tmp_path / "site")
    assert [p.name for p in pages] == ["index.html", "ice-360.html", "sst-daily.html"]
    index = pages[0].read_text()
    assert '"id": "sst-daily"' in index and "datasets/ice-360.html" in index
    page = (tmp_path / "site" / "datasets" / "sst-daily.html").read_text()
    assert "arcoforge.open_dataset(&quot;" in page and "sst-daily.png" in page
    assert (tmp_path / "site" / "datasets" / "sst-daily.png").read_bytes()[:4] == b"\x89PNG"


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium driven by Selenium through Debian's matching chromium-driver."""
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip(
            "Chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="arcoforge-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1200,1600",
    ):
        options.add_argument(flag)
    # the driver given explicitly: Selenium never looks for (or downloads) another
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _set_date(driver: Any, id: str, value: str) -> None:
    """Set a date input as a person picking a date would (an input event)."""
    driver.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('input'));",
        id,
        value,
    )


def test_site_in_a_browser(tmp_path: Path, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    root = _catalog(tmp_path)
    build_site(CatalogRoot(str(root)), tmp_path / "site")
    driver.get((tmp_path / "site" / "index.html").as_uri())  # type: ignore[attr-defined]
    find = driver.find_element  # type: ignore[attr-defined]
    visible = lambda: [  # noqa: E731
        r.get_attribute("id")
        for r in driver.find_elements(By.CSS_SELECTOR, "#datasets tbody tr")  # type: ignore[attr-defined]
        if r.is_displayed()
    ]
    assert find(By.ID, "count").text == "2 of 2 datasets"
    assert visible() == ["row-ice-360", "row-sst-daily"]

    find(By.ID, "search").send_keys("sst")
    assert visible() == ["row-sst-daily"] and find(By.ID, "count").text == "1 of 2 datasets"
    find(By.ID, "search").clear()
    find(By.ID, "search").send_keys(" ")  # an input event with an empty query
    assert len(visible()) == 2
    Select(find(By.ID, "status")).select_by_visible_text("retracted")
    assert visible() == ["row-ice-360"]
    Select(find(By.ID, "status")).select_by_visible_text("any")
    Select(find(By.ID, "variable")).select_by_visible_text("anom")
    assert visible() == ["row-sst-daily"]
    _set_date(driver, "from", "2020-06-01")  # after its last day
    assert visible() == []
    _set_date(driver, "from", "2019-12-01")
    assert visible() == ["row-sst-daily"]
    Select(find(By.ID, "variable")).select_by_visible_text("any")
    _set_date(driver, "to", "2010-01-01")  # before sst-daily, after ice-360 ends
    _set_date(driver, "from", "")
    assert visible() == ["row-ice-360"]
    _set_date(driver, "to", "")
    find(By.LINK_TEXT, "sst-daily").click()
    assert find(By.ID, "title").text == "Synthetic daily sea surface temperature analysis"
    assert "2020-01-01 – 2020-01-05" in find(By.ID, "time").text
    assert "arcoforge.open_dataset(" in find(By.ID, "snippet").text
    assert "sst" in find(By.ID, "variables").text and "Celsius" in find(By.ID, "variables").text
    image = find(By.ID, "preview")
    loaded = driver.execute_script(  # type: ignore[attr-defined]
        "return arguments[0].complete && arguments[0].naturalWidth", image
    )
    assert loaded == 600  # the preview image loaded (6 in × 100 dpi)
    find(By.ID, "copy").click()
    # the button says so once the clipboard took the snippet (asynchronous)
    WebDriverWait(driver, 10).until(lambda d: find(By.ID, "copy").text == "Copied")
    ARTEFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTEFACTS / "catalog-dataset-page.png"))  # type: ignore[attr-defined]
    assert (ARTEFACTS / "catalog-dataset-page.png").stat().st_size > 10_000

    find(By.LINK_TEXT, "← all datasets").click()
    find(By.LINK_TEXT, "ice-360").click()
    assert "Retracted: the mask was wrong" in find(By.ID, "status").text
    # 28 to 30 February in the 360_day calendar: the last two are shown as 28 February
    assert find(By.ID, "time").text == "2001-02-28 – 2001-02-28 (360_day calendar)"
