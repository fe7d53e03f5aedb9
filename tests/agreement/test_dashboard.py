"""The agreement pages and API as leads and raters use them: the dashboard and its Recompute
button (in-process, and through a real Celery worker), the scorecards, a rater's own card, the
definitions every figure links to, and the figures' API.

alice leads `by_hand` (tests/agreement/test_figures.py: four items, bob, carol and dave label
every one); bob and dave rate; mallory leads another project only."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agreement.models import AgreementRecompute, ProjectAgreement
from agreement.services.figures import SCORECARD_SORTS, figures_of
from agreement.services.recompute import agreement_recompute_run
from agreement.templatetags.agreement_charts import (
    NO_FIGURE,
    figure,
    heatmap,
    sparkline,
    week_chart,
)
from core.jobs.models import JobStatus
from labeling.services import annotation_submit
from projects.models import Membership, Project
from projects.services.archive import project_archive
from tests.agreement.test_figures import labeled_by_hand, recompute
from tests.api_clients import session_client, token_client
from tests.conftest import wait_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def raters(db) -> dict[str, Any]:
    return {name: UserFactory(username=name) for name in ("bob", "carol", "dave")}


@pytest.fixture
def by_hand(alice, raters) -> Project:
    return labeled_by_hand(alice, raters)


def client_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(html: str) -> str:
    """What a reader sees of the page: no tags, single spaces."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" ,", ",")


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- the dashboard -----------------------------------------------------------------------------


def test_the_dashboard_shows_every_headline_figure_with_its_n_and_definition(alice, by_hand):
    summary = recompute(by_hand)

    html = page(client_of(alice), reverse("agreement-dashboard", args=[by_hand.pk]))

    assert "0.125" in html  # alpha, 1/8
    assert "0.045" in html  # Fleiss' kappa, 1/22
    assert "41.7%" in html  # observed agreement, 5/12
    low, high = summary["alpha"]["interval"]["low"], summary["alpha"]["interval"]["high"]
    assert f"95% interval {figure(low)} to {figure(high)}" in html
    assert "n = 4 items · 3 raters · 12 pairable labels" in text(html)
    for anchor in ("krippendorff-alpha", "fleiss-kappa", "cohen-kappa", "observed-agreement",
                   "confusion", "weekly", "conflicts", "gwet-ac"):  # fmt: skip
        assert f'/agreement/metrics/#{anchor}"' in html, anchor
    assert f"/admin/agreement/conflict/?project__id__exact={by_hand.pk}" in html
    assert "no item changed since" in html
    assert html.count('class="chart chart-heatmap"') == 1
    assert html.count('class="chart chart-weeks"') == 1


def test_every_definition_the_pages_link_to_exists(alice, bob, by_hand):
    recompute(by_hand)
    lead = client_of(alice)
    pages = [
        page(lead, reverse("agreement-dashboard", args=[by_hand.pk])),
        page(lead, reverse("agreement-raters", args=[by_hand.pk])),
        page(client_of(bob), reverse("agreement-my-scorecard", args=[by_hand.pk])),
    ]
    definitions = page(lead, reverse("agreement-metrics"))

    linked = {a for html in pages for a in re.findall(r"/agreement/metrics/#([\w-]+)", html)}
    assert len(linked) >= 15
    missing = {anchor for anchor in linked if f'id="{anchor}"' not in definitions}
    assert not missing
    for source in ("Krippendorff (2011)", "Fleiss (1971)", "Cohen (1960)", "Cohen (1968)",
                   "Gwet (2014)", "Passonneau (2006)", "Dawid &amp; Skene (1979)",
                   "Efron &amp; Tibshirani (1993)"):  # fmt: skip
        assert source in definitions, source
    assert "<math" in definitions and "<script" not in definitions


def test_the_dashboard_counts_items_changed_since_the_figures(alice, raters, by_hand):
    recompute(by_hand)
    bob = raters["bob"]
    annotation = by_hand.annotations.filter(rater=bob).order_by("item__key").last()
    assert annotation is not None

    annotation_submit(project=by_hand, item_id=annotation.item_id, rater=bob, value="negative",
                      client_id=uuid.uuid4())  # fmt: skip

    html = page(client_of(alice), reverse("agreement-dashboard", args=[by_hand.pk]))
    assert "1 item changed since" in html


