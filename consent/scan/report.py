"""The scan's reports: JSON for machines, one self-contained HTML page, JUnit XML for CI."""

from __future__ import annotations

import base64
import html
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final
from xml.etree import ElementTree as ET

from consent.scan.model import NOTICES, VIOLATIONS, Finding, ScanResult, StateResult

REPORT_VERSION: Final = 1

# The JUnit test case each kind of violation fails; banner checks form a suite of their own.
CHECKS: Final = {
    "third-party-before-consent": "third parties",
    "third-party-after-refusal": "third parties",
    "cookie-without-consent": "cookies",
    "undeclared-cookie": "cookies",
    "cookie-kept-after-withdrawal": "withdrawal",
    "storage-without-consent": "storage",
    "consent-mode-granted": "consent mode",
    "state-unreachable": "state reached",
    "banner-missing": "banner shown",
    "reject-missing": "reject in the first layer",
    "unequal-prominence": "reject as prominent as accept",
    "pre-ticked": "nothing pre-ticked",
    "policy-missing": "cookie policy readable",
}
BANNER_CHECKS: Final = (
    "banner shown",
    "reject in the first layer",
    "reject as prominent as accept",
    "nothing pre-ticked",
    "cookie policy readable",
)
STATE_CHECKS: Final = ("state reached", "third parties", "cookies", "storage", "consent mode")


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.kind,
        "severity": finding.severity,
        "state": finding.state,
        "phase": finding.phase,
        "subject": finding.subject,
        "detail": finding.detail,
        "page": finding.page,
        "count": finding.count,
        "meaning": VIOLATIONS.get(finding.kind) or NOTICES.get(finding.kind, ""),
    }


def _hosts(state: StateResult) -> list[dict[str, Any]]:
    """Requests by host and category: what the report tables show."""
    counts: Counter[tuple[str, str, str, str, str]] = Counter()
    for request in state.requests:
        key = (
            request.host,
            request.party,
            request.service or "",
            request.category or "",
            request.phase,
        )
        counts[key] += 1
    return [
        {
            "host": h,
            "party": p,
            "service": s or None,
            "category": c or None,
            "phase": ph,
            "requests": n,
        }
        for (h, p, s, c, ph), n in sorted(counts.items())
    ]


def to_document(result: ScanResult) -> dict[str, Any]:
    banner = asdict(result.banner)
    states = []
    for state in result.states:
        states.append(
            {
                "name": state.name,
                "description": state.description,
                "granted": list(state.granted),
                "gpc": state.gpc,
                "reached": state.reached,
                "error": state.error,
                "seconds": round(state.seconds, 2),
                "hosts": _hosts(state),
                "requests": [asdict(r) for r in state.requests],
                "cookies": [asdict(c) for c in state.cookies],
                "storage": [asdict(s) for s in state.storage],
                "consent_mode": [asdict(m) for m in state.consent_modes],
                "pages_failed": [list(p) for p in state.pages_failed],
                "screenshots": [s.label for s in state.screenshots],
            }
        )
    return {
        "report_version": REPORT_VERSION,
        "target": result.target,
        "started": result.started,
        "seconds": result.seconds,
        "offline": result.offline,
        "pages": result.pages,
        "banner": banner,
        "declared_cookies": [{"name": n, "category": c} for n, c in result.declared],
        "states": states,
        "violations": [_finding(f) for f in result.violations],
        "notices": [_finding(f) for f in result.notices],
        "summary": {
            "violations": len(result.violations),
            "notices": len(result.notices),
            "by_kind": dict(Counter(f.kind for f in result.findings)),
        },
    }


def write_json(result: ScanResult, path: Path) -> None:
    path.write_text(json.dumps(to_document(result), indent=2) + "\n", encoding="utf-8")


# -- JUnit --------------------------------------------------------------------------------


