"""The spool directory on disk: where files go and in what order they run, how a file is taken
(uWSGI's fcntl lock), the parked far-future area, which processes serve the directory, and
reading files for inspection. Imports only ``spoolrt.core``."""
