#!/usr/bin/env python3
# scenario.py — drives the customer portal in headless Chromium against a running Herald, end to end.
"""The portal's browser scenario.

    python tests/portal/scenario.py --base-url http://127.0.0.1:8080 \
        --api-key KEY --other-api-key KEY2 [--screenshots DIR]

It starts two receivers of its own (one answering 200, one answering 500 until it
is switched), mints portal links with the platform's API key, and drives Debian's
Chromium through the portal: list, create, test, live delivery log (and its polling
stopping in a hidden tab and once left), retry, secret rotation, tenant isolation,
expired and tampered links, another tab's sign-in, read-only sessions, the phone
layout and labelled controls. Every step is printed as it passes; the first
failure is printed and the exit status is 1. Any console error or Content-Security-
Policy violation in a page fails the run. Herald must allow delivery to 127.0.0.1
(HERALD_ALLOWED_TARGETS=127.0.0.0/8).
"""

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 15_000
POLL_MS = 3_000  # how often an open delivery log asks for news (live.js)
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 860}
# Reports pages make on purpose; CSP violations show up as console errors too.
WATCH_CSP = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
});
"""


class ScenarioFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise ScenarioFailure(message)


# ---------------------------------------------------------------- receivers


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records every request it answers."""

    def __init__(self, name, status):
        self.name = name
        self.status = status
        self.requests = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.status
                with receiver.lock:
                    receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                              "body": body, "answered": status})
                answer = json.dumps({"received": True} if status < 300 else {"error": "receiver is down"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{name}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def matching(self, predicate):
        with self.lock:
            return [r for r in self.requests if predicate(r)]

    def wait_for(self, predicate, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(predicate)
            if found:
                return found[-1]
            time.sleep(0.05)
        raise ScenarioFailure(f"the {self.name} receiver never got {what}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def body_json(request):
    try:
        return json.loads(request["body"])
    except ValueError:
        return None


# ---------------------------------------------------------------- the API


class Api:
    def __init__(self, base_url):
        self.base = base_url.rstrip("/")

    def call(self, method, path, key, body=None, expect_status=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                status, raw = res.status, res.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        answer = json.loads(raw) if raw else None
        if expect_status is not None and status != expect_status:
            raise ScenarioFailure(f"{method} {path} answered {status}, not {expect_status}: {raw[:300]!r}")
        return answer

    def link(self, key, ttl="10m", read_only=False):
        answer = self.call("POST", "/v1/portal/sessions", key, {"ttl": ttl, "read_only": read_only}, 201)
        check(answer["url"].startswith("http") and "token=" in answer["url"], f"odd portal link: {answer}")
        # The link names the host Herald was reached at; use the address given.
        token = answer["url"].split("token=", 1)[1]
        return f"{self.base}/portal/login?token={token}"

    def wait_refused(self, link, what, timeout=10.0):
        """Asks for `link` (without following its redirect) until Herald refuses it."""

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                opener.open(link, timeout=5).close()
            except urllib.error.HTTPError as err:
                if err.code == 401:
                    return
            time.sleep(0.1)
        raise ScenarioFailure(f"waited {timeout:.0f} s for {what}")


# ---------------------------------------------------------------- the run


class Scenario:
    def __init__(self, args):
        self.args = args
        self.base = args.base_url.rstrip("/")
        self.api = Api(self.base)
        self.shots = args.screenshots
        self.console_errors = []
        self.allowed_http_errors = set()
        self.started = time.monotonic()

    # -- output

    @contextlib.contextmanager
    def step(self, name):
        start = time.monotonic()
        try:
            yield
            self.check_console()
        except ScenarioFailure as failure:
            raise ScenarioFailure(f"{name}: {failure}") from None
        except (AssertionError, PlaywrightError) as err:
            first = str(err).strip().splitlines()
            raise ScenarioFailure(f"{name}: {' / '.join(first[:6])}") from None
        print(f"  ok  {name} ({time.monotonic() - start:.1f} s)", flush=True)

    @contextlib.contextmanager
    def context(self, what):
        """Names what was being checked in a failure's message."""
        try:
            yield
        except (AssertionError, PlaywrightError) as err:
            raise ScenarioFailure(f"{what}: {' / '.join(str(err).strip().splitlines()[:6])}") from None

    def screenshot(self, page, name, full_page=True):
        if not self.shots:
            return
        os.makedirs(self.shots, exist_ok=True)
        page.screenshot(path=os.path.join(self.shots, f"{name}.png"), full_page=full_page, animations="disabled")

    # -- pages

    def watch(self, page):
        def on_console(msg):
            if msg.type != "error":
                return
            text = msg.text
            m = re.search(r"status of (\d{3})", text)
            if text.startswith("Failed to load resource") and m and int(m.group(1)) in self.allowed_http_errors:
                return
            self.console_errors.append(f"console error on {page.url}: {text}")

        page.on("console", on_console)
        page.on("pageerror", lambda err: self.console_errors.append(f"page error on {page.url}: {err}"))

    def check_console(self):
        if self.console_errors:
            errors, self.console_errors = self.console_errors, []
            raise ScenarioFailure("the page reported errors:\n    " + "\n    ".join(errors))

    @contextlib.contextmanager
    def expecting_http_errors(self, *statuses):
        """Answers the page is meant to get (401 for an expired link, 404 for another tenant's endpoint)."""
        self.allowed_http_errors = set(statuses)
        try:
            yield
        finally:
            self.allowed_http_errors = set()

    def new_context(self, browser, viewport=DESKTOP):
        context = browser.new_context(viewport=viewport, base_url=self.base)
        context.add_init_script(WATCH_CSP)
        context.set_default_timeout(TIMEOUT_MS)
        return context

    def new_page(self, context):
        page = context.new_page()
        self.watch(page)
        return page

    def goto_hash(self, page, route):
        page.goto(f"{self.base}/portal/#{route}")

    # -- helpers

    def h1(self, page, name):
        heading = page.get_by_role("heading", level=1, name=name)
        expect(heading).to_be_visible()
        return heading

    def no_polls(self, page, polls, when):
        """No request for the delivery log for longer than one poll interval."""
        before = len(polls)
        page.wait_for_timeout(POLL_MS + 1000)
        check(len(polls) == before, f"the delivery log asked for deliveries {when} ({len(polls) - before} requests in {(POLL_MS + 1000) / 1000:.0f} s)")

    def no_text(self, page, text, what):
        content = page.content()
        check(text not in content, f"{what}: the page shows {text!r}")

    def pick_event_type(self):
        types = self.api.call("GET", "/v1/event-types", self.args.api_key, expect_status=200)["event_types"]
        own = [t for t in types if not t["name"].startswith("webhook.")]
        if not own:
            return None, "job.completed", {"job_id": "job_portal", "status": "completed"}
        preferred = [t for t in own if t["name"] == "job.completed" and "example" in t] or \
            [t for t in own if "example" in t and t.get("example") is not None] or own
        chosen = preferred[0]
        return chosen["name"], chosen["name"], chosen.get("example") if chosen.get("example") is not None else {}

    # -- the story

    def run(self):
        ok = Receiver("ok", 200)
        failing = Receiver("failing", 500)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    self.story(browser, ok, failing)
                finally:
                    browser.close()
        finally:
            ok.close()
            failing.close()

    def story(self, browser, ok, failing):
        args = self.args
        catalogue_type, event_type, event_data = self.pick_event_type()
        context = self.new_context(browser)
        page = self.new_page(context)

        with self.step("1. a portal link opens the endpoint list"):
            page.goto(self.api.link(args.api_key))
            expect(page).to_have_url(re.compile(r"/portal/(#/endpoints)?$"))
            self.h1(page, "Endpoints")
            session = page.evaluate("fetch('/portal/api/session').then(r => r.json())")
            check(not session["read_only"], "the session is read-only")
            expect(page.locator("#brand-name")).to_have_text(session["theme"]["name"])
            expect(page).to_have_title(re.compile(re.escape(session["theme"]["name"])))
            expect(page.get_by_text("Read-only", exact=True)).to_have_count(0)

        with self.step("2. an endpoint is created through the form and listed"):
            page.get_by_role("link", name="Add endpoint").first.click()
            self.h1(page, "Add endpoint")
            page.get_by_label("Endpoint URL").fill(ok.url)
            page.get_by_label("Description").fill("Scenario receiver")
            if catalogue_type:
                page.get_by_role("checkbox", name=re.compile("^" + re.escape(catalogue_type))).check()
            else:
                page.get_by_label("Event types or patterns").fill("job.*")
            page.get_by_role("button", name="+ Add header").click()
            page.get_by_label("Header 1 name").fill("X-Scenario")
            page.get_by_label("Header 1 value").fill("portal")
            page.get_by_label("Retry schedule").fill("30s, 5m, 2h")
            self.screenshot(page, "create")
            page.get_by_role("button", name="Create endpoint").click()
            dialog = page.get_by_role("dialog", name="Endpoint created")
            expect(dialog).to_be_visible()
            first_secret = dialog.get_by_label("Signing secret").input_value()
            check(first_secret.startswith("whsec_"), f"the new secret is {first_secret!r}")
            dialog.get_by_role("button", name="Done").click()
            expect(dialog).to_have_count(0)
            self.h1(page, ok.url)
            ok_id = page.url.rsplit("/", 1)[1]
            check(ok_id.startswith("wh_"), f"the endpoint page's address is {page.url}")
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Endpoints").click()
            self.h1(page, "Endpoints")
            expect(page.get_by_role("link", name=ok.url)).to_be_visible()
            created = self.api.call("GET", f"/v1/webhooks/{ok_id}", args.api_key, expect_status=200)
            check(created["headers"] == {"X-Scenario": "portal"}, f"headers saved as {created['headers']}")
            check(created["retry_schedule"] == ["30s", "5m", "2h"], f"retry schedule saved as {created['retry_schedule']}")

        with self.step("3. a test event sent from the page succeeds and reaches the receiver"):
            page.get_by_role("link", name=ok.url).click()
            self.h1(page, ok.url)
            page.get_by_role("button", name="Send test event").click()
            result = page.locator(".test-result")
            expect(result).to_contain_text("Test event delivered")
            expect(result).to_contain_text("HTTP 200")
            expect(result).to_contain_text("received")
            got = ok.wait_for(lambda r: (body_json(r) or {}).get("event_type") == "webhook.test", "the test event")
            check(got["headers"].get("x-scenario") == "portal", f"the custom header was {got['headers'].get('x-scenario')!r}")

        with self.step("4. a failed delivery appears live, and Retry delivers it"):
            hook = self.api.call("POST", "/v1/webhooks", args.api_key, {
                "url": failing.url, "events": [event_type], "retry_schedule": ["1h"],
                "description": "Failing receiver",
            }, 201)
            fail_id = hook["webhook_id"]
            self.goto_hash(page, f"/endpoints/{fail_id}/deliveries")
            self.h1(page, "Deliveries")
            expect(page.get_by_text("No deliveries yet")).to_be_visible()
            expect(page.locator(".live")).to_have_text("Live")
            page.evaluate("window.__stillTheSamePage = true")
            self.api.call("POST", "/v1/events", args.api_key, {"event_type": event_type, "data": event_data}, 202)
            row = page.locator("tbody tr", has_text=event_type)
            expect(row).to_have_count(1)
            expect(row).to_contain_text("HTTP 500")
            expect(row).to_contain_text(re.compile("Retrying|Failed"))
            check(page.evaluate("window.__stillTheSamePage === true"), "the page was reloaded")
            failing.wait_for(lambda r: r["answered"] == 500, "the first attempt")
            failing.status = 200
            row.get_by_role("button", name=re.compile("^Retry")).click()
            expect(row).to_contain_text("Success")
            expect(row).to_contain_text("HTTP 200")
            failing.wait_for(lambda r: r["answered"] == 200, "the retried delivery")
            check(page.evaluate("window.__stillTheSamePage === true"), "the page was reloaded")
            delivery_route = row.get_by_role("link").first.get_attribute("href").lstrip("#")
            if self.shots:
                # A fuller log for the pictures: more events, delivered at once now.
                for _ in range(3):
                    self.api.call("POST", "/v1/events", args.api_key, {"event_type": event_type, "data": event_data}, 202)
                expect(page.locator("tbody tr", has_text="Success")).to_have_count(4)
                self.screenshot(page, "deliveries")
            retried = page.locator("tbody tr").filter(has=page.locator(f'a[href="#{delivery_route}"]'))
            retried.get_by_role("link").first.click()
            self.h1(page, event_type)
            attempts = page.locator(".attempt")
            expect(attempts).to_have_count(2)
            expect(attempts.first).to_contain_text("Attempt 2")
            expect(attempts.first).to_contain_text("Manual retry")
            request = page.locator("section", has=page.get_by_role("heading", name="Request", exact=True))
            expect(request).to_contain_text(f"POST {failing.url}")
            expect(request).to_contain_text("x-webhook-signature")
            expect(request.locator("pre")).to_contain_text(event_type)
            self.screenshot(page, "delivery")
            page.go_back()
            self.h1(page, "Deliveries")
            expect(page).to_have_title(re.compile("^Deliveries"))
            # A hidden tab stops polling; showing it again resumes; leaving the page
            # stops it for good. The log's requests are counted as the page makes them.
            log_path = f"/v1/webhooks/{fail_id}/deliveries"
            polls = []

            def is_poll(req):
                return urllib.parse.urlsplit(req.url).path == log_path

            def on_request(req):
                if is_poll(req):
                    polls.append(req.url)

            page.on("request", on_request)
            try:
                with self.context("the open delivery log polls"):
                    with page.expect_request(is_poll, timeout=POLL_MS * 2):
                        pass
                page.evaluate("""() => {
                    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
                    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
                    document.dispatchEvent(new Event('visibilitychange'));
                }""")
                expect(page.locator(".live")).to_have_text("Paused while this tab is hidden")
                self.no_polls(page, polls, "while the tab is hidden")
                with self.context("the log polls again once the tab shows"):
                    with page.expect_request(is_poll, timeout=POLL_MS * 2):
                        page.evaluate("""() => {
                            delete document.hidden;
                            delete document.visibilityState;
                            document.dispatchEvent(new Event('visibilitychange'));
                        }""")
                expect(page.locator(".live")).to_have_text("Live")
                page.go_forward()
                self.h1(page, event_type)
                self.no_polls(page, polls, "after leaving the delivery log")
            finally:
                page.remove_listener("request", on_request)

        with self.step("5. the secret is rotated: shown once, and later deliveries are signed with it"):
            self.goto_hash(page, f"/endpoints/{ok_id}")
            self.h1(page, ok.url)
            rotate = page.get_by_role("button", name="Rotate secret")
            rotate.click()
            confirm = page.get_by_role("dialog", name="Rotate the signing secret?")
            expect(confirm).to_be_visible()
            page.keyboard.press("Escape")
            expect(confirm).to_have_count(0)
            expect(rotate).to_be_focused()
            rotate.click()
            confirm.get_by_role("button", name="Rotate secret").click()
            shown = page.get_by_role("dialog", name="New signing secret")
            expect(shown).to_be_visible()
            new_secret = shown.get_by_label("Signing secret").input_value()
            check(new_secret.startswith("whsec_"), f"the rotated secret is {new_secret!r}")
            check(new_secret != first_secret, "the rotated secret is the old one")
            shown.get_by_role("button", name="Copy").click()
            shown.get_by_role("button", name="Done").click()
            expect(shown).to_have_count(0)
            before = len(ok.requests)
            test = self.api.call("POST", f"/v1/webhooks/{ok_id}/test", args.api_key, expect_status=200)
            check(test["success"], f"the test after rotation failed: {test}")
            got = ok.wait_for(lambda r: r in ok.requests[before:] and r["headers"].get("webhook-id") == test["event_id"], "the test after rotation")
            expected = hmac.new(new_secret.encode(), got["body"], hashlib.sha256).hexdigest()
            check(got["headers"].get("x-webhook-signature") == expected, "X-Webhook-Signature is not made with the new secret")
            key = base64.b64decode(new_secret[len("whsec_"):])
            signed = f"{got['headers']['webhook-id']}.{got['headers']['webhook-timestamp']}.".encode() + got["body"]
            v1 = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            check(v1 in got["headers"].get("webhook-signature", "").split(), "webhook-signature has no signature made with the new secret")

        with self.step("charts: the endpoint page shows success rate and latency"):
            self.goto_hash(page, f"/endpoints/{fail_id}")
            self.h1(page, failing.url)
            expect(page.locator("figure.chart svg[role=img]")).to_have_count(2)
            expect(page.locator(".chart__bar").first).to_be_attached()
            self.screenshot(page, "endpoint")
            self.goto_hash(page, "/endpoints")
            self.h1(page, "Endpoints")
            self.screenshot(page, "endpoints")
            self.goto_hash(page, "/event-types")
            self.h1(page, "Event types")
            if catalogue_type:
                expect(page.get_by_role("heading", name=catalogue_type, exact=True)).to_be_visible()
            self.screenshot(page, "event-types", full_page=False)

        with self.step("6. another tenant sees none of it; expired and tampered links show no data"):
            other = self.new_context(browser)
            other_page = self.new_page(other)
            other_page.goto(self.api.link(args.other_api_key))
            self.h1(other_page, "Endpoints")
            expect(other_page.locator("main")).not_to_contain_text(ok.url)
            self.no_text(other_page, failing.url, "another tenant's list")
            with self.expecting_http_errors(404):
                for route in (f"/endpoints/{ok_id}", f"/endpoints/{fail_id}/deliveries", f"/endpoints/{ok_id}/edit"):
                    self.goto_hash(other_page, route)
                    with self.context(f"another tenant at #{route}"):
                        self.h1(other_page, "Not found")
                    self.no_text(other_page, ok.url, f"another tenant at {route}")
                    self.no_text(other_page, failing.url, f"another tenant at {route}")
                self.check_console()
            other.close()

            expiring = self.api.link(args.api_key, ttl="1s")
            self.api.wait_refused(expiring, "the one-second link to expire")
            token = expiring.split("token=", 1)[1]
            middle = len(token) // 2
            flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
            tampered = expiring.split("token=", 1)[0] + "token=" + flipped
            fresh = self.api.link(args.api_key)
            fresh_token = fresh.split("token=", 1)[1]
            cut = fresh.split("token=", 1)[0] + "token=" + fresh_token[:-1] + ("A" if fresh_token[-1] != "A" else "B")
            with self.expecting_http_errors(401):
                for what, link in (("expired", expiring), ("tampered", tampered), ("altered", cut)):
                    ctx = self.new_context(browser)
                    pg = self.new_page(ctx)
                    answer = pg.goto(link)
                    check(answer.status == 401, f"the {what} link answered {answer.status}")
                    self.h1(pg, "This link has expired")
                    self.no_text(pg, ok.url, f"the {what} link's page")
                    # And the portal itself, without a session, shows the expired state.
                    pg.goto(f"{self.base}/portal/#/endpoints/{ok_id}")
                    self.h1(pg, "Your session has expired")
                    self.no_text(pg, ok.url, f"the portal after the {what} link")
                    self.check_console()
                    ctx.close()

        with self.step("another tab signs in: same account, the change is asked again; another, this tab ends"):
            tabs = self.new_context(browser)
            first = self.new_page(tabs)
            first.goto(self.api.link(args.api_key))
            self.h1(first, "Endpoints")
            self.goto_hash(first, f"/endpoints/{ok_id}")
            self.h1(first, ok.url)
            send = first.get_by_role("button", name="Send test event")

            def sign_in_elsewhere(key):
                # What another tab's sign-in does to this one: the browser's cookie is
                # replaced. (A page in front would slow the clicks on this one.)
                answer = tabs.request.get(self.api.link(key), max_redirects=0)
                check(answer.status == 303, f"the link answered {answer.status}")

            # A new link of the same account: a new CSRF value.
            sign_in_elsewhere(args.api_key)
            with self.expecting_http_errors(403):
                send.click()
                expect(first.get_by_role("alert")).to_contain_text("renewed in another tab")
                self.check_console()
            send.click()
            expect(first.locator(".test-result")).to_contain_text("Test event delivered")
            # Another account's link: this tab's change is refused and it shows the
            # ended state, not the other account's data.
            sign_in_elsewhere(args.other_api_key)
            with self.expecting_http_errors(403):
                send.click()
                self.h1(first, "Your session has ended")
                self.check_console()
            self.no_text(first, ok.url, "the tab whose session was replaced")
            expect(first.get_by_role("alert")).to_have_count(0)
            # Reads need no CSRF value: coming back to the tab checks the session.
            first.goto(self.api.link(args.api_key))
            self.goto_hash(first, f"/endpoints/{ok_id}")
            self.h1(first, ok.url)
            sign_in_elsewhere(args.other_api_key)
            first.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
            self.h1(first, "Your session has ended")
            self.no_text(first, ok.url, "the tab shown again after another account signed in")
            tabs.close()

        with self.step("read-only: a read-only session shows no control that changes anything"):
            ro = self.new_context(browser)
            ro_page = self.new_page(ro)
            ro_page.goto(self.api.link(args.api_key, read_only=True))
            self.h1(ro_page, "Endpoints")
            expect(ro_page.get_by_text("Read-only", exact=True)).to_be_visible()
            expect(ro_page.get_by_role("link", name="Add endpoint")).to_have_count(0)
            self.goto_hash(ro_page, f"/endpoints/{fail_id}")
            self.h1(ro_page, failing.url)
            for name in ("Send test event", "Rotate secret", "Delete endpoint", "Edit", "Enable endpoint"):
                expect(ro_page.get_by_role("button", name=name)).to_have_count(0)
                expect(ro_page.get_by_role("link", name=name, exact=True)).to_have_count(0)
            self.goto_hash(ro_page, f"/endpoints/{fail_id}/deliveries")
            self.h1(ro_page, "Deliveries")
            expect(ro_page.locator("tbody tr").first).to_be_visible()
            expect(ro_page.get_by_role("button", name=re.compile("^Retry"))).to_have_count(0)
            expect(ro_page.get_by_role("button", name="Recover")).to_have_count(0)
            ro.close()

        with self.step("7. phone width has no horizontal scroll; every form control is labelled"):
            phone = self.new_page(context)
            phone.set_viewport_size(PHONE)
            for route, heading in (("/endpoints", "Endpoints"), (f"/endpoints/{fail_id}", failing.url),
                                   (f"/endpoints/{fail_id}/deliveries", "Deliveries"), (delivery_route, event_type),
                                   ("/endpoints/new", "Add endpoint"),
                                   ("/event-types", "Event types")):
                self.goto_hash(phone, route)
                self.h1(phone, heading)
                if route == f"/endpoints/{fail_id}":
                    expect(phone.locator("figure.chart svg")).to_have_count(2)
                overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                check(overflow <= 0, f"#{route} scrolls sideways by {overflow} px at 360 px wide")
                if route == "/endpoints":
                    self.screenshot(phone, "phone", full_page=False)
            phone.close()
            self.goto_hash(page, "/endpoints/new")
            self.h1(page, "Add endpoint")
            page.get_by_role("button", name="+ Add header").click()
            unlabelled = page.evaluate("""() => [...document.querySelectorAll('main input, main select, main textarea')]
                .filter((el) => el.type !== 'hidden')
                .filter((el) => !(el.labels && el.labels.length && [...el.labels].some((l) => l.textContent.trim()))
                                && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
                .map((el) => el.outerHTML.slice(0, 120))""")
            check(not unlabelled, f"controls without a label: {unlabelled}")
            count = page.locator("main form input, main form select, main form textarea").count()
            check(count >= 8, f"the create form has only {count} controls")
            self.check_console()

        context.close()


def main():
    expect.set_options(timeout=TIMEOUT_MS)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True, help="Herald's address, e.g. http://127.0.0.1:8080")
    parser.add_argument("--api-key", required=True, help="an API key of the tenant whose portal is driven")
    parser.add_argument("--other-api-key", required=True, help="an API key of another tenant")
    parser.add_argument("--screenshots", help="a folder to save PNG screenshots into")
    args = parser.parse_args()
    scenario = Scenario(args)
    print(f"portal scenario against {args.base_url}", flush=True)
    try:
        scenario.run()
    except ScenarioFailure as failure:
        print(f"FAIL {failure}", file=sys.stderr, flush=True)
        return 1
    print(f"portal scenario passed in {time.monotonic() - scenario.started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
