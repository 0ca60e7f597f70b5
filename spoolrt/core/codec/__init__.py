"""What a spool file is, as bytes: uWSGI's packet (``packet``), spoolrt's signed envelope inside
it (``envelope``), and the serializers and signing key the payload uses (``serializers``)."""
