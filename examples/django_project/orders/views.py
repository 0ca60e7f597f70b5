import json
from functools import partial

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from spoolrt import ResultTimeout, Spooler, TaskFailed

from .models import Order
from .tasks import fulfil_order


def ping(request: HttpRequest) -> HttpResponse:
    return HttpResponse("pong", content_type="text/plain")


def spool_fulfilment(order_id: int) -> None:
    """Runs once the order is committed (transaction.on_commit): spool the task and keep its id."""
    handle = fulfil_order(order_id)
    Order.objects.filter(pk=order_id).update(task_id=handle.task_id)


@csrf_exempt  # an example API without sessions; keep CSRF protection on real forms
@require_POST
def create_order(request: HttpRequest) -> JsonResponse:
    """Create an order and spool its fulfilment after the commit. ``?wait=SECONDS`` waits for
    the task to finish first (a demo of ``handle.result()``; a real view would not)."""
    item = request.POST.get("item") or _json(request).get("item") or "book"
    with transaction.atomic():
        order = Order.objects.create(item=item)
        transaction.on_commit(partial(spool_fulfilment, order.pk))
    wait = float(request.GET.get("wait") or 0)
    order.refresh_from_db()
    if wait and order.task_id:
        try:
            Spooler.get_result(order.task_id).result(timeout=wait)  # type: ignore[union-attr]
        except (TaskFailed, ResultTimeout):
            pass  # described below as failed / still running
        order.refresh_from_db()
    body = describe(order)
    return JsonResponse(body, status=200 if body["task"]["ready"] else 202)


@require_GET
def order_status(request: HttpRequest, pk: int) -> JsonResponse:
    """The order as the task left it (ORM), and the task as spoolrt's result store knows it."""
    return JsonResponse(describe(get_object_or_404(Order, pk=pk)))


def describe(order: Order) -> dict:
    handle = Spooler.get_result(order.task_id) if order.task_id else None
    status = handle.status if handle is not None else None
    task = {
        "id": order.task_id or None,
        "status": status.value if status else None,
        "ready": handle is not None and handle.ready,
        "error": handle.error if handle is not None else None,
    }
    if status is not None and status.value == "done":
        task["result"] = handle.result(timeout=0)
    return {
        "order": order.as_dict(),
        "task": task,
        "status_url": reverse("order-status", args=[order.pk]),
    }


def _json(request: HttpRequest) -> dict:
    try:
        loaded = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
