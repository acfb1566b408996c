"""Privacy at the door: what a user's tracking level lets us keep (seeds 000 and 003).

- ``full``: everything.
- ``analytics_only``: events without free-text content: properties reduced to the allow-list
  below (non-identifying, technical keys), URL query strings and page titles dropped.
- ``errors_only``: no analytics at all; only system events and error logs are kept.
- a user without ``analytics_consent`` is treated as ``errors_only``.

Events from senders saaskit cannot tie to a user (anonymous client-side capture) are kept as
sent: the capturing app is responsible for asking consent before it captures (docs/privacy.md).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

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