def test_before_any_recompute_the_dashboard_offers_one(alice, by_hand):
    html = page(client_of(alice), reverse("agreement-dashboard", args=[by_hand.pk]))

    assert "No figures yet" in html
    assert "Agreement appears here after a recompute" in html
    assert reverse("agreement-recompute", args=[by_hand.pk]) in html


def test_figures_of_an_older_shape_ask_for_a_recompute(alice, by_hand):
    recompute(by_hand)
    agreement = ProjectAgreement.objects.get(project=by_hand)
    agreement.summary.pop("version")
    agreement.save(update_fields=["summary"])

    assert figures_of(by_hand) is None
    assert "No figures yet" in page(client_of(alice), reverse("agreement-dashboard",
                                                              args=[by_hand.pk]))  # fmt: skip


def test_the_recompute_button_runs_a_recompute_and_the_page_shows_its_figures(
    alice, by_hand, django_capture_on_commit_callbacks
):
    lead = client_of(alice)

    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(reverse("agreement-recompute", args=[by_hand.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("agreement-dashboard", args=[by_hand.pk])
    job = AgreementRecompute.objects.get(project=by_hand)
    assert (job.status, job.requested_by) == (JobStatus.SUCCEEDED, alice)
    html = page(lead, response["Location"])
    assert "Figures from" in html and "0.125" in html


def test_a_second_press_joins_the_recompute_under_way(alice, mallory, by_hand):
    from labeling.members import membership_set
    from projects.models import Role

    membership_set(project=by_hand, user=mallory, role=Role.LEAD)
    client_of(alice).post(reverse("agreement-recompute", args=[by_hand.pk]))
    response = client_of(mallory).post(reverse("agreement-recompute", args=[by_hand.pk]),
                                       follow=True)  # fmt: skip

    assert AgreementRecompute.objects.filter(project=by_hand).count() == 1
    html = response.content.decode()
    assert "A recompute was already under way" in html
    job = AgreementRecompute.objects.get(project=by_hand)
    # The page follows the live job: its progress, and the poller's URL.
    assert reverse("agreement-recompute-status", args=[by_hand.pk, job.pk]) in html
    assert "js/job-progress.js" in html


def test_an_archived_project_refuses_a_recompute(alice, by_hand):
    project_archive(project=by_hand)

    response = client_of(alice).post(reverse("agreement-recompute", args=[by_hand.pk]),
                                     follow=True)  # fmt: skip

    assert "is archived and read-only" in response.content.decode()
    assert not AgreementRecompute.objects.filter(project=by_hand).exists()


def test_the_status_of_a_recompute_and_its_retry(alice, by_hand):
    job = AgreementRecompute.objects.create(project=by_hand, status=JobStatus.FAILED,
                                            message="The worker crashed.")  # fmt: skip
    lead = client_of(alice)

    state = lead.get(reverse("agreement-recompute-status", args=[by_hand.pk, job.pk])).json()
    assert (state["status"], state["finished"], state["counts"]) == (
        "failed",
        True,
        {"items_changed": 0},
    )
    html = page(lead, reverse("agreement-dashboard", args=[by_hand.pk]))
    assert "The worker crashed." in html and "Retry the recompute" in html

    lead.post(reverse("agreement-recompute-retry", args=[by_hand.pk, job.pk]))
    job.refresh_from_db()
    assert job.status in (JobStatus.PENDING, JobStatus.SUCCEEDED)


def test_the_dashboard_reads_in_a_fixed_number_of_queries(
    alice, by_hand, django_assert_max_num_queries
):
    recompute(by_hand)
    lead = client_of(alice)
    with django_assert_max_num_queries(16):
        lead.get(reverse("agreement-dashboard", args=[by_hand.pk]))


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_recompute_the_button_starts(celery_worker_process, alice, by_hand):
    lead = client_of(alice)
    lead.post(reverse("agreement-recompute", args=[by_hand.pk]))
    job = AgreementRecompute.objects.get(project=by_hand)
    status_url = reverse("agreement-recompute-status", args=[by_hand.pk, job.pk])

    state = wait_for(lambda: (s := lead.get(status_url).json())["finished"] and s, timeout=60)

    assert state["status"] == "succeeded", state["message"]
    assert "4 items and 12 annotations computed" in state["message"]
    assert "0.125" in page(lead, reverse("agreement-dashboard", args=[by_hand.pk]))


# --- scorecards --------------------------------------------------------------------------------


def test_a_lead_sorts_the_scorecards_by_any_column(alice, by_hand):
    recompute(by_hand)
    lead = client_of(alice)
    url = reverse("agreement-raters", args=[by_hand.pk])

    def order(query: str) -> list[str]:
        html = page(lead, f"{url}?{query}")
        return re.findall(r"<b>(bob|carol|dave)</b>", html)

    # dave agrees least with the others (1 of 3), bob and carol on their one judged item.
    assert order("sort=agreement")[0] == "dave"
    assert order("sort=agreement&order=desc")[-1] == "dave"
    assert order("sort=rater") == ["bob", "carol", "dave"]
    assert order("sort=rater&order=desc") == ["dave", "carol", "bob"]
    # bob's median is 7 s, carol's 5 s; dave's time was not measured: last either way.
    assert order("sort=seconds") == ["carol", "bob", "dave"]
    assert order("sort=seconds&order=desc") == ["bob", "carol", "dave"]
    assert order("sort=nonsense") == order("sort=agreement")
    for key in SCORECARD_SORTS:
        assert order(f"sort={key}"), key


def test_an_external_rater_is_named_and_marked_on_the_scorecards(alice, raters, by_hand):
    recompute(by_hand)
    # As an annotation import makes them: a rater of the project with no account of their own.
    Membership.objects.filter(project=by_hand, user=raters["dave"]).update(
        is_external=True, external_name="Worker A17"
    )

    html = page(client_of(alice), reverse("agreement-raters", args=[by_hand.pk]))

    assert "<b>Worker A17</b>" in html and ">external</span>" in html
    assert "<b>dave</b>" not in html


def test_a_rater_sees_their_own_scorecard_and_nobody_elses(raters, by_hand):
    recompute(by_hand)
    dave = client_of(raters["dave"])

    html = page(dave, reverse("agreement-my-scorecard", args=[by_hand.pk]))

    assert "Your scorecard" in html
    assert "33.3%" in html  # dave agrees with the others on 1 of 3
    for other in ("bob", "carol"):
        assert other not in html
    assert "/admin/agreement/conflict/" not in html
    assert dave.get(reverse("agreement-raters", args=[by_hand.pk])).status_code == 403
    assert dave.get(reverse("agreement-dashboard", args=[by_hand.pk])).status_code == 403
    assert reverse("agreement-my-scorecard", args=[by_hand.pk]) in page(
        dave, reverse("project-detail", args=[by_hand.pk])
    )


def test_the_lead_overview_shows_the_headline_figures_and_links_to_them(alice, by_hand):
    recompute(by_hand)

    html = page(client_of(alice), reverse("project-detail", args=[by_hand.pk]))

    assert reverse("agreement-dashboard", args=[by_hand.pk]) in html
    assert reverse("agreement-raters", args=[by_hand.pk]) in html
    assert "0.125" in html and "Krippendorff" in html


# --- the API -----------------------------------------------------------------------------------


def test_the_api_gives_the_summary_with_its_computed_at_and_recompute(alice, by_hand):
    summary = recompute(by_hand)

    body = session_client(alice).get(f"/api/v1/projects/{by_hand.pk}/agreement/").json()

    assert body["summary"]["alpha"] == summary["alpha"]
    assert body["summary"]["kappa"]["value"] == pytest.approx(1 / 22, abs=1e-6)
    assert body["summary"]["cohen_kappa"]["unweighted"]["pairs"] == 3
    assert body["items_changed_since"] == 0
    assert body["conflicts"] == {"open": 1}
    assert set(body["rater_names"].values()) == {"bob", "carol", "dave"}
    assert body["recompute"]["status"] == "succeeded"
    assert body["recompute"]["is_finished"] is True


def test_the_api_before_any_recompute(alice, by_hand):
    body = token_client(alice).get(f"/api/v1/projects/{by_hand.pk}/agreement/").json()

    assert (body["summary"], body["computed_at"], body["recompute"]) == (None, None, None)


def test_a_recompute_over_the_api_answers_202_with_its_location_and_joins_a_live_one(
    alice, by_hand
):
    client = token_client(alice)
    url = f"/api/v1/projects/{by_hand.pk}/agreement/recomputes/"

    first = client.post(url)
    again = client.post(url)

    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["id"] == again.json()["id"]
    assert first["Location"] == f"http://testserver{url}{first.json()['id']}/"
    detail = client.get(first["Location"]).json()
    assert detail["status"] == "pending" and detail["requested_by"] == "alice"
    job = AgreementRecompute.objects.get(pk=first.json()["id"])
    agreement_recompute_run(job_id=job.pk)
    assert client.get(first["Location"]).json()["status"] == "succeeded"
    retry = client.post(f"{url}{job.pk}/retry/")
    assert retry.status_code == 400
    assert "only a failed" in retry.json()["error"]["message"]


def test_an_archived_project_refuses_a_recompute_over_the_api(alice, by_hand):
    project_archive(project=by_hand)

    response = token_client(alice).post(f"/api/v1/projects/{by_hand.pk}/agreement/recomputes/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "project_archived"


def test_scorecards_over_the_api_a_lead_reads_all_a_rater_only_themselves(alice, raters, by_hand):
    recompute(by_hand)
    url = f"/api/v1/projects/{by_hand.pk}/agreement/raters/"

    everyone = token_client(alice).get(url).json()["results"]
    own = token_client(raters["dave"]).get(url).json()["results"]

    assert {card["rater"] for card in everyone} == {"bob", "carol", "dave"}
    assert [card["rater"] for card in own] == ["dave"]
    assert own[0]["agreement"] == pytest.approx(1 / 3, abs=1e-6)
    assert own[0]["agreement_labels"] == 3
    assert own[0]["kappa"] == 0.0 and own[0]["kappa_items"] == 3
    assert own[0]["gold_items"] == 1 and own[0]["gold_accuracy"] == 0.0
    assert own[0]["trend"][0]["labels"] == 3


def test_the_summary_endpoint_reads_in_a_fixed_number_of_queries(
    alice, by_hand, django_assert_max_num_queries
):
    recompute(by_hand)
    client = token_client(alice)
    with django_assert_max_num_queries(12):
        assert client.get(f"/api/v1/projects/{by_hand.pk}/agreement/").status_code == 200


# --- charts ------------------------------------------------------------------------------------


def test_the_heatmap_writes_every_count_and_escapes_label_names():
    svg = heatmap([[5, 1], [0, 2]], ["<b>yes</b>", "no"])

    assert "<b>yes</b>" not in svg and "&lt;b&gt;yes&lt;/b&gt;" in svg
    assert svg.count('class="cell ') == 4
    assert ">5</text>" in svg and ">2</text>" in svg
    assert 'role="img"' in svg


def test_the_small_charts_draw_what_they_are_given():
    assert "polyline" in sparkline([["2026-W48", 0.5, 4], ["2026-W49", 0.75, 8]])
    assert "polyline" not in sparkline([["2026-W49", 1.0, 2]])  # one point: a dot
    assert NO_FIGURE in sparkline([])
    chart = week_chart([{"week": "2026-W49", "observed_agreement": 0.5, "items": 3}])
    assert "2026-W49: 50.0% agreement over 3 items" in chart
    assert week_chart([]) == ""


def test_the_figures_of_a_project_nobody_labeled_yet_say_why_they_are_empty(alice):
    from tests.factories import make_items, make_project

    project = make_project(lead=alice, name="Nothing yet")
    make_items(project, 2)
    recompute(project)

    html = page(client_of(alice), reverse("agreement-dashboard", args=[project.pk]))

    assert "no item has two or more ratings" in html
    assert "No item has two labels yet." in html
