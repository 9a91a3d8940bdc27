"""One announcement, written for each kind of subscriber (SNS ``MessageStructure='json'``).

SNS delivers the key matching a subscription's protocol, else ``default``:

- ``sms`` — one short line (at most :data:`SMS_MAX` characters): stack, verdict, key, top reason;
- ``email`` — a readable message: verdict, categories, the reasons in plain words, where the image
  is now and how to act on it;
- ``default`` — everyone else (HTTPS, SQS, Lambda, email-json, Firehose): the JSON body of
  docs/contracts.md §5 with a versioned ``schema`` (:data:`NOTIFICATION_SCHEMA`).

Pure functions over the notification body: no boto3, no I/O. The tool's review decisions are
announced with the same builders (:func:`decision_messages`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from analyzer.precheck import describe
from analyzer.results import dumps

NOTIFICATION_SCHEMA = "imgpipe.notification/1"
SMS_MAX = 140
#: SNS accepts at most 256 KiB per message (all protocols' texts together); keep a margin.
MESSAGE_MAX_BYTES = 250 * 1024
EMAIL_MAX_REASONS = 12
EMAIL_MAX_EVIDENCE = 3
_FUNCTION_SUFFIX = "-analyzer"
_PROJECT_PREFIX = "image-pipeline-"


def stack_label(environ: Mapping[str, str] | None = None) -> str:
    """The stack's name for people: ``IMGPIPE_STACK``, else from the function's name
    (``image-pipeline-<stack>-analyzer``), else ``imgpipe``."""
    env = os.environ if environ is None else environ
    explicit = (env.get("IMGPIPE_STACK") or "").strip()
    if explicit:
        return explicit
    name = (env.get("AWS_LAMBDA_FUNCTION_NAME") or "").strip()
    if name.endswith(_FUNCTION_SUFFIX) and name.startswith(_PROJECT_PREFIX):
        middle = name[len(_PROJECT_PREFIX) : -len(_FUNCTION_SUFFIX)]
        if middle:
            return middle
    return "imgpipe"


# -- plain words -------------------------------------------------------------------------------


def _double_quoted(value: object) -> str:
    return f'"{value}"'


def evidence_words(
    item: Mapping[str, Any], *, quote: Callable[[object], str] = _double_quoted
) -> str:
    """``Cat 91.5%`` / ``"SN-123456" in "SN-123456 OK" 99.1%`` / ``Explicit > Nudity 93.0%``.

    ``quote`` wraps the text read from the image and the matched part (``repr`` on a terminal).
    """
    conf = item.get("confidence")
    pct = f" {conf:.1f}%" if isinstance(conf, int | float) else ""
    if "text" in item:
        return f"{quote(item.get('match'))} in {quote(item.get('text'))}{pct}"
    if "path" in item:
        return f"{item['path']}{pct}"
    extra = f" x{item['instances']}" if "instances" in item else ""
    name = item.get("label") or item.get("name") or "?"
    return f"{name}{pct}{extra}"


def match_words(match: Mapping[str, Any], *, max_evidence: int = EMAIL_MAX_EVIDENCE) -> str:
    """``rule "unsafe" (moderation) -> failure: Explicit 93.0%``."""
    evidence = list(match.get("evidence") or ())
    shown = "; ".join(evidence_words(e) for e in evidence[:max_evidence] if isinstance(e, Mapping))
    if len(evidence) > max_evidence:
        shown += f" (+{len(evidence) - max_evidence} more)"
    head = f'rule "{match.get("rule")}" ({match.get("type")}) -> {match.get("outcome")}'
    return f"{head}: {shown}" if shown else head


def top_reason(body: Mapping[str, Any]) -> str:
    """The one reason that decided the verdict, in a few words."""
    if body.get("reason"):
        return str(body["reason"])
    verdict = body.get("verdict")
    matches = [m for m in body.get("matches") or () if isinstance(m, Mapping)]
    deciding = [m for m in matches if m.get("outcome") == verdict] or matches
    if not deciding:
        return "no rule matched"
    first = deciding[0]
    evidence = [e for e in first.get("evidence") or () if isinstance(e, Mapping)]
    detail = f" {evidence_words(evidence[0])}" if evidence else ""
    return f"{first.get('rule')}:{detail}"


def relative_key(key: str, prefix: str = "images/") -> str:
    return key[len(prefix):] if key.startswith(prefix) else key


def _shorten_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit <= 3:
        return text[:limit]
    head = (limit - 3) // 2
    tail = limit - 3 - head
    return f"{text[:head]}...{text[-tail:] if tail else ''}"


def fit_sms(prefix: str, key: str, reason: str, limit: int = SMS_MAX) -> str:
    """``prefix key - reason`` in at most ``limit`` characters: the key keeps its ends, the reason
    is cut first."""
    one_line = " ".join(f"{prefix}".split())
    key = " ".join(key.split())
    reason = " ".join(reason.split())
    room = limit - len(one_line) - 1
    if room <= 0:
        return one_line[:limit]
    key = _shorten_middle(key, max(min(len(key), room), 0))
    text = f"{one_line} {key}"
    room = limit - len(text) - 3
    if reason and room >= 8:
        cut = reason if len(reason) <= room else reason[: room - 3].rstrip() + "..."
        text = f"{text} - {cut}"
    return text[:limit]


# -- verdict announcements ---------------------------------------------------------------------


def json_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The machine body: docs/contracts.md §5 fields plus ``schema`` and ``event``."""
    out = {"schema": NOTIFICATION_SCHEMA, "event": "verdict", **body}
    out["schema"] = NOTIFICATION_SCHEMA
    return out


