"""The one-file HTML report (``rnnscope report``): :func:`build_report` extracts a store and
lays out every analysis that applies, with a neuron card per unit of interest."""
from rnnscope.report.build import build_report, report_from_store

__all__ = ["build_report", "report_from_store"]
