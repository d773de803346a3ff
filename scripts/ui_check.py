"""Screenshot-level check of the Dagster UI on the demo instance, in a real headless browser.

Run from the repo root after ``make demo``::

    .venv/bin/python scripts/ui_check.py [--out DIR]      # DIR defaults to bench/out/ui/

It starts ``dagster-webserver`` on the project's workspace (``workspace.yaml``) and instance
(``DAGSTER_HOME``, default ``.dagster`` as in the Makefile's ``ui`` target; ``make demo`` has already
written its ``dagster.yaml`` with ``scripts/dagster_home.sh``) on a free port, drives headless
Chromium with Selenium through the asset pages, and checks what the rendered DOM shows:

* ``kura/learning_issue_clusters_week``: the Overview's "Columns" section lists the column schema
  (``cluster_signature``, ``score_factors``); the Partitions view of partition ``2026-11-09`` shows
  that partition's own materialization (its ``content_hash`` as the instance records it) and the
  ``top`` metadata rendered as a markdown table with the ranking's header cells.
* ``replay/video_segment_tasks``: the same for a partition the demo materialized (read from the
  instance), with the tasks table's header cells and the ``task_id`` column.
* ``kura/learning_signals``: the Overview's column schema shows ``pseudo_user_id`` with its
  ``pii`` column tag.

The Overview tab always shows the asset's latest materialization, whatever ``?partition=`` says,
so partition metadata is read from the Partitions view (``?view=partitions&partition=KEY``).
Markdown metadata too long to show inline sits behind a "[Show Markdown]" link that opens a
dialog; the script clicks it.

A full-page PNG of every page (and of the ``top`` dialog) goes to the output directory, named
after the asset. One line per check, ``ok  <what>`` or ``FAIL <what>: <reason>``; exit 0 only if
every check passes, 1 if one fails, 2 if a prerequisite (demo data, Selenium, Chromium) is missing.

Needs ``selenium`` in .venv (``.venv/bin/pip install selenium``) and Debian's Chromium and
ChromeDriver (``apt-get install -y chromium chromium-driver``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # reported by check_prerequisites
    webdriver = None

REPO = Path(__file__).resolve().parent.parent
WAREHOUSE = REPO / "data" / "warehouse.duckdb"
DAGSTER_HOME = Path(os.environ.get("DAGSTER_HOME") or REPO / ".dagster").resolve()  # as the Makefile's ?=
WEBSERVER = REPO / ".venv" / "bin" / "dagster-webserver"

SERVER_TIMEOUT = 120  # seconds for the webserver to answer /server_info
PAGE_TIMEOUT = 60  # seconds for React to render what a check looks for
WINDOW = (1600, 1200)
MAX_SHOT_HEIGHT = 12000  # px; a full-page screenshot is cut there
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
]

CLUSTERS = ("kura", "learning_issue_clusters_week")
CLUSTERS_PARTITION = "2026-11-09"
TASKS = ("replay", "video_segment_tasks")
TASKS_TEAM = "1"  # the demo runs teams 1 and 2; the check looks at one of team 1's ticks
SIGNALS = ("kura", "learning_signals")


class CheckFailed(Exception):
    """A check's reason for failing."""


@dataclass(frozen=True)
class Materialization:
    """What the instance recorded for one partition of an asset."""

    partition: str
    content_hash: str
    has_top: bool


# ---------------------------------------------------------------------------------------------
# Prerequisites and the instance


def check_prerequisites() -> tuple[str, str]:
    """The Chromium and ChromeDriver paths, or exit 2 with one line saying what is missing."""
    if not WAREHOUSE.exists() or not DAGSTER_HOME.is_dir():
        missing = WAREHOUSE if not WAREHOUSE.exists() else DAGSTER_HOME
        _exit2(f"FAIL prerequisites: {missing} is missing; run `make demo` first")
    if webdriver is None:
        _exit2("FAIL prerequisites: Selenium is not installed; run `.venv/bin/pip install selenium`")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        _exit2(
            "FAIL prerequisites: Chromium or ChromeDriver not found; run `apt-get install -y chromium chromium-driver`"
        )
    return chromium, chromedriver


def _exit2(line: str) -> None:
    print(line, flush=True)
    sys.exit(2)


def latest_materialization(instance, asset: tuple[str, ...], partition: str) -> Materialization | None:
    import dagster as dg

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(list(asset)), asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    metadata = records[0].asset_materialization.metadata
    content_hash = metadata.get("content_hash")
    return Materialization(partition, str(content_hash.value) if content_hash else "", "top" in metadata)


