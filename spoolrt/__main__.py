"""``python -m spoolrt``: the ``spoolrt`` command."""

from spoolrt.cli import console_main

if __name__ == "__main__":
    console_main()
