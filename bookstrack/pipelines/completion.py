"""What every pipeline's completion says (API.md §4): the ``summary`` every client decodes, and where the
results are and until when. Pipelines add their own fields beside these; this module owns only the shared
part and the results URLs."""

from __future__ import annotations

import msgspec

from actors import iso_utc

__all__ = ["Summary", "results_url", "resource_id", "expires_iso"]

RESULTS_URLS = {
    "batch_enrichment": "/v1/jobs/{}/results",
    "csv_import": "/v1/csv/results/{}",
    "ai_scan": "/v1/scan/results/{}",
}


class Summary(msgspec.Struct, omit_defaults=True):
    totalProcessed: int  # noqa: N815 - wire names
    successCount: int  # noqa: N815
    failureCount: int  # noqa: N815
    duration: int  # ms
    resourceId: str  # noqa: N815
    canceled: bool = False


def results_url(pipeline: str, job_id: str) -> str:
    return RESULTS_URLS[pipeline].format(job_id)


def resource_id(job_id: str) -> str:
    """``job-results:<jobId>``: a client strips the prefix to get the id for the results route."""
    return f"job-results:{job_id}"


def expires_iso(epoch: float) -> str:
    return iso_utc(epoch)