def _previous(body: Mapping[str, Any]) -> str | None:
    """The verdict a re-judged image had (``analyzer.rejudge`` announcements), else None."""
    previous = body.get("previous_verdict")
    return str(previous) if body.get("rejudged") and previous else None


def verdict_sms(body: Mapping[str, Any], stack: str) -> str:
    verdict = str(body.get("verdict") or "?").upper()
    previous = _previous(body)
    if previous:
        verdict = f"{verdict} (was {previous.upper()})"
    key = relative_key(str(body.get("source_key") or ""))
    return fit_sms(f"imgpipe {stack}: {verdict}", key, top_reason(body))


def _where(bucket: Any, key: Any) -> str:
    return f"s3://{bucket}/{key}" if bucket and key else "-"


def _how_to_act(body: Mapping[str, Any], stack: str) -> list[str]:
    verdict = body.get("verdict")
    key = relative_key(str(body.get("source_key") or ""))
    if verdict == "review":
        return [
            "This image waits for a person. Nothing archives it before it is decided.",
            f"  Look at it:  imgpipe review show '{key}' --outputs {stack}.json",
            f"  Approve:     imgpipe review approve '{key}' --reason '...' --outputs {stack}.json",
            f"  Reject:      imgpipe review reject '{key}' --reason '...' --outputs {stack}.json",
            f"  Or work through the queue in the browser:  imgpipe review serve --stack {stack}",
        ]
    if verdict == "failure":
        return [
            "The image was set aside in the failure folder. If the rules were wrong, fix them and "
            "send it through again:",
            f"  imgpipe reprocess '{key}' --outputs {stack}.json",
        ]
    return ["Nothing to do: the image passed the rules."]


def verdict_email(body: Mapping[str, Any], stack: str) -> str:
    verdict = str(body.get("verdict") or "?")
    bucket = body.get("bucket")
    categories = ", ".join(str(c) for c in body.get("categories") or ()) or "none"
    previous = _previous(body)
    pending = bool(previous and body.get("move_pending"))
    lines = [
        f"imgpipe ({stack}) re-judged an image: {verdict.upper()} (was {previous.upper()})"
        if previous else f"imgpipe ({stack}) judged an image: {verdict.upper()}",
        "",
        f"Image:       {body.get('source_key')}",
        f"Verdict:     {verdict}" + (f" (was {previous})" if previous else ""),
        f"Categories:  {categories}",
        f"{'Moving to:' if pending else 'Now at:':<13}{_where(bucket, body.get('destination_key'))}",
        f"Record:      {_where(bucket, body.get('record_key'))}",
    ]
    if previous:
        lines.append(f"Re-judged:   run {body.get('run')}, its stored analysis judged by the "
                     "rules deployed now (no new analysis)")
    if pending:
        lines.append("             the archived copy is being restored; it moves when the same "
                     "re-judge command runs again after the restore")
    if body.get("rules"):
        lines.append(f"Rules:       {body.get('rules')}")
    lines += ["", "Why:"]
    if body.get("reason"):
        lines.append(f"  - not analysed: {describe(str(body['reason']))} ({body['reason']})")
    matches = [m for m in body.get("matches") or () if isinstance(m, Mapping)]
    for match in matches[:EMAIL_MAX_REASONS]:
        lines.append(f"  - {match_words(match)}")
    if len(matches) > EMAIL_MAX_REASONS:
        lines.append(f"  - ... and {len(matches) - EMAIL_MAX_REASONS} more rule(s)")
    if not matches and not body.get("reason"):
        lines.append("  - no rule matched: the rules file's default verdict applies")
    lines += ["", "What to do:", *_how_to_act(body, stack), "",
              "-- sent by imgpipe; the JSON form of this message goes to machine subscribers."]
    return "\n".join(lines)


