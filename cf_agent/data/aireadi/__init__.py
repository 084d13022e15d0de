"""Adapter for a local copy of the released AI-READI dataset: the demo cohort's table, real data.

Researchers with a data use agreement hold the files; this turns them into the same columns, spec
and labels as the bundled demo (cf_agent.data.demo), so everything downstream runs unchanged.
It reads the layout documented at docs.aireadi.org (see docs/aireadi.md for what is covered and
what was guessed):

    participants.tsv                                   person_id, study_group, age, ...
    clinical_data/person.csv, measurement.csv          OMOP CDM (sex, HbA1c, BMI, systolic BP)
    wearable_activity_monitor/<modality>/garmin_vivosmart5/<id>/<id>_<kind>.json   Open mHealth
    wearable_blood_glucose/continuous_glucose_monitoring/dexcom_g6/<id>/<id>_DEX.json

A full copy is many GB, so participants are processed one at a time: each JSON file is loaded,
reduced to per-day values and dropped before the next is opened, and each output row is written as
soon as it is complete. Memory is bounded by the largest single file plus a few numbers per
participant for the clinical tables, which are streamed row by row. Participants without enough
data are never dropped silently: each one gets a line with its reason in the log file.

The package, one module a step: parse (small parsers), files (finding and loading JSON), wearable
and cgm (aggregation), omop (participants and clinical tables), write (rows, log, specs).
"""

from cf_agent.data.aireadi.options import AireadiFiles, AireadiOptions, ProgressCallback
from cf_agent.data.aireadi.write import write_aireadi

__all__ = ["AireadiFiles", "AireadiOptions", "ProgressCallback", "write_aireadi"]
