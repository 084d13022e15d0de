"""The data contract: feature specs, cohort loading and the bundled demo cohort."""
