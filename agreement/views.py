"""What leads (and each rater, of themselves) see of agreement: the project's dashboard, the
raters' scorecards, a rater's own scorecard, the page of definitions, and the recompute button
with its progress.

The figures come from the last full recompute (`ProjectAgreement.summary`, `RaterQuality`);
conflict counts and the items changed since are read live. Views shape them for the templates;
every write is one call to `agreement.services.recompute`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from agreement.models import OPEN_STATUSES, AgreementRecompute, ConflictStatus
from agreement.services.figures import (
    SCORECARD_SORTS,
    conflict_counts,
    figures_of,
    items_changed_since,
    rater_names,
    recompute_latest,
    scorecards_of,
)
from agreement.services.recompute import agreement_recompute_request, agreement_recompute_retry
from agreement.templatetags.agreement_charts import figure
from core.jobs.services import job_is_stalled
from core.jobs.views import job_state, job_state_response
from projects.models import LabelKind, Project
from projects.views.access import AuthenticatedRequest, ProjectAccess, project_for

RECOMPUTE_COUNTS = [("items_changed", "items whose outcome changed")]
PAIRS_SHOWN = 8  # the pairs of raters with the lowest kappa, before "all pairs"
# Krippendorff's (2004, 2011) guidance for alpha: rely on data from 0.800, draw tentative
# conclusions from 0.667, not below.
ALPHA_MARKS = "0.667,0.8"


# --- the dashboard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Statistic:
    """One row of the table of every statistic: a name, what it is computed on, its figures,
    and the anchor of its definition."""

    name: str
    detail: str
    anchor: str
    metric: dict[str, Any]
    spread: str = ""  # "0.17 to 0.87 over 1,000 pairs" for a summary of pairs


def _statistics(summary: dict[str, Any]) -> list[Statistic]:
    kind = summary.get("label_kind")
    rows = [
        Statistic(
            "Observed agreement",
            "mean MASI agreement of each item's pairs"
            if kind == LabelKind.MULTI
            else "share of agreeing pairs of ratings, per item, averaged",
            "observed-agreement", summary["observed_agreement"],
        )
    ]  # fmt: skip
    if kind == LabelKind.MULTI:
        rows.append(
            Statistic(
                "Krippendorff's alpha", "label sets, MASI distance", "masi-alpha", summary["alpha"]
            )
        )
        return rows
    for level, metric in summary.get("alpha_levels", {}).items():
        rows.append(Statistic("Krippendorff's alpha", level, "krippendorff-alpha", metric))
    rows.append(Statistic("Fleiss' kappa", "all raters", "fleiss-kappa", summary["kappa"]))
    for weights, pairs in summary.get("cohen_kappa", {}).items():
        metric, spread = _pairs_metric(pairs, summary["observed_agreement"]["pairable"])
        detail = "mean over pairs of raters" + ("" if weights == "unweighted" else f", {weights}")
        rows.append(Statistic("Cohen's kappa", detail, "cohen-kappa", metric, spread))
    gwet = summary.get("gwet", {})
    if "ac1" in gwet:
        rows.append(Statistic("Gwet's AC1", "identity weights", "gwet-ac", gwet["ac1"]))
    for weights in ("linear", "quadratic"):
        if f"ac2_{weights}" in gwet:
            rows.append(Statistic("Gwet's AC2", f"{weights} weights", "gwet-ac",
                                  gwet[f"ac2_{weights}"]))  # fmt: skip
    return rows


def _labels(project: Project, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per label, the summary's figures with the label's name and colour of today's schema."""
    schema = {label.value: label for label in project.labels.all()}
    rows = []
    for row in summary.get("per_label", []):
        label = schema.get(row["value"])
        rows.append({
            **row,
            "name": label.display_name if label else row["value"],
            "color": label.color if label else "#8a8f98",
        })  # fmt: skip
    return rows


