"""The partner extract contracts: what each file type must contain (Part 3 of the guide).

This module is the single source of truth for the five extract types. The blank templates in
``docs/partner-extracts/templates/``, the partner guide ``docs/partner-extracts/README.md`` (the tables there are
checked against this module by the tests), the validator and the ``raw.partner_*`` tables all follow it.

Vocabularies that exist as dbt seeds (community types, tension categories) are read from the seeds so
there is one list, not two. No Dagster imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestration.lib.seeds import seed_column

# Column kinds the validator understands.
TEXT = "text"  # free text: may hold personal data, always redacted before the warehouse
CODE = "code"  # an identifier chosen by the partner (incident_ref, cia_id, ...): trimmed, not redacted
ENUM = "enum"  # one value from `values`
ENUM_LIST = "enum_list"  # zero or more values from `values`, ';'-separated
DATE = "date"  # ISO yyyy-mm-dd, dd/mm/yyyy, or an Excel serial day number
INT = "int"  # a whole number in [minimum, maximum]; "3", " 3 ", "3.0" are accepted
GRADE = "grade"  # eep6: 1-6; level4: high | medium | low | none (decided by the row's `scale`)
AREA = "area"  # an LSOA (2011 or 2021), ward or local-authority code (Wales)
YES_NO = "yes_no"  # yes | no (also y / n / true / false / ie / na); blank is not an answer
PERSONAL = "personal"  # submitter details: checked for presence only, never stored in the warehouse


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = True
    values: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    description: str = ""


@dataclass(frozen=True)
class ExtractType:
    name: str  # the landing sub-folder and the raw table suffix
    title: str
    supplied_by: str
    columns: tuple[Column, ...]
    # The row's own date: what dates a file whose name gives no period (identity.py).
    period_date: str
    # Register-type extracts (CIAs, risks) are snapshots: a row may have been raised before the period,
    # so only "not after the period end" applies; the latest file's row for an id is the current one.
    is_register: bool = False
    key: tuple[str, ...] = ()  # columns that identify a row within the file (duplicates are an error)

    @property
    def raw_table(self) -> str:
        return f"partner_{self.name}"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def community_types(include_overall: bool = True) -> tuple[str, ...]:
    codes = seed_column("reference/community_types.csv", "community_type")
    return codes if include_overall else tuple(c for c in codes if c != "overall")


def tension_categories() -> tuple[str, ...]:
    return seed_column("reference/tension_categories.csv", "tension_category")


SOURCE_TYPES = ("resident", "person_working_in_area", "own_observation")
INCIDENT_TYPES = (
    "hate_crime",
    "hate_incident",
    "asb",
    "criminal_damage",
    "offensive_graffiti",
    "neighbour_dispute",
    "noise_complaint",
    "public_order",
    "deliberate_fire",
    "other",
)
HATE_INCIDENT_TYPES = ("hate_crime", "hate_incident")
HATE_STRANDS = ("race", "religion", "sexual_orientation", "disability", "transgender", "alternative_subculture")
SCALES = ("eep6", "level4")
# Part 3: a group assesses a period during it or at its next meeting (every ~2 months, so a quarter may be
# rated up to four months after it ends): assessment_date <= period_end + this many days.
ASSESSMENT_LAG_DAYS = 120
EEP_GRADES = ("1", "2", "3", "4", "5", "6")
LEVEL4_GRADES = ("high", "medium", "low", "none")
CIA_TRIGGERS = ("rating", "incident", "planned_event")
CIA_STATUSES = ("required", "in_progress", "complete")
RISK_LEVELS = ("low", "medium", "high")
PPPLEM_HEADINGS = ("physical", "police", "psychological", "legal", "economic", "moral")
RISK_STATUSES = ("open", "closed")


def extract_types() -> dict[str, ExtractType]:
    communities = community_types()
    communities_no_overall = community_types(include_overall=False)
    types = [
        ExtractType(
            name="tension_reports",
            title="Tension report form (Wrexham model)",
            supplied_by="frontline staff, residents and partners, collated by the council",
            period_date="submitted_on",
            key=(),
            columns=(
                Column("submitted_on", DATE, description="Date the form was submitted."),
                Column("source_type", ENUM, values=SOURCE_TYPES, description="Where the information came from."),
                Column("area_code", AREA, description="LSOA (2011 or 2021), ward or local-authority code."),
                Column("area_description", TEXT, required=False, description="Place in words (street, estate, park)."),
                Column("community_types", ENUM_LIST, required=False, values=communities_no_overall,
                       description="Communities affected, ';'-separated."),
                Column("tension_categories", ENUM_LIST, required=False, values=tension_categories(),
                       description="What prompts the tension, ';'-separated."),
                Column("information", TEXT, description="The information itself (free text)."),
                Column("submitter_name", PERSONAL, required=False, description="Optional; never stored in the warehouse."),
                Column("submitter_organisation", PERSONAL, required=False, description="Optional; never stored in the warehouse."),
                Column("submitter_email", PERSONAL, required=False, description="Optional; never stored in the warehouse."),
                Column("submitter_phone", PERSONAL, required=False, description="Optional; never stored in the warehouse."),
                Column("contact_consent", YES_NO, description="May we contact you? yes / no (the form asks; blank is not no)."),
            ),
        ),
        ExtractType(
            name="incidents",
            title="Incident extract (hate incidents, ASB and other tension indicators)",
            supplied_by="police, council, housing and other services",
            period_date="reported_on",
            key=("source_organisation", "incident_ref"),
            columns=(
                Column("incident_ref", CODE, description="The supplier's own reference, unique within the supplier."),
                Column("occurred_on", DATE, description="Date the incident happened."),
                Column("reported_on", DATE, required=False, description="Date it was reported (blank = occurred_on)."),
                Column("area_code", AREA, description="LSOA (2011 or 2021), ward or local-authority code."),
                Column("incident_type", ENUM, values=INCIDENT_TYPES),
                Column("hate_strands", ENUM_LIST, required=False, values=HATE_STRANDS,
                       description="Required for hate_crime and hate_incident; ';'-separated."),
                Column("community_type", ENUM, required=False, values=communities_no_overall,
                       description="Community affected, if known (otherwise derived from the hate strand)."),
                Column("source_organisation", CODE, description="Who recorded it (e.g. Gwent Police, Newport City Council)."),
                Column("description", TEXT, required=False, description="Short description (free text)."),
            ),
        ),
        ExtractType(
            name="tension_assessments",
            title="Tension assessment (the monitoring group's ratings)",
            supplied_by="the tension monitoring group (Silver)",
            period_date="assessment_date",
            key=("area_code", "community_type", "assessment_date"),
            columns=(
                Column("assessment_date", DATE, description=(
                    "Date of the assessment: from period_start to period_end plus "
                    f"{ASSESSMENT_LAG_DAYS} days (a period is often assessed at the next meeting).")),
                Column("period_start", DATE, description="First day the assessment covers."),
                Column("period_end", DATE, description="Last day the assessment covers."),
                Column("area_code", AREA),
                Column("community_type", ENUM, values=communities, description="A community type, or overall."),
                Column("scale", ENUM, values=SCALES, description="eep6 (grades 1-6) or level4 (high/medium/low/none)."),
                Column("current_grade", GRADE, description="Current tension on the row's scale."),
                Column("potential_grade", GRADE, description="Potential tension on the row's scale."),
                Column("rationale", TEXT, required=False, description="Why (free text)."),
                Column("assessed_by_role", TEXT, required=False, description="Role, not name (e.g. Silver chair)."),
            ),
        ),
        ExtractType(
            name="community_impact_assessments",
            title="Community Impact Assessments (CIA log)",
            supplied_by="the tension monitoring group (Silver)",
            period_date="triggered_on",
            is_register=True,
            key=("cia_id",),
            columns=(
                Column("cia_id", CODE),
                Column("trigger", ENUM, values=CIA_TRIGGERS),
                Column("triggered_on", DATE),
                Column("area_code", AREA),
                Column("community_types", ENUM_LIST, required=False, values=communities),
                Column("subject", TEXT, description="What the CIA is about (free text)."),
                Column("status", ENUM, values=CIA_STATUSES),
                Column("completed_on", DATE, required=False, description="Required when status is complete."),
                Column("overall_risk", ENUM, required=False, values=RISK_LEVELS, description="Required when complete."),
            ),
        ),
        ExtractType(
            name="risk_register",
            title="Risk register (PPPLEM risks from CIAs)",
            supplied_by="the tension monitoring group (Silver)",
            period_date="raised_on",
            is_register=True,
            key=("risk_id",),
            columns=(
                Column("risk_id", CODE),
                Column("area_code", AREA),
                Column("raised_on", DATE),
                Column("description", TEXT, description="The risk (free text)."),
                Column("ppplem_heading", ENUM, values=PPPLEM_HEADINGS),
                Column("likelihood", INT, minimum=1, maximum=5),
                Column("impact", INT, minimum=1, maximum=5),
                Column("residual_likelihood", INT, required=False, minimum=1, maximum=5),
                Column("residual_impact", INT, required=False, minimum=1, maximum=5),
                Column("action_plan_ref", TEXT, required=False, description="Reference of the action plan (needed at score >= 5)."),
                Column("owner_role", TEXT, description="Role, not name."),
                Column("review_due", DATE),
                Column("status", ENUM, values=RISK_STATUSES),
            ),
        ),
    ]
    return {t.name: t for t in types}


# File names: <partner>_<period>[_<anything>].csv|.xlsx, e.g. gwent-police_2024-Q2.csv,
# newport-council_2024-05_corrected.xlsx. The partner and period identify the file: a later file with
# the same partner and period (and different content) supersedes the earlier one. Any other name is
# accepted too: partner and period then come from the folder and the rows (identity.py). Read leniently (on the
# lower-cased name): spaces, dots or underscores may separate the parts ("Gwent Police 2024 Q2.csv" is
# partner gwent-police, period 2024-Q2) and the period is the first year-like token after the partner.
FILE_NAME = re.compile(
    r"^(?P<partner>[a-z0-9][a-z0-9 _.-]*?)[ _.-]+"
    r"(?P<period>(?P<year>(?:19|20)\d{2})(?:[ _-]?q(?P<quarter>[1-4])|[ _-](?P<month>\d{2}))?)"
    r"(?:[ _.-]+(?P<suffix>.*))?$"
)
FILE_SUFFIXES = (".csv", ".xlsx")
