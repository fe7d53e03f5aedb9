"""The webhooks API, under /api/v1/projects/{project_pk}/webhooks/, for the project's leads: the
webhooks (the secret is answered once, when one is made), their deliveries with every attempt,
a ping, and a redelivery. Raters get 403 and project tokens are refused (no scope opens it).
One view per resource, each method a few lines around one service."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.schema import ErrorSerializer
from core.api.strict import StrictJsonInput
from exports.api import webhook_examples as examples
from exports.models import DeliveryStatus, Webhook, WebhookDelivery
from exports.services.webhooks import (
    EVENTS,
    deliveries_of_webhook,
    max_attempts,
    redelivery_number,
    webhook_create,
    webhook_delete,
    webhook_events,
    webhook_ping,
    webhook_redeliver,
    webhook_update,
    webhooks_of_project,
)
from projects.api.permissions import IsProjectLead, request_user
from projects.api.views.common import NO_CONTENT, ProjectNestedMixin, valid

# --- shapes ------------------------------------------------------------------------------------


class WebhookLastDeliverySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    event = serializers.CharField()
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    created_at = serializers.DateTimeField()


class WebhookSerializer(serializers.ModelSerializer[Webhook]):
    events = serializers.SerializerMethodField()
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    last_delivery = serializers.SerializerMethodField()

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "is_active", "created_at", "created_by", "last_delivery"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=EVENTS)))
    def get_events(self, webhook: Webhook) -> list[str]:
        return webhook_events(webhook)

    @extend_schema_field(WebhookLastDeliverySerializer(allow_null=True))
    def get_last_delivery(self, webhook: Webhook) -> dict[str, Any] | None:
        """From `webhooks_of_project`'s annotations: no query per webhook."""
        if getattr(webhook, "last_delivery_id", None) is None:
            return None
        return {
            "id": webhook.last_delivery_id,  # type: ignore[attr-defined]
            "event": webhook.last_delivery_event,  # type: ignore[attr-defined]
            "status": webhook.last_delivery_status,  # type: ignore[attr-defined]
            "created_at": webhook.last_delivery_at,  # type: ignore[attr-defined]
        }


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="Signs every delivery (X-Accord-Signature). Shown this once: keep it in your "
        "receiver's configuration.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


_URL_HELP = (
    "Where Accord POSTs each event: http:// or https://, no user name or password in it. "
    "Loopback and private addresses are allowed (on-premises receivers)."
)
_EVENTS_HELP = "What to be told of; today only a dataset version that is ready."


class WebhookCreateInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    unknown_fields_refused = True
    url = serializers.CharField(max_length=500, help_text=_URL_HELP)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENTS), default=list(EVENTS),
        help_text=_EVENTS_HELP,
    )  # fmt: skip


class WebhookUpdateInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    unknown_fields_refused = True
    url = serializers.CharField(max_length=500, required=False, help_text=_URL_HELP)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENTS), required=False, help_text=_EVENTS_HELP
    )
    is_active = serializers.BooleanField(
        required=False,
        help_text="false: no new deliveries, and pending retries end unsent. The secret stays.",
    )


class WebhookAttemptSerializer(serializers.Serializer[Any]):
    attempt = serializers.IntegerField(help_text="1 for the first attempt of this delivery.")
    at = serializers.DateTimeField(help_text="When the attempt started.")
    status_code = serializers.IntegerField(
        allow_null=True, help_text="The receiver's HTTP status; null when it answered nothing."
    )
    error = serializers.CharField(help_text="What went wrong; empty on a 2xx.")
    seconds = serializers.FloatField(
        allow_null=True, help_text="How long the attempt took; null when nothing was sent."
    )
    response = serializers.CharField(help_text="The start of the receiver's answer.")


class WebhookDeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    redelivery = serializers.SerializerMethodField()
    max_attempts = serializers.SerializerMethodField()
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True)
    payload = serializers.JSONField(read_only=True, help_text="The body sent, as JSON.")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "webhook", "event", "event_id", "redelivery", "status", "attempts",
            "max_attempts", "next_attempt_at", "created_at", "delivered_at", "attempt_log",
            "payload",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_redelivery(self, delivery: WebhookDelivery) -> int | None:
        """1 for a lead's first redelivery of the event, 2 for the next; null for the first
        delivery."""
        return redelivery_number(delivery)

    def get_max_attempts(self, delivery: WebhookDelivery) -> int:
        """How many attempts it gets: 1 for a ping, 1 + the retries for an event."""
        return max_attempts(delivery.event)


# --- views -------------------------------------------------------------------------------------


def _delivery_location(request: Request, project_pk: int, delivery: WebhookDelivery) -> str:
    path = reverse(
        "api-webhook-delivery-detail",
        kwargs={"project_pk": project_pk, "webhook_pk": delivery.webhook_id, "pk": delivery.pk},
    )
    return request.build_absolute_uri(path)


LOCATION = OpenApiParameter(
    "Location", type=str, location=OpenApiParameter.HEADER, response=[202],
    description="The delivery's URL: read it for the attempts' outcome.",
)  # fmt: skip


class _WebhooksView(ProjectNestedMixin, generics.GenericAPIView[Any]):
    permission_classes = [IsAuthenticated, IsProjectLead]

    def webhook(self, key: str = "pk") -> Webhook:
        return get_object_or_404(
            webhooks_of_project(project=self.get_project()), pk=self.kwargs[key]
        )