def _pairs(project: Project, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The pairs of raters, lowest kappa first (no kappa last), with the raters' names."""
    pairs = summary.get("pairs", [])
    names = rater_names(project, sorted({p["a"] for p in pairs} | {p["b"] for p in pairs}))
    rows = [
        {**p, "name_a": names.get(p["a"], f"#{p['a']}"), "name_b": names.get(p["b"], f"#{p['b']}")}
        for p in pairs
    ]
    return sorted(rows, key=lambda p: (p["kappa"] is None, p["kappa"] or 0.0))


def alpha_band(value: float | None) -> str:
    """Krippendorff's reading of an alpha: reliable from 0.800, tentative from 0.667, else low."""
    if value is None:
        return ""
    return "reliable" if value >= 0.8 else "tentative" if value >= 0.667 else "low"


def _pairs_metric(pairs: dict[str, Any], pairable: int) -> tuple[dict[str, Any], str]:
    """A summary of the pairs' kappas as a statistic (their mean, and what it rests on: the
    items with two labels or more, and the `pairable` labels on them), and its spread in
    words."""
    spread = (
        f"{figure(pairs['min'], 2)} to {figure(pairs['max'], 2)} over {pairs['pairs']:,} pairs"
        if pairs["pairs"] else ""
    )  # fmt: skip
    metric = {
        "value": pairs["mean"], "items": pairs["items"], "raters": pairs["raters"],
        "pairable": pairable, "interval": None,
        "reason": "" if pairs["pairs"] else "No pair of raters shares enough items.",
    }  # fmt: skip
    return metric, spread


def _cohen_tile(summary: dict[str, Any]) -> dict[str, Any]:
    """The mean of the pairs' kappas as a headline (no interval: its spread instead); weighted
    quadratically for ratings, where a near miss is not a full disagreement."""
    kappas = summary.get("cohen_kappa", {})
    weights = "quadratic" if "quadratic" in kappas else "unweighted"
    pairs = kappas.get(weights)
    if not pairs:
        return {"cohen": None}
    metric, spread = _pairs_metric(pairs, summary["observed_agreement"]["pairable"])
    detail = "mean, quadratic" if weights == "quadratic" else "mean over pairs"
    return {"cohen": pairs, "cohen_metric": metric, "cohen_spread": spread, "cohen_detail": detail}


def _weakest_label(labels: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Multi-label: the label whose alpha is lowest."""
    defined = [row for row in labels if (row.get("alpha") or {}).get("value") is not None]
    return min(defined, key=lambda row: row["alpha"]["value"]) if defined else None


def _recompute_context(project: Project) -> dict[str, Any]:
    job = recompute_latest(project)
    if job is None:
        return {"job": None}
    live = not job.is_finished
    return {
        "job": job,
        "job_live": live,
        "job_stalled": job_is_stalled(job),
        "state": job_state(job, items_changed=job.items_changed),
        "counts": RECOMPUTE_COUNTS,
    }


@login_required
@require_GET
def agreement_dashboard(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    access = project_for(request, pk)
    project = access.project
    figures = figures_of(project)
    conflicts = conflict_counts(project)
    context: dict[str, Any] = {
        "access": access,
        "project": project,
        "figures": figures,
        "conflicts": conflicts,
        "conflicts_open": sum(n for s, n in conflicts.items() if s in OPEN_STATUSES),
        "conflicts_closed": sum(n for s, n in conflicts.items() if s not in OPEN_STATUSES),
        "conflict_statuses": ConflictStatus.choices,
        # The admin's conflict queue, filtered to this project.
        "conflict_queue": f"{reverse('admin:index')}agreement/conflict/"
                          f"?project__id__exact={project.pk}",
        "alpha_marks": ALPHA_MARKS,
        **_recompute_context(project),
    }  # fmt: skip
    if figures is not None:
        summary = figures.summary
        kind = summary.get("label_kind")
        pairs = _pairs(project, summary)
        labels = _labels(project, summary)
        context.update(
            summary=summary,
            is_multi=kind == LabelKind.MULTI,
            is_rating=kind == LabelKind.RATING,
            statistics=_statistics(summary),
            labels=labels,
            label_names=[row["name"] for row in labels],
            pairs_first=pairs[:PAIRS_SHOWN],
            pairs_rest=pairs[PAIRS_SHOWN:],
            pairs_total=len(pairs),
            items_changed=items_changed_since(project, figures.computed_at),
            alpha_anchor="masi-alpha" if kind == LabelKind.MULTI else "krippendorff-alpha",
            alpha_detail="MASI" if kind == LabelKind.MULTI else summary["alpha"]["level"],
            alpha_band=alpha_band(summary["alpha"]["value"]),
            observed_detail="MASI" if kind == LabelKind.MULTI else "",
            weakest_label=_weakest_label(labels) if kind == LabelKind.MULTI else None,
            **_cohen_tile(summary),
        )
    return render(request, "agreement/dashboard.html", context)


# --- recomputes --------------------------------------------------------------------------------


@login_required
@require_POST
def agreement_recompute(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Start a recompute (or join the live one) and come back to the dashboard, which follows
    its progress."""
    project = project_for(request, pk).project
    try:
        job = agreement_recompute_request(project=project, requested_by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if job.requested_by_id != request.user.pk:
            messages.info(request, "A recompute was already under way: this page follows it.")
    return redirect("agreement-dashboard", pk=project.pk)


def _job_for(
    request: HttpRequest, pk: int, job_id: int
) -> tuple[ProjectAccess, AgreementRecompute]:
    access = project_for(request, pk)
    job = get_object_or_404(AgreementRecompute, pk=job_id, project=access.project)
    return access, job


@login_required
@require_GET
def agreement_recompute_status(request: AuthenticatedRequest, pk: int, job_id: int) -> JsonResponse:
    _, job = _job_for(request, pk, job_id)
    return job_state_response(job, items_changed=job.items_changed)


@login_required
@require_POST
def agreement_recompute_retry_view(
    request: AuthenticatedRequest, pk: int, job_id: int
) -> HttpResponse:
    _, job = _job_for(request, pk, job_id)
    try:
        agreement_recompute_retry(job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The recompute was started again.")
    return redirect("agreement-dashboard", pk=pk)


# --- scorecards --------------------------------------------------------------------------------


SCORECARD_COLUMNS = [
    # (sort key, heading, the definition's anchor, numeric)
    ("rater", "Rater", "", False),
    ("annotations", "Labels", "", True),
    ("agreement", "Agrees with the others", "leave-one-out", True),
    ("kappa", "κ vs consensus", "rater-kappa", True),
    ("ds_accuracy", "Dawid-Skene accuracy", "dawid-skene", True),
    ("gold", "Gold accuracy", "gold-accuracy", True),
    ("speed", "Labels per hour", "labels-per-hour", True),
    ("seconds", "Median seconds", "median-seconds", True),
    ("conflicts", "Conflicts", "conflicts", True),
]


@login_required
@require_GET
def agreement_raters(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Every rater's scorecard, sortable by any column (`?sort=kappa&order=desc`)."""
    access = project_for(request, pk)
    sort = request.GET.get("sort", "agreement")
    sort = sort if sort in SCORECARD_SORTS else "agreement"
    descending = request.GET.get("order") == "desc"
    cards = scorecards_of(access.project, sort=sort, descending=descending)
    columns = [
        {
            "key": key, "heading": heading, "anchor": anchor, "numeric": numeric,
            "current": key == sort,
            # A click on the current column turns its order; on another, starts ascending.
            "order": "asc" if key == sort and descending else ("desc" if key == sort else "asc"),
        }
        for key, heading, anchor, numeric in SCORECARD_COLUMNS
    ]  # fmt: skip
    context = {
        "access": access, "project": access.project, "cards": cards, "columns": columns,
        "sort": sort, "descending": descending, "figures": figures_of(access.project),
        "externals": sum(card.is_external for card in cards),
    }  # fmt: skip
    return render(request, "agreement/raters.html", context)


@login_required
@require_GET
def agreement_my_scorecard(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The caller's own scorecard in the project (a rater sees nobody else's)."""
    access = project_for(request, pk, lead=False)
    cards = scorecards_of(access.project, rater_id=request.user.pk)
    card = cards[0] if cards else None
    weeks = [
        {"week": week, "observed_agreement": share, "items": n}
        for week, share, n in (card.quality.trend if card else [])
    ]
    context = {
        "access": access, "project": access.project, "card": card, "my_weeks": weeks,
        "figures": figures_of(access.project),
    }  # fmt: skip
    return render(request, "agreement/my_scorecard.html", context)


# --- definitions -------------------------------------------------------------------------------


@login_required
@require_GET
def agreement_metrics(request: AuthenticatedRequest) -> HttpResponse:
    """What every figure means, how it is computed, and where it comes from."""
    return render(request, "agreement/metrics.html", {})