def demo_partitions() -> tuple[Materialization | None, Materialization | None]:
    """The instance's record of the clusters partition, and the latest materialized tick of team 1."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(DAGSTER_HOME)
    with dg.DagsterInstance.get() as instance:
        clusters = latest_materialization(instance, CLUSTERS, CLUSTERS_PARTITION)
        ticks = sorted(
            key
            for key in instance.get_materialized_partitions(dg.AssetKey(list(TASKS)))
            if key.split("|")[0] == TASKS_TEAM
        )
        tasks = latest_materialization(instance, TASKS, ticks[-1]) if ticks else None
    return clusters, tasks


# ---------------------------------------------------------------------------------------------
# The webserver and the browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def webserver(log_path: Path) -> Iterator[str]:
    """``dagster-webserver`` on the workspace, in its own process group; yields its base URL."""
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(DAGSTER_HOME)}
    command = [str(WEBSERVER), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(base, process, log_path)
        yield base
    finally:
        stop(process)


def wait_for_server(base: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)  # polling an HTTP endpoint: nothing to wait on explicitly
    raise RuntimeError(f"dagster-webserver did not answer {base}/server_info in {SERVER_TIMEOUT} s; see {log_path}")


def stop(process: subprocess.Popen) -> None:
    """Terminate the webserver's process group (it and its code servers), killing it if it lingers.

    ``dagster-webserver`` stops on SIGTERM even when started with SIGINT ignored (unlike ``dagster
    dev``), so the SIGINT handler need not be restored before spawning it."""
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def browser(chromium: str, chromedriver: str) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="ui-check-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=webdriver.ChromeService(chromedriver), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def skip_community_dialog(driver, base: str) -> None:
    """Mark the "Join the Dagster community" dialog as seen in this browser's storage.

    Dismissing it with its Skip button would also write ``.nux/nux.yaml`` into DAGSTER_HOME.
    """
    driver.get(f"{base}/server_info")
    driver.execute_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")


# ---------------------------------------------------------------------------------------------
# Reading the rendered pages


def asset_url(base: str, asset: tuple[str, ...], partition: str | None = None) -> str:
    url = f"{base}/assets/{'/'.join(asset)}"
    return f"{url}?view=partitions&partition={quote(partition, safe='')}" if partition else url


def wait_for(driver, xpath: str, what: str) -> WebElement:
    try:
        return WebDriverWait(driver, PAGE_TIMEOUT).until(EC.visibility_of_element_located((By.XPATH, xpath)))
    except TimeoutException:
        raise CheckFailed(f"{what} not shown within {PAGE_TIMEOUT} s") from None


def overview_columns(driver) -> dict[str, list[str]]:
    """The Overview's "Columns" table: column name -> the tags shown under it (e.g. ``pii: raw_id``)."""
    table = wait_for(driver, "//input[@placeholder='Filter columns']/following::table[1]", "the Columns section")
    WebDriverWait(driver, PAGE_TIMEOUT).until(lambda _: table.find_elements(By.XPATH, "./tbody/tr"))
    columns = {}
    for cell in table.find_elements(By.XPATH, "./tbody/tr/td[1]"):
        name, *tags = cell.text.splitlines()
        columns[name.strip()] = [t.strip() for t in tags]
    return columns


def partition_metadata_value(driver, key: str) -> WebElement:
    """The value cell of metadata entry ``key`` in the Partitions view's selected partition."""
    return wait_for(driver, f"//tr[td[1][normalize-space()='{key}']]/td[2]", f"metadata entry {key!r}")


def markdown_headers(driver, cell: WebElement) -> tuple[list[str], WebElement]:
    """The header cells of the markdown table in ``cell``, opening its dialog if it is behind
    "[Show Markdown]"; returns them with the element holding the rendered table."""
    links = cell.find_elements(By.XPATH, ".//a[normalize-space()='[Show Markdown]']")
    if links:
        links[0].click()
        table = wait_for(driver, "//div[@role='dialog']//table", "the markdown dialog's table")
    else:
        tables = cell.find_elements(By.XPATH, ".//table")
        if not tables:
            raise CheckFailed(f"rendered as text, not a table: {cell.text[:80]!r}")
        table = tables[0]
    return [th.text.strip() for th in table.find_elements(By.XPATH, ".//thead//th")], table


def close_dialog(driver) -> None:
    buttons = driver.find_elements(By.XPATH, "//div[@role='dialog']//button[normalize-space()='Close']")
    if buttons:
        buttons[0].click()
        WebDriverWait(driver, PAGE_TIMEOUT).until(
            EC.invisibility_of_element_located((By.XPATH, "//div[@role='dialog']"))
        )


_OVERFLOW_JS = """
let el = arguments[0];
while (el && el !== document.documentElement) {
  const style = getComputedStyle(el);
  if (/(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight) {
    return el.scrollHeight - el.clientHeight;
  }
  el = el.parentElement;
}
return Math.max(0, document.documentElement.scrollHeight - window.innerHeight);
"""


def save_full_page(driver, path: Path, anchor: WebElement | None = None) -> None:
    """A PNG of the whole page. The UI scrolls inside panels rather than the document, so the
    viewport is made tall enough for the panel holding ``anchor`` to show without scrolling."""
    overflow = driver.execute_script(_OVERFLOW_JS, anchor) if anchor is not None else 0
    height = min(WINDOW[1] + int(overflow), MAX_SHOT_HEIGHT)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WINDOW[0], "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: d.execute_script("return window.innerHeight") >= height)
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


# ---------------------------------------------------------------------------------------------
# The checks


