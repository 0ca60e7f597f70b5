from django.db import models


class Order(models.Model):
    NEW, FULFILLED = "new", "fulfilled"

    item = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default=NEW)
    #: The spoolrt task that fulfils the order (set once the transaction committed).
    task_id = models.CharField(max_length=64, blank=True, default="")
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    fulfilled_by_pid = models.IntegerField(null=True, blank=True)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.pk,
            "item": self.item,
            "status": self.status,
            "task_id": self.task_id,
            "fulfilled_at": self.fulfilled_at.isoformat() if self.fulfilled_at else None,
            "fulfilled_by_pid": self.fulfilled_by_pid,
        }
