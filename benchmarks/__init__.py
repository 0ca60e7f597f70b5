"""Side-by-side benchmarks of spooler-based task runtimes on one machine, in one run.

Every figure is printed next to the raw ``uwsgi.spool`` baseline of the same run, because
numbers from different runs on a shared machine are not comparable. Run ``python -m benchmarks``;
``benchmarks/README.md`` explains the figures and how to add a subject.
"""
