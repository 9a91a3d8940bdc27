"""Custom models for the tests: project version ARNs (two Custom Labels models, one moderation
adapter) and rules on them; their recorded answers are under ``tests/events/rekognition/``
(``detect_custom_labels/``, ``detect_moderation_labels/adapter_*.json``)."""

from __future__ import annotations

#: an object-detection model (boxes): ``detect_custom_labels/sneakers_two.json``
SHOES = "arn:aws:rekognition:eu-west-1:123456789012:project/shoes/version/shoes.2026-11-30/1764460800000"
#: a classification model (no Geometry): ``detect_custom_labels/classification.json``
DAMAGE = "arn:aws:rekognition:eu-west-1:123456789012:project/damage/version/damage.2026-11-02/1762041600000"
#: a custom moderation adapter: ``detect_moderation_labels/adapter_explicit.json`` (``_expired``)
ADAPTER = ("arn:aws:rekognition:eu-west-1:123456789012:project/forum-moderation/version/"
           "forum-moderation.2026-11-20/1763596800000")
#: SHOES retrained: another version, so another analysis (``custom_labels@<this>``)
SHOES_RETRAINED = SHOES.replace("/1764460800000", "/1764547200000")

#: two sneakers or more at >= 80 %: review
SHOES_RULES = f"""version: 1
name: shoes
default_verdict: success
rules:
  - name: sneakers
    type: custom_labels
    project_version: {SHOES}
    labels: [Sneaker]
    min_instances: 2
    min_confidence: 80
    outcome: review
"""
