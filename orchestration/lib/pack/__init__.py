"""The quarterly monitoring pack (guide Part 2 Step 5 and Part 3 Steps 3 and 5): one report by exception per
tension monitoring group and quarter, in tiers (Gold/Silver, Bronze, summary), in Welsh and English, as
HTML and PDF.

- ``model``: reads the marts into one language-neutral dict per group and quarter (the full, Gold/Silver
  content), with no Dagster import;
- ``tiers``: builds each lower tier from that dict by *choosing* what it may hold (never by deleting), so a
  field added to the full pack cannot leak into Bronze or the summary by accident;
- ``i18n``: the Welsh and English message catalogue (gettext, ``locale/cy/LC_MESSAGES/messages.po``), Welsh
  area names, Welsh number and date formats (Babel ``cy_GB``);
- ``render``: HTML (Jinja2, inline SVG maps and charts from ``orchestration.lib.svg``) and PDF (WeasyPrint);
- ``archive``: ``data/reports/<quarter>/<group>/`` with a manifest, versions and what changed.
"""

TIERS = ("gold_silver", "bronze", "summary")
LANGUAGES = ("en", "cy")
