"""Found by spoolrt.contrib.django in web workers and in spoolers alike (`<app>.tasks`)."""

import os

from django.utils import timezone

from spoolrt import Spooler

from .models import Order


@Spooler.task()
def fulfil_order(order_id: int) -> dict[str, object]:
    """Uses the ORM in the spooler process. Spooled from transaction.on_commit, so the order is
    committed by the time this runs."""
    order = Order.objects.get(pk=order_id)
    order.status = Order.FULFILLED
    order.fulfilled_at = timezone.now()
    order.fulfilled_by_pid = os.getpid()
    # Only these columns: the view writes task_id concurrently.
    order.save(update_fields=["status", "fulfilled_at", "fulfilled_by_pid"])
    return {"order": order.pk, "status": order.status}
