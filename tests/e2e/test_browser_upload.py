"""Browser uploads: the bucket's CORS over HTTP as S3 answers it, and Uppy's multipart upload in Debian's
Chromium, headless, through /console/upload.html on the local stack (docs/browser_upload.md).

The reload test holds part 3 in the browser itself (Chromium's DevTools Fetch domain pauses every request
to a URL with `partNumber=3`, and nothing continues it), waits until the service lists parts 1 and 2,
then reloads: nothing here is timed, so a slow machine only makes it slower.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from ingest.logic.console import VENDOR_DIR
from tests.support import browser

MIB = 1024 * 1024
PART_BYTES = 5 * MIB  # upload.js partSize(): S3's smallest part, for any file under 50 GB
HELD_PART = 3


@pytest.fixture(scope="module")
def driver():
    assert (VENDOR_DIR / "uppy.min.js").is_file(), "Uppy's bundle is missing: `make uppy` fetches it (make test does)"
    chromium = browser.chromium()
    yield chromium
    chromium.quit()


@pytest.fixture(autouse=True)
def fresh_tab(request):
    """Each browser test starts signed out, with no open uploads and no log lines of the one before."""
    yield
    if "driver" in request.fixturenames:
        driver = request.getfixturevalue("driver")
        driver.get_log("browser")
        if driver.current_url.startswith("http"):
            driver.execute_script("sessionStorage.clear()")


def multipart_file(tmp_path, bad_line: int) -> tuple[str, int]:
    """An NDJSON file of three parts (two of 5 MiB and a short one), lines of ~32 KiB crossing the part
    boundaries (long lines: ~360 records keep the load small), one bad line at `bad_line` (in the last
    part). Returns its path and its line count."""
    lines, size, number = [], 0, 0
    while size < 2 * PART_BYTES + MIB:
        number += 1
        line = (b"not json\n" if number == bad_line else json.dumps({
            "link": {"customer_id": f"C-{number:06d}"}, "first_name": "Ada",
            "last_name": f"Lovelace-{number}-" + "x" * 32_000}).encode() + b"\n")
        lines.append(line)
        size += len(line)
    path = tmp_path / "uppy-parts.ndjson"
    path.write_bytes(b"".join(lines))
    assert 2 * PART_BYTES < size <= 3 * PART_BYTES and sum(map(len, lines[:bad_line - 1])) > 2 * PART_BYTES
    return str(path), number


def page_origin(stack) -> str:
    return "{0.scheme}://{0.netloc}".format(urlsplit(stack.info.api_url))


def open_upload_page(driver, stack, token: str) -> None:
    driver.get(f"{stack.info.api_url}/console")
    browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "token"))).send_keys(token, Keys.ENTER)
    browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "nav")))
    driver.get(f"{stack.info.api_url}/console/upload.html")  # same tab: the token is in its sessionStorage
    browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "upload-form")))


def start_upload(driver, dataset_id: str, path: str) -> None:
    form = driver.find_element(By.ID, "upload-form")
    Select(form.find_element(By.ID, "upload-dataset")).select_by_value(dataset_id)
    Select(form.find_element(By.ID, "upload-record-type")).select_by_value("customer_record")
    form.find_element(By.ID, "upload-file").send_keys(path)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def parts_sent(driver) -> list[int]:
    items = driver.find_elements(By.CSS_SELECTOR, "#parts-sent li")
    return sorted(int(item.get_attribute("data-part")) for item in items)


def finished_upload_id(driver) -> str:
    try:
        link = browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "upload-job-link")))
    except TimeoutException:
        shown = driver.find_element(By.ID, "upload-view").text
        raise AssertionError(f"the upload never finished; the page shows {shown!r}, "
                             f"its log {driver.get_log('browser')!r}") from None
    return link.get_attribute("href").rsplit("/", 1)[-1]


def no_page_errors(driver) -> None:
    """Nothing was refused (CSP, CORS) and no script failed; Uppy logs an unreadable ETag as an error."""
    severe = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe


def assert_loaded_exactly(client, upload_id: str, lines: int, bad_line: int) -> None:
    upload = client.wait_for(upload_id, timeout=600, poll=0.5)
    assert upload["status"] == "Completed", upload
    assert upload["stats"] == {"total": lines, "loaded": lines - 1, "rejected": 1, "created": lines - 1, "replaced": 0}
    (error,) = [json.loads(line) for line in requests.get(upload["error_log_url"], timeout=30).text.splitlines()]
    assert (error["line"], error["raw"]) == (bad_line, "not json")  # numbered across the parts


# -- the bucket's CORS, over HTTP -------------------------------------------------------------------


def preflight(url: str, origin: str, method: str = "PUT", headers: str = "content-type") -> requests.Response:
    return requests.options(url, timeout=30, headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers})


def test_the_bucket_answers_preflights_from_its_cors_rule_and_refuses_the_rest(stack, client, dataset):
    url = client.request_upload("cors.ndjson", dataset["id"], "customer_record")["url"]
    allowed = preflight(url, page_origin(stack))
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == page_origin(stack)
    assert allowed.headers["Access-Control-Allow-Methods"] == "PUT, GET"
    assert allowed.headers["Access-Control-Allow-Headers"] == "content-type"
    assert allowed.headers["Access-Control-Expose-Headers"] == "ETag"
    # Configured origins only (tests/conftest.py: http://127.0.0.1:*), the rule's methods and headers only.
    for origin, method, headers in (("http://localhost:8080", "PUT", "content-type"),
                                    ("https://evil.example.com", "PUT", ""),
                                    (page_origin(stack), "DELETE", ""),
                                    (page_origin(stack), "POST", ""),
                                    (page_origin(stack), "PUT", "content-type,x-amz-meta-owner")):
        refused = preflight(url, origin, method, headers)
        assert refused.status_code == 403, (origin, method, headers)
        assert "Access-Control-Allow-Origin" not in refused.headers
        assert "<Code>AccessForbidden</Code>" in refused.text


def test_a_put_from_the_page_exposes_its_etag_and_a_refusal_is_readable_too(stack, client, dataset):
    origin = page_origin(stack)
    url = client.request_upload("cors.ndjson", dataset["id"], "customer_record")["url"]
    stored = requests.put(url, data=b'{"link": {"customer_id": "C-1"}}\n', timeout=30, headers={"Origin": origin})
    assert stored.status_code == 200 and stored.headers["ETag"]
    assert stored.headers["Access-Control-Allow-Origin"] == origin
    assert stored.headers["Access-Control-Expose-Headers"] == "ETag"
    # An expired URL is refused with CORS headers, as S3 does, so a page can read why (Uppy re-signs on it).
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    expired = urlunsplit(parts._replace(query=urlencode({**query, "X-Amz-Date": "20200101T000000Z"})))
    refused = requests.put(expired, data=b"x", timeout=30, headers={"Origin": origin})
    assert refused.status_code == 403 and "<Message>Request has expired</Message>" in refused.text
    assert refused.headers["Access-Control-Allow-Origin"] == origin
    # No Origin, no CORS request: nothing added.
    assert "Access-Control-Allow-Origin" not in requests.put(url, data=b"x", timeout=30).headers


# -- Uppy in Chromium ---------------------------------------------------------------------------------


def test_uppy_uploads_a_file_in_parts_that_loads_with_exact_counts(driver, stack, account, client, dataset, tmp_path):
    path, lines = multipart_file(tmp_path, bad_line=350)
    open_upload_page(driver, stack, account["token"])
    start_upload(driver, dataset["id"], path)
    upload_id = finished_upload_id(driver)
    assert parts_sent(driver) == [1, 2, 3]
    upload = client.get_upload(upload_id)
    assert upload["filename"] == "uppy-parts.ndjson" and upload["multipart"]["part_count"] == 3
    assert_loaded_exactly(client, upload_id, lines, bad_line=350)
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": lines - 1}
    assert driver.execute_script("return sessionStorage.getItem('bulk-ingest.open-uploads')") == "{}"
    no_page_errors(driver)


def test_a_reload_in_the_middle_resumes_from_the_parts_storage_lists(driver, stack, account, client, dataset,
                                                                      tmp_path):
    path, lines = multipart_file(tmp_path, bad_line=345)
    open_upload_page(driver, stack, account["token"])
    # Part 3 never leaves the browser: every request for it waits on the DevTools client, which never answers.
    driver.execute_cdp_cmd("Fetch.enable", {"patterns": [{"urlPattern": f"*partNumber={HELD_PART}&*"},
                                                         {"urlPattern": f"*partNumber={HELD_PART}"}]})
    start_upload(driver, dataset["id"], path)
    open_uploads = browser.wait_until(
        driver, lambda d: json.loads(d.execute_script("return sessionStorage.getItem('bulk-ingest.open-uploads')")
                                     or "{}"), "the page never created its upload")
    ((upload_id, _key),) = [(entry["uploadId"], entry["key"]) for entry in open_uploads.values()]

    def stored_parts(_driver=None) -> list[dict] | None:
        parts = client._call("GET", f"/v1/uploads/{upload_id}/parts")["parts"]
        return parts if [part["part_number"] for part in parts] == [1, 2] else None

    listed = browser.wait_until(driver, stored_parts, "storage never held parts 1 and 2")
    assert [part["size"] for part in listed] == [PART_BYTES, PART_BYTES] and all(part["etag"] for part in listed)
    browser.wait_until(driver, lambda d: parts_sent(d) == [1, 2], "the page never saw parts 1 and 2 uploaded")
    assert client.get_upload(upload_id)["status"] == "Pending"  # nothing completed it behind our back

    no_page_errors(driver)
    # Reload first, then let requests through: disabling Fetch first would release the held part 3 to the
    # old page, which could then finish the upload itself. The held request dies with the page.
    driver.refresh()
    browser.wait_until(driver, EC.visibility_of_element_located((By.ID, "upload-form")))
    driver.execute_cdp_cmd("Fetch.disable", {})
    assert [part["part_number"] for part in client._call("GET", f"/v1/uploads/{upload_id}/parts")["parts"]] == [1, 2]
    # The file is chosen again, as a user would.
    start_upload(driver, dataset["id"], path)
    assert finished_upload_id(driver) == upload_id  # the same upload, resumed, not a new one
    assert "2 part(s) already in storage" in driver.find_element(By.ID, "upload-resumed").text
    assert parts_sent(driver) == [HELD_PART]  # parts 1 and 2 were not sent again
    assert_loaded_exactly(client, upload_id, lines, bad_line=345)
    assert [upload["id"] for upload in client.list_uploads(dataset_id=dataset["id"])["uploads"]] == [upload_id]
    no_page_errors(driver)
