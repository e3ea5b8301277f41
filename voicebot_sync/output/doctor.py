"""doctor's report as text for a person: one line per finding, ``ok``/``warn``/``info``/``FAIL`` first.

Everything from the server (names, ids, header values, its words) is shown through
``escaping.visible``; the JSON form is ``DoctorResult.to_json``."""

from __future__ import annotations

from ..text.escaping import visible


def render_doctor_text(result) -> str:
    env = f" (environment {visible(result.env)})" if result.env else ""
    lines = [f"voicebot-sync doctor: {visible(result.api_url)}{env}"]

    def row(level: str, text: str) -> None:
        lines.append(f"  {level:<5} {text}")

    _listing_rows(result, row)
    if result.budget is not None:
        row("info", f"budget (ledger): {visible(result.budget['summary'])}")
    for name in result.leftover_probes_removed:
        row("info", f"removed a probe an interrupted write test left: \"{visible(name)}\"")
    if result.write_test is not None:
        _write_test_rows(result.write_test, lines, row)
    if result.refused:
        row("FAIL", visible(result.refused))
    for warning in result.warnings:
        lines.append(f"warning: {warning}")
    if result.ok:
        lines.append(f"Result: voicebot-sync can work with this server ({result.requests} request"
                     f"{'s' if result.requests != 1 else ''}).")
    else:
        lines.append(f"Result: voicebot-sync cannot work with this server: {visible(result.reason)}")
    return "\n".join(lines) + "\n"


def _listing_rows(result, row) -> None:
    """What the one list request showed: the URL and key, the list's shape, fields, names, headers, clock."""
    listed = result.listing
    if listed is None:
        row("FAIL", "URL and key: the list could not be read (the reason is below)")
    else:
        row("ok", f"URL and key: the list answered in {result.answer_seconds * 1000:.0f} ms")
        shape = ("a bare JSON list" if listed["shape"] == "bare"
                 else f"the envelope {{{', '.join(map(visible, listed['envelope_keys']))}}}")
        pages = (f"in {listed['pages']} pages ({listed['pagination']} pagination, followed)" if listed["pages"] > 1
                 else "in one page" + (f" (pagination signals: {', '.join(listed['pagination_signals'])})"
                                       if listed["pagination_signals"] else ", no pagination"))
        row("ok", f"list: {shape}; {listed['workflows']} workflow{'s' if listed['workflows'] != 1 else ''} {pages}")
        row("info", "fields beyond the managed ones: " + (", ".join(map(visible, result.extra_fields)) or "none"))
        row("ok" if not (result.duplicate_names or result.nfc_duplicate_names) else "warn",
            "duplicate names: " + ("none (also after Unicode NFC)" if not (result.duplicate_names or
                                                                         result.nfc_duplicate_names) else "see below"))
        headers = "; ".join(f"{visible(k)}: {visible(v)}" for k, v in result.rate_limit_headers.items())
        row("info", "rate-limit headers: " + (headers or "none (voicebot-sync counts its requests itself)"))
        skew = result.clock_skew_seconds
        row("info" if skew is None else ("ok" if abs(skew) <= 300 else "warn"),
            "clock: no Date header" if skew is None else "clock: the server's Date agrees with this machine's clock "
            "(within 1s)" if abs(skew) < 1.5 else f"clock: the server's Date is {skew:+.0f}s from this machine's")


def _write_test_rows(probe, lines: list[str], row) -> None:
    """What the write test found: the probe's life, the optional fields kept, the list's lag."""
    lines.append(f"write test ({probe.requests} requests): probe \"{visible(probe.name)}\" (id {visible(probe.id)})"
                 f" created, read back, " + ("looked for in the list, " if probe.listed is not None else "")
                 + ("deleted" if probe.deleted else "NOT deleted: the next doctor or apply removes it"))
    row("ok", "optional fields kept: " + (", ".join(probe.kept) or "none"))
    if probe.not_kept:
        row("warn", f"not kept: {', '.join(probe.not_kept)}")
    if probe.config_line:
        row("hint", f"add to voicebot-sync.yaml: {probe.config_line}")
    row("info" if probe.listed is None else ("ok" if probe.listed else "warn"),
        "list lag: " + ("not checked (the list is paginated: looking would cost more than one request)"
                        if probe.listed is None else "none (the probe was listed at once)" if probe.listed
                        else "the probe was not listed at once: the list lags behind writes"))
