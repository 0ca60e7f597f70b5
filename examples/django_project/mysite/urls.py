from django.urls import path
from orders import views

urlpatterns = [
    path("ping", views.ping),
    path("orders/", views.create_order, name="create-order"),
    path("orders/<int:pk>/", views.order_status, name="order-status"),
]
