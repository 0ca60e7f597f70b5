"""Task code written for uwsgiconf's runtime spooler, unchanged but for what the compatibility
test rewrites: the import line below."""

from datetime import timedelta

from recorder import record
from uwsgiconf.runtime.spooler import Spooler, SpoolerTask


@Spooler.task()
def send_mail(to, subject):
    record("send_mail", to=to, subject=subject)
    return True


@Spooler.task(postpone=timedelta(seconds=1))
def cleanup(days):
    record("cleanup", days=days)


class Thumbnail(SpoolerTask):
    type_id = "thumbnail"

    def process(self):
        record("thumbnail", image=self.payload["image"], message=self.message)
        return self.mark_processed()


def trigger():
    return [
        send_mail("ann@example.org", "hello"),
        cleanup(30),
        Spooler.send_message_raw("ucfg_thumbnail", payload={"image": "a.png"}),
        Spooler.send_message_raw(**Thumbnail.build_message(payload={"image": "b.png"})),
        [str(s) for s in Spooler.get_spoolers()],
    ]
