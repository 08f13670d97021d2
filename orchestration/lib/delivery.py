"""Delivery to named officers (guide Part 3, Step 5: "a single named officer in each partner organisation").

A distribution list (CSV: recipient_id, name, organisation, role, tier, language, email, groups) says who
receives which monitoring group's pack, at which tier and in which language. Each current pack version is sent
once to each recipient: one message with the headlines in the body (from the summary tier: nothing a lower
tier may not see) and the PDF of **their** tier and language attached, written to the outbox as ``.eml`` and,
when ``COHESION_SMTP_HOST`` is set, sent by SMTP with retries. ``reports.deliveries`` records every message
(pack, version, recipient, tier, language, sha256 of the attachment, status, attempts, error, sent_at); a
later version of a pack a recipient already has goes out as a correction saying what changed.

No personal data in subjects or bodies: the subject names the group, quarter and version; the body the
organisation and role it is for, never a person. The recipient's name is only in the To: header.
No Dagster imports.
"""

from __future__ import annotations

import csv
import email.policy
import datetime as dt
import hashlib
import json
import os
import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, format_datetime, make_msgid
from pathlib import Path

from orchestration.lib.pack import LANGUAGES
from orchestration.lib.pack.i18n import Lang
from orchestration.lib.pack.render import describe_change
from orchestration.lib.pack.tiers import MARKINGS, for_tier
from orchestration.lib.private_files import private_dir, write_private
from orchestration.lib.warehouse import transaction

# Tiers from the least to the most restricted: a recipient gets their own tier, never one to the right.
TIER_RANK = {"summary": 0, "bronze": 1, "gold_silver": 2}
DATA_TEAM_ROLE = "data_team"
LIST_COLUMNS = ("recipient_id", "name", "organisation", "role", "tier", "language", "email", "groups")
EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")

DELIVERIES_DDL = """
create schema if not exists reports;
create table if not exists reports.deliveries (
    delivery_id varchar primary key,
    kind varchar not null,            -- pack, correction, flash or failure
    quarter varchar,
    group_code varchar,
    version integer,
    recipient_id varchar not null,
    organisation varchar,
    role varchar,
    tier varchar,
    language varchar not null,
    attachment varchar,
    sha256 varchar,
    subject varchar not null,
    eml_path varchar not null,
    status varchar not null,          -- outbox (no SMTP configured), sent, failed
    attempts integer not null,
    error varchar,
    created_at timestamp not null,
    sent_at timestamp
);
"""


class DistributionListError(ValueError):
    pass


@dataclass(frozen=True)
class Recipient:
    recipient_id: str
    name: str
    organisation: str
    role: str
    tier: str
    language: str
    email: str
    groups: tuple[str, ...]

    def covers(self, group_code: str) -> bool:
        return "*" in self.groups or group_code in self.groups


