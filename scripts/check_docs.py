"""Load every page rendered by scripts/render_docs.py in headless Chromium and fail on any broken page.

    make docs                                          # render, then run this check
    .venv/bin/python scripts/check_docs.py             # check _docs/ (needs Debian's chromium: apt-get install chromium)
    .venv/bin/python scripts/check_docs.py --docs DIR --screenshot /tmp/cascadeexit-docs-index.png

The pages are served by a static file server on 127.0.0.1 (a free port, stopped at the end) and loaded in a fresh
headless Chromium driven over the DevTools protocol through a pipe (--remote-debugging-pipe, no extra package).
A page fails when it logs a console error or an uncaught exception, a request fails or leaves the local server,
an <img> does not load (naturalWidth 0), it shows fewer figures than its notebook's visible image outputs, its
title or h1 is missing, it lacks a sidebar link to every page, or a link to another page points at no file.
The check fails too when a notebook in nbs/ has no page. It prints one line per page and exits 1 on any problem;
the index page's screenshot goes to --screenshot.
"""
import argparse
import base64
import fcntl
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    # Resolve no host name except the loopback address, so that nothing can leave this machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-pipe", "--window-size=1280,900",
]
# Collected inside the page once it has loaded: what the check needs to judge it.
PAGE_PROBE = """JSON.stringify({
  title: document.title.trim(),
  h1: Array.from(document.querySelectorAll('h1')).map(h => h.textContent.trim()).filter(Boolean),
  images: Array.from(document.querySelectorAll('main img')).map(img => ({
    src: img.currentSrc.slice(0, 60), complete: img.complete, width: img.naturalWidth})),
  svgFigures: document.querySelectorAll('main .jp-RenderedSVG svg, main .jp-OutputArea-output > svg').length,
  sidebar: Array.from(document.querySelectorAll('nav.site-sidebar a')).map(a => a.getAttribute('href')),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  texFallbacks: document.querySelectorAll('code.tex-fallback').length,
  math: document.querySelectorAll('math').length,
})"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serve files without logging every request."""

    def log_message(self, format, *args):
        """Drop the access log."""


