"""Forms of the exports pages. They validate input and shape it for the services; they never
write (the views call `exports.services.*`)."""

from __future__ import annotations

from django import forms

from exports.services.webhooks import EVENT_VERSION_READY, EVENTS

EVENT_LABELS = {EVENT_VERSION_READY: "A dataset version is ready"}


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="Payload URL",
        max_length=500,
        widget=forms.URLInput(
            attrs={
                "placeholder": "https://ci.example.com/hooks/accord",
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
        help_text="Accord POSTs each event here as signed JSON. http:// or https://; addresses "
        "on your own network (127.0.0.1, 10.x, a host name) are fine.",
    )
    events = forms.MultipleChoiceField(
        label="Call it when",
        choices=[(event, EVENT_LABELS[event]) for event in EVENTS],
        initial=list(EVENTS),
        widget=forms.CheckboxSelectMultiple,
    )
