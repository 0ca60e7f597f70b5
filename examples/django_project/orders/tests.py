"""`python manage.py test`: the views with spoolrt in eager mode (tasks run inline)."""

from functools import partial

from django.conf import settings
from django.db import transaction
from django.test import TestCase, override_settings

import spoolrt

from .models import Order
from .views import spool_fulfilment


@override_settings(SPOOLRT={**settings.SPOOLRT, "EAGER": True})
class OrderFlowTests(TestCase):
    def test_order_is_fulfilled_by_the_task_spooled_on_commit(self) -> None:
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            response = self.client.post("/orders/", {"item": "lamp"})
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(response.status_code, 202)  # the callback ran after the view
        order = Order.objects.get(pk=response.json()["order"]["id"])
        self.assertEqual(order.status, Order.FULFILLED)

        status = self.client.get(response.json()["status_url"]).json()
        self.assertEqual(status["order"]["status"], "fulfilled")
        self.assertEqual(status["task"]["status"], "done")
        self.assertEqual(status["task"]["result"], {"order": order.pk, "status": "fulfilled"})

    def test_nothing_is_spooled_when_the_transaction_rolls_back(self) -> None:
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            try:
                with transaction.atomic():
                    order = Order.objects.create(item="lamp")
                    transaction.on_commit(partial(spool_fulfilment, order.pk))
                    raise RuntimeError("payment declined")
            except RuntimeError:
                pass
        self.assertEqual(callbacks, [])
        self.assertFalse(Order.objects.exists())

    def test_eager_mode_comes_from_the_settings(self) -> None:
        self.assertTrue(spoolrt.get_settings().eager)
        self.assertEqual(spoolrt.backend().name, "eager")
