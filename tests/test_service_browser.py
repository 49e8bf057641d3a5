"""The web page in a real browser: Debian's chromium driven by Selenium against uvicorn on loopback.

One server and one browser for the module; the tests run in order as a reviewer would: log in, create an
identity, enrol it from pages (choosing which detected signature to keep), verify, identify, store a
document and ask who signed it, read the audit log, delete the identity. Each page is saved as a
screenshot: to ``$SIGBENCH_SCREENSHOTS`` when set (``SIGBENCH_SCREENSHOTS=docs/img`` refreshes the
documentation's), else to a temporary folder.

The last test needs no browser: it checks against the live server that an oversized upload is refused
while it streams in, long before the client has sent it all.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "fastapi", reason="the web page needs the service extra (pip install 'sigbench[service]')"
)
uvicorn = pytest.importorskip("uvicorn", reason="the web page needs uvicorn (the service extra)")

from sigbench.service.synthetic import Signed  # noqa: E402
from tests.service_helpers import write_signed_page  # noqa: E402
from tests.test_service_api import make_service  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
SCREENSHOTS = os.environ.get("SIGBENCH_SCREENSHOTS")
WIDTH = 1280


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """uvicorn in a thread on a free loopback port, serving a fresh store (2 references enrol)."""
    folder = tmp_path_factory.mktemp("web")
    app, keys, detector = make_service(folder, min_references=2)
    port = _free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 30 s")
        time.sleep(0.05)
    pages = {}
    for index, (label, signed) in enumerate(
        [
            ("enrol_a", [Signed(60, 0), Signed(61, 0)]),  # W60 in the form's slot, somebody else beside it
            ("enrol_b", [Signed(60, 1)]),
            ("enrol_c", [Signed(60, 2)]),
            ("questioned", [Signed(60, 8)]),
            ("contract", [Signed(60, 9)]),
        ]
    ):
        pages[label] = write_signed_page(folder, label, signed, 900 + index, detector)
    yield {"url": f"http://127.0.0.1:{port}", "port": port, "keys": keys, "pages": pages, "app": app}
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="browser tests need selenium (dev extra)")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip(
            "browser tests need Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver; .ci/run installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WIDTH},900")
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(driver, folder: Path, name: str) -> Path:
    """The whole page (the window is stretched to the page's height, at most 2400 px)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, min(max(int(height) + 120, 700), 2400))
    path = folder / f"service_{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot saved to {path}"
    driver.set_window_size(WIDTH, 900)
    return path


def images_loaded(driver) -> bool:
    return driver.execute_script("return [...document.images].every(i => i.complete && i.naturalWidth > 0)")


def by_css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def upload_and_submit(driver, path: Path, button: str) -> None:
    by_css(driver, "#file").send_keys(str(path))
    by_css(driver, button).click()


# --------------------------------------------------------------------------------------------- flow


def test_login_and_create_identity(server, browser, shots):
    browser.get(server["url"] + "/identities")
    assert browser.current_url.endswith("/login?next=/identities")
    screenshot(browser, shots, "login")
    by_css(browser, "#key").send_keys("not a key")
    by_css(browser, "#login").click()
    assert "not recognised" in by_css(browser, ".flash.bad").text
    by_css(browser, "#key").send_keys(server["keys"]["boss"])
    by_css(browser, "#login").click()
    assert browser.current_url.endswith("/identities")
    by_css(browser, "#new-id").send_keys("W60")
    by_css(browser, "#new-name").send_keys("Writer Sixty")
    by_css(browser, "#create-identity button").click()
    assert "/enrol?external_id=W60" in browser.current_url
    assert "W60 created" in by_css(browser, ".flash").text
    assert by_css(browser, "#external_id").get_attribute("value") == "W60"


def test_enrol_choosing_the_signatures_to_keep(server, browser, shots):
    browser.get(server["url"] + "/enrol?external_id=W60")
    upload_and_submit(browser, server["pages"]["enrol_a"], "#upload")
    boxes = all_css(browser, ".page .box")
    assert len(boxes) == 2 and images_loaded(browser)
    boxes[1].click()  # the second signature is somebody else's: clicking its box unticks it
    checks = all_css(browser, "input[name=detection_ids]")
    assert [c.is_selected() for c in checks] == [True, False]
    assert "off" in boxes[1].get_attribute("class") and "off" not in boxes[0].get_attribute("class")
    screenshot(browser, shots, "enrol")
    by_css(browser, "#keep").click()
    assert "Still pending" in by_css(browser, "#enrol-status").text
    assert len(all_css(browser, "#references .tile")) == 1
    for label in ("enrol_b", "enrol_c"):
        browser.get(server["url"] + "/enrol?external_id=W60")
        upload_and_submit(browser, server["pages"][label], "#upload")
        by_css(browser, "#keep").click()
    assert "Enrolled with 3" in by_css(browser, "#enrol-status").text
    assert len(all_css(browser, "#references .tile")) == 3 and images_loaded(browser)
    screenshot(browser, shots, "enrolled")
    browser.get(server["url"] + "/identities")
    assert "enrolled" in by_css(browser, "#identities tr[data-id=W60]").text and images_loaded(browser)
    screenshot(browser, shots, "identities")
    store = server["app"].state.service.store
    assert store.get_identity("W60").status == "enrolled" and store.get_identity("W60").n_references == 3


def test_verify_shows_the_decision_beside_the_references(server, browser, shots):
    browser.get(server["url"] + "/verify?external_id=W60")
    upload_and_submit(browser, server["pages"]["questioned"], "#verify")
    (section,) = all_css(browser, "section.decision")
    outcome = section.get_attribute("data-outcome")
    assert outcome in ("accept", "refer", "reject")
    assert outcome.upper() in by_css(browser, ".verdict .badge").text
    assert len(all_css(browser, ".refs figure")) == 3 and len(all_css(browser, ".refs figure.best")) == 1
    assert images_loaded(browser)
    screenshot(browser, shots, "verify")
    event = server["app"].state.service.store.list_audit(0, 1000, "verify")[-1]
    assert event.actor == "boss" and event.payload["outcome"] == outcome


def test_identify(server, browser, shots):
    browser.get(server["url"] + "/identify")
    upload_and_submit(browser, server["pages"]["contract"], "#identify")
    (section,) = all_css(browser, "section.decision")
    answer = section.get_attribute("data-answer")
    assert answer in ("W60", "unknown")
    assert "W60" in by_css(browser, "table.list tbody tr").text  # the only candidate
    assert images_loaded(browser)
    screenshot(browser, shots, "identify")


def test_documents_and_who_signed(server, browser, shots):
    browser.get(server["url"] + "/documents")
    by_css(browser, "#kind").send_keys("a page")
    upload_and_submit(browser, server["pages"]["enrol_a"], "#upload-document")
    assert len(all_css(browser, ".page .box")) == 2
    rows = all_css(browser, "#detections tbody tr")
    assert len(rows) == 2 and "W60" in rows[0].text  # kept as a reference at enrolment
    by_css(browser, "#who-signed").click()
    assert "who=1" in browser.current_url
    assert len(all_css(browser, "#detections .badge")) == 2 and images_loaded(browser)
    screenshot(browser, shots, "document")
    browser.get(server["url"] + "/documents")
    assert len(all_css(browser, "#documents tbody tr")) >= 4
    screenshot(browser, shots, "documents")


def test_audit_log(server, browser, shots):
    browser.get(server["url"] + "/audit")
    text = by_css(browser, "#audit").text
    assert "verify" in text and "identify" in text and "boss" in text
    assert "{" not in text  # readable summaries, no raw JSON
    screenshot(browser, shots, "audit")


def test_identity_page_and_delete(server, browser, shots):
    browser.get(server["url"] + "/identities/W60")
    assert len(all_css(browser, "#references .tile")) == 3 and images_loaded(browser)
    screenshot(browser, shots, "identity")
    by_css(browser, "#delete-identity").click()
    browser.switch_to.alert.dismiss()  # asked first; cancelling keeps it
    assert browser.current_url.endswith("/identities/W60")
    by_css(browser, "#delete-identity").click()
    browser.switch_to.alert.accept()
    assert browser.current_url.endswith("/identities")
    assert "Deleted W60 and its 3 reference signatures" in by_css(browser, ".flash").text
    assert all_css(browser, "#identities") == []
    screenshot(browser, shots, "deleted")
    assert server["app"].state.service.store.count_references() == 0


# --------------------------------------------------------------------------------------------- live server


def test_live_server_refuses_an_oversized_upload_while_it_streams(server):
    """A chunked upload of 64 MiB: uvicorn answers 413 once the body passes the limit (~2.9 MiB), while
    the client is still sending, and closes the connection."""
    chunk = b"x" * 65536
    total_on_offer = 1024 * len(chunk)
    head = (
        "POST /api/v1/detect HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server['port']}\r\n"
        f"X-API-Key: {server['keys']['reader']}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
    sent = 0
    reply = {"data": b"", "sent_when_answered": None}

    def read(sock: socket.socket) -> None:
        try:
            while data := sock.recv(65536):
                if not reply["data"]:
                    reply["sent_when_answered"] = sent
                reply["data"] += data
        except OSError:
            pass

    with socket.create_connection(("127.0.0.1", server["port"]), timeout=30) as sock:
        reader = threading.Thread(target=read, args=(sock,), daemon=True)
        reader.start()
        sock.sendall(head + f"{len(part):x}\r\n".encode() + part + b"\r\n")
        try:
            while sent < total_on_offer:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection after answering
        reader.join(timeout=30)
    assert reply["data"].startswith(b"HTTP/1.1 413"), reply["data"][:200]
    assert b"connection: close" in reply["data"].lower()
    answered = reply["sent_when_answered"]
    assert answered is not None and answered < total_on_offer / 4, f"answered after {answered} bytes"
    assert sent < total_on_offer, "the server kept taking the body after refusing it"
