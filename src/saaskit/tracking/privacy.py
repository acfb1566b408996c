"""Privacy at the door: what a user's tracking level lets us keep (seeds 000 and 003).

- ``full``: everything.
- ``analytics_only``: events without free-text content: properties reduced to the allow-list
  below (non-identifying, technical keys), URL query strings and page titles dropped.
- ``errors_only``: no analytics at all; only system events and error logs are kept.
- a user without ``analytics_consent`` is treated as ``errors_only``.

Events from senders saaskit cannot tie to a user (anonymous client-side capture) are kept as
sent: the capturing app is responsible for asking consent before it captures (docs/privacy.md).

Whatever the level, an IP address sent as an event property (``$ip``, which some PostHog SDKs
and proxies set, or ``ip``) is never stored: it is replaced at the door by its keyed hash under
``$ip_hash`` / ``ip_hash``, the same hash as every ``*_ip_hash`` column (``kit.hashing.ip_hash``).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from saaskit.kit.hashing import ip_hash

FULL = "full"
ANALYTICS_ONLY = "analytics_only"
ERRORS_ONLY = "errors_only"

ALLOWED_PROPERTIES: Final = frozenset(
    {
        "$browser",
        "$browser_version",
        "$os",
        "$os_version",
        "$device_type",
        "$device",
        "$screen_height",
        "$screen_width",
        "$viewport_height",
        "$viewport_width",
        "$lib",
        "$lib_version",
        "$pathname",
        "$host",
        "$current_url",
        "$referring_domain",
        "$referrer",
        "$session_id",
        "$window_id",
        "$pageview_id",
        "$app_version",
        "$app_build",
        "app_version",
        "platform",
        "device_type",
        "widget_type",
        "plan",
        "tier",
        "feature",
        "step",
        "variant",
        "experiment",
        "error_code",
        "duration_ms",
        "count",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
    }
)
URL_PROPERTIES: Final = frozenset({"$current_url", "$referrer"})
# Event properties holding an IP address, and the property their hash is stored under.
IP_PROPERTIES: Final = {"$ip": "$ip_hash", "ip": "ip_hash"}
# posthog-js's $referrer when there is none (typed URL, bookmark): not a URL.
NO_REFERRER: Final = "$direct"


def effective_level(tracking_level: str | None, analytics_consent: bool | None) -> str:
    if tracking_level is None:
        return FULL  # not tied to a user: see the module docstring
    if not analytics_consent:
        return ERRORS_ONLY
    return tracking_level


def strip_query(url: str | None) -> str | None:
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def filter_properties(properties: dict[str, Any], level: str) -> dict[str, Any]:
    if level == FULL:
        return properties
    kept = {key: value for key, value in properties.items() if key in ALLOWED_PROPERTIES}
    for key in URL_PROPERTIES & kept.keys():
        value = kept[key]
        kept[key] = strip_query(value) if isinstance(value, str) else None
    return kept


def hash_ip_properties(properties: dict[str, Any], secret: str) -> None:
    """Replace the IP address properties by their hash, in place (a value that is not a
    non-empty string is dropped: it cannot be hashed as an address, and is kept by no level)."""
    for key, hashed in IP_PROPERTIES.items():
        if key in properties:
            value = properties.pop(key)
            if isinstance(value, str) and value.strip():
                properties[hashed] = ip_hash(secret, value.strip())
