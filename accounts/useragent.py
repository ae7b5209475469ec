"""A browser's User-Agent header in words people recognise: "Firefox 128 on Linux".

Only what the session and sign-in lists need (browser family, major version, system); the
raw header is kept and shown beside it, so an unknown client is never hidden.
"""

from __future__ import annotations

import re

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = [
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\bOPR/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chromium", re.compile(r"\bChromium/(\d+)")),
    ("Chrome", re.compile(r"\b(?:HeadlessChrome|Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)[\d.]* (?:Mobile/\S+ )?Safari/")),
    ("curl", re.compile(r"^curl/(\d+)")),
    ("Python requests", re.compile(r"^python-requests/(\d+)")),
    ("HTTPie", re.compile(r"^HTTPie/(\d+)")),
]
_SYSTEMS = [
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
]


def describe(user_agent: str) -> str:
    """ "Firefox 128 on Linux", "Safari 17 on iOS", or "Unknown browser" for an empty header;
    a client we do not know is named by the header's first word."""
    agent = (user_agent or "").strip()
    if not agent:
        return "Unknown browser"
    browser = next(
        (f"{name} {match[1]}" for name, pattern in _BROWSERS if (match := pattern.search(agent))),
        agent.split(" ", 1)[0].split("/", 1)[0][:40],
    )
    system = next((name for name, pattern in _SYSTEMS if pattern.search(agent)), None)
    return f"{browser} on {system}" if system else browser
