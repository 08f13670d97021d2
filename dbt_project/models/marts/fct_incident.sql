{{ config(tags=['tension']) }}
{#-
  Incidents from partner extracts (police, council, housing, ...), one row per
  (partner, source_organisation, incident_ref), placed at every geography level: the "volume data" that
  is the starting point of a tension rating (guide, Part 3, Leeds).

  community_type_derived: the community type the supplier gave; else the community type of the first
  hate strand (in the order supplied) that maps to one (seed hate_strands: race → ethnic, religion →
  faith, sexual orientation and transgender → lgbt); else null (disability, alternative subculture and
  non-hate incidents without a community: they still count in the overall row of fct_tension_evidence).
-#}
with incidents as (
    select * from {{ ref('stg_partner__incidents') }}
),

areas as (
    select * from {{ ref('int_partner__area_levels') }}
),

strands as (
    select * from {{ ref('hate_strands') }}
),

strand_community as (
    select
        i.partner,
        i.source_organisation,
        i.incident_ref,
        arg_min(s.community_type, u.strand_position) as strand_community_type
    from incidents as i
    cross join unnest(i.hate_strands) with ordinality as u(hate_strand, strand_position)
    inner join strands as s on u.hate_strand = s.hate_strand
    where s.community_type is not null
    group by i.partner, i.source_organisation, i.incident_ref
)

select
    (i.partner || ':' || i.source_organisation || ':' || i.incident_ref)::varchar as incident_id,
    i.partner::varchar as partner,
    i.source_organisation::varchar as source_organisation,
    i.incident_ref::varchar as incident_ref,
    i.occurred_on::date as occurred_on,
    i.reported_on::date as reported_on,
    date_trunc('month', i.occurred_on)::date as month,
    {{ tension_quarter('i.occurred_on') }}::varchar as quarter,
    i.incident_type::varchar as incident_type,
    (i.incident_type in ('hate_crime', 'hate_incident'))::boolean as is_hate,
    i.hate_strands::varchar[] as hate_strands,
    array_to_string(i.hate_strands, '; ')::varchar as hate_strands_text,
    i.community_type::varchar as community_type,
    coalesce(i.community_type, sc.strand_community_type)::varchar as community_type_derived,
    (case
        when i.community_type is not null then 'supplied'
        when sc.strand_community_type is not null then 'hate_strand'
    end)::varchar as community_type_source,
    i.area_code::varchar as area_code,
    {{ partner_area_columns('a') }},
    i.description::varchar as description,
    i.redacted_items::integer as redacted_items,
    i.file_id::varchar as file_id,
    i.sheet::varchar as sheet,
    i.row_number::integer as row_number
from incidents as i
left join areas as a on i.area_code = a.area_code
left join strand_community as sc
    on i.partner = sc.partner
    and i.source_organisation = sc.source_organisation
    and i.incident_ref = sc.incident_ref
order by i.occurred_on, incident_id
