"""Notebooks as jobs: `pyshim run NOTEBOOK -p NAME VALUE ...` (papermill), one MLflow run each.

- execute.py: one notebook in a new kernel, on papermill, one progress line per cell
- params.py: -p / -r / -f values, checked against the notebook's `parameters` cell
- run.py: the job: its MLflow run, the kernel's environment (the contract with the lineage
  code inside the kernel), the executed notebook and its review copies
"""