class WebhookListView(_WebhooksView, generics.ListAPIView[Webhook]):
    """The project's webhooks: URLs told, with a signed POST, when one of its dataset versions
    is ready."""

    serializer_class = WebhookSerializer

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return Webhook.objects.none()
        return webhooks_of_project(project=self.get_project())

    @extend_schema(
        summary="The project's webhooks, with each one's latest delivery (lead; never the secrets)",
        examples=examples.WEBHOOK_LIST,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)

    @extend_schema(
        summary="Register a webhook (lead); the response holds its secret, shown this once",
        description="Accord POSTs each event the webhook listens to, as JSON signed with the "
        "secret: `X-Accord-Signature: sha256=<hex HMAC-SHA256 of "
        'f"{X-Accord-Timestamp}.{raw body}">`. A 2xx answer is a delivery; otherwise Accord '
        "tries again after 10 s, 1 min, 5 min, 30 min, 2 h and 6 h (the server's settings).",
        request=WebhookCreateInputSerializer,
        responses={201: WebhookCreatedSerializer},
        examples=examples.WEBHOOK_CREATE,
    )
    def post(self, request: Request, project_pk: int) -> Response:
        data = valid(WebhookCreateInputSerializer, request.data)
        webhook, secret = webhook_create(
            project=self.get_project(), created_by=request_user(request), **data
        )
        webhook.secret = secret
        return Response(WebhookCreatedSerializer(webhook).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(_WebhooksView):
    """One webhook of the project; its secret is never answered again after its creation."""

    serializer_class = WebhookSerializer

    @extend_schema(summary="One webhook (lead)", examples=examples.WEBHOOK_DETAIL)
    def get(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(WebhookSerializer(self.webhook()).data)

    @extend_schema(
        summary="Change a webhook's URL or events, or make it inactive or active again (lead)",
        description="Only the fields given change. Retries still pending go to the new URL.",
        request=WebhookUpdateInputSerializer,
        examples=examples.WEBHOOK_UPDATE,
    )
    def patch(self, request: Request, project_pk: int, pk: int) -> Response:
        data = valid(WebhookUpdateInputSerializer, request.data)
        webhook_update(webhook=self.webhook(), **data)
        return Response(WebhookSerializer(self.webhook()).data)

    @extend_schema(
        summary="Delete a webhook and its deliveries' log (lead)",
        responses=NO_CONTENT,
    )
    def delete(self, request: Request, project_pk: int, pk: int) -> Response:
        webhook_delete(webhook=self.webhook())
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookPingView(_WebhooksView):
    """A ping: a signed POST of the event `ping`, to check a receiver."""

    serializer_class = WebhookDeliverySerializer

    @extend_schema(
        summary="Send the webhook a ping (lead), tried once, active or not",
        description="Answers 202 with the delivery, and its URL in Location: read it to see "
        "what the receiver answered.",
        request=None,
        responses={202: OpenApiResponse(WebhookDeliverySerializer, description="Queued.")},
        parameters=[LOCATION],
        examples=examples.PING_SENT,
    )
    def post(self, request: Request, project_pk: int, pk: int) -> Response:
        delivery = webhook_ping(webhook=self.webhook())
        delivery.refresh_from_db()  # the task may already have run (in-process without Redis)
        return Response(
            WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED,
            headers={"Location": _delivery_location(request, project_pk, delivery)},
        )  # fmt: skip


class _DeliveriesView(_WebhooksView):
    serializer_class = WebhookDeliverySerializer

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return WebhookDelivery.objects.none()
        return deliveries_of_webhook(webhook=self.webhook("webhook_pk"))


class DeliveryListView(_DeliveriesView, generics.ListAPIView[WebhookDelivery]):
    """Each delivery is one event sent to the webhook: its body, its status (pending while
    attempts remain, then delivered or failed) and every attempt with the receiver's status,
    the error, how long it took and the start of the answer."""

    @extend_schema(
        summary="A webhook's deliveries, newest first, each with every attempt (lead)",
        examples=examples.DELIVERIES,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)


class DeliveryDetailView(_DeliveriesView):
    """One event sent to the webhook, with every attempt."""

    @extend_schema(summary="One delivery with every attempt (lead)", examples=examples.DELIVERIES)
    def get(self, request: Request, project_pk: int, webhook_pk: int, pk: int) -> Response:
        return Response(
            WebhookDeliverySerializer(get_object_or_404(self.get_queryset(), pk=pk)).data
        )


class DeliveryRedeliverView(_DeliveriesView):
    """A lead's redelivery of an event."""

    @extend_schema(
        summary="Send a finished delivery's event again, as a new delivery (lead)",
        description="The same body (the same `event_id`, so that a receiver can tell it has "
        "seen it), to the webhook's URL and with its secret as they are now, with retries "
        "as for any event (a ping's redelivery is tried once). Answers 202 with the new "
        "delivery and its URL in Location.",
        request=None,
        responses={
            202: OpenApiResponse(WebhookDeliverySerializer, description="Queued."),
            409: OpenApiResponse(
                ErrorSerializer,
                description="The delivery is still pending (its retries run), or the webhook "
                "is inactive: `conflict`.",
            ),
        },
        parameters=[LOCATION],
        examples=examples.REDELIVER,
    )
    def post(self, request: Request, project_pk: int, webhook_pk: int, pk: int) -> Response:
        delivery = get_object_or_404(self.get_queryset(), pk=pk)
        again = webhook_redeliver(delivery=delivery)
        again.refresh_from_db()
        return Response(
            WebhookDeliverySerializer(again).data, status=status.HTTP_202_ACCEPTED,
            headers={"Location": _delivery_location(request, project_pk, again)},
        )  # fmt: skip
