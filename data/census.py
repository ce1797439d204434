"""Synthetic census-income (KDD) rows in the raw layout of DeepCTR's ``census-income.sample``.

The real file (UCI "Census-Income (KDD)", used by DeepCTR's ``examples/run_mtl.py``) has no
header line, 42 comma-separated columns (``CENSUS_COLUMNS``) and a space after every comma, so
string values read back with a leading space (" Never married", " - 50000."); numbers parse as
numbers; ``?`` marks unknown migration fields; ``instance_weight`` is a survey weight, not a
feature.  The two multi-task labels of run_mtl.py are derived from string columns:
income over 50k (``income_50k``: " 50000+." / " - 50000.") and never married
(``marital_stat == " Never married"``).

This generator writes rows of that shape from a planted model (deterministic for a seed):

    logit P(never married) = 3.2 - 0.16 * (age - 18) + 0.5 * [student] - 0.4 * [female] ...
    logit P(income > 50k)  = adults only: education level, weeks worked, capital gains, sex,
                             a peak around age 45, class of worker, (married lowers it a bit)

Marital status is drawn from the first probability, income from the second (children never earn
over 50k).  The oracle summary has each task's AUC from the planted probabilities.  It is not the
real data's distribution; it has the real file's columns, value shapes and quirks.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from sklearn.metrics import roc_auc_score

from data.writing import atomic_text_file, write_in_folder

__all__ = ["CENSUS_COLUMNS", "generate_census", "write_census"]

CENSUS_COLUMNS = [
    "age", "class_worker", "det_ind_code", "det_occ_code", "education", "wage_per_hour",
    "hs_college", "marital_stat", "major_ind_code", "major_occ_code", "race", "hisp_origin",
    "sex", "union_member", "unemp_reason", "full_or_part_emp", "capital_gains", "capital_losses",
    "stock_dividends", "tax_filer_stat", "region_prev_res", "state_prev_res", "det_hh_fam_stat",
    "det_hh_summ", "instance_weight", "mig_chg_msa", "mig_chg_reg", "mig_move_reg", "mig_same",
    "mig_prev_sunbelt", "num_emp", "fam_under_18", "country_father", "country_mother",
    "country_self", "citizenship", "own_or_self", "vet_question", "vet_benefits", "weeks_worked",
    "year", "income_50k"]

_TAG = 0xCE45
_NIU = "Not in universe"
# Education levels in increasing order (the income model uses the index).
_EDUCATION = ["Children", "Less than 1st grade", "7th and 8th grade", "10th grade",
              "High school graduate", "Some college but no degree",
              "Associates degree-occup /vocational", "Bachelors degree(BA AB BS)",
              "Masters degree(MA MS MEng MEd MSW MBA)", "Prof school degree (MD DDS DVM LLB JD)",
              "Doctorate degree(PhD EdD)"]
_CLASS_WORKER = ["Private", "Self-employed-not incorporated", "Local government",
                 "State government", "Self-employed-incorporated", "Federal government",
                 "Never worked", "Without pay"]
_CLASS_EFFECT = [0.0, 0.2, 0.1, 0.1, 0.9, 0.4, -2.0, -2.0]
_MARRIED = ["Married-civilian spouse present", "Divorced", "Widowed", "Separated",
            "Married-spouse absent", "Married-A F spouse present"]
_MARRIED_FREQ = [0.70, 0.14, 0.09, 0.03, 0.03, 0.01]
_RACE = ["White", "Black", "Asian or Pacific Islander", "Amer Indian Aleut or Eskimo", "Other"]
_HISP = ["All other", "Mexican (Mexicano)", "Mexican-American", "Puerto Rican",
         "Central or South American", "Cuban", "Other Spanish", "Do not know", "NA"]
_COUNTRIES = ["United-States", "Mexico", "Philippines", "Germany", "Canada", "India", "China",
              "Cuba", "England", "Italy", "?"]
_CITIZEN = ["Native- Born in the United States", "Foreign born- Not a citizen of U S",
            "Foreign born- U S citizen by naturalization", "Native- Born abroad of American Parent(s)",
            "Native- Born in Puerto Rico or U S Outlying"]
_TAX = ["Nonfiler", "Joint both under 65", "Single", "Joint both 65+", "Head of household",
        "Joint one under 65 & one 65+"]
_REGIONS = [_NIU, "South", "West", "Midwest", "Northeast", "Abroad"]
_STATES = [_NIU, "California", "Utah", "Florida", "North Carolina", "Abroad", "Oklahoma",
           "Minnesota", "Indiana", "New Mexico", "?"]
_HH_FAM = ["Householder", "Child <18 never marr not in subfamily", "Spouse of householder",
           "Nonfamily householder", "Child 18+ never marr Not in a subfamily",
           "Secondary individual", "Other Rel 18+ ever marr not in subfamily"]
_HH_SUMM = ["Householder", "Child under 18 never married", "Spouse of householder",
            "Child 18 or older", "Other relative of householder", "Nonrelative of householder"]
_MIG_MSA = ["?", "Nonmover", "MSA to MSA", "NonMSA to nonMSA", "Not identifiable",
            "MSA to nonMSA", "Abroad to MSA"]
_MIG_REG = ["?", "Nonmover", "Same county", "Different county same state",
            "Different region", "Different state same division", "Abroad"]
_MIG_SAME = ["Not in universe under 1 year old", "Yes", "No"]
_SUNBELT = ["?", _NIU, "No", "Yes"]
_FAM18 = [_NIU, "Both parents present", "Mother only present", "Father only present",
          "Neither parent present"]
_EMP = ["Children or Armed Forces", "Full-time schedules", "Not in labor force",
        "PT for non-econ reasons usually FT", "Unemployed full-time", "PT for econ reasons usually PT"]
_UNEMP = [_NIU, "Other job loser", "Re-entrant", "Job loser - on layoff", "Job leaver",
          "New entrant"]
_MAJOR_IND = [_NIU, "Retail trade", "Manufacturing-durable goods", "Education",
              "Finance insurance and real estate", "Construction", "Business and repair services",
              "Medical except hospital", "Public administration", "Transportation"]
_MAJOR_OCC = [_NIU, "Adm support including clerical", "Professional specialty",
              "Executive admin and managerial", "Other service", "Sales",
              "Precision production craft & repair", "Machine operators assmblrs & inspctrs",
              "Handlers equip cleaners etc", "Technicians and related support"]
_OCC_EFFECT = [0.0, -0.2, 0.8, 1.0, -0.7, 0.2, 0.0, -0.4, -0.6, 0.3]
_HS_COLLEGE = [_NIU, "High school", "College or university"]


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _pick(rng, values, n, p=None):
    p = None if p is None else np.asarray(p, dtype=float) / np.sum(p)
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p)]


def generate_census(rows: int, seed: int = 0):
    """``rows`` census-shaped rows (a dict column -> numpy array, CENSUS_COLUMNS order, values
    without the leading space) and the oracle info."""
    rng = np.random.default_rng([_TAG, int(seed)])
    n = rows
    child = rng.random(n) < 0.25
    age = np.where(child, rng.integers(0, 18, n), np.clip(np.round(rng.gamma(4.5, 9.5, n)) + 16,
                                                          18, 90)).astype(np.int64)
    adult = ~child
    female = rng.random(n) < 0.52
    edu = np.where(child, 0, np.clip(np.round(rng.normal(5.2, 1.9, n)), 1, 10)).astype(int)
    student = adult & (age < 25) & (rng.random(n) < 0.5)
    worker = np.where(adult, rng.choice(len(_CLASS_WORKER), n,
                                        p=[.62, .09, .08, .05, .04, .04, .05, .03]), -1)
    occupation = np.where(adult & (worker < 6), rng.integers(1, len(_MAJOR_OCC), n), 0)
    weeks = np.where(adult & (worker < 6), np.clip(np.round(rng.normal(44, 14, n)), 0, 52), 0)
    weeks = weeks.astype(np.int64)
    gains = np.where(adult & (rng.random(n) < 0.06 + 0.02 * edu),
                     np.round(rng.lognormal(8.3, 1.2, n)), 0).astype(np.int64)

    never_logit = 3.2 - 0.16 * (age - 18) + 0.5 * student - 0.4 * female + 0.1 * (edu - 5)
    p_never = np.where(age < 16, 1.0, _sigmoid(never_logit))
    never = rng.random(n) < p_never
    income_logit = (-6.6 + 0.55 * edu + 2.2 * weeks / 52 + 1.6 * (gains > 0) + 0.8 * ~female
                    - 0.0016 * (age - 47) ** 2 + np.take(_CLASS_EFFECT, np.maximum(worker, 0))
                    + np.take(_OCC_EFFECT, occupation) - 0.4 * never)
    p_income = np.where(adult, _sigmoid(income_logit), 0.0)
    rich = rng.random(n) < p_income

    marital = np.where(never, "Never married", _pick(rng, _MARRIED, n, _MARRIED_FREQ))
    ind_code = np.where(occupation > 0, rng.integers(1, 52, n), 0)
    occ_code = np.where(occupation > 0, rng.integers(1, 47, n), 0)
    migrated = rng.random(n) < 0.5
    columns = {
        "age": age,
        "class_worker": np.where(worker >= 0, np.take(np.asarray(_CLASS_WORKER, dtype=object),
                                                      np.maximum(worker, 0)), _NIU),
        "det_ind_code": ind_code, "det_occ_code": occ_code,
        "education": np.take(np.asarray(_EDUCATION, dtype=object), edu),
        "wage_per_hour": np.where(adult & (rng.random(n) < 0.06),
                                  rng.integers(300, 3000, n), 0),
        "hs_college": np.where(student, "College or university",
                               np.where(child & (age >= 14), "High school", _NIU)),
        "marital_stat": marital,
        "major_ind_code": np.take(np.asarray(_MAJOR_IND, dtype=object),
                                  np.where(occupation > 0, rng.integers(1, len(_MAJOR_IND), n),
                                           0)),
        "major_occ_code": np.take(np.asarray(_MAJOR_OCC, dtype=object), occupation),
        "race": _pick(rng, _RACE, n, [.84, .10, .03, .01, .02]),
        "hisp_origin": _pick(rng, _HISP, n, [.86, .04, .03, .02, .02, .01, .01, .005, .005]),
        "sex": np.where(female, "Female", "Male"),
        "union_member": np.where(adult & (worker < 6), _pick(rng, ["No", "Yes", _NIU], n,
                                                             [.8, .1, .1]), _NIU),
        "unemp_reason": np.where(adult & (weeks < 20), _pick(rng, _UNEMP, n), _NIU),
        "full_or_part_emp": np.where(child, _EMP[0], _pick(rng, _EMP[1:], n,
                                                           [.5, .3, .1, .05, .05])),
        "capital_gains": gains,
        "capital_losses": np.where(adult & (rng.random(n) < 0.02),
                                   rng.integers(100, 3000, n), 0),
        "stock_dividends": np.where(adult & (rng.random(n) < 0.1 + 0.01 * edu),
                                    rng.integers(1, 5000, n), 0),
        "tax_filer_stat": np.where(child, "Nonfiler", _pick(rng, _TAX[1:], n)),
        "region_prev_res": np.where(migrated, _pick(rng, _REGIONS[1:], n), _NIU),
        "state_prev_res": np.where(migrated, _pick(rng, _STATES[1:], n), _NIU),
        "det_hh_fam_stat": _pick(rng, _HH_FAM, n),
        "det_hh_summ": _pick(rng, _HH_SUMM, n),
        "instance_weight": np.round(rng.uniform(200, 4000, n), 2),
        "mig_chg_msa": np.where(migrated, _pick(rng, _MIG_MSA, n), "?"),
        "mig_chg_reg": np.where(migrated, _pick(rng, _MIG_REG, n), "?"),
        "mig_move_reg": np.where(migrated, _pick(rng, _MIG_REG, n), "?"),
        "mig_same": _pick(rng, _MIG_SAME, n, [.5, .4, .1]),
        "mig_prev_sunbelt": np.where(migrated, _pick(rng, _SUNBELT, n), "?"),
        "num_emp": np.where(adult, rng.integers(0, 7, n), 0),
        "fam_under_18": np.where(child, _pick(rng, _FAM18[1:], n), _NIU),
        "country_father": _pick(rng, _COUNTRIES, n, [.8] + [.02] * 10),
        "country_mother": _pick(rng, _COUNTRIES, n, [.8] + [.02] * 10),
        "country_self": _pick(rng, _COUNTRIES, n, [.88] + [.012] * 10),
        "citizenship": _pick(rng, _CITIZEN, n, [.88, .06, .03, .02, .01]),
        "own_or_self": np.where(adult, rng.integers(0, 3, n), 0),
        "vet_question": np.where(age >= 18, _pick(rng, ["No", "Yes", _NIU], n, [.1, .02, .88]),
                                 _NIU),
        "vet_benefits": np.where(adult, 2, 0),
        "weeks_worked": weeks,
        "year": rng.choice([94, 95], n),
        "income_50k": np.where(rich, "50000+.", "- 50000."),
    }
    info = {"dataset": "census_income", "rows": int(rows), "seed": int(seed), "tasks": {}}
    for task, label, p in (("income", rich, p_income), ("never_married", never, p_never)):
        both = 0 < label.sum() < n
        info["tasks"][task] = {
            "oracle_auc": float(roc_auc_score(label, p)) if both else float("nan"),
            "positive_rate": float(label.mean()) if n else float("nan")}
    return {c: columns[c] for c in CENSUS_COLUMNS}, info


def _format(value):
    # numbers as the real file writes them: ints plain, weights with two decimals
    if isinstance(value, (float, np.floating)):
        return f"{value:.2f}"
    return str(value)


def _write_raw(columns: dict, path: str) -> None:
    """The raw layout: one line per row, no header, ", " between values."""
    values = list(columns.values())
    rows = len(values[0]) if values else 0
    with atomic_text_file(path) as f:
        for i in range(rows):
            f.write(", ".join(_format(col[i]) for col in values) + "\n")


def write_census(out_dir: str, rows: int, seed: int = 0, *,
                 file_name: str = "census-income.sample",
                 oracle_name: Optional[str] = "oracle.json", reuse: bool = False) -> dict:
    """Writes ``out_dir/<file_name>`` in the raw layout (no header, ", " between values) and the
    oracle JSON; returns the info dict.  With ``reuse=True`` a file written before with the
    same rows and seed is kept."""
    return write_in_folder(generate_census, "census_income", out_dir, rows, seed,
                           file_name=file_name, oracle_name=oracle_name, reuse=reuse,
                           write_table=_write_raw)