def read_distribution_list(path: Path) -> list[Recipient]:
    """The list, validated: a bad row is an error naming the file, row and column (the values are not quoted:
    they are officers' names and addresses)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in LIST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DistributionListError(f"{path.name}: missing column(s) {', '.join(missing)}")
        out, seen = [], set()
        for row_number, row in enumerate(reader, start=2):
            def bad(column, expected):
                return DistributionListError(f"{path.name}, row {row_number}, column {column}: expected {expected}")
            values = {c: (row.get(c) or "").strip() for c in LIST_COLUMNS}
            if not values["recipient_id"]:
                raise bad("recipient_id", "a short unique id")
            if values["recipient_id"] in seen:
                raise bad("recipient_id", "an id not used on an earlier row")
            seen.add(values["recipient_id"])
            if values["role"] != DATA_TEAM_ROLE and values["tier"] not in TIER_RANK:
                raise bad("tier", "gold_silver, bronze or summary")
            if values["language"] not in LANGUAGES:
                raise bad("language", "cy or en")
            if not EMAIL.match(values["email"]):
                raise bad("email", "one e-mail address")
            groups = tuple(g.strip() for g in values["groups"].split(";") if g.strip())
            if not groups and values["role"] != DATA_TEAM_ROLE:
                raise bad("groups", "monitoring group codes separated by ';', or *")
            out.append(Recipient(values["recipient_id"], values["name"], values["organisation"], values["role"],
                                 values["tier"] or "none", values["language"], values["email"], groups))
    return out


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None
    port: int
    user: str | None
    password: str | None
    starttls: bool
    sender: str
    retries: int
    retry_wait: float
    timeout: float

    @classmethod
    def from_env(cls) -> "SmtpSettings":
        host = os.environ.get("COHESION_SMTP_HOST") or None
        starttls = (os.environ.get("COHESION_SMTP_STARTTLS", "true").strip().lower() not in {"0", "false", "no", "off"})
        return cls(
            host=host,
            port=int(os.environ.get("COHESION_SMTP_PORT", "587" if starttls else "25")),
            user=os.environ.get("COHESION_SMTP_USER") or None,
            password=os.environ.get("COHESION_SMTP_PASSWORD") or None,
            starttls=starttls,
            sender=os.environ.get("COHESION_MAIL_FROM", "cohesion-monitor@localhost"),
            retries=int(os.environ.get("COHESION_SMTP_RETRIES", "3")),
            retry_wait=float(os.environ.get("COHESION_SMTP_RETRY_SECONDS", "5")),
            timeout=float(os.environ.get("COHESION_SMTP_TIMEOUT", "30")),
        )


def send_smtp(message: EmailMessage, smtp: SmtpSettings) -> tuple[str, int, str | None]:
    """(status, attempts, error): 'sent', or 'failed' after the retries (the error is the SMTP reply or the
    exception's class and message: never the message's content)."""
    error = None
    for attempt in range(1, max(1, smtp.retries) + 1):
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as server:
                server.ehlo()
                if smtp.starttls:
                    server.starttls(context=ssl.create_default_context())
                    server.ehlo()
                if smtp.user:
                    server.login(smtp.user, smtp.password or "")
                server.send_message(message)
            return "sent", attempt, None
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
            if attempt < smtp.retries:
                time.sleep(smtp.retry_wait * attempt)
    return "failed", max(1, smtp.retries), error


# ---------------------------------------------------------------------------------------------- messages
def _message(sender: str, recipient: Recipient, subject: str, text: str, html: str,
             attachments: list[tuple[str, bytes, str]], key: str) -> EmailMessage:
    # CRLF line ends as sent; headers folded only past 998 characters, so a long Welsh subject is not broken
    # before its first word (some clients then show a leading blank)
    msg = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
    msg["From"] = sender
    msg["To"] = formataddr((recipient.name, recipient.email))
    msg["Subject"] = subject
    # deterministic headers for the same delivery (a rerun that rewrites the .eml writes the same bytes)
    msg["Message-ID"] = make_msgid(idstring=hashlib.sha256(key.encode()).hexdigest()[:24], domain="cohesion-monitor")
    msg["Content-Language"] = "cy" if recipient.language == "cy" else "en-GB"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    for filename, data, mime in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def _html_page(lang: str, title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{_esc(title)}</title></head>'
            f'<body style="font-family: Arial, sans-serif; font-size: 11pt; color: #1b1b1b">{body}</body></html>')


def _esc(text) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def headlines(content: dict, L: Lang) -> tuple[str, str]:
    """(text, html) of the headlines every tier may see: the summary tier's table (overall rating and trend per
    LA, exceptions per section)."""
    summary = for_tier(content, "summary")
    _ = L.gettext
    sections = ("tension", "action", "evidence", "cohesion", "crime", "forward")
    head = [_("Local authority"), _("Overall rating: current"), _("Overall rating: potential")] + [
        L.label("section", s) for s in sections]
    rows = []
    for r in summary["las"]:
        o = r["overall"]
        grade = (lambda g, t: "—" if not g else
                 (g["grade"] if g["scale"] == "eep6" else L.label("level4", g["level4"])) +
                 {"rising": " ▲", "falling": " ▼", "static": " ►"}.get(t or "", ""))
        rows.append([L.name(r["la"]), grade(o and o["current"], o and o["current_trend"]),
                     grade(o and o["potential"], o and o["potential_trend"])] + [L.int(r["counts"][s]) for s in sections])
    text = "\n".join(" | ".join(row) for row in [head] + rows)
    html = ('<table style="border-collapse: collapse" border="1" cellpadding="4"><thead><tr>'
            + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
            + "</tbody></table>")
    return text, html


def compose_pack_message(recipient: Recipient, manifest: dict, version: dict, content: dict, pdf_path: Path,
                         sender: str, correction_of: int | None) -> EmailMessage:
    L = Lang(recipient.language)
    _ = L.gettext
    marking = L.label("marking", MARKINGS[recipient.tier])
    group = L.name({"name": content["group"]["name"], "name_cy": content["group"]["name_cy"]})
    quarter = L.quarter(content["quarter"]["key"])
    title = _("Tension monitoring pack: %(group)s, %(quarter)s (version %(n)s)", group=group, quarter=quarter,
              n=version["version"])
    subject = f"[{marking}] " + (_("Correction: %(title)s", title=title) if correction_of else title)
    intro = _("For the named officer of %(organisation)s (%(role)s). Attached: the %(tier)s version of the pack, "
              "as a PDF. Do not pass it on beyond what your organisation's agreement allows.",
              organisation=recipient.organisation, role=recipient.role, tier=L.label("tier", recipient.tier))
    lines = [intro]
    if correction_of:
        lines.append(_("This version replaces version %(n)s, which you received earlier.", n=correction_of))
        for c in version.get("changes", []):
            lines.append("– " + describe_change(c, L))
    text_table, html_table = headlines(content, L)
    heading = _("Headlines")
    text = "\n\n".join(lines + [heading, text_table])
    html = _html_page(recipient.language, subject,
                      f'<p style="color:#b00020;font-weight:bold">{_esc(marking)}</p>'
                      + "".join(f"<p>{_esc(p)}</p>" for p in lines)
                      + f"<h2>{_esc(heading)}</h2>" + html_table)
    key = f"{manifest['quarter']}/{manifest['group']}/v{version['version']}/{recipient.recipient_id}"
    return _message(sender, recipient, subject, text, html, [(pdf_path.name, pdf_path.read_bytes(), "application/pdf")], key)


# ---------------------------------------------------------------------------------------------- the ledger
def _delivery_id(kind: str, quarter: str | None, group: str | None, version: int | None, recipient_id: str,
                 extra: str = "") -> str:
    return hashlib.sha256(f"{kind}|{quarter}|{group}|{version}|{recipient_id}|{extra}".encode()).hexdigest()[:32]


def _outbox_name(kind: str, stamp: str, *parts) -> str:
    safe = "_".join(re.sub(r"[^A-Za-z0-9-]+", "-", str(p)) for p in parts if p is not None)
    return f"{stamp}_{kind}_{safe}.eml"


def dispatch(con, outbox: Path, smtp: SmtpSettings, *, delivery_id: str, kind: str, recipient: Recipient,
             message: EmailMessage, quarter=None, group=None, version=None, attachment: Path | None = None,
             now: dt.datetime | None = None) -> dict:
    """Write the message to the outbox, send it when SMTP is configured, record it in reports.deliveries."""
    now = (now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None, microsecond=0)
    previous = con.execute("select status, attempts, eml_path from reports.deliveries where delivery_id = ?",
                           [delivery_id]).fetchall()
    folder = private_dir(outbox, outbox / now.strftime("%Y-%m-%d"))
    eml = Path(previous[0][2]) if previous else folder / _outbox_name(kind, now.strftime("%H%M%S"), quarter, group,
                                                                       f"v{version}" if version else None,
                                                                       recipient.recipient_id)
    message["Date"] = format_datetime(now.replace(tzinfo=dt.timezone.utc))
    write_private(eml, bytes(message))
    status, attempts, error, sent_at = "outbox", 0, None, None
    if smtp.host:
        status, attempts, error = send_smtp(message, smtp)
        sent_at = now if status == "sent" else None
    attempts += previous[0][1] if previous else 0
    sha = hashlib.sha256(attachment.read_bytes()).hexdigest() if attachment else None
    con.execute("delete from reports.deliveries where delivery_id = ?", [delivery_id])
    con.execute(
        "insert into reports.deliveries values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [delivery_id, kind, quarter, group, version, recipient.recipient_id, recipient.organisation, recipient.role,
         recipient.tier, recipient.language, attachment.name if attachment else None, sha, str(message["Subject"]),
         str(eml), status, attempts, error, now, sent_at])
    return {"delivery_id": delivery_id, "kind": kind, "recipient_id": recipient.recipient_id, "status": status,
            "attempts": attempts, "error": error, "eml": str(eml), "quarter": quarter, "group": group,
            "version": version, "tier": recipient.tier, "language": recipient.language}


def _done(con, delivery_id: str) -> bool:
    """Delivered already: written to the outbox without SMTP, or sent. A failed send is tried again."""
    rows = con.execute("select status from reports.deliveries where delivery_id = ?", [delivery_id]).fetchall()
    return bool(rows) and rows[0][0] in ("outbox", "sent")


def pack_file(version: dict, tier: str, language: str, fmt: str = "pdf") -> dict:
    (entry,) = [f for f in version["files"] if (f["tier"], f["language"], f["format"]) == (tier, language, fmt)]
    return entry


def deliver_packs(warehouse: Path, reports_dir: Path, outbox: Path, recipients: list[Recipient],
                  smtp: SmtpSettings, now: dt.datetime | None = None) -> list[dict]:
    """Send every current pack version each recipient has not had yet (a correction when they had an earlier
    version of the same pack)."""
    results = []
    manifests = [json.loads(p.read_text(encoding="utf-8")) | {"_folder": str(p.parent)}
                 for p in sorted(Path(reports_dir).glob("*/*/manifest.json"))]
    with transaction(warehouse) as con:
        con.execute(DELIVERIES_DDL)
        for manifest in manifests:
            if not manifest.get("versions"):
                continue
            folder = Path(manifest["_folder"])
            version = manifest["versions"][-1]
            content = None
            for recipient in recipients:
                if recipient.role == DATA_TEAM_ROLE or not recipient.covers(manifest["group"]):
                    continue
                key_args = (manifest["quarter"], manifest["group"], version["version"], recipient.recipient_id)
                delivery_id = _delivery_id("pack", *key_args)
                if _done(con, delivery_id):
                    continue
                entry = pack_file(version, recipient.tier, recipient.language)
                if TIER_RANK[entry["tier"]] > TIER_RANK[recipient.tier]:  # never above their tier
                    raise AssertionError(f"{recipient.recipient_id}: {entry['tier']} above {recipient.tier}")
                earlier = con.execute(
                    "select max(version) from reports.deliveries where kind in ('pack', 'correction') and quarter = ? "
                    "and group_code = ? and recipient_id = ? and status in ('outbox', 'sent') and version < ?",
                    [manifest["quarter"], manifest["group"], recipient.recipient_id, version["version"]]).fetchall()[0][0]
                if content is None:
                    content = json.loads((folder / version["content"]).read_text(encoding="utf-8"))
                pdf = folder / entry["path"]
                if hashlib.sha256(pdf.read_bytes()).hexdigest() != entry["sha256"]:
                    raise ValueError(f"{pdf.name}: the file differs from its manifest; not sent")
                message = compose_pack_message(recipient, manifest, version, content, pdf, smtp.sender, earlier)
                results.append(dispatch(
                    con, outbox, smtp, delivery_id=delivery_id, kind="correction" if earlier else "pack",
                    recipient=recipient, message=message, quarter=manifest["quarter"], group=manifest["group"],
                    version=version["version"], attachment=pdf, now=now))
    return results


def default_distribution_list() -> Path | None:
    """COHESION_DISTRIBUTION_LIST, else the demo list while the demo extracts are on (fictional officers at
    example.invalid addresses), else none."""
    from orchestration.settings import REPO_ROOT, get_settings

    configured = os.environ.get("COHESION_DISTRIBUTION_LIST")
    if configured:
        return Path(configured)
    if get_settings().demo_extracts:
        return REPO_ROOT / "docs" / "delivery" / "distribution_list.example.csv"
    return None


__all__ = ["Recipient", "SmtpSettings", "read_distribution_list", "deliver_packs", "dispatch", "send_smtp",
           "TIER_RANK", "DELIVERIES_DDL", "default_distribution_list", "headlines"]


# ---------------------------------------------------------------------------------------------- the flash
def compose_flash_message(recipient: Recipient, flash: dict, items: list[dict], pdf_path: Path,
                          sender: str) -> EmailMessage:
    L = Lang(recipient.language)
    _ = L.gettext
    marking = L.label("marking", "OFFICIAL-SENSITIVE")
    las = sorted({L.name(i["place"]["la"]) for i in items})
    subject = f"[{marking}] " + _("Emergency flash to Gold: %(areas)s, %(date)s", areas=", ".join(las),
                                  date=L.date(flash["as_of"]))
    lines = [_("For the named officer of %(organisation)s (%(role)s).", organisation=recipient.organisation,
               role=recipient.role),
             _("Relay to Gold at once for a strategic response") + "."]
    for i in items:
        where = L.name(i["place"]["la"])
        if i["kind"] == "rating":
            grade = (lambda g, l4: f"{g} {L.label('eep', g)}" if i["scale"] == "eep6" else L.label("level4", l4))
            lines.append("– " + _("%(area)s, %(community)s: current %(current)s, potential %(potential)s (assessed %(date)s)",
                                  area=where, community=L.label("community_type", i["community_type"]),
                                  current=grade(i["current_grade"], i["current_level4"]),
                                  potential=grade(i["potential_grade"], i["potential_level4"]),
                                  date=L.date(i["assessment_date"])))
        else:
            lines.append("– " + _("%(area)s: risk %(ref)s scored %(score)s (high)", area=where, ref=i["risk_id"],
                                  score=L.int(i["score"])))
    lines.append(_("Details are in the attached PDF."))
    html = _html_page(recipient.language, subject, f'<p style="color:#b00020;font-weight:bold">{_esc(marking)}</p>'
                      + "".join(f"<p>{_esc(p)}</p>" for p in lines))
    return _message(sender, recipient, subject, "\n\n".join(lines), html,
                    [(pdf_path.name, pdf_path.read_bytes(), "application/pdf")],
                    f"flash/{flash['flash_id']}/{recipient.recipient_id}")


def deliver_flash(warehouse: Path, reports_dir: Path, outbox: Path, recipients: list[Recipient],
                  smtp: SmtpSettings, now: dt.datetime | None = None) -> dict:
    """Flash every urgent item not flashed yet to the Gold/Silver recipients of the groups covering its LA."""
    from orchestration.lib.pack.flash import FLASH_DDL, build_flash, groups_of, render_flash_html, urgent_items
    from orchestration.lib.pack.render import render_pdf

    now = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    results = []
    with transaction(warehouse) as con:
        con.execute(DELIVERIES_DDL)
        con.execute(FLASH_DDL)
        items = urgent_items(con)
        if not items:
            return {"flash_id": None, "items": 0, "deliveries": []}
        flash = build_flash(con, items)
        la_groups = groups_of(con)
        folder = private_dir(reports_dir, reports_dir / "flash" / f"{now:%Y-%m-%d}_{flash['flash_id']}")
        write_private(folder / "items.json", json.dumps(flash, indent=1, ensure_ascii=False, default=str))
        rendered: dict[tuple, Path] = {}
        for recipient in recipients:
            if recipient.role == DATA_TEAM_ROLE or recipient.tier != "gold_silver":
                continue  # the flash is for Gold: OFFICIAL-SENSITIVE, never a lower tier
            mine = [i for i in items if any(recipient.covers(g) for g in la_groups.get(i["la_code"], ()))]
            if not mine:
                continue
            keys = tuple(i["item_key"] for i in mine)
            cache = (keys, recipient.language)
            if cache not in rendered:
                part = dict(flash, items=mine)
                html = render_flash_html(part, recipient.language, now.isoformat())
                suffix = hashlib.sha256("|".join(keys).encode()).hexdigest()[:8]
                write_private(folder / f"flash-{suffix}-{recipient.language}.html", html)
                rendered[cache] = write_private(folder / f"flash-{suffix}-{recipient.language}.pdf", render_pdf(html))
            pdf = rendered[cache]
            delivery_id = _delivery_id("flash", None, None, None, recipient.recipient_id, "|".join(keys))
            if _done(con, delivery_id):
                continue
            message = compose_flash_message(recipient, flash, mine, pdf, smtp.sender)
            results.append(dispatch(con, outbox, smtp, delivery_id=delivery_id, kind="flash", recipient=recipient,
                                    message=message, attachment=pdf, now=now))
        for i in items:
            con.execute("insert into reports.flash_items values (?, ?, ?, ?, ?) on conflict do nothing",
                        [i["item_key"], i["kind"], i["la_code"], flash["flash_id"], now.replace(tzinfo=None)])
    return {"flash_id": flash["flash_id"], "items": len(items), "folder": str(folder), "deliveries": results}


# ---------------------------------------------------------------------------------------------- failures
def compose_failure_message(recipient: Recipient, job: str, run_id: str, failed_steps: list[str],
                            error_classes: list[str], sender: str, when: dt.datetime) -> EmailMessage:
    L = Lang(recipient.language)
    _ = L.gettext
    subject = _("Cohesion monitor: run failed: %(job)s", job=job)
    lines = [
        _("The run %(run)s of %(job)s failed at %(time)s UTC.", run=run_id[:8], job=job, time=when.strftime("%Y-%m-%d %H:%M")),
        _("What failed: %(steps)s", steps=", ".join(failed_steps) or "—"),
        _("Errors: %(errors)s", errors=", ".join(sorted(set(error_classes))) or "—"),
        _("The last good data is kept: a source's tables are replaced only by a complete load, and a failed partner "
          "file stays in the landing folder (or in quarantine) to be tried again. Open the run in the Dagster UI "
          "for the details."),
    ]
    html = _html_page(recipient.language, subject, "".join(f"<p>{_esc(p)}</p>" for p in lines))
    return _message(sender, recipient, subject, "\n\n".join(lines), html, [], f"failure/{run_id}/{recipient.recipient_id}")


def notify_failure(outbox: Path, recipients: list[Recipient], smtp: SmtpSettings, *, job: str, run_id: str,
                   failed_steps: list[str], error_classes: list[str], now: dt.datetime | None = None) -> list[dict]:
    """Tell the data team (role data_team) that a run failed: an .eml in the outbox and SMTP when configured.
    Not recorded in the warehouse (the failed run may be holding it); the outbox is the record."""
    now = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    out = []
    for recipient in recipients:
        if recipient.role != DATA_TEAM_ROLE:
            continue
        message = compose_failure_message(recipient, job, run_id, failed_steps, error_classes, smtp.sender, now)
        message["Date"] = format_datetime(now)
        folder = private_dir(outbox, outbox / now.strftime("%Y-%m-%d"))
        eml = write_private(folder / _outbox_name("failure", now.strftime("%H%M%S"), job, run_id[:8],
                                                 recipient.recipient_id), bytes(message))
        status, attempts, error = ("outbox", 0, None) if not smtp.host else send_smtp(message, smtp)
        out.append({"recipient_id": recipient.recipient_id, "eml": str(eml), "status": status, "attempts": attempts,
                    "error": error})
    return out
