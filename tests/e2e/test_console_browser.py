"""The console in a real browser: Debian's Chromium, headless, on the local stack (tests/support/browser.py).

Every wait is on a condition in the page (an element, a text, a status), never a sleep; a job is held in
a state by the test itself (faults.Pause), so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from cli.client import put_file
from tests.support import browser, faults

GOOD = b'{"link": {"customer_id": "C-%d"}, "first_name": "Ada"}\n'
# A rejected line that would run if the console ever put it into the page as HTML.
HOSTILE = b'<script>window.injected = true</script><img src=x onerror="window.injected = true">\n'


def good_lines(count: int, start: int = 1) -> bytes:
    return b"".join(GOOD % n for n in range(start, start + count))


@pytest.fixture(scope="module")
def driver():
    chromium = browser.chromium()
    yield chromium
    chromium.quit()


@pytest.fixture(autouse=True)
def fresh_tab(driver):
    """Each test starts signed out, on a blank page, with no errors logged by the one before."""
    yield
    driver.get_log("browser")  # the next test reads only its own
    if driver.current_url.startswith("http"):  # a fresh browser is on data:, which has no storage
        driver.execute_script("sessionStorage.clear(); localStorage.clear();")


def console_url(stack) -> str:
    return f"{stack.info.api_url}/console"


def sign_in(driver, stack, token: str) -> None:
    driver.get(console_url(stack))
    field = browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "token")))
    field.send_keys(token, Keys.ENTER)  # the keyboard alone signs in
    browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "nav")))


def job_status(driver, job_id: str) -> str:
    row = driver.find_elements(By.CSS_SELECTOR, f'tr[data-job-id="{job_id}"] .status')
    try:
        return row[0].text if row else ""
    except StaleElementReferenceException:  # the list re-rendered (it refreshes every 2 s) between find and read
        return ""


def no_page_errors(driver) -> None:
    """Nothing the page did was refused (a CSP violation is logged as SEVERE: "Refused to ...") and no
    script failed. HTTP error answers are left out: the tests provoke some (a 401 for a bad token)."""
    severe = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
              and "Failed to load resource" not in entry["message"]]
    assert not severe, severe


def test_sign_in_refuses_an_unknown_token_and_keeps_a_good_one_only_in_session_storage(driver, stack, account):
    driver.get(console_url(stack))
    field = browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "token")))
    field.send_keys("ing_not-a-token", Keys.ENTER)
    browser.wait_until(driver, EC.text_to_be_present_in_element((By.ID, "sign-in-error"), "not valid"))
    assert driver.find_element(By.ID, "nav").is_displayed() is False

    field.clear()
    field.send_keys(account["token"], Keys.ENTER)
    browser.wait_until(driver, EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#view h2"), "Jobs"))
    assert driver.execute_script("return sessionStorage.getItem('bulk-ingest.token')") == account["token"]
    assert driver.execute_script("return localStorage.length") == 0
    assert driver.get_cookies() == []

    driver.find_element(By.ID, "sign-out").click()
    browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "token")))
    assert driver.execute_script("return sessionStorage.getItem('bulk-ingest.token')") is None
    no_page_errors(driver)


def test_the_jobs_list_follows_a_job_from_processing_to_completed_on_its_own(driver, stack, account, client, dataset,
                                                                              tmp_path):
    path = tmp_path / "customers.ndjson"
    path.write_bytes(good_lines(3))
    with faults.inject(faults.Pause("Finalize")) as hold:
        upload = client.request_upload(path.name, dataset["id"], "customer_record")
        put_file(upload["url"], str(path))
        assert hold.arrived.wait(browser.WAIT_SECONDS), "the workflow never reached Finalize"
        # Held before Finalize, the job is Processing; the page shows it so and keeps refreshing by itself.
        sign_in(driver, stack, account["token"])
        browser.wait_until(driver, lambda d: job_status(d, upload["id"]) == "Processing", "never showed Processing")
        assert "Refreshing" in driver.find_element(By.ID, "jobs-refreshing").text
        hold.release()
        browser.wait_until(driver, lambda d: job_status(d, upload["id"]) == "Completed", "never showed Completed")
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-job-id="{upload["id"]}"]')
    assert "customers.ndjson" in row.text and "customer_record" in row.text and "loaded 3" in row.text
    browser.wait_until(driver, lambda d: d.find_element(By.ID, "jobs-refreshing").text == "")  # stops when done

    # Filters: a status the job does not have hides it; its own shows it again.
    Select(driver.find_element(By.ID, "filter-status")).select_by_value("Failed")
    browser.wait_until(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-job-id="{upload["id"]}"]'))
    Select(driver.find_element(By.ID, "filter-status")).select_by_value("Completed")
    browser.wait_until(driver, lambda d: job_status(d, upload["id"]) == "Completed")
    no_page_errors(driver)


def test_the_job_view_shows_rejected_lines_as_text_and_links_the_error_log(driver, stack, account, load_file):
    upload = load_file(good_lines(2) + HOSTILE + b'{"link": {}}\n')
    assert upload["status"] == "Completed" and upload["stats"]["rejected"] == 2
    sign_in(driver, stack, account["token"])
    driver.get(f"{console_url(stack)}#/jobs/{upload['id']}")
    table = browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "rejected-lines")))
    rows = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert [row[0] for row in rows] == ["3", "4"]
    assert rows[0][2] == HOSTILE.decode().strip()  # the raw line, character for character
    assert rows[1][1]  # its error, in words
    assert table.find_elements(By.TAG_NAME, "script") == [] and table.find_elements(By.TAG_NAME, "img") == []
    assert driver.execute_script("return window.injected === undefined")
    # Every phase passed, the stats, the execution's id, and the error log's link.
    phases = driver.find_elements(By.CSS_SELECTOR, ".timeline .phase")
    names = [p.find_element(By.CLASS_NAME, "phase-name").text for p in phases]
    assert names == ["Inspect", "Split", "Load", "Finalize"]
    assert all("phase-done" in p.get_attribute("class") for p in phases)
    facts = driver.find_element(By.ID, "job").text
    assert upload["execution_arn"].split(":")[-1] in facts and "rejected\n2" in facts
    link = driver.find_element(By.LINK_TEXT, "Download the error log (NDJSON)")
    assert link.get_attribute("href").split("?")[0] == upload["error_log_url"].split("?")[0]
    # The rejected lines come back as a file to fix, and the job offers a retry with the corrected file.
    failed = driver.find_element(By.LINK_TEXT, "Download the failed rows")
    assert failed.get_attribute("href").split("?")[0] == upload["failed_rows_url"].split("?")[0]
    buttons = driver.find_elements(By.CSS_SELECTOR, ".actions button")
    assert [button.text for button in buttons] == ["Retry with a corrected file", "Revert"]
    buttons[0].click()
    url = browser.wait_until(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, ".upload-url")))
    assert url.text.startswith("http")
    no_page_errors(driver)


def test_a_failed_job_says_why_in_plain_words(driver, stack, account, load_file):
    upload = load_file(b"\x00\x01\x02 binary, not lines of JSON\n")
    assert upload["status"] == "Failed"
    sign_in(driver, stack, account["token"])
    driver.get(f"{console_url(stack)}#/jobs/{upload['id']}")
    reason = browser.wait_until(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, "#job .failure")))
    assert upload["failure_reason"] in reason.text
    assert driver.find_elements(By.CSS_SELECTOR, ".timeline .phase-failed, .timeline .phase-todo")
    no_page_errors(driver)


def test_clear_data_needs_the_dataset_name_typed_and_empties_it(driver, stack, account, client, dataset, load_file):
    load_file(good_lines(4))
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 4}
    sign_in(driver, stack, account["token"])
    driver.get(f"{console_url(stack)}#/datasets")
    card = browser.wait_until(driver, EC.visibility_of_element_located(
        (By.CSS_SELECTOR, f'article[data-dataset-id="{dataset["id"]}"]')))
    assert "customer_record" in card.text and "4" in card.text
    card.find_element(By.XPATH, ".//button[text()='Clear Data']").send_keys(Keys.ENTER)  # by keyboard
    confirm_field = card.find_element(By.ID, f"confirm-{dataset['id']}")
    assert driver.switch_to.active_element == confirm_field
    confirm = card.find_element(By.XPATH, ".//button[text()='Clear all records']")
    confirm_field.send_keys(dataset["name"][:-1])
    assert not confirm.is_enabled()  # a near miss does not arm it
    confirm_field.send_keys(dataset["name"][-1], Keys.ENTER)
    job_link = browser.wait_until(driver, EC.visibility_of_element_located((By.LINK_TEXT, "follow the clear job")))
    clear_id = job_link.get_attribute("href").rsplit("/", 1)[-1]
    job_link.click()
    browser.wait_until(driver, EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#job h2 .status"), "Completed"))
    assert "removed\n4" in driver.find_element(By.ID, "job").text
    assert client._call("GET", f"/v1/jobs/{clear_id}")["stats"] == {"removed": 4}
    assert not any(client.get_dataset(dataset["id"])["record_counts"].values())
    no_page_errors(driver)


def test_revert_needs_the_file_name_typed_and_shows_the_revert_job(driver, stack, account, client, dataset, load_file):
    load_file(good_lines(2))
    upload = load_file(good_lines(3, start=2))  # C-2 replaced, C-3 and C-4 created
    assert upload["revertible_until"]
    sign_in(driver, stack, account["token"])
    driver.get(f"{console_url(stack)}#/jobs/{upload['id']}")
    open_button = browser.wait_until(driver, EC.visibility_of_element_located(
        (By.XPATH, "//div[@class='actions']//button[text()='Revert']")))
    open_button.send_keys(Keys.ENTER)  # by keyboard
    confirm_field = driver.find_element(By.ID, f"confirm-revert-{upload['id']}")
    assert driver.switch_to.active_element == confirm_field
    confirm = driver.find_element(By.XPATH, "//button[text()='Revert this load']")
    confirm_field.send_keys(upload["filename"][:-1])
    assert not confirm.is_enabled()  # a near miss does not arm it
    confirm_field.send_keys(upload["filename"][-1], Keys.ENTER)
    browser.wait_until(driver, EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#job h2"), "Revert of upload"))
    browser.wait_until(driver, EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#job h2 .status"), "Completed"))
    facts = driver.find_element(By.ID, "job").text
    assert "restored\n1" in facts and "removed\n2" in facts and "kept\n0" in facts and upload["id"] in facts
    assert client.get_upload(upload["id"])["reverted_by"]
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 2}
    driver.get(f"{console_url(stack)}#/jobs/{upload['id']}")  # reverted: no second Revert
    browser.wait_until(driver, EC.text_to_be_present_in_element((By.ID, "job"), "Reverted by"))
    assert not driver.find_elements(By.CSS_SELECTOR, ".actions button")
    no_page_errors(driver)


def test_a_file_uploaded_from_the_form_goes_straight_to_storage_and_loads(driver, stack, account, client, dataset,
                                                                          tmp_path):
    path = tmp_path / "from-the-form.ndjson"
    path.write_bytes(good_lines(5) + b"not json\n")
    sign_in(driver, stack, account["token"])
    driver.get(f"{console_url(stack)}#/datasets")
    form = browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "upload-form")))
    Select(form.find_element(By.ID, "upload-dataset")).select_by_value(dataset["id"])
    Select(form.find_element(By.ID, "upload-record-type")).select_by_value("customer_record")
    form.find_element(By.ID, "upload-file").send_keys(str(path))
    budget = form.find_element(By.ID, "upload-budget")
    budget.clear()
    budget.send_keys("50")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    link = browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "upload-job-link")))
    bar = form.find_element(By.CSS_SELECTOR, "#upload-status progress")
    assert bar.get_attribute("value") == bar.get_attribute("max") == str(path.stat().st_size)
    link.click()
    browser.wait_until(driver, EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#job h2 .status"), "Completed"))
    upload_id = driver.current_url.rsplit("/", 1)[-1]
    upload = client.get_upload(upload_id)
    assert upload["filename"] == path.name and upload["options"] == {"dry_run": False, "max_rejected_percent": 50}
    assert upload["stats"] == {"total": 6, "loaded": 5, "rejected": 1, "created": 5, "replaced": 0}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 5}
    no_page_errors(driver)


PAGES = {
    "sign-in": "",
    "jobs": "#/jobs",
    "job": "#/jobs/{upload_id}",
    "datasets": "#/datasets",
}


def test_every_page_fits_360_and_1440_pixels_and_is_captured(driver, stack, account, load_file, tmp_path):
    """`make screenshots` runs this with CONSOLE_SCREENSHOTS=.local/screenshots: one PNG per page and width."""
    upload = load_file(good_lines(6) + HOSTILE)
    out = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    written = []
    for width, height in (browser.WIDE, browser.NARROW):
        browser.set_viewport(driver, width, height)
        for name, fragment in PAGES.items():
            if name == "sign-in":
                driver.get(console_url(stack))
                driver.execute_script("sessionStorage.clear()")
                driver.refresh()
                browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "token")))
            else:
                if not driver.execute_script("return sessionStorage.length"):
                    sign_in(driver, stack, account["token"])
                driver.get(console_url(stack) + fragment.format(upload_id=upload["id"]))
                ready = {"jobs": (By.ID, "jobs"), "job": (By.ID, "rejected-lines"), "datasets": (By.ID, "upload-form")}
                browser.wait_until(driver, EC.visibility_of_element_located(ready[name]))
            overflow = driver.execute_script("return document.documentElement.scrollWidth")
            assert overflow <= width, f"{name} is {overflow} px wide at {width} px"
            written.append(browser.screenshot(driver, out / f"{name}-{width}.png"))
    browser.set_viewport(driver, *browser.WIDE)
    assert all(path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in written)
    (out / "pages.json").write_text(json.dumps([path.name for path in written]))
    no_page_errors(driver)
