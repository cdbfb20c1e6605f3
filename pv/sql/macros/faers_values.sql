-- Value rules shared by every staging model, defined once as DuckDB macros.

-- Integers as FDA writes them; third-party re-writes add ".0" (faers_format.md §8 item 22).
create or replace macro faers_int(value) as
    try_cast(regexp_replace(trim(value), '\.0+$', '') as bigint);

create or replace macro faers_num(value) as
    try_cast(trim(value) as double);

-- Dates are YYYYMMDD, or partial YYYYMM / YYYY (faers_format.md §6). The date is the first day of the
-- period given; faers_date_precision says which part is real. Years before 1900 or after 2100 are not dates.
create or replace macro faers_date_digits(value) as
    regexp_replace(trim(value), '\.0+$', '');

create or replace macro faers_date(value) as
    case length(faers_date_digits(value))
        when 8 then try_strptime(faers_date_digits(value), '%Y%m%d')::date
        when 6 then try_strptime(faers_date_digits(value) || '01', '%Y%m%d')::date
        when 4 then try_strptime(faers_date_digits(value) || '0101', '%Y%m%d')::date
    end;

create or replace macro faers_date_precision(value) as
    case
        when faers_date(value) is null or year(faers_date(value)) not between 1900 and 2100 then null
        when length(faers_date_digits(value)) = 8 then 'day'
        when length(faers_date_digits(value)) = 6 then 'month'
        when length(faers_date_digits(value)) = 4 then 'year'
    end;

create or replace macro faers_valid_date(value) as
    case when faers_date_precision(value) is not null then faers_date(value) end;

-- Age at event in years from age + age_cod (DEC, YR, MON, WK, DY, HR; MIN/SEC as DiAna handles them; an
-- empty unit is read as years). Negative ages (prenatal exposure in old data, FAQ #52) and ages over 122
-- years are not plausible ages.
create or replace macro faers_age_years(age, age_cod) as (
    with converted as (
        select faers_num(age) * case upper(trim(coalesce(age_cod, 'YR')))
            when 'DEC' then 10.0
            when 'YR' then 1.0
            when '' then 1.0
            when 'MON' then 1.0 / 12
            when 'WK' then 7.0 / 365.25
            when 'DY' then 1.0 / 365.25
            when 'HR' then 1.0 / 8766
            when 'MIN' then 1.0 / 525960
            when 'SEC' then 1.0 / 31557600
        end as years
    )
    select case when years between 0 and 122 then years end from converted
);

-- Weight in kg from wt + wt_cod (KG, LBS, GMS; FAQ #6). Over 635 kg is not a weight (DiAna's cap).
create or replace macro faers_weight_kg(wt, wt_cod) as (
    with converted as (
        select faers_num(wt) * case upper(trim(coalesce(wt_cod, '')))
            when 'KG' then 1.0
            when 'KGS' then 1.0
            when 'LBS' then 0.45359237
            when 'IB' then 0.45359237
            when 'GMS' then 0.001
        end as kg
    )
    select case when kg > 0 and kg <= 635 then kg end from converted
);

-- F or M; UNK, NS (the 2013Q1-2014Q2 filler) and rare codes are unknown (ALTIO sex-codes).
create or replace macro faers_sex(value) as
    case upper(trim(value)) when 'F' then 'F' when 'M' then 'M' end;

-- MedDRA and free text write apostrophes as ^ (faers_format.md §2).
create or replace macro faers_text(value) as
    nullif(trim(replace(value, '^', '''')), '');

-- Legacy AERS child rows (DRUG, REAC, INDI, THER: 2004Q1-2012Q3) carry only ISR (= primaryid): their caseid
-- is the one of the DEMO record with that ISR in the same quarter (faers_format.md §5). FAERS rows keep theirs.
create or replace macro faers_with_demo_caseid(child_rows) as table
    select
        child_rows.* exclude (caseid),
        coalesce(child_rows.caseid, demo_keys.caseid) as caseid
    from query_table(child_rows) as child_rows
    left join (select quarter, primaryid, caseid from staging.stg_demo) as demo_keys
        on child_rows.caseid is null
        and demo_keys.quarter = child_rows.quarter
        and demo_keys.primaryid = child_rows.primaryid;

-- A date on the 1st of a month may stand for the whole month (or year, on 1 January): partial dates are
-- stored as the first day of their period (faers_format.md §6), and the extracts padded event dates so in
-- legacy AERS quarters and again from 2021Q3 (faers_format.md §6).
create or replace macro faers_may_be_padded(value_date) as
    day(value_date) = 1;

create or replace macro faers_pads_event_dates(layout, quarter) as
    layout = 'laers' or quarter >= '2021Q3';

-- The precision a padded date is read at: a year on 1 January, else a month.
create or replace macro faers_padded_precision(value_date) as
    case when month(value_date) = 1 then 'year' else 'month' end;
