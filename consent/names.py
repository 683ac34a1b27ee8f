"""Every name the package shares with browsers, templates and integrators, defined once.

The JavaScript side reads the same values from the banner's ``data-consent-config``
attribute, so a rename here reaches the browser without a second edit.
"""

from typing import Final

# Category ids of the default configuration.
NECESSARY: Final = "necessary"
PREFERENCES: Final = "preferences"
ANALYTICS: Final = "analytics"
MARKETING: Final = "marketing"

# Decision actions accepted by the decision endpoint.
ACTION_ACCEPT_ALL: Final = "accept_all"
ACTION_REJECT_ALL: Final = "reject_all"
ACTION_CUSTOMIZE: Final = "customize"  # first-layer button: opens the second layer
ACTION_CUSTOM: Final = "custom"  # second-layer save with a list of categories
ACTION_CLOSE: Final = "close"  # closing the banner (close control or Escape) refuses all
DECISION_ACTIONS: Final = frozenset(
    {ACTION_ACCEPT_ALL, ACTION_REJECT_ALL, ACTION_CUSTOM, ACTION_CLOSE}
)

# Form field names.
FIELD_ACTION: Final = "action"
FIELD_CATEGORY: Final = "category"
FIELD_CSRF: Final = "csrf_token"
FIELD_NEXT: Final = "next"
FIELD_SOURCE: Final = "source"  # how the decision was given: banner, preferences page, script
FIELD_LOCALE: Final = "locale"  # the locale the visitor read the texts in

# Cookies set by the middleware itself (both strictly necessary).
COOKIE_CONSENT: Final = "consent"
COOKIE_CSRF: Final = "consent_csrf"
# On https without a shared cookie domain both get this prefix: browsers then accept them only
# from the site itself over https, host-only, so a sibling subdomain or a network attacker on
# plain http cannot plant one.
COOKIE_HOST_PREFIX: Final = "__Host-"

# HTML attributes.
ATTR_BANNER: Final = "data-consent-banner"
ATTR_OPEN: Final = "data-consent-open"
ATTR_ACTION: Final = "data-consent-action"
ATTR_CATEGORY: Final = "data-consent-category"
ATTR_CONFIG: Final = "data-consent-config"
ATTR_HELD_SRC: Final = "data-consent-src"  # where a held-back element's fetching attribute waits
ATTR_HELD_TYPE: Final = "data-consent-type"  # the original type of a held-back script
ATTR_VENDOR: Final = "data-consent-vendor"
ATTR_PLACEHOLDER: Final = "data-consent-placeholder"

# The type given to held-back scripts: browsers do not run text/plain.
HELD_SCRIPT_TYPE: Final = "text/plain"

# Key of the per-request state in the ASGI scope (contract).
SCOPE_KEY: Final = "consent"

# Browser event fired after every decision.
EVENT_CHANGE: Final = "consent:change"

# Environment variables.
ENV_SECRET_KEY: Final = "CONSENT_SECRET_KEY"  # noqa: S105 (a variable name, not a secret)
ENV_AUDIT_URL: Final = "CONSENT_AUDIT_URL"
ENV_AUDIT_KEY: Final = "CONSENT_AUDIT_KEY"
ENV_CONFIG: Final = "CONSENT_CONFIG"  # the TOML file the `consent` command reads

# Set by the HTML rewriter on what it holds back: a marker whose value is unique to the response
# (page content cannot predict it, so the browser restores only what the server moved aside),
# and the prefix that any other fetching attribute (srcset, poster, href, ...) gets, as
# ATTR_HELD_SRC does for src.
ATTR_HELD: Final = "data-consent-held"
ATTR_HELD_PREFIX: Final = "data-consent-"
# Every attribute the rewriter may move aside, which the banner script restores.
HELD_ATTRIBUTES: Final = (
    "src",
    "srcset",
    "srcdoc",
    "poster",
    "href",
    "xlink:href",
    "background",
    "imagesrcset",
    "data",
    "ping",
)

ATTR_LAYER: Final = "data-consent-layer"  # the banner's first and second layer
ATTR_ALLOW: Final = "data-consent-allow"  # a placeholder's button granting its category
# Wraps the inputs of an optional layer (the TCF one) that a custom choice posts as well.
ATTR_EXTRA: Final = "data-consent-extra"

# What the banner script needs to know, written into it when the assets are loaded
# (consent.assets), so that Python and the browser cannot disagree on a name.
BROWSER_NAMES: Final = {
    "banner": ATTR_BANNER,
    "config": ATTR_CONFIG,
    "layer": ATTR_LAYER,
    "action": ATTR_ACTION,
    "open": ATTR_OPEN,
    "allow": ATTR_ALLOW,
    "extra": ATTR_EXTRA,
    "category": ATTR_CATEGORY,
    "placeholder": ATTR_PLACEHOLDER,
    "held": ATTR_HELD,
    "prefix": ATTR_HELD_PREFIX,
    "attributes": HELD_ATTRIBUTES,
    "plain": HELD_SCRIPT_TYPE,
    "event": EVENT_CHANGE,
    "fields": {
        "action": FIELD_ACTION,
        "category": FIELD_CATEGORY,
        "csrf": FIELD_CSRF,
        "next": FIELD_NEXT,
        "source": FIELD_SOURCE,
        "locale": FIELD_LOCALE,
    },
    "actions": {"customize": ACTION_CUSTOMIZE, "custom": ACTION_CUSTOM, "close": ACTION_CLOSE},
}