class Browser:
    """A headless Chromium driven over the DevTools protocol on a pipe (fd 3 in, fd 4 out)."""

    def __init__(self, executable: str, profile: str):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_pipes():  # in the child: its end of each pipe becomes fd 3 and fd 4, which survive exec
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child_r, from_child_w)]
            for target, fd in zip((3, 4), high):
                os.dup2(fd, target)
                os.close(fd)

        self.log = open(Path(profile) / "chromium.log", "w")
        self.proc = subprocess.Popen([executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     close_fds=False, preexec_fn=wire_pipes)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30):
        """Send one command and return its result, keeping the events that arrive meanwhile."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply is None:
                raise TimeoutError(f"{method} timed out: Chromium sent no response within {timeout} s")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 30) -> bool:
        """Wait until the event `method` arrives for `session`, and return False if it does not within `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            if any(e["method"] == method and e.get("sessionId") == session for e in self.events):
                return True
            event = self._read(deadline)
            if event is None:
                return False
            if "method" in event:
                self.events.append(event)

    def _read(self, deadline: float) -> dict | None:
        """Return the next message from Chromium, or None when `deadline` passes."""
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                return None
            ready, _, _ = select.select([self._from_child], [], [], remaining)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    return None
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self):
        """Ask Chromium to exit, and stop it if it does not."""
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        self.log.close()


def page_problems(browser: Browser, session: str, url: str, base: str) -> tuple[list[str], dict]:
    """Load `url` in the tab `session` and return its problems and what the probe found."""
    browser.events.clear()
    browser.send("Page.navigate", {"url": url}, session)
    if not browser.wait_for("Page.loadEventFired", session, timeout=30):
        return ["loading timed out after 30 s"], {}
    time.sleep(0.3)  # let late console messages and failed requests arrive
    probe = json.loads(browser.send("Runtime.evaluate", {"expression": PAGE_PROBE, "returnByValue": True},
                                    session)["result"]["value"])

    problems = []
    for event in browser.events:
        if event.get("sessionId") != session:
            continue
        method, params = event["method"], event["params"]
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            problems.append(f"uncaught exception: {text.splitlines()[0] if text else details}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            problems.append(f"console.{params['type']}: {args[:200]}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            problems.append(f"console error ({entry['source']}): {entry['text'][:200]} {entry.get('url', '')[:100]}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            problems.append(f"request failed: {params.get('errorText')} ({params.get('type')})")
        elif method == "Network.requestWillBeSent":
            request_url = params["request"]["url"]
            if not request_url.startswith((base, "data:", "about:")):
                problems.append(f"request leaves the local site: {request_url[:120]}")
    return problems, probe


def check(docs: Path, nbs: Path, executable: str, screenshot: Path | None) -> int:
    """Check every page listed in docs/pages.json, print one line per page and return how many pages failed."""
    manifest = docs / "pages.json"
    if not manifest.exists():
        print(f"FAIL {manifest} not found: run scripts/render_docs.py first")
        return 1
    pages = json.loads(manifest.read_text())["pages"]
    failed = 0
    rendered = {p["notebook"] for p in pages}
    for notebook in sorted(p.name for p in nbs.glob("*.ipynb") if not p.name.startswith(("_", "."))):
        if notebook not in rendered:
            print(f"FAIL {notebook}: no page in {docs} (render the docs again)")
            failed += 1
    if not any(p["notebook"] == "index.ipynb" for p in pages):
        print("FAIL index.ipynb: the site has no index page (nbs/index.ipynb is missing)")
        failed += 1

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(docs)))
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    profile = tempfile.mkdtemp(prefix="cascadeexit-chromium-")
    browser = Browser(executable, profile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", {}, session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
        names = {p["page"] for p in pages}
        for page in pages:
            start = time.perf_counter()
            problems, probe = page_problems(browser, session, base + page["page"], base)
            if probe:
                if not probe["title"]:
                    problems.append("the page has no <title>")
                if not probe["h1"]:
                    problems.append("the page has no h1 heading")
                broken = [img["src"] for img in probe["images"] if not img["complete"] or img["width"] == 0]
                problems += [f"image did not load: {src}..." for src in broken]
                shown = len(probe["images"]) - len(broken) + probe["svgFigures"]
                if shown < page["images"]:
                    problems.append(f"shows {shown} figures, but its notebook has {page['images']} image outputs")
                missing = sorted(names - set(probe["sidebar"]))
                if missing:
                    problems.append(f"the sidebar has no link to {', '.join(missing)}")
                for link in probe["links"]:
                    if link.startswith(base):
                        path = unquote(urlparse(link).path).lstrip("/") or "index.html"
                        if not (docs / path).is_file():
                            problems.append(f"link to a missing page: {path}")
                if page.get("errors"):
                    problems.append(f"its notebook stores {page['errors']} error outputs (tracebacks)")
            if screenshot and page["page"] == "index.html":
                shot = browser.send("Page.captureScreenshot", {"format": "png"}, session)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
            seconds = time.perf_counter() - start
            if probe:
                summary = (f"{len(probe['images'])} images, {probe['svgFigures']} svg figures, {probe['math']} formulas"
                           f"{', %d as TeX' % probe['texFallbacks'] if probe['texFallbacks'] else ''}")
            else:
                summary = "not loaded"
            status = "FAIL" if problems else "ok  "
            print(f"{status} {page['page']:<22} {page['title'][:40]!r:<42} {summary} ({seconds:.1f} s)")
            for problem in dict.fromkeys(problems):
                print(f"     - {problem}")
            failed += bool(problems)
    finally:
        browser.close()
        server.shutdown()
        server.server_close()
        shutil.rmtree(profile, ignore_errors=True)
    return failed


def main(argv=None) -> int:
    """Run the check and print a closing line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, default=ROOT / "_docs", help="the rendered site")
    parser.add_argument("--nbs", type=Path, default=None, help="the notebooks (default: the folder the site was "
                        "rendered from, as recorded in pages.json)")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"), help="the browser to run")
    parser.add_argument("--screenshot", type=Path, default=Path(tempfile.gettempdir()) / "cascadeexit-docs-index.png",
                        help="where to save a screenshot of the index page")
    args = parser.parse_args(argv)

    executable = shutil.which(args.chromium)
    if executable is None:
        print(f"FAIL no browser {args.chromium!r} on PATH: install Debian's chromium (apt-get install -y chromium)")
        return 1
    nbs = args.nbs
    if nbs is None:
        manifest = args.docs / "pages.json"
        nbs = Path(json.loads(manifest.read_text())["nbs"]) if manifest.exists() else ROOT / "nbs"
    start = time.perf_counter()
    failed = check(args.docs, nbs, executable, args.screenshot)
    print(f"docs check: {failed} failed ({time.perf_counter() - start:.1f} s); index screenshot: {args.screenshot}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
