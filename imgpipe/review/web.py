"""The review page: a small Flask app on this machine, over a :class:`ReviewService`.

- ``GET /`` — the page (one file: inline CSS and JS, no external resource);
- ``GET /api/queue`` — the images waiting, oldest first: short-lived presigned image links,
  categories, reasons in words, the boxes the HTML report draws (when the record carries the
  analysis responses);
- ``POST /api/decide`` — ``{"key", "decision": "approve"|"reject", "reason"}``: 200 when decided
  (``status`` ``decided``, or ``already_decided`` when someone decided the same way first), 409
  when someone decided the other way (who, when, why), 404 when the image is not under review.

It listens on 127.0.0.1 by default. Requests must name this server in ``Host`` (no DNS
rebinding) and decisions must carry the page's per-process token (no cross-site posts).
"""

from __future__ import annotations

import secrets
import sys
from typing import Any

from flask import Flask, Response, abort, jsonify, request
from werkzeug.serving import make_server

from imgpipe.report.html import boxes
from imgpipe.review.errors import DecisionConflictError, NotUnderReviewError, ReviewError
from imgpipe.review.page import render_page
from imgpipe.review.service import ReviewService

TOKEN_HEADER = "X-Review-Token"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def create_app(service: ReviewService, *, url_seconds: int = 300,
               token: str | None = None) -> Flask:
    """The Flask app. ``app.config['ALLOWED_HOSTS']`` (a set of ``host:port``) is filled by
    :func:`serve` once the port is known; empty means any (the test client)."""
    app = Flask("imgpipe.review")
    app.config["ALLOWED_HOSTS"] = set()
    app.config["REVIEW_TOKEN"] = token or secrets.token_urlsafe(24)

    @app.before_request
    def _same_host() -> None:
        allowed = app.config["ALLOWED_HOSTS"]
        if allowed and request.host not in allowed:
            abort(403)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/")
    def page() -> Response:
        who = _identity(service)
        html = render_page(stack=service.stack, bucket=service.bucket, reviewer=who,
                           token=app.config["REVIEW_TOKEN"], url_seconds=url_seconds)
        return Response(html, mimetype="text/html")

    @app.get("/favicon.ico")
    def favicon() -> tuple[str, int]:
        return "", 204

    @app.get("/api/queue")
    def queue() -> Response:
        items = service.queue()
        out = []
        for item in items:
            data = item.to_dict()
            data["url"] = service.image_url(item.key, url_seconds)
            data["boxes_html"] = "".join(boxes(service.responses(item.record)))
            out.append(data)
        return jsonify({"stack": service.stack, "bucket": service.bucket, "pending": len(out),
                        "url_seconds": url_seconds, "items": out})

    @app.post("/api/decide")
    def decide() -> tuple[Response, int]:
        if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""),
                                      app.config["REVIEW_TOKEN"]):
            return jsonify({"status": "error", "message": "missing or wrong review token; "
                                                          "reload the page"}), 403
        body: dict[str, Any] = request.get_json(silent=True) or {}
        key, decision = str(body.get("key") or ""), str(body.get("decision") or "")
        try:
            result = service.decide(key, decision, str(body.get("reason") or ""))
        except DecisionConflictError as exc:
            return jsonify({"status": "conflict", "message": str(exc),
                            "decision": exc.decision}), 409
        except NotUnderReviewError as exc:
            return jsonify({"status": "not_found", "message": str(exc)}), 404
        except ReviewError as exc:
            return jsonify({"status": "error", "message": str(exc)}), 400
        return jsonify({"status": result.status, "message": result.message(),
                        "decision": result.decision}), 200

    return app


def _identity(service: ReviewService) -> str:
    try:
        return service.identity().get("arn") or "?"
    except Exception as exc:  # shown on the page; decisions will fail with the same cause
        return f"unknown ({exc})"


def serve(service: ReviewService, *, host: str = "127.0.0.1", port: int = 8765,
          url_seconds: int = 300) -> None:
    """Serve until interrupted; prints ``Review page: URL`` once listening."""
    app = create_app(service, url_seconds=url_seconds)
    server = make_server(host, port, app, threaded=True)
    bound = server.server_port
    names = {host, *(LOOPBACK if host in LOOPBACK else ())}
    app.config["ALLOWED_HOSTS"] = {f"{n}:{bound}" for n in names}
    shown = f"[{host}]" if ":" in host else host
    print(f"Review page: http://{shown}:{bound}/  (stack {service.stack}, bucket "
          f"{service.bucket}; Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print("review page stopped", file=sys.stderr, flush=True)
