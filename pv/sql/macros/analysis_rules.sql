-- The analysis rules every counting model and check shares, defined once as DuckDB macros. The variant
-- names themselves are the reviewed list vocab.analysis_variants (pv/data/vocab/analysis_variants.csv).

-- An exposure is a drug in any role but DN, "drug not administered" (2024Q4 on; statistics.md §1).
create or replace macro pv_is_exposure(role_cod) as
    coalesce(role_cod, '') <> 'DN';

-- A suspect drug: primary or secondary suspect.
create or replace macro pv_is_suspect(role_cod) as
    coalesce(role_cod in ('PS', 'SS'), false);

-- How strong a drug's role in a case is, for keeping one role per drug: PS, then SS, I, C, DN (1 = strongest).
create or replace macro pv_role_rank(role_cod) as
    list_position(['PS', 'SS', 'I', 'C', 'DN'], role_cod);

-- Whether a case with these strata belongs to a variant's population: the role (a suspect drug, or any
-- exposure), the comparator (all cases, or those with some drug given for a cancer / breast cancer
-- indication: statistics.md §6, confounding by indication) and whether flagged duplicates count.
create or replace macro pv_in_role(role, has_suspect) as
    role = 'any' or has_suspect;

-- What counts as exposed under a role: the count of cases with the drug as a suspect, or in any role.
create or replace macro pv_role_count(role, suspect_count, any_count) as
    case when role = 'suspect' then suspect_count else any_count end;

create or replace macro pv_in_comparator(comparator, oncology, breast_cancer) as
    comparator = 'all'
    or (comparator = 'oncology' and oncology)
    or (comparator = 'breast_cancer' and breast_cancer);

create or replace macro pv_in_duplicates(duplicates, is_duplicate) as
    duplicates = 'with' or not is_duplicate;

-- Whether a masker of an event (marts.event_maskers: an ingredient, with its class if it has one) takes a
-- case out of a target drug's masked population: it must be neither the target nor of the target's class
-- (for a class target: not one of its ingredients). Maignen et al. 2014 remove the masking product's reports.
create or replace macro pv_masks(masker, masker_class, drug, drug_class) as
    masker <> drug and coalesce(masker_class, 'none') <> drug_class;

-- The 2x2 table from a, the drug's and the event's margins and the population (statistics.md §1).
create or replace macro pv_cell_b(a, n_drug) as
    (n_drug - a)::bigint;

create or replace macro pv_cell_c(a, n_event) as
    (n_event - a)::bigint;

create or replace macro pv_cell_d(a, n_drug, n_event, n_total) as
    (n_total - n_drug - n_event + a)::bigint;
