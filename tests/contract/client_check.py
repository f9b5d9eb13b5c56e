"""Uses a Python client generated from docs/openapi.json (openapi-python-client)
against a running Herald: creates a webhook, sends an event, and reads the
webhook's deliveries until the delivery succeeded, then the delivery itself.

    python client_check.py <client dir> <base url> <api key> <receiver url>

Prints one JSON object: the webhook id, the delivery id and its status.
"""

import json
import sys
import time

client_dir, base_url, api_key, receiver_url = sys.argv[1:5]
sys.path.insert(0, client_dir)

from herald_client import AuthenticatedClient  # noqa: E402
from herald_client.api.deliveries import get_delivery, list_deliveries  # noqa: E402
from herald_client.api.events import send_event  # noqa: E402
from herald_client.api.webhooks import create_webhook  # noqa: E402
from herald_client.models import (  # noqa: E402
    CreateWebhook,
    CreatedWebhook,
    DeliveryDetail,
    DeliveryPage,
    DeliveryStatus,
    EventAccepted,
    EventInput,
)

client = AuthenticatedClient(base_url=base_url, token=api_key)

created = create_webhook.sync(
    client=client,
    body=CreateWebhook(url=receiver_url, events=["client.*"], description="generated client"),
)
assert isinstance(created, CreatedWebhook), created
assert created.secret.startswith("whsec_"), created.secret

accepted = send_event.sync(
    client=client,
    body=EventInput(event_type="client.checked", data={"from": "a generated client"}),
)
assert isinstance(accepted, EventAccepted), accepted

deadline = time.monotonic() + 60
while True:
    page = list_deliveries.sync(created.webhook_id, client=client, limit=10)
    assert isinstance(page, DeliveryPage), page
    done = [d for d in page.deliveries if d.status == DeliveryStatus.SUCCESS]
    if done:
        break
    assert time.monotonic() < deadline, f"no successful delivery: {page}"
    time.sleep(0.2)

delivery = get_delivery.sync(done[0].delivery_id, client=client)
assert isinstance(delivery, DeliveryDetail), delivery
assert delivery.event_id == accepted.event_id, (delivery.event_id, accepted.event_id)
assert delivery.attempts and delivery.attempts[0].status_code == 200, delivery.attempts
print(json.dumps({
    "webhook_id": created.webhook_id,
    "delivery_id": delivery.delivery_id,
    "status": delivery.status.value,
}))