def structured(default: Mapping[str, Any], sms: str, email: str) -> str:
    """The ``Message`` of a ``MessageStructure='json'`` publish, within SNS's size limit
    (evidence is dropped from the JSON body, then the email is cut, if it would not fit)."""
    body = dict(default)
    message = _encode(body, sms, email)
    if len(message.encode()) > MESSAGE_MAX_BYTES and isinstance(body.get("matches"), list):
        body["matches"] = [
            {k: v for k, v in m.items() if k != "evidence"} if isinstance(m, Mapping) else m
            for m in body["matches"]
        ]
        body["truncated"] = True
        message = _encode(body, sms, email)
    if len(message.encode()) > MESSAGE_MAX_BYTES:
        email = email[:4000] + "\n[cut: too long for one notification]"
        message = _encode(body, sms, email)
    return message


def _encode(body: Mapping[str, Any], sms: str, email: str) -> str:
    return dumps({"default": dumps(dict(body)), "sms": sms, "email": email})


def verdict_messages(body: Mapping[str, Any], stack: str) -> str:
    """The structured message announcing one verdict."""
    return structured(json_body(body), verdict_sms(body, stack), verdict_email(body, stack))


# -- review decisions --------------------------------------------------------------------------

DECISION_WORDS = {"approve": "approved", "reject": "rejected"}


def decision_messages(body: Mapping[str, Any], stack: str) -> str:
    """The structured message announcing a reviewer's decision; ``body['review']`` holds who,
    when, why and the previous verdict."""
    review = dict(body.get("review") or {})
    done = DECISION_WORDS.get(str(review.get("decision")), str(review.get("decision")))
    who = str(review.get("reviewer_name") or review.get("reviewer") or "someone")
    key = relative_key(str(body.get("source_key") or ""))
    out = {**json_body(body), "event": "review_decision"}
    sms = fit_sms(f"imgpipe {stack}: {done.upper()} by {_shorten_middle(who, 30)}", key,
                  str(review.get("reason") or ""))
    lines = [
        f"imgpipe ({stack}): a reviewer {done} an image",
        "",
        f"Image:       {body.get('source_key')}",
        f"Decision:    {done} -> {body.get('verdict')} (was {review.get('previous_verdict')})",
        f"By:          {review.get('reviewer')}",
        f"When:        {review.get('decided_at')}",
        f"Why:         {review.get('reason') or '(no reason given)'}",
        f"Now at:      {_where(body.get('bucket'), body.get('destination_key'))}",
        f"Record:      {_where(body.get('bucket'), body.get('record_key'))}",
        "",
        "What the rules had said:",
    ]
    matches = [m for m in body.get("matches") or () if isinstance(m, Mapping)]
    lines += [f"  - {match_words(m)}" for m in matches[:EMAIL_MAX_REASONS]] or ["  - no rule matched"]
    lines += ["", "-- sent by imgpipe review; the JSON form goes to machine subscribers."]
    return structured(out, sms, "\n".join(lines))


def subject_for(verdict: str, key: str, detail: Sequence[str] | str = "") -> str:
    """A subject line (before SNS's own cleaning): ``imgpipe review: a/b.jpg (people)``."""
    text = detail if isinstance(detail, str) else ", ".join(detail)
    return f"imgpipe {verdict}: {relative_key(key)}" + (f" ({text})" if text else "")