class Report:
    """Runs checks, printing ``ok`` or ``FAIL`` for each."""

    def __init__(self) -> None:
        self.failures = 0

    def check(self, what: str, run: Callable[[], None]) -> None:
        try:
            run()
        except CheckFailed as failed:
            self.fail(what, str(failed))
        except WebDriverException as error:
            self.fail(what, f"browser error: {error.msg or type(error).__name__}")
        else:
            print(f"ok  {what}", flush=True)

    def fail(self, what: str, reason: str) -> None:
        self.failures += 1
        print(f"FAIL {what}: {reason}", flush=True)


def shot_name(asset: tuple[str, ...], page: str) -> str:
    return f"{'__'.join(asset)}.{page}.png"


def expect_all(wanted, found, what: str) -> None:
    missing = [w for w in wanted if w not in found]
    if missing:
        raise CheckFailed(f"{what} missing {', '.join(missing)} (shown: {', '.join(found) or 'none'})")


def check_columns(report, driver, base, out, asset, names, tagged: dict[str, str] | None = None) -> None:
    """The Overview's column schema lists ``names``; ``tagged`` maps a column to a tag prefix it shows."""
    label = "/".join(asset)
    driver.get(asset_url(base, asset))
    columns: dict[str, list[str]] = {}

    def names_shown():
        columns.update(overview_columns(driver))
        expect_all(names, list(columns), "Columns")

    def tags_shown():
        if not columns:
            raise CheckFailed("no Columns section")
        for column, prefix in (tagged or {}).items():
            tags = columns.get(column, [])
            if not any(tag.startswith(prefix) for tag in tags):
                raise CheckFailed(f"column {column} shows tags {tags or 'none'}, none starting {prefix!r}")

    report.check(f"{label} Overview shows columns {', '.join(names)}", names_shown)
    if tagged:
        shown = ", ".join(f"{c} tagged {p}" for c, p in tagged.items())
        report.check(f"{label} Overview shows column tags: {shown}", tags_shown)
    anchor = driver.find_elements(By.XPATH, "//input[@placeholder='Filter columns']")
    save_full_page(driver, out / shot_name(asset, "overview"), anchor[0] if anchor else None)


def check_partition(report, driver, base, out, asset, expected: Materialization, headers) -> None:
    """The Partitions view of ``expected.partition`` shows its own metadata and ``top`` as a table."""
    label = f"{'/'.join(asset)} partition {expected.partition}"
    driver.get(asset_url(base, asset, expected.partition))

    def own_materialization():
        shown = partition_metadata_value(driver, "content_hash").text.strip()
        if shown != expected.content_hash:
            raise CheckFailed(f"content_hash {shown[:16]}... is not the partition's {expected.content_hash[:16]}...")

    def top_table():
        if not expected.has_top:
            raise CheckFailed("the instance's materialization of the partition has no 'top' metadata")
        found, table = markdown_headers(driver, partition_metadata_value(driver, "top"))
        if driver.find_elements(By.XPATH, "//div[@role='dialog']"):
            save_full_page(driver, out / shot_name(asset, "top"), table)
            close_dialog(driver)
        expect_all(headers, found, "the top table's header")

    report.check(
        f"{label}: Partitions view shows the partition's own materialization (content_hash)", own_materialization
    )
    report.check(f"{label}: metadata 'top' renders as a table with {', '.join(headers)}", top_table)
    anchor = driver.find_elements(By.XPATH, "//tr[td[1][normalize-space()='top']]")
    save_full_page(driver, out / shot_name(asset, "partition"), anchor[0] if anchor else None)


def run_checks(report: Report, driver, base: str, out: Path, clusters, tasks) -> None:
    check_columns(report, driver, base, out, CLUSTERS, ["cluster_signature", "score_factors"])
    if clusters is None:
        report.fail(f"{'/'.join(CLUSTERS)} partition {CLUSTERS_PARTITION}", "not materialized in the instance")
    else:
        headers = ["score", "frequency", "severity", "impact", "reproducibility", "summary"]
        check_partition(report, driver, base, out, CLUSTERS, clusters, headers)

    check_columns(report, driver, base, out, TASKS, ["task_id"])  # the table has no user_ref column
    if tasks is None:
        report.fail(f"{'/'.join(TASKS)} partition of team {TASKS_TEAM}", "none materialized in the instance")
    else:
        check_partition(report, driver, base, out, TASKS, tasks, ["priority", "status", "title"])

    check_columns(report, driver, base, out, SIGNALS, ["pseudo_user_id"], tagged={"pseudo_user_id": "pii"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "ui", help="where the screenshots go")
    args = parser.parse_args(argv)
    chromium, chromedriver = check_prerequisites()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    clusters, tasks = demo_partitions()
    report = Report()
    try:
        with webserver(out / "webserver.log") as base, browser(chromium, chromedriver) as driver:
            skip_community_dialog(driver, base)
            run_checks(report, driver, base, out, clusters, tasks)
    except (RuntimeError, WebDriverException) as error:
        report.fail("the UI could not be checked", getattr(error, "msg", None) or str(error))
    print(
        f"{'all checks passed' if not report.failures else f'{report.failures} check(s) failed'}"
        f" in {time.monotonic() - started:.0f} s; screenshots in {out}",
        flush=True,
    )
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