def to_junit(result: ScanResult) -> ET.Element:
    root = ET.Element("testsuites", name="consent scan")
    suites: list[tuple[str, tuple[str, ...], list[Finding]]] = [
        (
            "banner",
            BANNER_CHECKS,
            [f for f in result.violations if CHECKS.get(f.kind) in BANNER_CHECKS],
        )
    ]
    for state in result.states:
        checks = STATE_CHECKS + (("withdrawal",) if state.withdraw else ())
        mine = [
            f
            for f in result.violations
            if f.state == state.name and CHECKS.get(f.kind) not in BANNER_CHECKS
        ]
        suites.append((state.name, checks, mine))
    total = failed = 0
    for suite_name, checks, findings in suites:
        suite = ET.SubElement(root, "testsuite", name=f"consent scan: {suite_name}")
        suite_failed = 0
        for check in checks:
            case = ET.SubElement(
                suite, "testcase", classname=f"consent.scan.{suite_name}", name=check
            )
            failing = [f for f in findings if CHECKS.get(f.kind) == check]
            if failing:
                suite_failed += 1
                failure = ET.SubElement(
                    case, "failure", message=f"{len(failing)} violation(s)", type=failing[0].kind
                )
                failure.text = "\n".join(_line(f) for f in failing)
        suite.set("tests", str(len(checks)))
        suite.set("failures", str(suite_failed))
        total += len(checks)
        failed += suite_failed
    root.set("tests", str(total))
    root.set("failures", str(failed))
    root.set("time", f"{result.seconds:.2f}")
    return root


def write_junit(result: ScanResult, path: Path) -> None:
    tree = ET.ElementTree(to_junit(result))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _line(finding: Finding) -> str:
    where = f" [{finding.state}{', ' + finding.phase if finding.phase else ''}]"
    page = f" on {finding.page}" if finding.page else ""
    return f"{finding.kind}{where}: {finding.subject}: {finding.detail}{page}"


def summary_lines(result: ScanResult) -> list[str]:
    lines = [_line(f) for f in result.violations]
    lines.append(
        f"{len(result.violations)} violation(s), {len(result.notices)} notice(s); "
        f"{len(result.pages)} page(s) in {len(result.states)} state(s), {result.seconds:.1f}s"
    )
    return lines


# -- HTML ---------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b}
h1,h2,h3{line-height:1.2}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border:1px solid #bbb;padding:.25rem .45rem;text-align:left;vertical-align:top;font-size:13px}
th{background:#eee}code{font-size:12px;word-break:break-all}.ok{color:#136f2a}.bad{color:#a1120b}
.notice{color:#6b4b00}figure{display:inline-block;margin:0 1rem 1rem 0}img{max-width:34rem;border:1px solid #999}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(result: ScanResult) -> str:
    """One page with everything inline: styles in the head, screenshots as data: URIs, every
    recorded value escaped; it loads nothing from anywhere."""
    verdict = (
        f'<p class="bad">{len(result.violations)} violation(s)</p>'
        if result.violations
        else '<p class="ok">No violation found.</p>'
    )
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>consent scan: {_e(result.target)}</title><style>{_CSS}</style></head><body>",
        f"<h1>consent scan of {_e(result.target)}</h1>",
        f"<p>Started {_e(result.started)}, {result.seconds:.1f}s; {len(result.pages)} page(s); "
        f"third parties {'answered locally (offline)' if result.offline else 'live'}.</p>",
        verdict,
        "<h2>Violations</h2>",
        _table(
            ("kind", "state", "moment", "subject", "detail", "page", "seen"),
            (
                (f.kind, f.state, f.phase, f.subject, f.detail, f.page, f.count)
                for f in result.violations
            ),
        )
        if result.violations
        else "<p>None.</p>",
        "<h2>Notices</h2>",
        _table(
            ("kind", "state", "subject", "detail", "seen"),
            ((f.kind, f.state, f.subject, f.detail, f.count) for f in result.notices),
        )
        if result.notices
        else "<p>None.</p>",
        "<h2>Banner</h2>",
        _banner(result),
        "<h2>Pages</h2><ul>",
        *(f"<li><code>{_e(p)}</code></li>" for p in result.pages),
        "</ul>",
    ]
    for state in result.states:
        parts.append(_state(state))
    parts.append("<h2>Kinds of finding</h2>")
    parts.append(_table(("kind", "meaning"), [*VIOLATIONS.items(), *NOTICES.items()]))
    parts.append("</body></html>")
    return "".join(parts)


def _banner(result: ScanResult) -> str:
    b = result.banner
    rows = [
        ("shown to an undecided visitor", b.present),
        ("reject all visible in the first layer", b.reject_visible),
        ("accept all visible in the first layer", b.accept_visible),
        ("differences between the two", "; ".join(b.differences) or "none"),
        ("purposes offered", ", ".join(b.categories)),
        ("always active", ", ".join(b.required)),
        ("pre-ticked", ", ".join(b.pre_ticked) or "none"),
        ("cookie policy", b.policy_url or "none"),
        ("cookies the policy declares", len(result.declared)),
    ]
    styles = _table(
        ("property", "accept all", "reject all"),
        ((k, b.accept_style.get(k, ""), b.reject_style.get(k, "")) for k in sorted(b.accept_style)),
    )
    return _table(("check", "result"), rows) + (styles if b.accept_style else "")


def _state(state: StateResult) -> str:
    parts = [
        f'<h2 id="state-{_e(state.name)}">State: {_e(state.name)}</h2>',
        f"<p>{_e(state.description)}. Granted: {_e(', '.join(state.granted))}"
        f"{'; GPC on' if state.gpc else ''}; {state.seconds:.1f}s.</p>",
    ]
    if not state.reached:
        parts.append(f'<p class="bad">Not reached: {_e(state.error)}</p>')
    for shot in state.screenshots:
        data = base64.b64encode(shot.jpeg).decode("ascii")
        parts.append(
            f'<figure><img alt="{_e(state.name)}: {_e(shot.label)}" '
            f'src="data:image/jpeg;base64,{data}"><figcaption>{_e(shot.label)}</figcaption></figure>'
        )
    parts.append("<h3>Requests by host</h3>")
    parts.append(
        _table(
            ("host", "party", "service", "category", "moment", "requests"),
            (
                (
                    h["host"],
                    h["party"],
                    h["service"] or "",
                    h["category"] or "",
                    h["phase"],
                    h["requests"],
                )
                for h in _hosts(state)
            ),
        )
    )
    parts.append("<h3>Cookies</h3>")
    parts.append(
        _table(
            ("name", "domain", "path", "moment", "seen in", "HttpOnly", "category", "declared"),
            (
                (
                    c.name,
                    c.domain,
                    c.path,
                    c.phase,
                    c.source,
                    c.http_only,
                    c.category or "?",
                    c.declared,
                )
                for c in state.cookies
            ),
        )
    )
    if state.storage:
        parts.append("<h3>Storage</h3>")
        parts.append(
            _table(
                ("kind", "origin", "key", "moment", "page"),
                ((s.kind, s.origin, s.key, s.phase, s.page) for s in state.storage),
            )
        )
    if state.consent_modes:
        parts.append("<h3>Google Consent Mode</h3>")
        parts.append(
            _table(
                ("host", "gcs", "gcd", "signals", "moment", "page"),
                (
                    (
                        m.host,
                        m.gcs,
                        m.gcd,
                        ", ".join(f"{k}={v}" for k, v in sorted(m.signals.items())),
                        m.phase,
                        m.page,
                    )
                    for m in state.consent_modes
                ),
            )
        )
    return "".join(parts)


def write_html(result: ScanResult, path: Path) -> None:
    path.write_text(to_html(result), encoding="utf-8")
